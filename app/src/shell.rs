//! The document shell and the pages.

use crate::address::{self, PageShown};
use crate::chart::{connect_feed, LiveChart};
use crate::markup::escape_html;
use crate::model::{parse_stream_list, Snapshot, StreamInfo, StreamName, MAX_NAME_LEN};
use crate::server_data;
use crate::tasks::TaskPanel;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes, A},
    hooks::{use_params_map, use_query_map},
    path, StaticSegment,
};

/// The charts' theme CSS, the same for every page.
static THEME_CSS: std::sync::LazyLock<String> = std::sync::LazyLock::new(crate::theme::page_css);

/// The HTML document the server renders around [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
    // App links the stylesheet where the site is (a fingerprinted directory when embedded).
    provide_context(options.clone());
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name=crate::stamp::META_NAME content=crate::stamp::SOURCE_STAMP/>
                // Before anything is drawn: the theme, so that nothing flashes in the other.
                <script inner_html=crate::theme::THEME_SCRIPT></script>
                <style inner_html=THEME_CSS.as_str()></style>
                <AutoReload options=options.clone()/>
                <HydrationScripts options islands=true/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let stylesheet = use_context::<LeptosOptions>()
        .map(|o| format!("/{}/{}.css", o.site_pkg_dir, o.output_name))
        .unwrap_or_else(|| "/pkg/livechart.css".to_owned());
    view! {
        <Stylesheet id="leptos" href=stylesheet/>
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg"/>
        <Title text="Livechart"/>
        <Router>
            // The first stop of the keyboard: past the navigation to the page's content.
            <a class="skip-link" href="#content">"Skip to the content"</a>
            <nav class="top-nav" aria-label="Main">
                <A href="/">"Dashboard"</A>
                <A href="/about">"About & API"</A>
                <button type="button" class="theme-toggle" data-theme-toggle="" aria-pressed="false">
                    "Dark theme"
                </button>
            </nav>
            <main id="content" tabindex="-1">
                <Routes fallback=NotFound>
                    <Route path=StaticSegment("") view=HomePage/>
                    <Route path=StaticSegment("about") view=AboutPage/>
                    <Route path=path!("/streams/:name") view=StreamPage/>
                </Routes>
            </main>
        </Router>
    }
}

/// The most charts the dashboard shows when the address does not choose.
pub const MAX_DASHBOARD_CHARTS: usize = 12;

/// `?streams=a,b`: which streams the dashboard shows (`None`: all of them), at most `max`
/// (the configured streams per connection: the page's charts share one).
fn selection(raw: Option<&str>, max: usize) -> Result<Option<Vec<StreamName>>, String> {
    raw.map(|raw| parse_stream_list(raw, max).map_err(|e| format!("streams: {e}.")))
        .transpose()
}

/// The most points a page carries for its charts' first paint (the window as a prop, the
/// SVG and the hidden table are each made of them: about 110 bytes a point in all with the
/// default window, 320 with `?window=500`, so at most about 5 MB). Charts past it start from
/// the snapshot their stream sends once the page is live, so what one request makes the
/// server build is bounded whatever the streams hold.
pub const PAGE_POINTS: usize = 16_000;

/// The windows of `names` for the first paint, in order, while they fit in [`PAGE_POINTS`].
fn first_paint(names: Vec<StreamName>) -> Vec<(StreamName, Snapshot)> {
    let mut budget = PAGE_POINTS;
    names
        .into_iter()
        .filter_map(|name| {
            let snapshot = server_data::snapshot(&name)?;
            budget = budget.checked_sub(snapshot.points.len())?;
            Some((name, snapshot))
        })
        .collect()
}

/// The dashboard page: which streams to show comes from the address, checked here on the
/// server; everything live is in the [`Charts`] island.
#[component]
fn HomePage() -> impl IntoView {
    let query = use_query_map();
    let max = server_data::max_streams();
    move || match selection(query.read().get("streams").as_deref(), max).and_then(|choice| {
        let asked = shown_by(&query.read())?;
        Ok((choice, asked))
    }) {
        Err(e) => bad_request(e).into_any(),
        Ok((choice, asked)) => {
            let catalog = server_data::catalog();
            let snapshots = first_paint(shown(choice.as_deref(), &catalog));
            view! {
                <header class="page-head">
                    <h1>"Livechart"</h1>
                    <p class="lede">"Live data from the server, drawn as it arrives. "
                        {choice.is_none().then(|| shown_note(catalog.len()))}
                    </p>
                </header>
                <Charts choice catalog snapshots asked single=false now=crate::feed::local_now()/>
            }
            .into_any()
        }
    }
}

