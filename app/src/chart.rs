//! The live chart component: the markup both sides render, and the hand-off to the browser
//! side (`crate::browser`) that draws and follows the mouse. Events reach it through the
//! page's [`Feed`].

use crate::axis::{format_clock, format_iso_utc, time_decimals};
use crate::escape_html;
use crate::feed::Feed;
use crate::model::{EventId, Point, SeriesName, Snapshot, StreamMeta, StreamName};
use crate::plot::series_css;
use crate::window::{Mapping, Window, DEFAULT_WINDOW, KEPT_POINTS, WINDOW_CHOICES};
use leptos::prelude::*;
use std::collections::BTreeSet;

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
    /// Everything received, [`KEPT_POINTS`] per series at most.
    pub points: RwSignal<Window>,
    /// The page's connection state.
    pub status: RwSignal<ConnState>,
    /// The id of the last event applied: the point to resume from.
    pub last_id: RwSignal<Option<EventId>>,
    /// How often the server said events were missed (`reset`).
    pub resets: RwSignal<u64>,
    /// A `reset` arrived: the next snapshot joins the window after a gap marker.
    pub gap_pending: StoredValue<bool>,
    pub hover: RwSignal<Option<Point>>,
    pub hydrated: RwSignal<bool>,
    /// Frames drawn so far (exposed as `data-draws`: drawing is once per animation frame).
    pub draws: RwSignal<u64>,
    /// Where the last frame put the plotting area (CSS pixels); written by each draw, so the
    /// tooltip follows its point as the window slides.
    pub mapping: RwSignal<Option<Mapping>>,
    /// While paused: the window as it was when paused, which is what is drawn. Points keep
    /// arriving in `points` meanwhile (bounded as always).
    pub paused: RwSignal<Option<Window>>,
    /// Points received since pausing.
    pub unseen: RwSignal<u64>,
    /// What is drawn: the last `window` points of the visible series, live or paused.
    pub view: Memo<Window>,
    pub meta: Memo<StreamMeta>,
    /// The body of the table of points shown. The table is for reading, not for watching:
    /// rewriting a thousand rows on every event kept a core busy, so the browser rewrites it
    /// at most once a second (`crate::browser::start_chart`).
    pub table: NodeRef<leptos::html::Tbody>,
}

