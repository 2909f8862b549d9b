use super::negotiate::{self, Coding, RangeAsk};
use super::*;
use axum::body::to_bytes;

/// A WASM of this build (it carries the stamp), big and repetitive enough to compress.
fn wasm() -> Bytes {
    let mut bytes = b"\0asm\x01\0\0\0".to_vec();
    for i in 0..2_000u32 {
        bytes.extend_from_slice(format!("function {i} draws a chart; ").as_bytes());
    }
    bytes.extend_from_slice(app::stamp::SOURCE_STAMP.as_bytes());
    Bytes::from(bytes)
}

fn site() -> Site {
    let js = Bytes::from("export default function init() { return 1; }\n".repeat(50));
    let files = vec![
        (
            "pkg/livechart.wasm".to_owned(),
            Asset::precompressed(wasm()).unwrap(),
        ),
        (
            "pkg/livechart.js".to_owned(),
            Asset::precompressed(js).unwrap(),
        ),
        (
            "pkg/livechart.css".to_owned(),
            Asset::precompressed(Bytes::from("body{}")).unwrap(),
        ),
        (
            "favicon.svg".to_owned(),
            Asset::plain(Bytes::from("<svg/>")),
        ),
    ];
    Site::from_assets(files, "pkg").unwrap()
}

async fn get(
    site: &Site,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> (Response, Bytes) {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    let mut response = site.respond(path, &method, &map).await;
    let body = std::mem::take(response.body_mut());
    (response, to_bytes(body, usize::MAX).await.unwrap())
}

fn header(response: &Response, name: header::HeaderName) -> Option<&str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn fingerprinted_names_are_cached_for_good_and_plain_ones_revalidated() {
    let site = site();
    let linked = site.linked_pkg_dir().to_owned();
    let hex = linked.strip_prefix("pkg/").unwrap();
    assert_eq!(hex.len(), 16, "{linked}");
    assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{linked}");
    assert_eq!(site.root_files(), vec!["favicon.svg".to_owned()]);
    for ext in ["wasm", "js", "css"] {
        let path = format!("/{linked}/livechart.{ext}");
        let (r, fingerprinted) = get(&site, Method::GET, &path, &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, header::CACHE_CONTROL), Some(IMMUTABLE));
        let (r, plain) = get(&site, Method::GET, &format!("/pkg/livechart.{ext}"), &[]).await;
        assert_eq!(header(&r, header::CACHE_CONTROL), Some("no-cache"));
        assert_eq!(fingerprinted, plain);
        let expected = content_type(&format!("a.{ext}"));
        assert_eq!(header(&r, header::CONTENT_TYPE), Some(expected));
    }
    let (r, _) = get(
        &site,
        Method::GET,
        "/pkg/0000000000000000/livechart.wasm",
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let (r, _) = get(&site, Method::GET, "/favicon.svg", &[]).await;
    assert_eq!(header(&r, header::CONTENT_TYPE), Some("image/svg+xml"));
}

#[tokio::test]
async fn each_client_gets_the_best_form_it_accepts_with_its_own_etag() {
    let site = site();
    let wasm = wasm();
    let cases = [
        (Some("gzip, deflate, br, zstd"), Some("br")),
        (Some("gzip, deflate"), Some("gzip")),
        (Some("br;q=0, gzip"), Some("gzip")),
        (Some("gzip;q=1.0, br;q=0.5"), Some("gzip")),
        (Some("*"), Some("br")),
        (Some("identity"), None),
        (Some("gzip;q=0, br;q=0"), None),
        (None, None),
    ];
    let mut etags = std::collections::HashSet::new();
    for (accept, expected) in cases {
        let headers: Vec<(&str, &str)> =
            accept.map(|a| ("accept-encoding", a)).into_iter().collect();
        let (r, body) = get(&site, Method::GET, "/pkg/livechart.wasm", &headers).await;
        assert_eq!(header(&r, header::CONTENT_ENCODING), expected, "{accept:?}");
        assert_eq!(header(&r, header::VARY), Some("accept-encoding"));
        assert_eq!(
            header(&r, header::CONTENT_LENGTH),
            Some(body.len().to_string().as_str())
        );
        let decoded = match expected {
            Some("br") => {
                let mut out = Vec::new();
                brotli::BrotliDecompress(&mut &body[..], &mut out).unwrap();
                out
            }
            Some("gzip") => {
                use std::io::Read;
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&body[..])
                    .read_to_end(&mut out)
                    .unwrap();
                out
            }
            _ => body.to_vec(),
        };
        assert_eq!(decoded, wasm, "{accept:?}");
        if expected.is_some() {
            assert!(
                body.len() * 3 < wasm.len(),
                "{accept:?}: {} bytes",
                body.len()
            );
        }
        etags.insert(header(&r, header::ETAG).unwrap().to_owned());
    }
    assert_eq!(etags.len(), 3, "one ETag per form: {etags:?}");
}

