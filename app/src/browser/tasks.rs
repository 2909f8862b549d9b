//! Tasks from the page: starting one (`POST /api/tasks`) and following its progress.

use super::{api_call, connection::OpenSource, parse, warn_js};
use crate::model::{event_name, TaskCreated, TaskId, TaskProgress, TaskSpec};
use crate::paths;
use leptos::prelude::*;
use send_wrapper::SendWrapper;
use std::rc::Rc;
use wasm_bindgen::{closure::Closure, JsCast};
use web_sys::{EventSource, MessageEvent};

/// Starts a task (`POST /api/tasks`); the answer, or what went wrong in words, goes to `done`.
pub(crate) fn start_task(spec: TaskSpec, done: impl FnOnce(Result<TaskCreated, String>) + 'static) {
    leptos::task::spawn_local(async move {
        let request = gloo_net::http::Request::post(paths::TASKS).json(&spec);
        let result = api_call::<TaskCreated>(request).await;
        done(result);
    });
}

/// Follows a task's progress until it ends (or the component goes away). `update` gets each
/// progress event, or `None` and whether the stream is lost for good after an error; it
/// answers whether the task is still wanted (the stream is closed when not).
pub(crate) fn follow_task(
    id: TaskId,
    update: impl Fn(Option<TaskProgress>, bool) -> bool + 'static,
) {
    let url = paths::task_events(id);
    let es = match EventSource::new(&url) {
        Ok(es) => es,
        Err(e) => {
            warn_js(&format!("cannot open {url}"), &e);
            update(None, true);
            return;
        }
    };
    let update = Rc::new(update);
    let on_progress = {
        let (es, update) = (es.clone(), update.clone());
        Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            if let Some(p) = parse::<TaskProgress>(&ev) {
                // After the last state the server ends the stream: do not reconnect.
                let last = p.status.is_final();
                if !update(Some(p), false) || last {
                    es.close();
                }
            }
        })
    };
    let on_error = {
        let es = es.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |_: MessageEvent| {
            // Closed for good (the task is unknown by now); otherwise the browser retries.
            if !update(None, es.ready_state() == EventSource::CLOSED) {
                es.close();
            }
        })
    };
    if let Err(e) = es.add_event_listener_with_callback(
        event_name::PROGRESS,
        on_progress.as_ref().unchecked_ref(),
    ) {
        warn_js("cannot listen for progress", &e);
    }
    es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    let source = SendWrapper::new(OpenSource {
        es,
        _callbacks: vec![on_progress, on_error],
    });
    on_cleanup(move || drop(source.take()));
}
