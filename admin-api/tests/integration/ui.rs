//! The admin UI served at `/`: hashed assets cached for a month, `index.html` never cached and
//! returned for every SPA route, gzip when asked, JSON 404s kept for `/api` and `/proxy`, and a
//! page that says how to build the UI when it is missing.

use std::io::Read;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use gateway_admin::router;
use gateway_admin::ui_assets::UiAssets;
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::TestApp;

const INDEX: &str = "<!doctype html><title>Gateway Admin</title><div id=app></div>";

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map_or("", |v| v.to_str().unwrap_or(""))
    }
}

async fn get(app: &TestApp, method: &str, uri: &str, gzip: bool) -> Answer {
    let mut req = Request::builder().method(method).uri(uri);
    if gzip {
        req = req.header("accept-encoding", "gzip, deflate, br");
    }
    let resp = router(app.state.clone())
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

async fn app_with_ui() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("index.html"), INDEX).unwrap();
    let script = "console.log('gateway admin');\n".repeat(200);
    std::fs::write(dir.path().join("assets/index-AbC123.js"), &script).unwrap();
    std::fs::write(dir.path().join("favicon.svg"), "<svg/>").unwrap();
    let mut app = TestApp::sqlite().await;
    app.state.ui = UiAssets::load(dir.path());
    assert_eq!(app.state.ui.problem(), None);
    (app, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spa_routes_get_index_html_uncached() {
    let (app, _dir) = app_with_ui().await;
    for path in [
        "/",
        "/keys?groupId=3",
        "/logs",
        "/settings",
        "/login",
        "/some/deep/route",
    ] {
        let a = get(&app, "GET", path, false).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert_eq!(String::from_utf8_lossy(&a.body), INDEX, "{path}");
        assert_eq!(a.header("content-type"), "text/html; charset=utf-8");
        assert_eq!(
            a.header("cache-control"),
            "no-cache, no-store, must-revalidate"
        );
        assert_eq!(a.header("pragma"), "no-cache");
        assert_eq!(a.header("expires"), "0");
    }
    let head = get(&app, "HEAD", "/keys", false).await;
    assert_eq!(head.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_assets_are_cached_and_gzipped() {
    let (app, _dir) = app_with_ui().await;
    let plain = get(&app, "GET", "/assets/index-AbC123.js", false).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert_eq!(
        plain.header("content-type"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        plain.header("cache-control"),
        "public, max-age=2592000, immutable"
    );
    assert_eq!(plain.header("content-encoding"), "");
    assert!(plain.body.starts_with(b"console.log"));

    let zipped = get(&app, "GET", "/assets/index-AbC123.js", true).await;
    assert_eq!(zipped.header("content-encoding"), "gzip");
    assert_eq!(zipped.header("vary"), "Accept-Encoding");
    assert!(zipped.body.len() < plain.body.len() / 4);
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(zipped.body.as_slice())
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain.body);

    let icon = get(&app, "GET", "/favicon.svg", true).await;
    assert_eq!(icon.header("content-type"), "image/svg+xml");
    assert_eq!(
        icon.header("cache-control"),
        "public, max-age=2592000, immutable"
    );

    // A chunk of an older build is a 404, never index.html served as JavaScript.
    let stale = get(&app, "GET", "/assets/index-Old999.js", false).await;
    assert_eq!(stale.status, StatusCode::NOT_FOUND);
    assert!(!String::from_utf8_lossy(&stale.body).contains("<title>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_proxy_paths_keep_json_404s() {
    let (app, _dir) = app_with_ui().await;
    for path in ["/api/nothing-here", "/proxy", "/proxy/g/v1/models"] {
        let a = get(&app, "GET", path, false).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(a.body, br#"{"error":"Not Found"}"#, "{path}");
    }
    let post = get(&app, "POST", "/keys", false).await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.body, br#"{"error":"Method not allowed"}"#);
    // The API itself is untouched by the fallback.
    let health = get(&app, "GET", "/health", false).await;
    assert_eq!(health.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_ui_says_how_to_build_it() {
    let app = TestApp::sqlite().await;
    let a = get(&app, "GET", "/", false).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    let page = String::from_utf8_lossy(&a.body);
    assert!(page.contains("make ui"), "{page}");
    assert!(page.contains("/nonexistent-ui"), "{page}");
    assert_eq!(a.header("content-type"), "text/html; charset=utf-8");
}
