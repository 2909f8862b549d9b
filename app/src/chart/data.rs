//! What a chart offers besides its drawing, on request: the Data menu (CSV, PNG, the table of
//! points, spoken values) and the table itself. Nothing here is built or announced for every
//! point: twelve charts each with a table of thousands of rows rewritten on every event made
//! the dashboard's DOM tens of thousands of nodes and its live regions talk 75 times a second.

use leptos::prelude::*;

/// How often, at most, a chart speaks its latest values while asked to (a person hears one
/// sentence in a few seconds; twelve charts at this rate are still far apart).
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub(super) const ANNOUNCE_EVERY_MS: f64 = 5000.0;

/// The Data menu: one Tab stop in the chart's controls, opening onto the exports, the table
/// of points and the spoken values. It closes when an item is chosen, on Escape, and when the
/// focus leaves it (a click elsewhere).
pub(super) fn data_menu(
    csv_href: impl Fn() -> Option<String> + Send + Sync + 'static,
    csv_name: impl Fn() -> Option<String> + Send + Sync + 'static,
    on_png: impl Fn(leptos::ev::MouseEvent) + 'static,
    table_shown: RwSignal<bool>,
    announce: RwSignal<bool>,
) -> impl IntoView {
    let menu = NodeRef::<leptos::html::Details>::new();
    let close = move || {
        if let Some(el) = menu.get_untracked() {
            let _ = el.remove_attribute("open");
        }
    };
    let on_focusout = move |ev: leptos::ev::FocusEvent| {
        use leptos::wasm_bindgen::JsCast;
        let to = ev
            .related_target()
            .and_then(|t| t.dyn_into::<leptos::web_sys::Node>().ok());
        let inside = menu
            .get_untracked()
            .is_some_and(|el| to.is_some_and(|n| el.contains(Some(&n))));
        if !inside {
            close();
        }
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" {
            close();
            if let Some(summary) = menu
                .get_untracked()
                .and_then(|el| el.query_selector("summary").ok().flatten())
            {
                use leptos::wasm_bindgen::JsCast;
                if let Ok(summary) = summary.dyn_into::<leptos::web_sys::HtmlElement>() {
                    let _ = summary.focus();
                }
            }
        }
    };
    view! {
        <details class="data-menu" node_ref=menu on:focusout=on_focusout on:keydown=on_key>
            <summary>"Data"</summary>
            <div class="menu-items">
                <a class="export-csv" href=csv_href download=csv_name on:click=move |_| close()>
                    "CSV of the points shown"
                </a>
                <button
                    type="button"
                    class="export-png"
                    on:click=move |ev| {
                        on_png(ev);
                        close();
                    }
                >
                    "PNG of the chart"
                </button>
                <button
                    type="button"
                    class="show-table"
                    aria-pressed=move || table_shown.get().to_string()
                    on:click=move |_| {
                        table_shown.update(|t| *t = !*t);
                        close();
                    }
                >
                    "Table of the points"
                </button>
                <button
                    type="button"
                    class="announce"
                    aria-pressed=move || announce.get().to_string()
                    on:click=move |_| {
                        announce.update(|a| *a = !*a);
                        close();
                    }
                >
                    "Read the latest values aloud"
                </button>
            </div>
        </details>
    }
}

/// The table of the points shown: empty and hidden until asked for, then in a box of its own
/// that scrolls (it never widens the page), rewritten at most once a second while open.
pub(super) fn points_table(
    caption: impl Fn() -> String + Clone + Send + Sync + 'static,
    table_shown: RwSignal<bool>,
    body: NodeRef<leptos::html::Tbody>,
) -> impl IntoView {
    let heading = caption.clone();
    // One landmark: the scrolling box, named by the caption (the section around it has no
    // name, so it is no second region of the same name).
    view! {
        <section class="points-table" hidden=move || !table_shown.get()>
            <div class="points-table-head">
                <h3>{heading}</h3>
                <button type="button" class="close-table" on:click=move |_| table_shown.set(false)>
                    "Close the table"
                </button>
            </div>
            <div class="points-table-scroll" tabindex="0" role="region" aria-label=caption>
                <table>
                    <thead>
                        <tr>
                            <th scope="col">"Series"</th>
                            <th scope="col">"Time (UTC)"</th>
                            <th scope="col">"Value"</th>
                        </tr>
                    </thead>
                    <tbody node_ref=body></tbody>
                </table>
            </div>
        </section>
    }
}