/// What the address asks the page and each chart to show (see [`address`]).
fn shown_by(query: &leptos_router::params::ParamsMap) -> Result<PageShown, String> {
    address::parse(query.latest_values().map(|(k, v)| (k.as_ref(), v)))
}

/// What the dashboard says it shows when the address does not choose: every stream, or how
/// many it leaves out and why.
fn shown_note(streams: usize) -> String {
    if streams <= MAX_DASHBOARD_CHARTS {
        "Showing every stream; choose some to share a dashboard by its address.".to_owned()
    } else {
        format!(
            "Showing the first {MAX_DASHBOARD_CHARTS} of {streams} streams (a page shows at most \
             {MAX_DASHBOARD_CHARTS} unless its address chooses): show others from the list, and \
             share the dashboard by its address."
        )
    }
}

/// The streams the dashboard shows: those chosen, or the first of all.
fn shown(choice: Option<&[StreamName]>, catalog: &[StreamInfo]) -> Vec<StreamName> {
    match choice {
        Some(names) => names.to_vec(),
        None => catalog
            .iter()
            .take(MAX_DASHBOARD_CHARTS)
            .map(|s| s.name.clone())
            .collect(),
    }
}

/// What lives on a page: its charts, all on the page's one connection, and on the dashboard
/// (not `single`) the list of streams (which grows as streams are created) and the task
/// panel. `snapshots` are the windows the server rendered; a chart that appears later
/// starts from what its stream sends. One island serves both pages: each island type costs
/// the WASM its own copy of the chart's hydration code.
#[island]
fn Charts(
    choice: Option<Vec<StreamName>>,
    catalog: Vec<StreamInfo>,
    snapshots: Vec<(StreamName, Snapshot)>,
    /// What the page and each chart show at first (a window left open: what the stream's
    /// description says, else the default).
    asked: PageShown,
    /// A stream page: one chart, full width, and nothing beside it.
    single: bool,
    /// The server's clock when it rendered the page: the browser's is corrected by it.
    now: i64,
) -> impl IntoView {
    let feed = connect_feed(catalog, now);
    let rendered = StoredValue::new(snapshots);
    let chosen = StoredValue::new(choice);
    let shown = Memo::new(move |_| {
        feed.catalog
            .with(|c| chosen.with_value(|choice| shown(choice.as_deref(), c)))
    });
    let stream_list = move || shown.with(|on| feed.catalog.with(|all| stream_list_html(all, on)));
    view! {
        <div class=if single { "single" } else { "dashboard" }>
            {(!single).then(|| view! {
                <label class="in-step">
                    <input
                        type="checkbox"
                        prop:checked=move || feed.in_step.get()
                        on:change=move |ev| {
                            feed.in_step.set(event_target_checked(&ev));
                            feed.shared_range.set(None);
                        }
                    />
                    " Keep the charts' time in step"
                </label>
            })}
            <div class="charts" data-charts=move || shown.with(Vec::len)>
                <For each=move || shown.get() key=|n| n.clone() let:name>
                    {
                        // Each rendered window is used once: a chart shown again later resumes
                        // from the stream, not from a window that is old by then.
                        let initial = rendered
                            .try_update_value(|r| {
                                r.iter().position(|(n, _)| *n == name).map(|i| r.swap_remove(i).1)
                            })
                            .flatten();
                        let first = asked.of(&name);
                        view! {
                            <LiveChart
                                stream=name
                                window=first.window
                                range=first.range
                                initial=initial
                                own_address=!single
                            />
                        }
                    }
                </For>
                {move || shown.with(Vec::is_empty).then(|| view! {
                    <p class="muted empty">"No charts: show a stream from the list."</p>
                })}
            </div>
            {(!single).then(|| view! {
                <aside class="side">
                    <section class="panel stream-list" aria-labelledby="streams-title">
                        <h2 id="streams-title">"Streams"</h2>
                        <ul inner_html=stream_list on:click=keep_charts_as_they_are></ul>
                        <p class="muted">
                            <a href="/">"Show all"</a>
                            " · publish to a new name and it appears here (see " <a href="/about">"About & API"</a> ")."
                        </p>
                    </section>
                    <TaskPanel/>
                </aside>
            })}
        </div>
    }
}

