//! The task panel: start a simulated long-running task and watch each one's progress live.

use crate::model::{TaskCreated, TaskId, TaskProgress, TaskSpec};
use leptos::prelude::*;

/// The most tasks the panel lists; the oldest finished ones make room.
const MAX_LISTED: usize = 10;

/// Reads the form: `secs` as the browser parsed the duration field (NaN when it is not a
/// number; `raw` is what was typed) and the steps as typed.
fn spec(secs: f64, raw: &str, steps: &str) -> Result<TaskSpec, String> {
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!("Duration: \"{raw}\" is not a number of seconds"));
    }
    let steps: u32 = steps
        .trim()
        .parse()
        .map_err(|_| format!("Steps: \"{steps}\" is not a whole number"))?;
    Ok(TaskSpec {
        duration_ms: Some((secs * 1000.0).round() as u64),
        steps: Some(steps),
        label: None,
    })
}

/// A listed task, as its progress stream last told.
struct Listed {
    id: TaskId,
    progress: Option<TaskProgress>,
    /// The server no longer knows the task.
    lost: bool,
}

/// The tasks started from this page, newest first, each followed live until it ends.
///
/// The list is one signal and each row a plain view of its entry: a progress event rewrites
/// its entry and the rows are updated in place (a handful, a few times a second).
#[component]
pub fn TaskPanel() -> impl IntoView {
    let tasks = RwSignal::new(Vec::<Listed>::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let duration = NodeRef::<leptos::html::Input>::new();
    let steps = NodeRef::<leptos::html::Input>::new();
    // Handlers run outside the component: its owner keeps the task streams it opens.
    let owner = Owner::current();

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (Some(duration), Some(steps)) = (duration.get_untracked(), steps.get_untracked())
        else {
            return;
        };
        let spec = match spec(
            duration.value_as_number(),
            &duration.value(),
            &steps.value(),
        ) {
            Ok(spec) => spec,
            Err(e) => return error.set(Some(e)),
        };
        error.set(None);
        busy.set(true);
        let owner = owner.clone();
        let done = move |result: Result<TaskCreated, String>| {
            busy.try_set(false);
            match result {
                Ok(created) => {
                    let id = created.id;
                    tasks.try_update(|list| {
                        list.insert(
                            0,
                            Listed {
                                id,
                                progress: None,
                                lost: false,
                            },
                        );
                        list.truncate(MAX_LISTED);
                    });
                    let follow = move || {
                        #[cfg(feature = "hydrate")]
                        crate::browser::follow_task(id, move |progress, lost| {
                            tasks
                                .try_update(|list| {
                                    let entry = list.iter_mut().find(|t| t.id == id)?;
                                    if progress.is_some() {
                                        entry.progress = progress;
                                    }
                                    entry.lost = lost;
                                    Some(())
                                })
                                .flatten()
                                .is_some()
                        });
                    };
                    match &owner {
                        Some(owner) => owner.with(follow),
                        None => follow(),
                    }
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
                <label>"Duration (s) " <input type="number" name="duration" min="0.1" step="0.1" value="10" node_ref=duration/></label>
                <label>"Steps " <input type="number" name="steps" min="1" step="1" value="20" node_ref=steps/></label>
                <button type="submit" class="start-task" disabled=move || busy.get()>"Start task"</button>
            </form>
            <p class="task-error" role="alert">{move || error.get()}</p>
            <ul class="task-list">
                {move || tasks.with(|list| list.iter().map(task_row).collect_view())}
            </ul>
        </section>
    };
    crate::erased_on_server(view)
}

/// One task: a progress bar and a status line.
fn task_row(t: &Listed) -> impl IntoView {
    let p = t.progress.as_ref();
    let percent = p.map_or(0.0, |p| p.percent);
    let status = p.map_or("starting", |p| p.status.as_str());
    let name = p.map_or_else(|| "New task".to_owned(), |p| p.label.clone());
    let line = match p {
        _ if t.lost => "Progress lost: the server no longer knows this task".to_owned(),
        Some(p) => format!("{} · {:.0} %", p.message, p.percent),
        None => "Starting…".to_owned(),
    };
    view! {
        <li class="task" data-task=t.id.to_string() data-status=status data-percent=percent>
            <span class="task-label">{name.clone()}</span>
            <progress max="100" value=percent aria-label=format!("{name} progress")></progress>
            <span class="task-status" role="status">{line}</span>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_is_read_in_seconds_and_steps() {
        let s = spec(2.5, "2.5", " 10 ").unwrap();
        assert_eq!((s.duration_ms, s.steps), (Some(2500), Some(10)));
        let e = spec(f64::NAN, "soon", "10").unwrap_err();
        assert_eq!(e, r#"Duration: "soon" is not a number of seconds"#);
        assert!(spec(-1.0, "-1", "10").unwrap_err().starts_with("Duration"));
        assert!(spec(0.0, "0", "10").unwrap_err().starts_with("Duration"));
        assert!(spec(1.0, "1", "2.5").unwrap_err().starts_with("Steps"));
    }
}
