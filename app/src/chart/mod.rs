//! The live chart component: the markup both sides render, and the hand-off to the browser
//! side (`crate::browser`) that draws, follows the mouse and asks for history. Events reach
//! it through the page's [`Feed`]; moving through time is in [`moves`].

mod data;
mod moves;

use crate::axis::{format_clock, readable_value, time_decimals};
use crate::choice::{WindowChoice, TIME_CHOICES};
use crate::feed::{Badge, ChartState, Feed, Fetching, Seen};
use crate::markup::legend_html;
use crate::model::{SeriesName, Snapshot, StreamInfo, StreamName};
use crate::range::{RangeFormat, RangeQuery};
use crate::window::{Window, DEFAULT_WINDOW, KEPT_POINTS, WINDOW_CHOICES};
use leptos::prelude::*;
use moves::Drag;
use std::collections::BTreeSet;

/// The page's feed, connected in the browser; a chart outside any page gets one of its own.
pub(crate) fn connect_feed(catalog: Vec<StreamInfo>, server_now: i64) -> Feed {
    let feed = Feed::provide(catalog, server_now);
    #[cfg(feature = "hydrate")]
    crate::browser::start_feed(feed);
    feed
}

/// A sliding line chart of one stream, one line per series, fed live over the page's
/// connection.
///
/// The server renders it with the stream's current window (`initial`), drawn as SVG, so the
/// first paint shows data before (or without) WebAssembly. Once hydrated, the chart registers
/// with the page's [`Feed`], which resumes exactly after that window, and draws on the canvas
/// at most once per animation frame. Its controls: the window (points, or a span of time
/// filled from the retained history), pause / back to live, export, and the legend (click a
/// series to hide or show it). On the canvas: drag to pan into the past, Ctrl + wheel or pinch to
/// zoom, double-click to return to live; arrows, + and −, Home do the same from the keyboard.
/// The Data menu offers, on request, a table of the points shown and the latest values read
/// aloud (a live region, at most every few seconds).
#[component]
pub fn LiveChart(
    /// The stream to follow.
    stream: StreamName,
    /// What to show at first: the last N points, or the last span of time. `None`: what the
    /// stream's description says (`"window"`), else the last [`DEFAULT_WINDOW`] points.
    #[prop(default = None)]
    window: Option<WindowChoice>,
    /// A fixed range in the past to show at first (ms since the epoch), instead of live.
    #[prop(default = None)]
    range: Option<(i64, i64)>,
    /// The stream's window when the page was rendered. The island around the chart carries
    /// it to the browser, so both sides start from the same points and the same last id.
    #[prop(default = None)]
    initial: Option<Snapshot>,
    /// Whether the chart keeps its window, pause and past in the address under its own name
    /// (a dashboard's charts); otherwise they are the page's (a stream page).
    #[prop(default = false)]
    own_address: bool,
) -> impl IntoView {
    let feed =
        use_context::<Feed>().unwrap_or_else(|| connect_feed(Vec::new(), crate::feed::local_now()));
    let initial = initial.unwrap_or_default();
    let window = window
        .or_else(|| {
            feed.catalog.with_untracked(|c| {
                c.iter()
                    .find(|s| s.name == stream)
                    .and_then(|s| s.meta.window_choice())
            })
        })
        .unwrap_or(WindowChoice::Points(DEFAULT_WINDOW));
    let count = match window {
        WindowChoice::Points(n) => n,
        WindowChoice::Time(_) => DEFAULT_WINDOW,
    };
    let mut first = Window::new(KEPT_POINTS.max(count));
    first.replace(&initial.points);
    // A time window starts with what the page brought; the browser then asks for the rest.
    let mut timed = Window::spanning(match window {
        WindowChoice::Time(span) => span,
        WindowChoice::Points(_) => 1,
    });
    for p in &initial.points {
        timed.push(p);
    }

    let meta = Memo::new({
        let stream = stream.clone();
        move |_| feed.meta(&stream)
    });
    let choice = RwSignal::new(window);
    let hidden = RwSignal::new(BTreeSet::<SeriesName>::new());
    let points = RwSignal::new(first);
    let timed = RwSignal::new(timed);
    let paused = RwSignal::new(None::<Window>);
    let past = RwSignal::new(range);
    let past_points = RwSignal::new(None::<Window>);
    let view = Memo::new(move |_| {
        hidden.with(|h| {
            let hide = |s: &SeriesName| h.contains(s);
            if let Some(range) = past.get() {
                return past_points.with(|p| match p {
                    Some(w) => w.view_range(range, hide),
                    None => Window::new(1).view_range(range, hide),
                });
            }
            match choice.get() {
                WindowChoice::Points(n) => paused.with(|p| match p {
                    Some(frozen) => frozen.view(n, hide),
                    None => points.with(|w| w.view(n, hide)),
                }),
                WindowChoice::Time(span) => paused.with(|p| match p {
                    // Frozen at the pause: its span ends at its newest point.
                    Some(frozen) => frozen.view_span(span, i64::MIN, hide),
                    None => {
                        let now = feed.now.get();
                        timed.with(|w| w.view_span(span, now, hide))
                    }
                }),
            }
        })
    });
    #[cfg(feature = "ssr")]
    let first_paint = view.with_untracked(|w| {
        meta.with_untracked(|m| crate::plot::svg(w, m, crate::model::now_ms()))
    });
    #[cfg(not(feature = "ssr"))]
    let first_paint = String::new();

    let state = ChartState {
        stream: StoredValue::new(stream.clone()),
        points,
        choice,
        timed,
        past,
        past_points,
        loading: RwSignal::new(false),
        fetch: StoredValue::new(Fetching::default()),
        status: feed.status,
        last_id: RwSignal::new(initial.last_id),
        resets: RwSignal::new(0),
        gap_pending: StoredValue::new(false),
        hover: RwSignal::new(None),
        hydrated: RwSignal::new(false),
        draws: RwSignal::new(0),
        mapping: RwSignal::new(None),
        paused,
        unseen: RwSignal::new(0),
        heard: RwSignal::new(0),
        view,
        meta,
        table: NodeRef::new(),
        table_shown: RwSignal::new(false),
        own_address,
    };
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    let plot = NodeRef::<leptos::html::Div>::new();

    #[cfg(feature = "hydrate")]
    crate::browser::start_chart(state, feed, stream.clone(), canvas, plot);
    moves::follow_shared(state, feed);

    let ChartState {
        status,
        last_id,
        resets,
        hover,
        hydrated,
        draws,
        mapping,
        unseen,
        table,
        table_shown,
        loading,
        ..
    } = state;
    let away = move || paused.with(Option::is_some) || past.with(Option::is_some);
    // "Live" only while data arrives: the badge measures the stream's silence against the
    // page's clock (ticking once a second), and tells paused and past apart.
    let badge = Memo::new({
        let stream = stream.clone();
        move |_| {
            let (newest, spacing_ms) = points.with(|w| (w.latest().map(|p| p.ts), w.spacing_ms()));
            Badge::of(&Seen {
                conn: status.get(),
                past: past.with(Option::is_some),
                paused: paused.with(Option::is_some),
                known: feed.catalog.with(|c| c.iter().any(|s| s.name == stream)),
                now: feed.now.get(),
                newest,
                heard: state.heard.get(),
                spacing_ms,
            })
        }
    });

    // The pointer (mouse, pen or finger): a drag pans; otherwise the nearest point is hovered
    // and every chart of the page draws a line at its time.
    let drag = StoredValue::new(None::<Drag>);
    // Where the pointer rests on the plot: when the axis moves on under a still pointer (a
    // time window ends at now), the crosshair and the hovered point follow the pointer, not
    // the instant it first pointed at.
    let pointer = StoredValue::new(None::<(f64, f64)>);
    let point_at = move |(x, y): (f64, f64), m: crate::window::Mapping| {
        let ts = m.ts_at(x);
        let nearest = view.with_untracked(|w| w.nearest(ts, Some(m.value_at(y))));
        if hover.get_untracked() != nearest {
            hover.set(nearest);
        }
        let ts = Some(ts.round() as i64);
        if feed.crosshair.get_untracked() != ts {
            feed.crosshair.set(ts);
        }
    };
    Effect::new(move |_| {
        if let (Some(m), Some(at)) = (mapping.get(), pointer.get_value()) {
            point_at(at, m);
        }
    });
    // Fingers on the chart (pointer id, x): two of them pinch.
    let touches = StoredValue::new(Vec::<(i32, f64)>::new());
    let on_move = move |ev: leptos::ev::PointerEvent| {
        let (x, y) = (f64::from(ev.offset_x()), f64::from(ev.offset_y()));
        if ev.pointer_type() == "touch" {
            let before = touches.get_value();
            if let [a, b] = before[..] {
                touches.update_value(|t| {
                    if let Some(p) = t.iter_mut().find(|(id, _)| *id == ev.pointer_id()) {
                        p.1 = x;
                    }
                });
                if let [c, d] = touches.get_value()[..] {
                    let (was, now) = ((a.1 - b.1).abs(), (c.1 - d.1).abs());
                    if was > 10.0 && now > 10.0 {
                        moves::pinch(state, feed, (c.1 + d.1) / 2.0, was / now);
                    }
                }
                return;
            }
        }
        if ev.buttons() & 1 == 1 && moves::drag_to(state, feed, drag, x) {
            return;
        }
        pointer.set_value(Some((x, y)));
        if let Some(m) = mapping.get_untracked() {
            point_at((x, y), m);
        }
    };
    let lift = move |ev: &leptos::ev::PointerEvent| {
        drag.set_value(None);
        touches.update_value(|t| t.retain(|(id, _)| *id != ev.pointer_id()));
    };
    let on_leave = move |ev: leptos::ev::PointerEvent| {
        lift(&ev);
        if ev.pointer_type() == "touch" {
            // A finger lifted: the read-out it asked for stays until the next touch.
            return;
        }
        pointer.set_value(None);
        drag.set_value(None);
        hover.set(None);
        feed.crosshair.set(None);
    };
    let on_down = move |ev: leptos::ev::PointerEvent| {
        if ev.pointer_type() == "touch" {
            touches.update_value(|t| {
                t.retain(|(id, _)| *id != ev.pointer_id());
                t.push((ev.pointer_id(), f64::from(ev.offset_x())));
            });
            if touches.with_value(Vec::len) >= 2 {
                // A second finger: a pinch, not a drag.
                drag.set_value(None);
                return;
            }
            // A tap shows the read-out where the finger is.
            let at = (f64::from(ev.offset_x()), f64::from(ev.offset_y()));
            pointer.set_value(Some(at));
            if let Some(m) = mapping.get_untracked() {
                point_at(at, m);
            }
        }
        if ev.button() == 0 {
            moves::press(state, drag, f64::from(ev.offset_x()));
            // The drag goes on when the pointer leaves the chart, until it is released.
            #[cfg(feature = "hydrate")]
            {
                use leptos::wasm_bindgen::JsCast;
                if let Some(el) = ev
                    .target()
                    .and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok())
                {
                    let _ = el.set_pointer_capture(ev.pointer_id());
                }
            }
        }
    };
    // A plain wheel scrolls the page, which charts cover most of; Ctrl or ⌘ with the wheel,
    // or a pinch (browsers send it as a wheel with Ctrl), zooms the chart. The first plain
    // wheel over a chart says so for a moment.
    let zoom_hint = RwSignal::new(false);
    let on_wheel = move |ev: leptos::ev::WheelEvent| {
        if !(ev.ctrl_key() || ev.meta_key()) {
            if !zoom_hint.get_untracked() {
                zoom_hint.set(true);
                set_timeout(
                    move || {
                        let _ = zoom_hint.try_set(false);
                    },
                    std::time::Duration::from_millis(2500),
                );
            }
            return;
        }
        ev.prevent_default();
        moves::wheel(state, feed, f64::from(ev.offset_x()), ev.delta_y());
    };

    // The tooltip: the hovered point on this chart; on the others, each series' value at
    // the crosshair's time.
    let hovered = move || hover.get().filter(|p| view.with(|w| w.contains(p)));
    let crosshair_x = move || {
        let ts = feed.crosshair.get()?;
        let m = mapping.get()?;
        let (lo, hi) = m.t;
        ((lo..=hi).contains(&(ts as f64))).then(|| m.to_screen(ts, m.v.0).0)
    };
    let multi = move || view.with(|w| w.series_count() > 1);
    // The read-out of every series at an instant (x): at the top of the plot, on the side of
    // the line with more room, so that it stays inside the chart however many it lists.
    let readout_style = move |x: f64, m: crate::window::Mapping| {
        let top = m.y_px.0 + 4.0;
        if x > (m.x_px.0 + m.x_px.1) / 2.0 {
            format!("right: calc(100% - {:.0}px); top: {top:.0}px", x - 10.0)
        } else {
            format!("left: {:.0}px; top: {top:.0}px", x + 10.0)
        }
    };
    let tooltip_style = move || {
        let Some(m) = mapping.get() else {
            return String::new();
        };
        if let Some(p) = hovered() {
            let (x, y) = m.to_screen(p.ts, p.value);
            return if multi() {
                readout_style(x, m)
            } else {
                format!("left: {x:.0}px; top: {y:.0}px")
            };
        }
        crosshair_x().map_or_else(String::new, |x| readout_style(x, m))
    };
    let unit = move || meta.with(|m| m.unit.clone().map(|u| format!(" {u}")).unwrap_or_default());
    let clock = move |ts: i64| {
        let decimals = view.with(|w| time_decimals(w.spacing_ms().unwrap_or(1000.0)));
        format_clock(ts, local_offset_minutes(), decimals)
    };
    // One line per series: every visible series at that instant, not only the nearest (which
    // is marked when the pointer is on this chart).
    let readout_text = move |ts: i64, nearest: Option<&SeriesName>| {
        let unit = unit();
        let lines: Vec<String> = view.with(|w| {
            w.values_at(ts)
                .map(|(name, s)| {
                    let mark = if Some(name) == nearest { "▸ " } else { "" };
                    format!("{mark}{name} {}{unit}", readable_value(s.value))
                })
                .collect()
        });
        (!lines.is_empty()).then(|| format!("{}\n{}", clock(ts), lines.join("\n")))
    };
    let tooltip_text = move || {
        if let Some(p) = hovered() {
            if multi() {
                return readout_text(p.ts, Some(&p.series));
            }
            return Some(format!(
                "{} · {}{}",
                clock(p.ts),
                readable_value(p.value),
                unit()
            ));
        }
        crosshair_x()?;
        readout_text(feed.crosshair.get()?, None)
    };
    let title = {
        let stream = stream.clone();
        move || {
            meta.with(|m| m.title.clone())
                .unwrap_or_else(|| stream.to_string())
        }
    };
    let canvas_label = {
        let title = title.clone();
        move || {
            let shown = match choice.get() {
                WindowChoice::Points(n) => format!("the last {n} points of each series"),
                WindowChoice::Time(_) => format!("the last {}", choice.get().label()),
            };
            format!(
                "{}: line chart of {shown}; drag to look back, Ctrl and wheel to zoom",
                title()
            )
        }
    };
    let caption = {
        let title = title.clone();
        move || format!("{}: the points shown", title())
    };
    // The latest value of each series, read aloud on request: once (key V), or at most every
    // few seconds while asked to in the Data menu.
    let announce = RwSignal::new(false);
    let spoken = RwSignal::new(String::new());
    let summary = move || {
        let unit = unit();
        let values: Vec<String> = points.with(|w| {
            w.latest_values()
                .map(|(name, v)| format!("{name} {}{unit}", readable_value(v)))
                .collect()
        });
        if values.is_empty() {
            "No data yet".to_owned()
        } else {
            format!("Latest: {}", values.join(", "))
        }
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let key = ev.key();
        if key == "v" || key == "V" {
            spoken.set(summary());
        } else if moves::key(state, feed, &key) {
            ev.prevent_default();
        }
    };
    #[cfg(feature = "hydrate")]
    crate::browser::throttled(
        data::ANNOUNCE_EVERY_MS,
        move || {
            if announce.get() {
                points.track();
            }
        },
        move || match announce.try_get_untracked() {
            Some(true) => {
                spoken.try_set(summary());
            }
            Some(false) => {
                spoken.try_set(String::new());
            }
            None => {}
        },
    );
    let mut choices: Vec<WindowChoice> = WINDOW_CHOICES
        .iter()
        .map(|&n| WindowChoice::Points(n))
        .chain(TIME_CHOICES.iter().map(|&(ms, _)| WindowChoice::Time(ms)))
        .collect();
    if !choices.contains(&window) {
        choices.push(window);
    }
    // The legend and the table are HTML written from the window in one piece (see
    // `crate::markup`): a view per row and button cost the WASM far more.
    let legend = Memo::new(move |_| hidden.with(|h| view.with(|w| legend_html(w, h))));
    let series_count = move || view.with(|w| w.series_count());
    let on_legend = move |ev: leptos::ev::MouseEvent| {
        let Some(name) = clicked_series(&ev) else {
            return;
        };
        hidden.update(|h| {
            if !h.remove(&name) {
                h.insert(name);
            }
        });
    };
    // Export: the exact points of the range shown, and the picture as drawn.
    let csv_href = {
        let stream = stream.clone();
        move || {
            let (from, to) = view.with(Window::time_range)?;
            let series = hidden.with(|h| {
                (!h.is_empty()).then(|| {
                    view.with(|w| {
                        w.series()
                            .map(|(n, _)| n.clone())
                            .filter(|n| !h.contains(n))
                            .collect::<Vec<_>>()
                    })
                })
            });
            let query = RangeQuery {
                from: Some(from),
                to: Some(to),
                series: series.filter(|s| !s.is_empty()),
                format: RangeFormat::Csv,
                ..RangeQuery::default()
            };
            Some(query.path(&stream))
        }
    };
    let csv_name = {
        let stream = stream.clone();
        move || {
            view.with(Window::time_range)
                .map(|(from, to)| format!("{stream}-{from}-{to}.csv"))
        }
    };
    let on_png = {
        let stream = stream.clone();
        let title = title.clone();
        move |_| {
            #[cfg(feature = "hydrate")]
            if let Some(el) = canvas.get_untracked() {
                let palette = crate::theme::Palette::current();
                let legend: Vec<(String, String)> = view.with_untracked(|w| {
                    w.series()
                        .enumerate()
                        .map(|(i, (n, _))| (n.to_string(), palette.series_css(i)))
                        .collect()
                });
                let file = format!("{stream}.png");
                let range = view.with_untracked(Window::time_range);
                let saved =
                    crate::browser::export::save_png(&el, &title(), range, &legend, palette, &file);
                if let Err(e) = saved {
                    leptos::logging::warn!("livechart: saving the chart failed: {e}");
                }
            }
            #[cfg(not(feature = "hydrate"))]
            let _ = (&stream, &title, canvas);
        }
    };
    let range_note = move || {
        past.get().map(|(from, to)| {
            let (a, b) = (clock(from), clock(to));
            format!("{a} – {b}")
        })
    };

    let markup = view! {
        <figure
            class="chart"
            data-stream=stream.to_string()
            data-state=move || status.get().key()
            data-badge=move || badge.with(Badge::key)
            data-hydrated=move || hydrated.get().to_string()
            data-count=move || view.with(|w| w.len())
            data-series=move || view.with(|w| w.series().filter(|(_, s)| !s.is_empty()).count())
            data-gaps=move || view.with(|w| w.gaps())
            data-resets=move || resets.get()
            data-last-id=move || last_id.get().map(|id| id.to_string())
            data-draws=move || draws.get()
            data-window=move || choice.get().key()
            data-paused=move || away().to_string()
            data-past=move || past.get().map(|(f, t)| format!("{f}-{t}"))
            data-range=move || view.with(|w| w.time_range().map(|(f, t)| format!("{f}-{t}")))
            data-loading=move || loading.get().to_string()
            data-unseen=move || unseen.get()
        >
            <figcaption class="chart-head">
                <h2 class="chart-title">{title.clone()}</h2>
                <span class="chart-meta">
                    <code>{stream.to_string()}</code>
                    {move || view.with(|w| (w.gaps() > 0).then(|| view! {
                        <span class="gap-note">" · gap: events were missed"</span>
                    }))}
                </span>
                // Not a live region: its age ticks every second. Read aloud on request instead.
                <span class="status" data-state=move || badge.with(Badge::key)>
                    {move || badge.with(Badge::label)}
                </span>
            </figcaption>
            <div class="chart-controls">
                <label class="window-choice">
                    "Window "
                    <select
                        aria-label="Window"
                        on:change=move |ev| {
                            if let Ok(c) = WindowChoice::parse(&event_target_value(&ev)) {
                                if let WindowChoice::Time(span) = c {
                                    timed.set(Window::spanning(span));
                                }
                                moves::back_to_live(state, feed);
                                choice.set(c);
                            }
                        }
                    >
                        {choices.into_iter().map(|c| view! {
                            <option value=c.key() selected=c == window>{c.label()}</option>
                        }).collect_view()}
                    </select>
                </label>
                <button
                    type="button"
                    class="pause"
                    aria-pressed=move || away().to_string()
                    on:click=move |_| moves::toggle_pause(state, feed)
                >
                    {move || if away() { "Back to live" } else { "Pause" }}
                </button>
                <span class="loading" role="status" hidden=move || !loading.get()>"Loading…"</span>
                {data::data_menu(csv_href, csv_name, on_png, table_shown, announce)}
            </div>
            <div class="plot" node_ref=plot>
                // Over the plot, not in the controls' row: pausing moves nothing.
                <p class="plot-note">
                    <span class="unseen">
                        {move || away().then(|| {
                            let n = unseen.get();
                            format!("Paused · {n} new point{}", if n == 1 { "" } else { "s" })
                        })}
                    </span>
                    <span class="range-note">{range_note}</span>
                </p>
                // The server's drawing: visible until the canvas paints over it.
                <div class="first-paint" aria-hidden="true" inner_html=first_paint></div>
                <canvas
                    node_ref=canvas
                    role="img"
                    tabindex="0"
                    aria-label=canvas_label
                    on:pointermove=on_move
                    on:pointerleave=on_leave
                    on:pointerdown=on_down
                    on:pointerup=move |ev| lift(&ev)
                    on:pointercancel=move |ev| lift(&ev)
                    on:wheel=on_wheel
                    on:dblclick=move |_| moves::back_to_live(state, feed)
                    on:keydown=on_key
                ></canvas>
                <div
                    class="crosshair"
                    aria-hidden="true"
                    hidden=move || crosshair_x().is_none()
                    style=move || crosshair_x().map(|x| format!("left: {x:.0}px")).unwrap_or_default()
                ></div>
                // Over the plot while the chart has the keyboard's focus: what its keys do
                // (over it, so that showing it moves nothing under the pointer).
                <p class="chart-keys">
                    <kbd>"←"</kbd> " " <kbd>"→"</kbd> " pan · " <kbd>"+"</kbd> " " <kbd>"−"</kbd>
                    " zoom · " <kbd>"Home"</kbd> " back to live · " <kbd>"V"</kbd>
                    " reads the latest values · Ctrl + wheel or pinch zooms, drag looks back"
                </p>
                <p class="zoom-hint" aria-hidden="true" hidden=move || !zoom_hint.get()>
                    "Ctrl + wheel (⌘ on a Mac) or pinch to zoom"
                </p>
                <div
                    class="tooltip"
                    role="tooltip"
                    data-readout=move || (hovered().is_none() || multi()).then_some("true")
                    hidden=move || tooltip_text().is_none()
                    style=tooltip_style
                >
                    {tooltip_text}
                </div>
            </div>
            <ul
                class="legend"
                aria-label="Series (click to hide or show)"
                hidden=move || series_count() < 2
                on:click=on_legend
                inner_html=legend
            ></ul>
            // Set as a property, not rendered: empty until asked for, and an empty text node
            // rendered by the server would not be there for hydration to find.
            <p
                class="visually-hidden live-summary"
                aria-live="polite"
                prop:textContent=move || spoken.get()
            ></p>
            {data::points_table(caption, table_shown, table)}
        </figure>
    };
    crate::erased_on_server(markup)
}

/// Minutes east of UTC in the viewer's time zone (the server renders no local times).
fn local_offset_minutes() -> i32 {
    #[cfg(feature = "hydrate")]
    {
        crate::browser::local_offset_minutes()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0
    }
}

/// The series whose legend button a click landed in.
fn clicked_series(ev: &leptos::ev::MouseEvent) -> Option<SeriesName> {
    use leptos::wasm_bindgen::JsCast;
    let target: leptos::web_sys::Element = ev.target()?.dyn_into().ok()?;
    let button = target.closest("button[data-series]").ok()??;
    SeriesName::parse(&button.get_attribute("data-series")?).ok()
}
