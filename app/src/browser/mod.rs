//! The browser side, compiled only with the `hydrate` feature and run only from effects and
//! event handlers, so server-side rendering never touches `web_sys`. One module per thing
//! the page does: the page's one `EventSource` (`connection`), a chart's canvas
//! (`canvas`), its range queries for time windows and the past (`history`), saving a chart
//! (`export`), and tasks (`tasks`).

mod canvas;
mod connection;
pub(crate) mod export;
mod history;
mod tasks;

pub(crate) use canvas::start_chart;
pub(crate) use connection::start_feed;
pub(crate) use tasks::{follow_task, start_task};

use leptos::logging::warn;
use leptos::prelude::*;
use serde::de::DeserializeOwned;
use std::cell::Cell;
use std::rc::Rc;
use web_sys::MessageEvent;

/// Runs `act` after what `track` reads changes, at most once every `every_ms`: at once after
/// a quiet spell, otherwise when the spell is up (so the last change is never left out).
pub(crate) fn throttled(every_ms: f64, track: impl Fn() + 'static, act: impl Fn() + 'static) {
    // Behind pointers: one copy of the timer's code for every use.
    throttled_dyn(every_ms, Box::new(track), Rc::new(act));
}

fn throttled_dyn(every_ms: f64, track: Box<dyn Fn()>, act: Rc<dyn Fn()>) {
    let last = Rc::new(Cell::new(f64::NEG_INFINITY));
    let due = Rc::new(Cell::new(false));
    Effect::new(move |_| {
        track();
        if due.replace(true) {
            return;
        }
        let wait = (last.get() + every_ms - js_sys::Date::now()).max(0.0);
        let (last, due, act) = (last.clone(), due.clone(), act.clone());
        set_timeout(
            move || {
                due.set(false);
                last.set(js_sys::Date::now());
                act();
            },
            std::time::Duration::from_millis(wait as u64),
        );
    });
}

/// Minutes east of UTC in the viewer's time zone.
pub(crate) fn local_offset_minutes() -> i32 {
    // getTimezoneOffset() counts minutes *west* of UTC.
    -(js_sys::Date::new_0().get_timezone_offset() as i32)
}

/// Logs a warning with the JavaScript error itself, which the console shows in full.
pub(crate) fn warn_js(what: &str, error: &wasm_bindgen::JsValue) {
    web_sys::console::warn_2(&format!("livechart: {what}:").into(), error);
}

/// The event's data as `T`; a malformed event is skipped with a warning, never applied.
pub(crate) fn parse<T: DeserializeOwned>(ev: &MessageEvent) -> Option<T> {
    let kind = ev.type_();
    let Some(data) = ev.data().as_string() else {
        warn!("livechart: skipped a `{kind}` event without text data");
        return None;
    };
    // JSON has no NaN or infinity (serde_json refuses 1e400), so parsed values are finite.
    match serde_json::from_str::<T>(&data) {
        Ok(value) => Some(value),
        Err(e) => {
            let shown: String = data.chars().take(200).collect();
            warn!("livechart: skipped a malformed `{kind}` event: {e}; data: {shown}");
            None
        }
    }
}

/// Sends an API request and reads its JSON answer; a failure, in words: the server's own
/// `detail` when it sent one.
pub(crate) async fn api_call<T: DeserializeOwned>(
    request: Result<gloo_net::http::Request, gloo_net::Error>,
) -> Result<T, String> {
    let response = request
        .map_err(|e| e.to_string())?
        .send()
        .await
        .map_err(|e| format!("the server could not be reached: {e}"))?;
    if response.ok() {
        return response.json::<T>().await.map_err(|e| e.to_string());
    }
    let status = response.status();
    Err(match response.json::<crate::model::ErrorBody>().await {
        Ok(body) => body.detail,
        Err(_) => format!("the server answered {status}"),
    })
}
