//! Messages follow `Accept-Language`.

use axum::body::Body;
use axum::http::Request;
use gateway_admin::router;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::{AUTH, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_follow_accept_language() {
    let app = TestApp::sqlite().await;
    let get = |lang: Option<&'static str>, uri: &'static str| {
        let app = &app;
        async move {
            let mut req = Request::builder()
                .uri(uri)
                .header("authorization", format!("Bearer {AUTH}"));
            if let Some(l) = lang {
                req = req.header("accept-language", l);
            }
            let resp = router(app.state.clone())
                .oneshot(req.body(Body::empty()).unwrap())
                .await
                .unwrap();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            serde_json::from_slice::<Value>(&bytes).unwrap()
        }
    };
    let zh = get(Some("zh-CN,zh;q=0.9"), "/api/settings").await;
    assert_eq!(zh["message"], "成功");
    assert_eq!(zh["data"][0]["category_name"], "基础设置");
    assert_eq!(zh["data"][0]["settings"][0]["name"], "项目地址");
    let ja = get(Some("ja"), "/api/settings").await;
    assert_eq!(ja["data"][2]["category_name"], "キー設定");
    let en = get(Some("fr-FR"), "/api/settings").await;
    assert_eq!(
        (
            en["message"].as_str(),
            en["data"][0]["category_name"].as_str()
        ),
        (Some("Success"), Some("Basic"))
    );
    assert_eq!(
        get(None, "/api/groups/config-options").await["data"][1]["name"],
        "Log request bodies"
    );
    assert_eq!(
        get(Some("ja-JP"), "/api/groups/config-options").await["data"][1]["name"],
        "リクエスト本文を記録"
    );
}
