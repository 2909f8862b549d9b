//! The live chart component: the markup both sides render, and the hand-off to the browser
//! side (`crate::browser`) that connects, draws and follows the mouse.

use crate::model::{EventId, Point, StreamName};
use crate::server_data;
use crate::window::{format_clock, format_iso_utc, time_decimals, Mapping, Window, DEFAULT_WINDOW};
use leptos::prelude::*;

/// What the chart knows of its connection, shown to the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// Before the first successful connection.
    Connecting,
    /// Events are flowing.
    Live,
    /// The connection dropped; the browser (or the chart) is reconnecting.
    Reconnecting,
}

impl ConnState {
    pub fn label(self) -> &'static str {
        match self {
            ConnState::Connecting => "Connecting…",
            ConnState::Live => "Live",
            ConnState::Reconnecting => "Connection lost. Reconnecting…",
        }
    }

    /// A stable key for styling and tests (`data-state`).
    pub fn key(self) -> &'static str {
        match self {
            ConnState::Connecting => "connecting",
            ConnState::Live => "live",
            ConnState::Reconnecting => "reconnecting",
        }
    }
}

/// Everything the browser side needs to drive one chart. Signals are `Copy`, so this is too.
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub(crate) struct ChartState {
    pub points: RwSignal<Window>,
    pub status: RwSignal<ConnState>,
    /// The id of the last event applied: the point to resume from.
    pub last_id: RwSignal<Option<EventId>>,
    /// How often the server said events were missed (`reset`).
    pub resets: RwSignal<u32>,
    pub hover: RwSignal<Option<Point>>,
    pub hydrated: RwSignal<bool>,
    /// Frames drawn so far (exposed as `data-draws`: drawing is once per animation frame).
    pub draws: RwSignal<u64>,
    /// Where the last frame put the plotting area (CSS pixels); written by each draw, so the
    /// tooltip follows its point as the window slides.
    pub mapping: RwSignal<Option<Mapping>>,
    pub y_range: Option<(f64, f64)>,
}

