//! Which sources this build came from (`build.rs`): the server puts its stamp in every page,
//! the WASM compares it with its own, and the server checks that the WASM it serves carries
//! it. A page whose WASM comes from other sources would render and never come alive; this
//! turns that silent failure into a refusal to start (an embedded site) or a visible message.

/// The fingerprint of the sources, 16 hex digits.
pub const SOURCE_STAMP: &str = env!("LIVECHART_SOURCE_STAMP");

/// The name of the page's `<meta>` that carries the server's [`SOURCE_STAMP`].
pub const META_NAME: &str = "livechart-source";

/// Whether a WASM module (its bytes) was built from these sources: its data holds the stamp.
pub fn carried_by(wasm: &[u8]) -> bool {
    let stamp = SOURCE_STAMP.as_bytes();
    wasm.windows(stamp.len()).any(|window| window == stamp)
}

/// In the browser: compares the page's stamp with this WASM's own. On a mismatch the page says
/// so (the islands may not hydrate) instead of sitting there half alive. Returns whether they
/// match.
#[cfg(feature = "hydrate")]
pub fn check_page() -> bool {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return true;
    };
    let page = document
        .query_selector(&format!("meta[name={META_NAME}]"))
        .ok()
        .flatten()
        .and_then(|meta| meta.get_attribute("content"));
    if page.as_deref() == Some(SOURCE_STAMP) {
        return true;
    }
    let message = format!(
        "This page's code (build {SOURCE_STAMP}) is not the server's (build {}): reload the page; if this stays, the server was built without its matching site (make build).",
        page.as_deref().unwrap_or("unknown")
    );
    web_sys::console::error_1(&message.as_str().into());
    if let (Some(body), Ok(note)) = (document.body(), document.create_element("p")) {
        note.set_class_name("build-mismatch");
        note.set_attribute("role", "alert").ok();
        note.set_text_content(Some(&message));
        body.prepend_with_node_1(&note).ok();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wasm_carries_the_stamp_only_when_its_data_holds_it() {
        assert_eq!(SOURCE_STAMP.len(), 16);
        assert!(SOURCE_STAMP.bytes().all(|b| b.is_ascii_hexdigit()));
        let mut wasm = b"\0asm\x01\0\0\0 data ".to_vec();
        assert!(!carried_by(&wasm));
        wasm.extend_from_slice(SOURCE_STAMP.as_bytes());
        wasm.extend_from_slice(b" more");
        assert!(carried_by(&wasm));
        let mut other = SOURCE_STAMP.as_bytes().to_vec();
        other[15] = if other[15] == b'0' { b'1' } else { b'0' };
        assert!(!carried_by(&other));
        assert!(!carried_by(b""));
    }
}