#[tokio::test]
async fn a_matching_etag_gets_304_and_head_gets_the_headers_alone() {
    let site = site();
    let br = [("accept-encoding", "br")];
    let (r, _) = get(&site, Method::GET, "/pkg/livechart.js", &br).await;
    let etag = header(&r, header::ETAG).unwrap().to_owned();
    let length = header(&r, header::CONTENT_LENGTH).unwrap().to_owned();

    let tags = [
        etag.clone(),
        format!("\"other\", {etag}"),
        format!("W/{etag}"),
        "*".to_owned(),
    ];
    for tag in tags {
        let (r, body) = get(
            &site,
            Method::GET,
            "/pkg/livechart.js",
            &[br[0], ("if-none-match", &tag)],
        )
        .await;
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "{tag}");
        assert!(body.is_empty());
        assert_eq!(header(&r, header::ETAG), Some(etag.as_str()));
        assert_eq!(header(&r, header::CACHE_CONTROL), Some("no-cache"));
    }
    // The gzip form is another representation: the brotli ETag does not match it.
    let (r, body) = get(
        &site,
        Method::GET,
        "/pkg/livechart.js",
        &[("accept-encoding", "gzip"), ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(!body.is_empty());

    let (r, body) = get(&site, Method::HEAD, "/pkg/livechart.js", &br).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(body.is_empty());
    assert_eq!(header(&r, header::CONTENT_LENGTH), Some(length.as_str()));
    assert_eq!(header(&r, header::CONTENT_ENCODING), Some("br"));
}

#[tokio::test]
async fn ranges_are_of_the_file_itself() {
    let site = site();
    let wasm = wasm();
    let len = wasm.len();
    let accept = ("accept-encoding", "gzip, br");
    let (r, body) = get(
        &site,
        Method::GET,
        "/pkg/livechart.wasm",
        &[accept, ("range", "bytes=0-3")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(&body[..], b"\0asm");
    assert_eq!(
        header(&r, header::CONTENT_RANGE),
        Some(format!("bytes 0-3/{len}").as_str())
    );
    assert_eq!(header(&r, header::CONTENT_ENCODING), None);

    let (r, body) = get(
        &site,
        Method::GET,
        "/pkg/livechart.wasm",
        &[("range", "bytes=-16")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(&body[..], app::stamp::SOURCE_STAMP.as_bytes());

    let (r, body) = get(
        &site,
        Method::GET,
        "/pkg/livechart.wasm",
        &[("range", &format!("bytes={len}-"))],
    )
    .await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert!(body.is_empty());
    assert_eq!(
        header(&r, header::CONTENT_RANGE),
        Some(format!("bytes */{len}").as_str())
    );

    // If-Range with another version: the whole file, compressed as usual.
    let (r, body) = get(
        &site,
        Method::GET,
        "/pkg/livechart.wasm",
        &[
            accept,
            ("range", "bytes=0-3"),
            ("if-range", "\"0000000000000000\""),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, header::CONTENT_ENCODING), Some("br"));
    assert!(body.len() > 4);
}

#[test]
fn range_headers_are_read_as_rfc_9110_says_or_ignored() {
    use RangeAsk::*;
    let cases: [(Option<&str>, RangeAsk); 14] = [
        (None, Whole),
        (Some("bytes=0-0"), Part { start: 0, end: 1 }),
        (Some("bytes=2-"), Part { start: 2, end: 10 }),
        (Some("bytes=5-99"), Part { start: 5, end: 10 }),
        (Some("bytes=-3"), Part { start: 7, end: 10 }),
        (Some("bytes=-30"), Part { start: 0, end: 10 }),
        (Some("bytes=10-"), Unsatisfiable),
        (Some("bytes=10-12"), Unsatisfiable),
        (Some("bytes=-0"), Unsatisfiable),
        (Some("bytes=3-2"), Whole),
        (Some("bytes=0-1,4-5"), Whole),
        (Some("items=0-1"), Whole),
        (Some("bytes=a-b"), Whole),
        (Some("bytes=99999999999999999999999-"), Whole),
    ];
    for (value, expected) in cases {
        assert_eq!(negotiate::range(value, 10), expected, "{value:?}");
    }
    assert_eq!(
        negotiate::choose_coding(["br"].into_iter(), false, true),
        Coding::Identity
    );
    // A weight that is not a qvalue makes its item say nothing (RFC 9110, 12.4.2).
    for (accept, coding) in [
        ("br;q=nan, gzip;q=0.1", Coding::Gzip),
        ("br;q=NaN, gzip;q=0.1", Coding::Gzip),
        ("br;q=2, gzip;q=0.1", Coding::Gzip),
        ("br;q=0.5x, gzip;q=0.1", Coding::Gzip),
        ("br;q=1.000, gzip", Coding::Br),
        ("br;q=0.001, gzip;q=0", Coding::Br),
        ("br;q=0, gzip;q=0.", Coding::Identity),
        ("gzip;q=1.0001", Coding::Identity),
    ] {
        assert_eq!(
            negotiate::choose_coding([accept].into_iter(), true, true),
            coding,
            "{accept}"
        );
    }
}

#[tokio::test]
async fn a_site_without_this_builds_wasm_is_refused() {
    let other = Asset::plain(Bytes::from_static(b"\0asm\x01\0\0\0 another build"));
    let glue = Asset::plain(Bytes::from_static(b"export default 1"));
    let files = vec![
        ("pkg/livechart.wasm".to_owned(), other),
        ("pkg/livechart.js".to_owned(), glue),
    ];
    let err = Site::from_assets(files, "pkg").unwrap_err();
    assert!(matches!(err, SiteError::OtherBuild { .. }), "{err}");
    assert!(err.to_string().contains("make build"), "{err}");
    let err = Site::from_assets(
        vec![("favicon.svg".to_owned(), Asset::plain(Bytes::new()))],
        "pkg",
    )
    .unwrap_err();
    assert!(matches!(err, SiteError::NoWasm { .. }), "{err}");

    // A split build: the parts fetched later have no glue and no stamp of their own.
    let part = Asset::plain(Bytes::from_static(b"\0asm\x01\0\0\0 a part"));
    let glue = Asset::plain(Bytes::from_static(b"export default 1"));
    let files = vec![
        ("pkg/aaa_split_part.wasm".to_owned(), part),
        ("pkg/livechart.wasm".to_owned(), Asset::plain(wasm())),
        ("pkg/livechart.js".to_owned(), glue),
    ];
    let site = Site::from_assets(files, "pkg").unwrap();
    assert!(site.linked_pkg_dir().starts_with("pkg/"));
    let (r, _) = get(
        &site,
        Method::GET,
        &format!("/{}/aaa_split_part.wasm", site.linked_pkg_dir()),
        &[],
    )
    .await;
    assert_eq!(header(&r, header::CACHE_CONTROL), Some(IMMUTABLE));
}

#[tokio::test]
async fn a_directory_is_read_at_each_request_and_never_left() {
    let root = std::env::temp_dir().join(format!("livechart-site-{}", std::process::id()));
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    std::fs::write(root.join("pkg/livechart.css"), "a{}").unwrap();
    std::fs::write(root.join("secret.txt"), "no").unwrap();
    let site = Site::directory(root.join("pkg").join(".."), "pkg", "livechart");
    let inner = Site::directory(root.join("pkg"), "pkg", "livechart");
    let (r, body) = get(&site, Method::GET, "/pkg/livechart.css", &[]).await;
    assert_eq!((r.status(), &body[..]), (StatusCode::OK, &b"a{}"[..]));
    let first = header(&r, header::ETAG).unwrap().to_owned();
    std::fs::write(root.join("pkg/livechart.css"), "b{}").unwrap();
    let (r, body) = get(
        &site,
        Method::GET,
        "/pkg/livechart.css",
        &[("if-none-match", &first)],
    )
    .await;
    assert_eq!((r.status(), &body[..]), (StatusCode::OK, &b"b{}"[..]));
    assert_ne!(header(&r, header::ETAG), Some(first.as_str()));
    for path in ["/../secret.txt", "/pkg/../../secret.txt", "/", "/pkg"] {
        let (r, _) = get(&inner, Method::GET, path, &[]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert!(inner.check_directory().unwrap().contains("livechart.wasm"));
    std::fs::remove_dir_all(&root).unwrap();
}
