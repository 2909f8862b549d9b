//! The site the pages load: the WASM, its JS, the CSS and the icons. A release binary carries
//! them (`build.rs` embeds them, precompressed); a development build reads them from
//! `site-root` on disk at each request, so `cargo leptos watch` can replace them.
//!
//! The embedded package is also served under a fingerprinted directory
//! (`/pkg/<hex>/livechart.wasm`), which is what the pages link: those answers are cached for a
//! year (`immutable`), since a new build has a new directory; everything else is revalidated
//! (`no-cache` with an `ETag`). A directory rather than names: the JS glue and the parts of a
//! split WASM load each other by relative names, which must stay as they were built.

pub mod encode;
mod negotiate;
#[cfg(test)]
mod tests;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use negotiate::{Coding, RangeAsk};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// A file of the site as the build embedded it (`build.rs` writes the table).
pub struct EmbeddedFile {
    pub path: &'static str,
    pub fingerprint: u64,
    pub identity: &'static [u8],
    pub gzip: Option<&'static [u8]>,
    pub br: Option<&'static [u8]>,
}

mod embedded {
    use super::EmbeddedFile;
    include!(concat!(env!("OUT_DIR"), "/site.rs"));
}

/// The largest file served from a directory: a bound on what one request reads into memory.
const MAX_DIRECTORY_FILE: u64 = 64 << 20;

/// How long a browser keeps a fingerprinted file without asking again.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// One file, in every form it is sent in.
#[derive(Clone, Debug)]
pub struct Asset {
    fingerprint: u64,
    identity: Bytes,
    gzip: Option<Bytes>,
    br: Option<Bytes>,
}

impl Asset {
    /// A file sent as it is (read from a directory).
    pub fn plain(identity: Bytes) -> Self {
        Asset {
            fingerprint: encode::fingerprint(&identity),
            identity,
            gzip: None,
            br: None,
        }
    }

    /// A file with its compressed forms made now, as the build makes them (tests build sites
    /// in memory with it).
    #[cfg(test)]
    pub fn precompressed(identity: Bytes) -> std::io::Result<Self> {
        let keep = |encoded: Vec<u8>| {
            encode::worth_it(identity.len(), encoded.len()).then(|| Bytes::from(encoded))
        };
        Ok(Asset {
            gzip: keep(encode::gzip(&identity)?),
            br: keep(encode::brotli(&identity)?),
            ..Asset::plain(identity.clone())
        })
    }

    fn from_embedded(file: &EmbeddedFile) -> Self {
        Asset {
            fingerprint: file.fingerprint,
            identity: Bytes::from_static(file.identity),
            gzip: file.gzip.map(Bytes::from_static),
            br: file.br.map(Bytes::from_static),
        }
    }

    /// The bytes of one form.
    fn body(&self, coding: Coding) -> &Bytes {
        match coding {
            Coding::Br => self.br.as_ref().unwrap_or(&self.identity),
            Coding::Gzip => self.gzip.as_ref().unwrap_or(&self.identity),
            Coding::Identity => &self.identity,
        }
    }
}

/// Why a site cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error("the site has no {pkg}/*.wasm with its JS glue beside it")]
    NoWasm { pkg: String },
    #[error("the site's WASM ({path}) was built from other sources than this server (build {stamp}): its pages would never come alive; rebuild both with `make build`", stamp = app::stamp::SOURCE_STAMP)]
    OtherBuild { path: String },
}

enum Files {
    /// Path (and the same under the fingerprinted directory) → the file and whether its path
    /// is fingerprinted.
    Embedded(HashMap<String, (Arc<Asset>, bool)>),
    Directory(PathBuf),
}

