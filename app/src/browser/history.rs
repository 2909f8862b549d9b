//! A chart's range queries: the time window filled from the retained history and continued
//! by live events with no gap and no repeat at the seam; the past range fetched as it is
//! dragged or zoomed, one query at a time; and the address kept in step with both.
//!
//! The seam: the answer says the last event it includes (`last_id`). Live events that arrive
//! while the query is out are held; once the answer is in, those after `last_id` are added
//! and the others dropped. Events received before the query was sent are in the answer.

use super::{api_call, warn_js};
use crate::address;
use crate::choice::WindowChoice;
use crate::feed::ChartState;
use crate::model::{EventId, Point, StreamName};
use crate::range::{PointsRange, RangeQuery};
use crate::window::{Window, TIME_WINDOW_POINTS};
use leptos::logging::warn;
use leptos::prelude::*;

/// The most live points held while a time window's query is out; beyond, it is asked again.
const MAX_HELD_POINTS: usize = 100_000;

/// Starts a chart's range queries: the time window's whenever one is chosen, the past
/// range's whenever it moves; and keeps the page's address saying what is shown.
pub(super) fn start(state: ChartState, canvas: NodeRef<leptos::html::Canvas>) {
    Effect::new(move |_| {
        if let WindowChoice::Time(span) = state.choice.get() {
            ask_time_window(state, span, canvas);
        }
    });
    Effect::new(move |_| {
        if state.past.get().is_some() {
            ask_past(state, canvas);
        }
    });
    Effect::new(move |first: Option<()>| {
        let (choice, past) = (state.choice.get(), state.past.get());
        // A paused chart is kept as the range it froze on.
        let range = past.or_else(|| {
            state
                .paused
                .with(Option::is_some)
                .then(|| state.view.with_untracked(Window::time_range))
                .flatten()
        });
        if first.is_some() {
            let stream = state.own_address.then(|| state.stream.get_value());
            remember_in_address(stream.as_ref(), choice, range);
        }
    });
}

/// An event's points for one chart: into its count window, and into its time window (held
/// while the time window's query is out).
pub(super) fn take_live(state: &ChartState, id: Option<EventId>, points: &[Point]) {
    state.points.try_update(|w| {
        for p in points {
            w.push(p);
        }
    });
    let Some(WindowChoice::Time(span)) = state.choice.try_get_untracked() else {
        return;
    };
    let held = state
        .fetch
        .try_update_value(|f| match &mut f.held {
            Some(held) => {
                f.held_points += points.len();
                if f.held_points > MAX_HELD_POINTS {
                    // Too much arrived meanwhile: ask again rather than hold more.
                    held.clear();
                    f.held_points = 0;
                    f.generation += 1;
                    return Some(true);
                }
                held.push((id, points.to_vec()));
                Some(false)
            }
            None => None,
        })
        .flatten();
    match held {
        Some(true) => {
            let state = *state;
            leptos::task::spawn_local(async move {
                ask_time_window_now(state, span, None).await;
            });
        }
        Some(false) => {}
        None => {
            state.timed.try_update(|w| {
                for p in points {
                    w.push(p);
                }
            });
        }
    }
}

/// After a snapshot (a fresh start, or a resume that missed events): a time window is asked
/// again, since what it missed is in the retained history.
pub(super) fn after_snapshot(state: &ChartState) {
    if let Some(WindowChoice::Time(span)) = state.choice.try_get_untracked() {
        let state = *state;
        leptos::task::spawn_local(async move {
            ask_time_window_now(state, span, None).await;
        });
    }
}

fn ask_time_window(state: ChartState, span: i64, canvas: NodeRef<leptos::html::Canvas>) {
    let width = canvas.get_untracked().map(|c| pixel_width(&c));
    leptos::task::spawn_local(async move {
        ask_time_window_now(state, span, width).await;
    });
}

/// The points a chart can show across: its canvas' width in device pixels, within what a
/// time window keeps.
fn pixel_width(canvas: &web_sys::HtmlCanvasElement) -> usize {
    let dpr = window().device_pixel_ratio().max(1.0);
    let px = (f64::from(canvas.client_width().max(1)) * dpr).round() as usize;
    px.clamp(64, TIME_WINDOW_POINTS / 2)
}

