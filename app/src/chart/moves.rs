//! Moving a chart through time: pause, drag into the past, zoom around the pointer, keys,
//! and back to live; in step with the page's other charts when they are kept so. Only
//! signals change here; the browser side fetches what a new range needs
//! (`crate::browser::history`).

use crate::choice::{pan, zoom, WindowChoice};
use crate::feed::{ChartState, Feed};
use crate::window::Window;
use leptos::prelude::*;

/// How much one wheel step or key press zooms.
const ZOOM_STEP: f64 = 1.25;
/// How far an arrow key pans: a tenth of the range shown.
const PAN_FRACTION: f64 = 0.1;
/// A press that moves less than this (CSS pixels) is a click, not a drag.
const DRAG_SLOP_PX: f64 = 3.0;

/// A drag in progress: where it started (CSS x) and the range shown then.
#[derive(Clone, Copy, Debug)]
pub(super) struct Drag {
    x: f64,
    range: (i64, i64),
    moved: bool,
}

/// The chart's live source window: what pausing freezes and what the past starts from.
fn source(state: &ChartState) -> Window {
    match state.choice.get_untracked() {
        WindowChoice::Time(_) => state.timed.get_untracked(),
        WindowChoice::Points(_) => state.points.get_untracked(),
    }
}

/// The range drawn by the last frame.
fn shown_range(state: &ChartState) -> Option<(i64, i64)> {
    let m = state.mapping.get_untracked()?;
    Some((m.t.0.round() as i64, m.t.1.round() as i64))
}

pub(super) fn toggle_pause(state: ChartState, feed: Feed) {
    if state.past.with_untracked(Option::is_some) || state.paused.with_untracked(Option::is_some) {
        back_to_live(state, feed);
    } else {
        state.unseen.set(0);
        state.paused.set(Some(source(&state)));
    }
}

/// Shows `range` of the past (the chart pauses); with the charts in step, all of them.
pub(super) fn go_past(state: ChartState, feed: Feed, range: (i64, i64)) {
    show_past(state, range);
    if feed.in_step.get_untracked() {
        feed.shared_range.set(Some(range));
    }
}

fn show_past(state: ChartState, range: (i64, i64)) {
    if state.past.with_untracked(Option::is_none) {
        // What the chart has, until the range query answers.
        let start = state
            .paused
            .get_untracked()
            .unwrap_or_else(|| source(&state));
        state.past_points.set(Some(start));
        state.paused.set(None);
        state.unseen.set(0);
    }
    if state.past.get_untracked() != Some(range) {
        state.past.set(Some(range));
    }
}

pub(super) fn back_to_live(state: ChartState, feed: Feed) {
    state.past.set(None);
    state.past_points.set(None);
    state.paused.set(None);
    if feed.in_step.get_untracked() {
        feed.shared_range.set(None);
    }
}

/// Follows the page's shared range while the charts are kept in step.
pub(super) fn follow_shared(state: ChartState, feed: Feed) {
    Effect::new(move |_| {
        let shared = feed.shared_range.get();
        if !feed.in_step.get() {
            return;
        }
        match shared {
            Some(range) => show_past(state, range),
            None if state.past.with_untracked(Option::is_some) => {
                state.past.set(None);
                state.past_points.set(None);
            }
            None => {}
        }
    });
}

pub(super) fn press(state: ChartState, drag: StoredValue<Option<Drag>>, x: f64) {
    drag.set_value(shown_range(&state).map(|range| Drag {
        x,
        range,
        moved: false,
    }));
}

/// A pointer move while pressed: pans by what the pointer moved, as if holding the paper.
/// Says whether this was a drag (the hover is left alone then).
pub(super) fn drag_to(
    state: ChartState,
    feed: Feed,
    drag: StoredValue<Option<Drag>>,
    x: f64,
) -> bool {
    let Some(mut d) = drag.get_value() else {
        return false;
    };
    let Some(m) = state.mapping.get_untracked() else {
        return false;
    };
    if !d.moved && (x - d.x).abs() < DRAG_SLOP_PX {
        return true;
    }
    d.moved = true;
    drag.set_value(Some(d));
    let px = (m.x_px.1 - m.x_px.0).max(1.0);
    let dt = -((x - d.x) / px * (d.range.1 - d.range.0) as f64).round() as i64;
    go_past(state, feed, pan(d.range, dt));
    true
}

/// A wheel step (or a pinch, which browsers send as a wheel with Ctrl) zooms around the
/// instant under the pointer.
pub(super) fn wheel(state: ChartState, feed: Feed, x: f64, delta_y: f64) {
    let (Some(m), Some(range)) = (state.mapping.get_untracked(), shown_range(&state)) else {
        return;
    };
    let at = m.ts_at(x).round() as i64;
    let factor = if delta_y > 0.0 {
        ZOOM_STEP
    } else {
        1.0 / ZOOM_STEP
    };
    go_past(state, feed, zoom(range, at, factor));
}

/// Two fingers moved apart or together on the chart: zooms by `factor` (the distance between
/// them before over after: apart narrows the range) around the instant under `x`, from the
/// range asked for last (frames lag behind a fast pinch).
pub(super) fn pinch(state: ChartState, feed: Feed, x: f64, factor: f64) {
    let (Some(m), Some(range)) = (
        state.mapping.get_untracked(),
        state.past.get_untracked().or_else(|| shown_range(&state)),
    ) else {
        return;
    };
    if !factor.is_finite() || factor <= 0.0 {
        return;
    }
    let at = m.ts_at(x).round() as i64;
    go_past(state, feed, zoom(range, at, factor.clamp(0.5, 2.0)));
}

/// Arrows pan, + and − zoom around the middle, Home returns to live. Says whether the key
/// was one of these.
pub(super) fn key(state: ChartState, feed: Feed, key: &str) -> bool {
    if key == "Home" {
        back_to_live(state, feed);
        return true;
    }
    let Some(range) = shown_range(&state) else {
        return false;
    };
    let step = ((range.1 - range.0) as f64 * PAN_FRACTION).round() as i64;
    let middle = range.0 / 2 + range.1 / 2;
    let next = match key {
        "ArrowLeft" => pan(range, -step),
        "ArrowRight" => pan(range, step),
        "+" | "=" => zoom(range, middle, 1.0 / ZOOM_STEP),
        "-" | "_" => zoom(range, middle, ZOOM_STEP),
        _ => return false,
    };
    go_past(state, feed, next);
    true
}