/// A sliding line chart of one stream, one line per series, fed live over SSE.
///
/// The server renders it with the stream's current window, drawn as SVG, so the first paint
/// shows data before (or without) WebAssembly. Once hydrated, the browser subscribes from
/// exactly after that window, keeps the last `window` points of each series and draws them on
/// the canvas at most once per animation frame. The window's contents are also in a
/// visually-hidden table, for screen readers and tests.
#[component]
pub fn LiveChart(
    /// The stream to follow.
    stream: StreamName,
    /// The chart's title.
    #[prop(into)]
    title: String,
    /// A fixed value range (min, max); without it the range fits the data.
    #[prop(optional, into)]
    y_range: Option<(f64, f64)>,
    /// How many points of each series to keep.
    #[prop(default = DEFAULT_WINDOW)]
    window: usize,
) -> impl IntoView {
    // Rendered on the server with the stream's window; read back, not recomputed, while
    // hydrating, so both sides start from the same points and the same last id.
    let initial = SharedValue::new({
        let stream = stream.clone();
        move || server_data::snapshot(&stream)
    })
    .into_inner()
    .unwrap_or_default();
    let mut first = Window::new(window);
    first.replace(&initial.points);
    #[cfg(feature = "ssr")]
    let first_paint = crate::plot::svg(&first, &title, y_range, crate::model::now_ms());
    #[cfg(not(feature = "ssr"))]
    let first_paint = String::new();

    let state = ChartState {
        points: RwSignal::new(first),
        status: RwSignal::new(ConnState::Connecting),
        last_id: RwSignal::new(initial.last_id),
        resets: RwSignal::new(0),
        hover: RwSignal::new(None),
        hydrated: RwSignal::new(false),
        draws: RwSignal::new(0),
        mapping: RwSignal::new(None),
        y_range,
    };
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    let plot = NodeRef::<leptos::html::Div>::new();

    #[cfg(feature = "hydrate")]
    crate::browser::start(state, stream.clone(), title.clone(), canvas, plot);

    let ChartState {
        points,
        status,
        last_id,
        resets,
        hover,
        hydrated,
        draws,
        mapping,
        ..
    } = state;

    let on_move = move |ev: leptos::ev::MouseEvent| {
        let Some(m) = mapping.get_untracked() else {
            return;
        };
        let (x, y) = (f64::from(ev.offset_x()), f64::from(ev.offset_y()));
        let nearest = points.with_untracked(|w| w.nearest(m.ts_at(x), Some(m.value_at(y))));
        if hover.get_untracked() != nearest {
            hover.set(nearest);
        }
    };
    // The hovered point while it is still in the window.
    let shown = Memo::new(move |_| hover.get().filter(|p| points.with(|w| w.contains(p))));
    let tooltip_style = move || {
        let placed = shown
            .get()
            .zip(mapping.get())
            .map(|(p, m)| m.to_screen(p.ts, p.value));
        placed.map_or_else(String::new, |(x, y)| {
            format!("left: {x:.0}px; top: {y:.0}px")
        })
    };
    let tooltip_text = move || {
        shown.get().map(|p| {
            let (time_decimals, multi) = points.with(|w| {
                (
                    time_decimals(w.spacing_ms().unwrap_or(1000.0)),
                    w.series_count() > 1,
                )
            });
            let clock = format_clock(p.ts, local_offset_minutes(), time_decimals);
            if multi {
                format!("{} · {clock} · {}", p.series, p.value)
            } else {
                format!("{clock} · {}", p.value)
            }
        })
    };
    let caption = format!("{title}: the last {window} points of each series");
    let canvas_label =
        format!("{title}, line chart of the last {window} points of stream {stream}");

    view! {
        <figure
            class="chart"
            data-stream=stream.to_string()
            data-state=move || status.get().key()
            data-hydrated=move || hydrated.get().to_string()
            data-count=move || points.with(|w| w.len())
            data-series=move || points.with(|w| w.series_count())
            data-gaps=move || points.with(|w| w.gaps())
            data-resets=move || resets.get()
            data-last-id=move || last_id.get().map(|id| id.to_string())
            data-draws=move || draws.get()
        >
            <figcaption class="chart-head">
                <span class="chart-meta">
                    <code>{stream.to_string()}</code>
                    {move || points.with(|w| match w.latest() {
                        Some(p) if w.series_count() > 1 => format!(" · latest {} {}", p.series, p.value),
                        Some(p) => format!(" · latest {}", p.value),
                        None => " · waiting for data".to_owned(),
                    })}
                    {move || points.with(|w| (w.gaps() > 0).then(|| view! {
                        <span class="gap-note">" · gap: events were missed"</span>
                    }))}
                </span>
                <span class="status" role="status" data-state=move || status.get().key()>
                    {move || status.get().label()}
                </span>
            </figcaption>
            <div class="plot" node_ref=plot>
                // The server's drawing: visible until the canvas paints over it.
                <div class="first-paint" aria-hidden="true" inner_html=first_paint></div>
                <canvas
                    node_ref=canvas
                    role="img"
                    aria-label=canvas_label
                    on:mousemove=on_move
                    on:mouseleave=move |_| hover.set(None)
                ></canvas>
                <div class="tooltip" role="tooltip" hidden=move || shown.get().is_none() style=tooltip_style>
                    {tooltip_text}
                </div>
            </div>
            <table class="visually-hidden window-table">
                <caption>{caption}</caption>
                <thead>
                    <tr>
                        <th scope="col">"Series"</th>
                        <th scope="col">"Time (UTC)"</th>
                        <th scope="col">"Value"</th>
                    </tr>
                </thead>
                <tbody>
                    {move || {
                        points
                            .with(|w| {
                                w.series()
                                    .flat_map(|(name, samples)| {
                                        samples.iter().map(move |s| (name.clone(), *s))
                                    })
                                    .collect::<Vec<_>>()
                            })
                            .into_iter()
                            .map(|(series, s)| {
                                let iso = format_iso_utc(s.ts);
                                let datetime = iso.clone();
                                view! {
                                    <tr
                                        data-series=series.to_string()
                                        data-ts=s.ts
                                        data-value=s.value.to_string()
                                        data-gap=s.gap_before.then_some("true")
                                    >
                                        <td>{series.to_string()}</td>
                                        <td><time datetime=datetime>{iso}</time></td>
                                        <td>{s.value.to_string()}</td>
                                    </tr>
                                }
                            })
                            .collect_view()
                    }}
                </tbody>
            </table>
        </figure>
    }
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