async fn ask_time_window_now(state: ChartState, span: i64, width: Option<usize>) {
    let Some(generation) = state.fetch.try_update_value(|f| {
        f.generation += 1;
        f.held = Some(Vec::new());
        f.held_points = 0;
        f.generation
    }) else {
        return;
    };
    state.loading.try_set(true);
    // The window ends at the newest point the chart has (the stream's clock, as retention
    // counts it); the query leaves `to` open, so nothing newer than that is cut off.
    let newest = state
        .points
        .try_with_untracked(|w| w.latest().map(|p| p.ts))
        .flatten()
        .unwrap_or(js_sys::Date::now() as i64);
    let query = RangeQuery {
        from: Some(newest.saturating_sub(span)),
        max_points: width.unwrap_or(1024).max(4),
        ..RangeQuery::default()
    };
    let Some(stream) = state.stream.try_get_value() else {
        return;
    };
    let answer =
        api_call::<PointsRange>(gloo_net::http::Request::get(&query.path(&stream)).build()).await;
    let current = state.fetch.try_with_value(|f| f.generation) == Some(generation);
    if !current {
        return;
    }
    let held = state
        .fetch
        .try_update_value(|f| {
            f.held_points = 0;
            f.held.take()
        })
        .flatten()
        .unwrap_or_default();
    let mut window = Window::spanning(span);
    match answer {
        Ok(answer) => {
            window.fill(&answer);
            for (id, points) in held {
                if follows(id, answer.last_id) {
                    for p in &points {
                        window.push(p);
                    }
                }
            }
        }
        Err(e) => {
            // Without the history, the window still shows what this page received.
            warn!("livechart: the time window's history could not be read: {e}");
            if let Some(kept) = state.points.try_get_untracked() {
                for p in kept.points() {
                    window.push(&p);
                }
            }
        }
    }
    state.timed.try_set(window);
    state
        .loading
        .try_set(state.fetch.try_with_value(|f| f.past_out) == Some(true));
}

/// Whether a held live event comes after the answer's last event.
fn follows(id: Option<EventId>, last: Option<EventId>) -> bool {
    match (id, last) {
        (Some(id), Some(last)) => id.epoch != last.epoch || id.seq > last.seq,
        _ => true,
    }
}

/// Asks for the past range, unless a query is already out (then once more when it is in).
fn ask_past(state: ChartState, canvas: NodeRef<leptos::html::Canvas>) {
    let out = state.fetch.try_update_value(|f| {
        if f.past_out {
            f.past_again = true;
            true
        } else {
            f.past_out = true;
            false
        }
    });
    if out != Some(false) {
        return;
    }
    state.loading.set(true);
    let width = canvas.get_untracked().map(|c| pixel_width(&c));
    leptos::task::spawn_local(async move {
        while let Some(Some((from, to))) = state.past.try_get_untracked() {
            let Some(stream) = state.stream.try_get_value() else {
                return;
            };
            // A little on each side, so that a small drag shows points at once.
            let margin = (to - from) / 4;
            let query = RangeQuery {
                from: Some(from.saturating_sub(margin)),
                to: Some(to.saturating_add(margin)),
                max_points: width.unwrap_or(1024).saturating_mul(3) / 2,
                ..RangeQuery::default()
            };
            match api_call::<PointsRange>(
                gloo_net::http::Request::get(&query.path(&stream)).build(),
            )
            .await
            {
                Ok(answer) => {
                    let range = (query.from.unwrap_or(from), query.to.unwrap_or(to));
                    state
                        .past_points
                        .try_set(Some(Window::of_range(&answer, range)));
                }
                Err(e) => warn!("livechart: the past could not be read: {e}"),
            }
            let again = state.fetch.try_update_value(|f| {
                let again = f.past_again;
                f.past_again = false;
                f.past_out = again;
                again
            });
            if again != Some(true) {
                break;
            }
        }
        state.loading.try_set(false);
    });
}

/// Writes what a chart shows into the page's address (its own keys, or the page's: see
/// [`crate::address`]), keeping the other parameters, so that the address shares the view.
fn remember_in_address(
    stream: Option<&StreamName>,
    choice: WindowChoice,
    range: Option<(i64, i64)>,
) {
    let location = window().location();
    let (Ok(path), Ok(search)) = (location.pathname(), location.search()) else {
        return;
    };
    let url = format!(
        "{path}{}",
        address::with_chart(&search, stream, choice, range)
    );
    if let Ok(history) = window().history() {
        if let Err(e) = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url))
        {
            warn_js("cannot update the address", &e);
        }
    }
}
