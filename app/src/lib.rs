//! Livechart's shared crate: the typed events all sides speak ([`model`]), the chart's window
//! logic ([`window`]), its drawing ([`plot`]) and the Leptos components. Feature `ssr` builds it
//! for the server, `hydrate` for the browser; browser-only code lives in `browser` and runs in
//! effects only.

pub mod address;
pub mod axis;
pub mod choice;
pub mod model;
pub mod paths;
pub mod plain;
pub mod plot;
pub mod range;
pub mod reduce;
pub mod server_data;
pub mod stamp;
pub mod theme;
pub mod window;

mod chart;
mod feed;
mod markup;
mod shell;
mod tasks;

#[cfg(feature = "hydrate")]
mod browser;

pub use chart::LiveChart;
pub use feed::ConnState;
pub use shell::{shell, App};

/// A component's view, type-erased on the server only. The server erases it because the page
/// around it would nest too deep otherwise; the browser keeps the type, since an erased view
/// links every way of rendering it (asynchronous hydration included), which cost the WASM
/// about 37 KB gzipped.
#[cfg(feature = "ssr")]
pub(crate) fn erased_on_server(
    view: impl leptos::prelude::IntoView + 'static,
) -> leptos::prelude::AnyView {
    use leptos::prelude::IntoAny;
    view.into_view().into_any()
}

#[cfg(not(feature = "ssr"))]
pub(crate) fn erased_on_server<V: leptos::prelude::IntoView>(view: V) -> V {
    view
}
