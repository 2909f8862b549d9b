//! Livechart's shared crate: the typed events all sides speak ([`model`]), the chart's window
//! logic ([`window`]), its drawing ([`plot`]) and the Leptos components. Feature `ssr` builds it
//! for the server, `hydrate` for the browser; browser-only code lives in `browser` and runs in
//! effects only.

pub mod model;
pub mod plot;
pub mod server_data;
pub mod window;

mod chart;
mod feed;
mod shell;
mod tasks;

#[cfg(feature = "hydrate")]
mod browser;

pub use chart::{ConnState, LiveChart};
pub use shell::{shell, App};
