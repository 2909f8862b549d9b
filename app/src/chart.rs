//! The live chart component: the markup both sides render, and the hand-off to the browser
//! side (`crate::browser`) that connects, draws and follows the mouse.

use crate::model::{Point, StreamName};
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
    pub last_id: RwSignal<Option<u64>>,
    pub hover: RwSignal<Option<Point>>,
    pub hydrated: RwSignal<bool>,
    /// Frames drawn so far (exposed as `data-draws`: drawing is once per animation frame).
    pub draws: RwSignal<u64>,
    /// Where the last frame put the plotting area; written by each draw, so the tooltip
    /// follows its point as the window slides.
    pub mapping: RwSignal<Option<Mapping>>,
    pub y_range: Option<(f64, f64)>,
}

/// A sliding line chart of one stream, fed live over SSE.
///
/// The server renders the frame of it; once hydrated, the browser opens an `EventSource`,
/// keeps the last `window` points and draws them on the canvas at most once per animation
/// frame. The window's contents are also in a visually-hidden table, for screen readers and
/// tests.
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
    /// How many points to keep.
    #[prop(default = DEFAULT_WINDOW)]
    window: usize,
) -> impl IntoView {
    let state = ChartState {
        points: RwSignal::new(Window::new(window)),
        status: RwSignal::new(ConnState::Connecting),
        last_id: RwSignal::new(None),
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
        let ts = m.ts_at(f64::from(ev.offset_x()));
        let nearest = points.with_untracked(|w| w.nearest(ts).copied());
        if hover.get_untracked() != nearest {
            hover.set(nearest);
        }
    };
    // The hovered point while it is still in the window.
    let shown = Memo::new(move |_| hover.get().filter(|p| points.with(|w| w.contains(p))));
    let tooltip_style = move || {
        let placed = shown.get().zip(mapping.get()).map(|(p, m)| m.to_screen(&p));
        placed.map_or_else(String::new, |(x, y)| {
            format!("left: {x:.0}px; top: {y:.0}px")
        })
    };
    let tooltip_text = move || {
        shown.get().map(|p| {
            let time_decimals = points.with(|w| time_decimals(w.spacing_ms().unwrap_or(1000.0)));
            format!(
                "{} · {}",
                format_clock(p.ts, local_offset_minutes(), time_decimals),
                p.value
            )
        })
    };
    let caption = format!("{title}: the last {window} points");
    let canvas_label =
        format!("{title}, line chart of the last {window} points of stream {stream}");

    view! {
        <figure
            class="chart"
            data-stream=stream.to_string()
            data-state=move || status.get().key()
            data-hydrated=move || hydrated.get().to_string()
            data-count=move || points.with(|w| w.len())
            data-last-id=move || last_id.get().map(|id| id.to_string())
            data-draws=move || draws.get()
        >
            <figcaption class="chart-head">
                <span class="chart-meta">
                    <code>{stream.to_string()}</code>
                    {move || points.with(|w| match w.latest() {
                        Some(p) => format!(" · latest {}", p.value),
                        None => " · waiting for data".to_owned(),
                    })}
                </span>
                <span class="status" role="status" data-state=move || status.get().key()>
                    {move || status.get().label()}
                </span>
            </figcaption>
            <div class="plot" node_ref=plot>
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
                        <th scope="col">"Time (UTC)"</th>
                        <th scope="col">"Value"</th>
                    </tr>
                </thead>
                <tbody>
                    {move || {
                        points
                            .with(|w| w.points().copied().collect::<Vec<_>>())
                            .into_iter()
                            .map(|p| {
                                let iso = format_iso_utc(p.ts);
                                let datetime = iso.clone();
                                view! {
                                    <tr data-ts=p.ts data-value=p.value.to_string()>
                                        <td><time datetime=datetime>{iso}</time></td>
                                        <td>{p.value.to_string()}</td>
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