/// The site's files and where pages find them.
pub struct Site {
    files: Files,
    pkg_dir: String,
    /// The directory pages link the package by: `pkg/<hex>` when embedded, else `pkg`.
    linked_pkg_dir: String,
    /// The WASM, its JS glue and the CSS are `<output_name>.wasm` (.js, .css).
    output_name: String,
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Site {
    /// The site this binary carries, if it was built with one.
    pub fn embedded(pkg_dir: &str) -> Option<Result<Site, SiteError>> {
        if embedded::EMBEDDED.is_empty() {
            return None;
        }
        let files = embedded::EMBEDDED
            .iter()
            .map(|f| (f.path.to_owned(), Asset::from_embedded(f)))
            .collect();
        Some(Site::from_assets(files, pkg_dir))
    }

    /// The site to serve: the embedded one, or else the one in `site-root` on disk.
    pub fn for_options(options: &leptos::config::LeptosOptions) -> Result<Site, SiteError> {
        match Site::embedded(&options.site_pkg_dir) {
            Some(site) => site,
            None => Ok(Site::directory(
                PathBuf::from(options.site_root.as_ref()),
                &options.site_pkg_dir,
                &options.output_name,
            )),
        }
    }

    /// A site of files in memory: the WASM is checked, and the files of `pkg_dir` are also
    /// served under the fingerprinted directory pages link.
    pub fn from_assets(files: Vec<(String, Asset)>, pkg_dir: &str) -> Result<Site, SiteError> {
        let pkg = format!("{pkg_dir}/");
        // The page's WASM is the one with its JS glue beside it (a split build has more
        // WASM files: the parts fetched later).
        let has_glue = |wasm: &str| {
            let glue = format!("{}.js", wasm.trim_end_matches(".wasm"));
            files.iter().any(|(path, _)| *path == glue)
        };
        let (wasm_path, wasm) = files
            .iter()
            .find(|(path, _)| path.starts_with(&pkg) && path.ends_with(".wasm") && has_glue(path))
            .ok_or_else(|| SiteError::NoWasm {
                pkg: pkg_dir.to_owned(),
            })?;
        if !app::stamp::carried_by(&wasm.identity) {
            return Err(SiteError::OtherBuild {
                path: wasm_path.clone(),
            });
        }
        // One fingerprint for the whole package, which pages reach as a directory of its own
        // (`pkg/<hex>/`): the files link each other by relative names (the JS glue, the
        // WASM, the parts of a split WASM), so they must change names together.
        let mut package: Vec<(&str, u64)> = files
            .iter()
            .filter(|(path, _)| path.starts_with(&pkg))
            .map(|(path, asset)| (path.as_str(), asset.fingerprint))
            .collect();
        package.sort_unstable();
        let joined: Vec<u8> = package
            .iter()
            .flat_map(|(path, fp)| path.bytes().chain(fp.to_le_bytes()))
            .collect();
        let linked = format!("{pkg_dir}/{:016x}", encode::fingerprint(&joined));
        let output_name = wasm_path[pkg.len()..].trim_end_matches(".wasm").to_owned();
        let mut map = HashMap::new();
        for (path, asset) in files {
            let asset = Arc::new(asset);
            if let Some(rest) = path.strip_prefix(&pkg) {
                map.insert(format!("{linked}/{rest}"), (asset.clone(), true));
            }
            map.insert(path, (asset, false));
        }
        Ok(Site {
            files: Files::Embedded(map),
            pkg_dir: pkg_dir.to_owned(),
            linked_pkg_dir: linked,
            output_name,
        })
    }

    /// The site in a directory, read at each request (development: `cargo leptos watch`
    /// replaces the files as it rebuilds them).
    pub fn directory(root: PathBuf, pkg_dir: &str, output_name: &str) -> Site {
        Site {
            files: Files::Directory(root),
            pkg_dir: pkg_dir.to_owned(),
            linked_pkg_dir: pkg_dir.to_owned(),
            output_name: output_name.to_owned(),
        }
    }

    /// The directory pages link the package by (set as Leptos' `site_pkg_dir`).
    pub fn linked_pkg_dir(&self) -> &str {
        &self.linked_pkg_dir
    }

    pub fn pkg_dir(&self) -> &str {
        &self.pkg_dir
    }

    /// Where the files come from, for the log.
    pub fn describe(&self) -> String {
        match &self.files {
            Files::Embedded(map) => format!(
                "embedded in the binary ({} files, linked as /{})",
                map.values()
                    .filter(|(_, fingerprinted)| !fingerprinted)
                    .count(),
                self.output_name
            ),
            Files::Directory(root) => format!("read from {}", root.display()),
        }
    }

    /// For a site on disk: a warning when its WASM is missing or from another build (the
    /// server still starts: `cargo leptos watch` may be about to replace it).
    pub fn check_directory(&self) -> Option<String> {
        let Files::Directory(root) = &self.files else {
            return None;
        };
        let wasm = root
            .join(&self.pkg_dir)
            .join(format!("{}.wasm", self.output_name));
        match std::fs::read(&wasm) {
            Err(e) => Some(format!(
                "{}: {e}: pages render but do not come alive until the WASM is built (make build)",
                wasm.display()
            )),
            Ok(bytes) if !app::stamp::carried_by(&bytes) => Some(
                SiteError::OtherBuild {
                    path: wasm.display().to_string(),
                }
                .to_string(),
            ),
            Ok(_) => None,
        }
    }

    /// The names of the files at the site's root (the icons), each of which gets a route.
    pub fn root_files(&self) -> Vec<String> {
        let mut names: Vec<String> = match &self.files {
            Files::Embedded(map) => map.keys().filter(|p| !p.contains('/')).cloned().collect(),
            Files::Directory(root) => std::fs::read_dir(root)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter_map(|e| e.file_name().into_string().ok())
                .collect(),
        };
        names.sort();
        names
    }

    /// The file at `path` (relative to the root) and whether its name is fingerprinted.
    async fn lookup(&self, path: &str) -> Option<(Arc<Asset>, bool)> {
        match &self.files {
            Files::Embedded(map) => map.get(path).cloned(),
            Files::Directory(root) => {
                let relative = Path::new(path);
                if path.is_empty()
                    || !relative
                        .components()
                        .all(|c| matches!(c, Component::Normal(_)))
                {
                    return None;
                }
                let full = root.join(relative);
                let meta = tokio::fs::metadata(&full).await.ok()?;
                if !meta.is_file() || meta.len() > MAX_DIRECTORY_FILE {
                    return None;
                }
                let bytes = tokio::fs::read(&full).await.ok()?;
                Some((Arc::new(Asset::plain(Bytes::from(bytes))), false))
            }
        }
    }

    /// The answer to a GET or HEAD of `path`.
    pub async fn respond(&self, path: &str, method: &Method, headers: &HeaderMap) -> Response {
        match self.lookup(path.trim_start_matches('/')).await {
            Some((asset, fingerprinted)) => {
                respond(&asset, fingerprinted, content_type(path), method, headers)
            }
            None => (StatusCode::NOT_FOUND, "no such file\n").into_response(),
        }
    }
}

/// Handler of the site's routes.
pub async fn serve_file(
    State(site): State<Arc<Site>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    site.respond(uri.path(), &method, &headers).await
}

/// The `Content-Type` of a file, by its extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("wasm") => "application/wasm",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("html") => "text/html; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn respond(
    asset: &Asset,
    fingerprinted: bool,
    content_type: &'static str,
    method: &Method,
    headers: &HeaderMap,
) -> Response {
    let values = |name: header::HeaderName| {
        headers
            .get_all(name)
            .into_iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
    };
    let identity_etag = format!("\"{:016x}\"", asset.fingerprint);
    let len = asset.identity.len() as u64;
    // A range is of the file itself; `If-Range` with another version asks for all of it.
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(_)
            if headers
                .get(header::IF_RANGE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|tag| tag.trim() != identity_etag) =>
        {
            RangeAsk::Whole
        }
        value => negotiate::range(value, len),
    };
    let coding = if matches!(range, RangeAsk::Whole) {
        negotiate::choose_coding(
            values(header::ACCEPT_ENCODING).into_iter(),
            asset.br.is_some(),
            asset.gzip.is_some(),
        )
    } else {
        Coding::Identity
    };
    let etag = format!("\"{:016x}{}\"", asset.fingerprint, coding.etag_suffix());

    let mut response = Response::new(Body::empty());
    let h = response.headers_mut();
    let cache = if fingerprinted { IMMUTABLE } else { "no-cache" };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if asset.br.is_some() || asset.gzip.is_some() {
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if negotiate::none_match(values(header::IF_NONE_MATCH).into_iter(), &etag) {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        return response;
    }
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(encoding) = coding.header() {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    let body = match range {
        RangeAsk::Unsatisfiable => {
            *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            let h = response.headers_mut();
            h.remove(header::CONTENT_TYPE);
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                h.insert(header::CONTENT_RANGE, v);
            }
            Bytes::new()
        }
        RangeAsk::Part { start, end } => {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            let range = format!("bytes {start}-{}/{len}", end - 1);
            if let Ok(v) = HeaderValue::from_str(&range) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            // Within the file: `range` returns parts of `len` bytes only.
            asset.identity.slice(start as usize..end as usize)
        }
        RangeAsk::Whole => asset.body(coding).clone(),
    };
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    if *method != Method::HEAD {
        *response.body_mut() = Body::from(body);
    }
    response
}
