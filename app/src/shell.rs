//! The document shell and the pages.

use crate::chart::LiveChart;
use crate::model::StreamName;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes, A},
    StaticSegment,
};

/// The HTML document the server renders around [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
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
    view! {
        <Stylesheet id="leptos" href="/pkg/livechart.css"/>
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg"/>
        <Title text="Livechart"/>
        <Router>
            <nav class="top-nav" aria-label="Main">
                <A href="/">"Live chart"</A>
                <A href="/about">"About & API"</A>
            </nav>
            <main>
                <Routes fallback=NotFound>
                    <Route path=StaticSegment("") view=HomePage/>
                    <Route path=StaticSegment("about") view=AboutPage/>
                </Routes>
            </main>
        </Router>
    }
}

#[component]
fn HomePage() -> impl IntoView {
    // A literal that is valid by construction; a failure here is a programming error.
    let demo = StreamName::parse("demo").expect("'demo' is a valid stream name");
    view! {
        <header class="page-head">
            <h1>"Livechart"</h1>
            <p class="lede">"Live data from the server, drawn as it arrives."</p>
        </header>
        <LiveChart stream=demo title="Demo stream" y_range=(0.0, 100.0)/>
    }
}

/// What Livechart is and how to read a stream without the page.
#[component]
fn AboutPage() -> impl IntoView {
    view! {
        <header class="page-head">
            <h1>"About Livechart"</h1>
            <p class="lede">"A self-hosted live chart: programs publish points, the server fans them out over Server-Sent Events, and this page draws them."</p>
        </header>
        <section class="prose">
            <h2>"Read a stream from a terminal"</h2>
            <pre><code>"curl -N http://127.0.0.1:3000/api/streams/demo/events"</code></pre>
            <p>"Each event has an " <code>"id"</code> " (increasing by one), the name "
               <code>"point"</code> " and a JSON point: " <code>r#"{"ts": 1763700000123, "value": 21.5}"#</code>
               " where " <code>"ts"</code> " is milliseconds since the Unix epoch."</p>
            <h2>"Health"</h2>
            <p><code>"GET /healthz"</code> " lists every stream with its viewers and last event id."</p>
        </section>
    }
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
