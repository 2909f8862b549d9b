//! The hydrate entry point, called by the script the server puts in the page. Only the page's
//! islands (the dashboard, a stream's chart) come to life; the rest stays server-rendered HTML.
// The islands' view types nest deeply (the compiler measures their layout recursively).
#![recursion_limit = "256"]

// The islands' hydrate functions are exported from `app`; this links them in.
#[allow(unused_imports)]
use app::*;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    // Release builds made by `make` panic without running a hook (`-Cpanic=immediate-abort`):
    // the hook would be dead weight there.
    #[allow(unexpected_cfgs)]
    #[cfg(not(panic = "immediate-abort"))]
    console_error_panic_hook::set_once();
    // A WASM from other sources than the server still tries; the page says why it may fail.
    app::stamp::check_page();
    leptos::mount::hydrate_islands();
}