/// A Show/Hide link of the stream list, as it is followed: its address is made from the page's
/// current one, so every chart still shown keeps its own window and pause (the charts write
/// them into the address as they change, after the list was written).
fn keep_charts_as_they_are(ev: leptos::ev::MouseEvent) {
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::JsCast;
        let link = ev
            .target()
            .and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok())
            .and_then(|t| t.closest("a[data-streams]").ok().flatten());
        let Some(link) = link else { return };
        let list = link.get_attribute("data-streams").unwrap_or_default();
        let Ok(streams) = parse_stream_list(&list, usize::MAX) else {
            return;
        };
        let search = window().location().search().unwrap_or_default();
        // The link is followed after this handler, with the address it has then.
        let _ = link.set_attribute("href", &address::dashboard(&search, &streams));
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = ev;
}

/// The stream list's items: a Show/Hide link (the dashboard's address with the stream added
/// or removed), the stream's page and its title.
fn stream_list_html(catalog: &[StreamInfo], shown: &[StreamName]) -> String {
    let mut out = String::new();
    for info in catalog {
        let name = &info.name;
        let on = shown.contains(name);
        let next: Vec<StreamName> = if on {
            shown.iter().filter(|n| *n != name).cloned().collect()
        } else {
            shown.iter().chain(std::iter::once(name)).cloned().collect()
        };
        let title = info.meta.title.as_deref().map_or_else(String::new, |t| {
            format!("<span class=\"muted\"> · {}</span>", escape_html(t))
        });
        out += &format!(
            // A link, not a button: `aria-pressed` is not for links; the stream's name in the
            // link's text tells the links apart for a screen reader.
            "<li data-stream=\"{n}\" data-shown=\"{on}\"><a href=\"{href}\" class=\"toggle\" \
             data-streams=\"{list}\">\
             {label}<span class=\"visually-hidden\"> {n}</span></a> \
             <a href=\"{page}\"><code>{n}</code></a>{title}</li>",
            n = escape_html(name.as_str()),
            href = escape_html(&address::dashboard("", &next)),
            list = escape_html(
                &next
                    .iter()
                    .map(StreamName::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            label = if on { "Hide" } else { "Show" },
            page = escape_html(&crate::paths::page(name)),
        );
    }
    out
}

/// One stream, full width: `/streams/{name}`, with `?window=N` points per series.
#[component]
fn StreamPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    move || {
        let raw = params.read().get("name").unwrap_or_default();
        let name = match StreamName::parse(&raw) {
            Ok(name) => name,
            Err(e) => {
                let shown: String = raw.chars().take(MAX_NAME_LEN + 1).collect();
                return bad_request(format!("{shown:?} is not a stream name: {e}.")).into_any();
            }
        };
        let asked = match shown_by(&query.read()) {
            Ok(shown) => shown,
            Err(e) => return bad_request(e).into_any(),
        };
        let info: Vec<StreamInfo> = server_data::catalog()
            .into_iter()
            .filter(|s| s.name == name)
            .collect();
        let snapshots = first_paint(vec![name.clone()]);
        view! {
            <Title text=format!("{name} · Livechart")/>
            <header class="page-head">
                <h1>{name.to_string()}</h1>
                <p class="lede">"Stream " <code>{name.to_string()}</code> ", live. "
                    <a href=address::dashboard("", std::slice::from_ref(&name))>"On the dashboard"</a></p>
            </header>
            <Charts choice=Some(vec![name]) catalog=info snapshots asked single=true now=crate::feed::local_now()/>
        }
        .into_any()
    }
}

/// A page for a malformed address, answered with status 400.
fn bad_request(detail: String) -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(http::StatusCode::BAD_REQUEST);
        }
    }
    view! {
        <h1>"Bad address"</h1>
        <p class="error-detail">{detail}</p>
        <p><a href="/">"Back to the dashboard"</a></p>
    }
}

