//! The admin UI (`admin-ui/dist`, `UI_DIR`): loaded into memory at start, served at `/` with
//! GPT-Load's caching (hashed assets for 30 days, immutable; `index.html` never cached), gzip when
//! the browser takes it, and `index.html` for every other path so the SPA's routes load directly.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::error::fallback_error;

/// Extensions GPT-Load caches for a long time (besides everything under `/assets/`).
const STATIC_EXTENSIONS: &[&str] = &[
    "js", "css", "ico", "png", "jpg", "jpeg", "gif", "svg", "woff", "woff2", "ttf", "eot", "webp",
    "avif", "map",
];
const LONG_CACHE: &str = "public, max-age=2592000, immutable";
const NO_CACHE: &str = "no-cache, no-store, must-revalidate";
/// Files smaller than this are not worth compressing.
const GZIP_MIN: usize = 1024;

/// One file of the UI, with its gzip form when that is smaller.
struct Asset {
    content_type: &'static str,
    body: Bytes,
    gzip: Option<Bytes>,
    long_cache: bool,
}

/// The whole built UI, or why there is none.
#[derive(Clone)]
pub struct UiAssets(Arc<Loaded>);

enum Loaded {
    Ready(HashMap<String, Asset>),
    Missing { dir: PathBuf, reason: String },
}

impl UiAssets {
    /// Reads every file under `dir`. A missing or empty folder is not fatal: the API still works
    /// and `/` explains how to build the UI.
    pub fn load(dir: &Path) -> Self {
        let shown = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let mut files = HashMap::new();
        let loaded = match collect(dir, dir, &mut files) {
            Ok(()) if files.contains_key("index.html") => Loaded::Ready(files),
            Ok(()) => Loaded::Missing {
                dir: shown,
                reason: "it has no index.html".to_owned(),
            },
            Err(e) => Loaded::Missing {
                dir: shown,
                reason: e.to_string(),
            },
        };
        Self(Arc::new(loaded))
    }

    /// `Some(reason)` when the UI could not be loaded (logged at start).
    pub fn problem(&self) -> Option<String> {
        match &*self.0 {
            Loaded::Ready(_) => None,
            Loaded::Missing { dir, reason } => Some(format!(
                "the admin UI is not served: {} cannot be used ({reason}); build it with `make ui` or set UI_DIR",
                dir.display()
            )),
        }
    }

    /// Number of files loaded.
    pub fn len(&self) -> usize {
        match &*self.0 {
            Loaded::Ready(files) => files.len(),
            Loaded::Missing { .. } => 0,
        }
    }

    /// Whether no UI is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn collect(root: &Path, dir: &Path, into: &mut HashMap<String, Asset>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect(root, &path, into)?;
            continue;
        }
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        let Some(rel) = rel.to_str().map(|r| r.replace('\\', "/")) else {
            continue;
        };
        let body = Bytes::from(std::fs::read(&path)?);
        let ext = extension(&rel);
        let content_type = content_type(ext);
        let gzip = compressible(content_type)
            .then(|| gzip(&body))
            .flatten()
            .filter(|g| g.len() < body.len());
        let long_cache = rel.starts_with("assets/") || STATIC_EXTENSIONS.contains(&ext);
        into.insert(
            rel,
            Asset {
                content_type,
                body,
                gzip,
                long_cache,
            },
        );
    }
    Ok(())
}

fn gzip(body: &[u8]) -> Option<Bytes> {
    if body.len() < GZIP_MIN {
        return None;
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(body).ok()?;
    enc.finish().ok().map(Bytes::from)
}

fn extension(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.').map_or("", |(_, ext)| ext)
}

fn content_type(ext: &str) -> &'static str {
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "eot" => "application/vnd.ms-fontobject",
        "txt" => "text/plain; charset=utf-8",
        "webmanifest" => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

fn compressible(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || content_type.starts_with("application/json")
        || content_type == "image/svg+xml"
}

/// The fallback of the admin router: `/api…` and `/proxy…` are JSON 404s (as GPT-Load), GET and
/// HEAD of anything else are the UI.
pub fn serve(ui: &UiAssets, method: &Method, path: &str, headers: &HeaderMap) -> Response {
    if is_api_path(path) {
        return fallback_error(StatusCode::NOT_FOUND, "Not Found");
    }
    if method != Method::GET && method != Method::HEAD {
        return fallback_error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
    }
    let files = match &*ui.0 {
        Loaded::Ready(files) => files,
        Loaded::Missing { .. } => return not_built(ui),
    };
    let rel = path.trim_start_matches('/');
    let asset = match files.get(rel) {
        Some(asset) if !rel.is_empty() => asset,
        // A missing hashed asset or static file is a 404, not the page: a stale tab asking for the
        // previous build's chunk must fail loudly rather than get HTML as JavaScript.
        _ if rel.starts_with("assets/") || STATIC_EXTENSIONS.contains(&extension(rel)) => {
            return (StatusCode::NOT_FOUND, "Not Found").into_response();
        }
        _ => match files.get("index.html") {
            Some(index) => index,
            None => return not_built(ui),
        },
    };
    let gzip_ok = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|c| c.trim().starts_with("gzip")));
    let mut res = match (&asset.gzip, gzip_ok) {
        (Some(gz), true) => {
            let mut r = gz.clone().into_response();
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            r
        }
        _ => asset.body.clone().into_response(),
    };
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    if asset.gzip.is_some() {
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if asset.long_cache {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(LONG_CACHE));
    } else {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        h.insert(header::EXPIRES, HeaderValue::from_static("0"));
    }
    res
}

fn is_api_path(path: &str) -> bool {
    ["/api", "/proxy"].iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// `/` without a built UI: a page that says what to do (the API keeps working).
fn not_built(ui: &UiAssets) -> Response {
    let reason = ui.problem().unwrap_or_default();
    let body = format!(
        "<!doctype html><meta charset=\"utf-8\"><title>Admin UI not built</title>\
         <body style=\"font-family:system-ui;max-width:640px;margin:4em auto\">\
         <h1>The admin UI is not built</h1><p>{}</p>\
         <p>Run <code>make ui</code> (or <code>make run</code>, which builds it) and restart \
         gateway-admin. The API at <code>/api</code> works meanwhile.</p></body>",
        html_escape(&reason)
    );
    let mut res = (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
    res
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_and_proxy_prefixes_are_not_the_ui() {
        assert!(is_api_path("/api"));
        assert!(is_api_path("/api/nothing"));
        assert!(is_api_path("/proxy/group/v1"));
        assert!(!is_api_path("/apis"));
        assert!(!is_api_path("/proxyish"));
        assert!(!is_api_path("/keys"));
    }

    #[test]
    fn extensions_and_types() {
        assert_eq!(extension("assets/index-abc.js"), "js");
        assert_eq!(extension("assets.v1/file"), "");
        assert_eq!(content_type("woff2"), "font/woff2");
        assert!(compressible(content_type("css")));
        assert!(!compressible(content_type("png")));
    }
}