/// A sliding line chart of one stream, one line per series, fed live over the page's
/// connection.
///
/// The server renders it with the stream's current window (`initial`), drawn as SVG, so the
/// first paint shows data before (or without) WebAssembly. Once hydrated, the chart registers
/// with the page's [`Feed`], which resumes exactly after that window, and draws on the canvas
/// at most once per animation frame. Its controls: the window size, pause / back to live, and the
/// legend (click a series to hide or show it). The points shown are also in a
/// visually-hidden table, and the latest values in a live region, for screen readers.
#[component]
pub fn LiveChart(
    /// The stream to follow.
    stream: StreamName,
    /// How many points of each series to show at first.
    #[prop(default = DEFAULT_WINDOW)]
    window: usize,
    /// The stream's window when the page was rendered. The island around the chart carries
    /// it to the browser, so both sides start from the same points and the same last id.
    #[prop(default = None)]
    initial: Option<Snapshot>,
) -> impl IntoView {
    let feed = Feed::current();
    let initial = initial.unwrap_or_default();
    let mut first = Window::new(KEPT_POINTS.max(window));
    first.replace(&initial.points);

    let meta = Memo::new({
        let stream = stream.clone();
        move |_| feed.meta(&stream)
    });
    let shown = RwSignal::new(window);
    let hidden = RwSignal::new(BTreeSet::<SeriesName>::new());
    let points = RwSignal::new(first);
    let paused = RwSignal::new(None::<Window>);
    let view = Memo::new(move |_| {
        let n = shown.get();
        hidden.with(|h| {
            paused.with(|p| match p {
                Some(frozen) => frozen.view(n, |s| h.contains(s)),
                None => points.with(|w| w.view(n, |s| h.contains(s))),
            })
        })
    });
    #[cfg(feature = "ssr")]
    let first_paint = view.with_untracked(|w| {
        meta.with_untracked(|m| {
            crate::plot::svg(w, m.unit.as_deref(), m.range(), crate::model::now_ms())
        })
    });
    #[cfg(not(feature = "ssr"))]
    let first_paint = String::new();

    let state = ChartState {
        points,
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
        view,
        meta,
        table: NodeRef::new(),
    };
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    let plot = NodeRef::<leptos::html::Div>::new();

    #[cfg(feature = "hydrate")]
    crate::browser::start_chart(state, feed, stream.clone(), canvas, plot);

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
        ..
    } = state;

    let on_move = move |ev: leptos::ev::MouseEvent| {
        let Some(m) = mapping.get_untracked() else {
            return;
        };
        let (x, y) = (f64::from(ev.offset_x()), f64::from(ev.offset_y()));
        let nearest = view.with_untracked(|w| w.nearest(m.ts_at(x), Some(m.value_at(y))));
        if hover.get_untracked() != nearest {
            hover.set(nearest);
        }
    };
    // The hovered point while it is still shown.
    let hovered = move || hover.get().filter(|p| view.with(|w| w.contains(p)));
    let tooltip_style = move || {
        let placed = hovered()
            .zip(mapping.get())
            .map(|(p, m)| m.to_screen(p.ts, p.value));
        placed.map_or_else(String::new, |(x, y)| {
            format!("left: {x:.0}px; top: {y:.0}px")
        })
    };
    let unit = move || meta.with(|m| m.unit.clone().map(|u| format!(" {u}")).unwrap_or_default());
    let tooltip_text = move || {
        hovered().map(|p| {
            let (time_decimals, multi) = view.with(|w| {
                (
                    time_decimals(w.spacing_ms().unwrap_or(1000.0)),
                    w.series_count() > 1,
                )
            });
            let clock = format_clock(p.ts, local_offset_minutes(), time_decimals);
            let unit = unit();
            if multi {
                format!("{} · {clock} · {}{unit}", p.series, p.value)
            } else {
                format!("{clock} · {}{unit}", p.value)
            }
        })
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
            format!(
                "{}: line chart of the last {} points of each series",
                title(),
                shown.get()
            )
        }
    };
    let caption = {
        let title = title.clone();
        move || format!("{}: the points shown", title())
    };
    // The latest value of each series, for screen readers (announced politely).
    let summary = move || {
        let unit = unit();
        let values: Vec<String> = points.with(|w| {
            w.latest_values()
                .map(|(name, v)| format!("{name} {v}{unit}"))
                .collect()
        });
        if values.is_empty() {
            "No data yet".to_owned()
        } else {
            format!("Latest: {}", values.join(", "))
        }
    };
    let mut choices: Vec<usize> = WINDOW_CHOICES.to_vec();
    if !choices.contains(&window) {
        choices.push(window);
        choices.sort_unstable();
    }
    let toggle_pause = move |_| {
        if paused.with_untracked(Option::is_some) {
            paused.set(None);
        } else {
            unseen.set(0);
            paused.set(Some(points.get_untracked()));
        }
    };
    // The legend and the table are HTML written from the window in one piece (see
    // `legend_html`, `table_html`): a view per row and button cost the WASM far more.
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

    let markup = view! {
        <figure
            class="chart"
            data-stream=stream.to_string()
            data-state=move || status.get().key()
            data-hydrated=move || hydrated.get().to_string()
            data-count=move || view.with(|w| w.len())
            data-series=move || view.with(|w| w.series().filter(|(_, s)| !s.is_empty()).count())
            data-gaps=move || view.with(|w| w.gaps())
            data-resets=move || resets.get()
            data-last-id=move || last_id.get().map(|id| id.to_string())
            data-draws=move || draws.get()
            data-window=move || shown.get()
            data-paused=move || paused.with(Option::is_some).to_string()
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
                <span class="status" role="status" data-state=move || status.get().key()>
                    {move || status.get().label()}
                </span>
            </figcaption>
            <div class="chart-controls">
                <label class="window-choice">
                    "Window "
                    <select
                        aria-label="Points per series"
                        on:change=move |ev| {
                            if let Ok(n) = event_target_value(&ev).parse::<usize>() {
                                shown.set(n);
                            }
                        }
                    >
                        {choices.into_iter().map(|n| view! {
                            <option value=n.to_string() selected=n == window>{n.to_string()}</option>
                        }).collect_view()}
                    </select>
                    " points"
                </label>
                <button
                    type="button"
                    class="pause"
                    aria-pressed=move || paused.with(Option::is_some).to_string()
                    on:click=toggle_pause
                >
                    {move || if paused.with(Option::is_some) { "Back to live" } else { "Pause" }}
                </button>
                <span class="unseen" aria-live="polite">
                    {move || paused.with(Option::is_some).then(|| {
                        let n = unseen.get();
                        format!("Paused · {n} new point{}", if n == 1 { "" } else { "s" })
                    })}
                </span>
            </div>
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
                <div class="tooltip" role="tooltip" hidden=move || hovered().is_none() style=tooltip_style>
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
            <p class="visually-hidden live-summary" aria-live="polite">{summary}</p>
            <table class="visually-hidden window-table">
                <caption>{caption}</caption>
                <thead>
                    <tr>
                        <th scope="col">"Series"</th>
                        <th scope="col">"Time (UTC)"</th>
                        <th scope="col">"Value"</th>
                    </tr>
                </thead>
                <tbody node_ref=table inner_html=view.with_untracked(table_html)></tbody>
            </table>
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

/// The legend's items: a button per series (pressed while shown), in the series' colour.
/// Series are in the window's order whether hidden or not, so colours stay put.
fn legend_html(w: &Window, hidden: &BTreeSet<SeriesName>) -> String {
    let mut out = String::new();
    for (i, (series, _)) in w.series().enumerate() {
        let shown = !hidden.contains(series);
        let name = escape_html(series.as_str());
        out += &format!(
            "<li><button type=\"button\" data-series=\"{name}\" aria-pressed=\"{shown}\">\
             <span class=\"swatch\" style=\"background: {}\"></span>{name}</button></li>",
            series_css(i)
        );
    }
    out
}

/// The rows of the table of points shown: series, time (UTC) and value, with the same
/// figures as `data-*` attributes for scripts.
pub(crate) fn table_html(w: &Window) -> String {
    let mut out = String::new();
    for (name, samples) in w.series() {
        let name = escape_html(name.as_str());
        for s in samples {
            let iso = format_iso_utc(s.ts);
            let gap = if s.gap_before {
                " data-gap=\"true\""
            } else {
                ""
            };
            out += &format!(
                "<tr data-series=\"{name}\" data-ts=\"{ts}\" data-value=\"{v}\"{gap}>\
                 <td>{name}</td><td><time datetime=\"{iso}\">{iso}</time></td><td>{v}</td></tr>",
                ts = s.ts,
                v = s.value,
            );
        }
    }
    out
}

/// The series whose legend button a click landed in.
fn clicked_series(ev: &leptos::ev::MouseEvent) -> Option<SeriesName> {
    use leptos::wasm_bindgen::JsCast;
    let target: leptos::web_sys::Element = ev.target()?.dyn_into().ok()?;
    let button = target.closest("button[data-series]").ok()??;
    SeriesName::parse(&button.get_attribute("data-series")?).ok()
}
