//! The task panel: start a simulated long-running task and watch each one's progress live.

use crate::model::{TaskCreated, TaskId, TaskProgress, TaskSpec};
use leptos::prelude::*;

/// The most tasks the panel lists; the oldest finished ones make room.
const MAX_LISTED: usize = 10;

/// Reads the form: duration in seconds (decimals allowed) and whole steps.
fn spec(duration_s: &str, steps: &str) -> Result<TaskSpec, String> {
    let secs: f64 = duration_s
        .trim()
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s > 0.0)
        .ok_or_else(|| format!("Duration: {duration_s:?} is not a number of seconds"))?;
    let steps: u32 = steps
        .trim()
        .parse()
        .map_err(|_| format!("Steps: {steps:?} is not a whole number"))?;
    Ok(TaskSpec {
        duration_ms: Some((secs * 1000.0).round() as u64),
        steps: Some(steps),
        label: None,
    })
}

#[component]
pub fn TaskPanel() -> impl IntoView {
    // Newest first.
    let tasks = RwSignal::new(Vec::<TaskId>::new());
    let error = RwSignal::new(None::<String>);
    let duration = RwSignal::new("10".to_owned());
    let steps = RwSignal::new("20".to_owned());
    let busy = RwSignal::new(false);

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let spec = match spec(&duration.get_untracked(), &steps.get_untracked()) {
            Ok(spec) => spec,
            Err(e) => return error.set(Some(e)),
        };
        error.set(None);
        busy.set(true);
        let done = move |result: Result<TaskCreated, String>| {
            busy.try_set(false);
            match result {
                Ok(created) => {
                    tasks.try_update(|list| {
                        list.insert(0, created.id);
                        list.truncate(MAX_LISTED);
                    });
                }
                Err(e) => {
                    error.try_set(Some(e));
                }
            }
        };
        #[cfg(feature = "hydrate")]
        crate::browser::start_task(spec, done);
        #[cfg(not(feature = "hydrate"))]
        let _ = (spec, done);
    };

    let view = view! {
        <section class="panel tasks" aria-labelledby="tasks-title">
            <h2 id="tasks-title">"Tasks"</h2>
            <p class="muted">"A simulated long-running job on the server, its progress streamed live."</p>
            <form class="task-form" on:submit=on_submit>
                <label>"Duration (s) " <input type="number" name="duration" min="0.1" step="0.1" bind:value=duration/></label>
                <label>"Steps " <input type="number" name="steps" min="1" step="1" bind:value=steps/></label>
                <button type="submit" class="start-task" disabled=move || busy.get()>"Start task"</button>
            </form>
            <p class="task-error" role="alert">{move || error.get()}</p>
            <ul class="task-list">
                <For each=move || tasks.get() key=|id| *id let:id>
                    <TaskRow id=id/>
                </For>
            </ul>
        </section>
    };
    crate::erased_on_server(view)
}

/// One task: a progress bar and a status line, live until it finishes.
#[component]
fn TaskRow(id: TaskId) -> impl IntoView {
    let progress = RwSignal::new(None::<TaskProgress>);
    let lost = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    crate::browser::follow_task(id, progress, lost);

    let percent = move || progress.with(|p| p.as_ref().map_or(0.0, |p| p.percent));
    let status = move || progress.with(|p| p.as_ref().map_or("starting", |p| p.status.as_str()));
    let line = move || {
        if lost.get() {
            return "Progress lost: the server no longer knows this task".to_owned();
        }
        progress.with(|p| match p {
            Some(p) => format!("{} · {:.0} %", p.message, p.percent),
            None => "Starting…".to_owned(),
        })
    };
    let name = move || {
        progress.with(|p| {
            p.as_ref()
                .map_or_else(|| "New task".to_owned(), |p| p.label.clone())
        })
    };
    view! {
        <li class="task" data-task=id.to_string() data-status=status data-percent=percent>
            <span class="task-label">{name}</span>
            <progress max="100" value=percent aria-label=move || format!("{} progress", name())></progress>
            <span class="task-status" role="status">{line}</span>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_is_read_in_seconds_and_steps() {
        let s = spec(" 2.5 ", "10").unwrap();
        assert_eq!((s.duration_ms, s.steps), (Some(2500), Some(10)));
        assert!(spec("soon", "10").unwrap_err().starts_with("Duration"));
        assert!(spec("-1", "10").unwrap_err().starts_with("Duration"));
        assert!(spec("1", "2.5").unwrap_err().starts_with("Steps"));
    }
}
