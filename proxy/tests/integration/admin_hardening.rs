//! The admin API through the public port, hardened: wrong keys throttled per client address (429
//! with `Retry-After`), the client's address taken from `X-Forwarded-For` only behind a trusted
//! proxy, security headers, CORS off by default, and a size limit on bodies.

use gateway_testkit::MockProvider;
use serde_json::{Value, json};

use crate::support::{AUTH_KEY, Gateway};

async fn login(gw: &Gateway, from: &str, key: &str) -> reqwest::Response {
    gw.client
        .post(gw.url("/api/auth/login"))
        .header("x-forwarded-for", from)
        .json(&json!({"auth_key": key}))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_are_throttled_per_client_behind_a_trusted_proxy() {
    let gw = Gateway::start_with(&[("TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    let (a, b) = ("198.51.100.1", "198.51.100.2");
    for _ in 0..5 {
        assert_eq!(login(&gw, a, "wrong-key").await.status(), 401);
    }
    let r = login(&gw, a, AUTH_KEY).await;
    assert_eq!(r.status(), 429, "even the right key waits out the lock");
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "TOO_MANY_REQUESTS", "{body}");
    let api = |from: &'static str| {
        gw.client
            .get(gw.url("/api/groups"))
            .bearer_auth(AUTH_KEY)
            .header("x-forwarded-for", from)
            .send()
    };
    assert_eq!(api(a).await.unwrap().status(), 429);
    assert_eq!(
        api(b).await.unwrap().status(),
        200,
        "other clients are not affected"
    );
    assert_eq!(login(&gw, b, AUTH_KEY).await.status(), 200);

    // The request log names the forwarded client too.
    let mock = MockProvider::start().await.unwrap();
    gw.create_group("hard", "openai", &[(&mock.base_url(), 1)], &["sk-hard-1"])
        .await;
    gw.log_at_once().await;
    let r = gw
        .client
        .post(gw.url("/proxy/hard/v1/chat/completions"))
        .bearer_auth(crate::support::PROXY_KEY)
        .header("x-forwarded-for", "203.0.113.50, 127.0.0.1")
        .json(&json!({"model": "m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ips = || async {
        let v = gw.api(reqwest::Method::GET, "/api/logs", None).await;
        v["data"]["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|l| {
                l["request_path"]
                    .as_str()
                    .unwrap_or("")
                    .contains("chat/completions")
            })
            .map(|l| l["source_ip"].as_str().unwrap_or("").to_owned())
            .collect::<Vec<String>>()
    };
    gw.wait_until(std::time::Duration::from_secs(10), || async {
        !ips().await.is_empty()
    })
    .await;
    assert_eq!(ips().await, ["203.0.113.50"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_forwarding_headers_change_nothing_and_the_api_is_hardened() {
    let gw = Gateway::start().await;
    // Without TRUSTED_PROXIES a client cannot escape its lock by claiming another address.
    for i in 0..5 {
        let from = format!("198.51.100.{i}");
        assert_eq!(login(&gw, &from, "wrong-key").await.status(), 401);
    }
    assert_eq!(login(&gw, "198.51.100.99", AUTH_KEY).await.status(), 429);

    let r = gw
        .client
        .get(gw.url("/api/settings"))
        .header("origin", "https://elsewhere.example")
        .send()
        .await
        .unwrap();
    let h = r.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "SAMEORIGIN");
    assert_eq!(h["referrer-policy"], "strict-origin-when-cross-origin");
    assert!(
        h["permissions-policy"]
            .to_str()
            .unwrap()
            .contains("camera=()")
    );
    assert!(
        h.get("access-control-allow-origin").is_none(),
        "CORS is off by default"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_admin_bodies_get_a_clear_413() {
    let gw = Gateway::start().await;
    let big = json!({"app_url": "x".repeat(3 << 20)});
    let r = gw
        .client
        .put(gw.url("/api/settings"))
        .bearer_auth(AUTH_KEY)
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "PAYLOAD_TOO_LARGE", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("too large"),
        "{body}"
    );
    // Nothing was changed.
    let s = gw.api(reqwest::Method::GET, "/api/settings", None).await;
    assert!(!s.to_string().contains("xxxxxxxx"));
}
