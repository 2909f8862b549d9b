//! The site served from a directory (a development build: the release binary embeds it, which
//! end2end/tests/deploy.spec.ts checks on a copy of that binary): files are read at each
//! request, revalidated by ETag, and the server says when the WASM there is missing.

mod common;

use common::{TempDir, TestServer};

#[tokio::test]
async fn a_site_directory_is_served_with_etags_and_pages_are_never_cached() {
    let site = TempDir::new("site");
    std::fs::create_dir_all(site.path().join("pkg")).unwrap();
    std::fs::write(site.path().join("pkg/livechart.css"), "body { color: red }").unwrap();
    std::fs::write(site.path().join("favicon.svg"), "<svg/>").unwrap();
    let log = TempDir::new("site-log");
    let log_file = log.path().join("server.log");
    let server = TestServer::start_logged(&[("LEPTOS_SITE_ROOT", site.str())], &log_file);
    let client = reqwest::Client::new();

    let css = client
        .get(server.url("/pkg/livechart.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(css.headers()["cache-control"], "no-cache");
    let etag = css.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(css.text().await.unwrap(), "body { color: red }");

    let same = client
        .get(server.url("/pkg/livechart.css"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 304);
    // Changed on disk (as `cargo leptos watch` does): served at once, with a new ETag.
    std::fs::write(
        site.path().join("pkg/livechart.css"),
        "body { color: blue }",
    )
    .unwrap();
    let changed = client
        .get(server.url("/pkg/livechart.css"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);

    let head = client
        .head(server.url("/favicon.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "6");
    assert_eq!(head.headers()["content-type"], "image/svg+xml");
    let part = client
        .get(server.url("/favicon.svg"))
        .header("range", "bytes=1-3")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 1-3/6");
    assert_eq!(part.text().await.unwrap(), "svg");

    for path in [
        "/pkg/nothing.js",
        "/pkg/../Cargo.toml",
        "/pkg/%2e%2e/Cargo.toml",
    ] {
        let resp = client.get(server.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
    }
    // The site's routes sit inside the server's common layers like every other route: a
    // wrong method gets the API's error answer, the icon's as the package's.
    for path in ["/favicon.svg", "/pkg/livechart.css"] {
        let resp = client.post(server.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 405, "{path}");
        let body = resp.text().await.unwrap();
        assert!(body.contains("method_not_allowed"), "{path}: {body}");
    }
    // Pages and API answers are revalidated, never reused as they are.
    for path in ["/", "/about", "/api/streams"] {
        let resp = client.get(server.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(resp.headers()["cache-control"], "no-cache", "{path}");
    }
    drop(server);
    let log = std::fs::read_to_string(&log_file).unwrap();
    assert!(
        log.contains("livechart.wasm") && log.contains("do not come alive"),
        "{log}"
    );
}
