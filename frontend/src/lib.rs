//! The hydrate entry point, called by the script the server puts in the page.
// The page's view types nest deeply (the compiler measures their layout recursively).
#![recursion_limit = "256"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