/// What Livechart is and how to read a stream without the page.
#[component]
fn AboutPage() -> impl IntoView {
    let origin = page_origin();
    let o = origin.as_str();
    view! {
        <header class="page-head">
            <h1>"About Livechart"</h1>
            <p class="lede">"A self-hosted live chart: programs publish points, the server fans them out over Server-Sent Events, and this page draws them."</p>
        </header>
        <section class="prose">
            <h2>"Publish"</h2>
            <pre><code>{format!(r#"curl -X POST {o}/api/streams/robot/points \
    -H 'Content-Type: application/json' \
    -d '[{{"series": "temp", "value": 21.5}}, {{"series": "hum", "value": 40}}]'"#)}</code></pre>
            <p>"A point is " <code>r#"{"series": "temp", "ts": 1763700000123, "value": 21.5}"#</code>
               ": " <code>"ts"</code> " is milliseconds since the Unix epoch (the server's clock when left out), "
               <code>"series"</code> " may be left out on a stream with one series. Send one point, an array, or NDJSON ("
               <code>"application/x-ndjson"</code> "). Or pipe numbers and " <code>"series=value"</code> " lines into "
               <code>"livechart publish --stream robot"</code> "."</p>
            <p>"Telegraf and the InfluxDB client libraries can write here too: the Influx line protocol on "
               <code>"POST /api/v2/write"</code> " (or " <code>"/write"</code> "), the measurement as the stream and each field as a series, e.g. "
               <code>"robot,arm=left temp=21.5"</code> " → series " <code>"temp.left"</code>
               ". And the server can subscribe to an MQTT broker (" <code>"LIVECHART_MQTT_URL"</code> ", "
               <code>"LIVECHART_MQTT_TOPICS"</code> "): " <code>"robot/arm/temp"</code> " → stream "
               <code>"robot.arm"</code> ", series " <code>"temp"</code> ". The README has the details."</p>
            <h2>"Watch"</h2>
            <pre><code>{format!("curl -N {o}/api/streams/robot/events")}</code></pre>
            <p>"A new subscriber first gets a " <code>"snapshot"</code> " (the current window), then a "
               <code>"points"</code> " event per publish. Ids are " <code>"EPOCH-SEQ"</code>
               "; send the last one as " <code>"Last-Event-ID"</code> " (or " <code>"?last_event_id="</code>
               ") to resume without a gap. When that is impossible the server says so with a "
               <code>"reset"</code> " event, and the chart marks the gap."</p>
            <h2>"Look back"</h2>
            <pre><code>{format!("curl '{o}/api/streams/robot/points?from=1764770000000&max_points=500'
    curl -H 'Accept: text/csv' {o}/api/streams/robot/points")}</code></pre>
            <p>"Every point of the last hour (" <code>"history.retention"</code> ") is kept. The JSON answer reduces each series above "
               <code>"max_points"</code> " to the first, last, minimum and maximum of each bucket of time, so no spike is lost; CSV gives the exact points. "
               "On a chart, choose a time window (30 s to 1 h), drag to the right to see earlier times, hold Ctrl and turn the wheel (or pinch) to zoom, double-click to return to live."</p>
            <h2>"Several streams, one connection"</h2>
            <pre><code>{format!("curl -N '{o}/api/events?streams=robot,system'")}</code></pre>
            <p>"Each event's data names its stream and id; a " <code>"streams"</code>
               " event lists every stream. The dashboard uses this: all its charts share one connection."</p>
            <h2>"Tasks"</h2>
            <pre><code>{format!(r#"curl -X POST {o}/api/tasks \
    -H 'Content-Type: application/json' -d '{{"duration_ms": 5000, "steps": 10}}'
curl -N {o}/api/tasks/<id>/events"#)}</code></pre>
            <h2>"Health and metrics"</h2>
            <p><code>"GET /healthz"</code> " lists every stream with its series, viewers and last event id; "
               <code>"GET /metrics"</code> " is Prometheus text."</p>
        </section>
    }
}

/// The address this page was asked for (`http://host:port`, from the request's `Host`), so
/// that the examples run as written; the default address when there is none or it is odd.
fn page_origin() -> String {
    #[cfg(feature = "ssr")]
    {
        let parts = use_context::<http::request::Parts>();
        let host = parts.as_ref().and_then(|p| {
            p.headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| p.uri.authority().map(|a| a.as_str()))
        });
        let plain = |h: &&str| {
            h.len() <= 255
                && !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        };
        if let Some(host) = host.filter(plain) {
            let tls = parts.as_ref().is_some_and(|p| {
                p.headers
                    .get("x-forwarded-proto")
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
            });
            return format!("{}://{host}", if tls { "https" } else { "http" });
        }
    }
    "http://127.0.0.1:3000".to_owned()
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <h1>"Page not found"</h1>
        <p><a href="/">"Back to the live chart"</a></p>
    }
}
