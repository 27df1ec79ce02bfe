//! Key injection per channel, credential stripping, URL building, rotation, weights, big bodies.

use std::collections::HashMap;

use gateway_testkit::MockProvider;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::support::{Gateway, PROXY_KEY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_channel_gets_its_key_and_never_the_client_credential() {
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    let base = mock.base_url();
    gw.create_group("oa", "openai", &[(&base, 1)], &["sk-openai-upstream-1"])
        .await;
    gw.create_group(
        "resp",
        "openai-response",
        &[(&base, 1)],
        &["sk-resp-upstream-1"],
    )
    .await;
    gw.create_group("claude", "anthropic", &[(&base, 1)], &["sk-ant-upstream-1"])
        .await;
    gw.create_group("gem", "gemini", &[(&base, 1)], &["AIza-gemini-upstream-1"])
        .await;
    mock.clear();

    // Every way a client can send its proxy key, at once where it makes sense.
    let send = |path: &str, body: serde_json::Value| {
        gw.client
            .post(gw.url(path))
            .header("authorization", format!("Bearer {PROXY_KEY}"))
            .header("x-api-key", PROXY_KEY)
            .header("x-goog-api-key", PROXY_KEY)
            .json(&body)
            .send()
    };
    let r = send(
        "/proxy/oa/v1/chat/completions",
        json!({"model": "gpt-4o", "messages": []}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let r = send(
        "/proxy/resp/v1/responses",
        json!({"model": "gpt-4o", "input": "hi"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let r = send(
        "/proxy/claude/v1/messages",
        json!({"model": "claude", "max_tokens": 5, "messages": []}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let r = send(
        "/proxy/gem/v1beta/models/gemini-pro:generateContent",
        json!({"contents": []}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let r = send(
        "/proxy/gem/v1beta/openai/chat/completions",
        json!({"model": "gemini-pro", "messages": []}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);

    let seen = mock.requests();
    assert_eq!(seen.len(), 5);
    let by_path: HashMap<&str, _> = seen.iter().map(|r| (r.path.as_str(), r)).collect();
    let oa = by_path["/v1/chat/completions"];
    assert_eq!(
        oa.header("authorization"),
        Some("Bearer sk-openai-upstream-1")
    );
    let resp = by_path["/v1/responses"];
    assert_eq!(
        resp.header("authorization"),
        Some("Bearer sk-resp-upstream-1")
    );
    let claude = by_path["/v1/messages"];
    assert_eq!(claude.header("x-api-key"), Some("sk-ant-upstream-1"));
    assert_eq!(claude.header("anthropic-version"), Some("2023-06-01"));
    let gem = by_path["/v1beta/models/gemini-pro:generateContent"];
    assert_eq!(
        gem.query_param("key").as_deref(),
        Some("AIza-gemini-upstream-1")
    );
    let gem_oa = by_path["/v1beta/openai/chat/completions"];
    assert_eq!(
        gem_oa.header("authorization"),
        Some("Bearer AIza-gemini-upstream-1")
    );
    for r in &seen {
        for (name, value) in &r.headers {
            assert!(
                !value.contains(PROXY_KEY),
                "client credential reached the upstream in {name} on {}",
                r.path
            );
        }
        assert!(
            !r.query.clone().unwrap_or_default().contains(PROXY_KEY),
            "client key in query on {}",
            r.path
        );
        assert_eq!(r.header("x-goog-api-key"), None);
        assert_eq!(r.header("host"), Some(mock.addr().to_string().as_str()));
    }
    assert_eq!(
        oa.header("x-api-key"),
        None,
        "the client's x-api-key must not reach an OpenAI upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_query_is_removed_and_path_and_other_params_kept() {
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    gw.create_group(
        "q",
        "openai",
        &[(&format!("{}/prefix/", mock.base_url()), 1)],
        &["sk-q-1"],
    )
    .await;
    mock.clear();
    let r = gw
        .client
        .post(gw.url(&format!(
            "/proxy/q/v1/chat/completions?b=2&key={PROXY_KEY}&a=%20x&stream_options=1"
        )))
        .json(&json!({"model": "m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = mock.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/prefix/v1/chat/completions");
    assert_eq!(
        seen[0].query.as_deref(),
        Some("b=2&a=%20x&stream_options=1")
    );
    assert_eq!(seen[0].header("authorization"), Some("Bearer sk-q-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_spreads_evenly_over_keys() {
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    let keys = ["sk-rot-a", "sk-rot-b", "sk-rot-c", "sk-rot-d"];
    gw.create_group("rot", "openai", &[(&mock.base_url(), 1)], &keys)
        .await;
    mock.clear();
    for _ in 0..200 {
        assert_eq!(
            gw.post("rot", "/v1/chat/completions", json!({"model": "m"}))
                .await
                .status(),
            200
        );
    }
    for k in keys {
        assert_eq!(mock.requests_for_key(k).len(), 50, "key {k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_weights_are_honoured() {
    let gw = Gateway::start().await;
    let heavy = MockProvider::start().await.unwrap();
    let light = MockProvider::start().await.unwrap();
    let off = MockProvider::start().await.unwrap();
    gw.create_group(
        "w",
        "openai",
        &[
            (&heavy.base_url(), 3),
            (&light.base_url(), 1),
            (&off.base_url(), 0),
        ],
        &["sk-w-1", "sk-w-2"],
    )
    .await;
    heavy.clear();
    light.clear();
    for _ in 0..1000 {
        assert_eq!(
            gw.post("w", "/v1/chat/completions", json!({"model": "m"}))
                .await
                .status(),
            200
        );
    }
    let (h, l) = (heavy.requests().len(), light.requests().len());
    assert_eq!(h + l, 1000);
    assert!((700..=800).contains(&h), "3:1 weights gave {h}:{l}");
    assert!(off.requests().is_empty(), "weight 0 means off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_of_every_size_are_retried_intact_with_the_next_key() {
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    let (failing, good) = ("sk-big-failing-1", "sk-big-good-2");
    gw.create_group("big", "openai", &[(&mock.base_url(), 1)], &[failing, good])
        .await;
    mock.always(failing, gateway_testkit::Reply::status(503));
    // Pingora's own retry buffer ends at 64 KiB: one byte more, 5 MiB and 10 MiB.
    for size in [64 * 1024 + 1, 5 << 20, 10 << 20] {
        mock.clear();
        let filler = "x".repeat(size);
        let body = serde_json::to_vec(
            &json!({"model": "m", "messages": [{"role": "user", "content": filler}]}),
        )
        .unwrap();
        let expected = hex::encode(Sha256::digest(&body));
        for _ in 0..2 {
            let r = gw
                .client
                .post(gw.url("/proxy/big/v1/chat/completions"))
                .bearer_auth(PROXY_KEY)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{size} bytes");
        }
        let (first, second) = (mock.requests_for_key(failing), mock.requests_for_key(good));
        assert!(!first.is_empty(), "{size}: the failing key was tried");
        assert_eq!(
            second.len(),
            2,
            "{size}: every request ended on the good key"
        );
        for seen in first.iter().chain(&second) {
            assert_eq!(
                (seen.body_len, seen.body_sha256.as_str()),
                (body.len(), expected.as_str()),
                "{size}: every attempt carried the whole body"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_status_is_retried_with_the_next_key() {
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    gw.create_group(
        "fo",
        "openai",
        &[(&mock.base_url(), 1)],
        &["sk-fo-limited", "sk-fo-good"],
    )
    .await;
    mock.clear();
    mock.always(
        "sk-fo-limited",
        gateway_testkit::Reply::status(429).retry_after(1),
    );
    for _ in 0..6 {
        let r = gw
            .post("fo", "/v1/chat/completions", json!({"model": "m"}))
            .await;
        assert_eq!(r.status(), 200);
    }
    assert_eq!(mock.requests_for_key("sk-fo-good").len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_paths_reach_the_admin_api_on_the_same_port() {
    let gw = Gateway::start().await;
    let types = gw
        .api(reqwest::Method::GET, "/api/channel-types", None)
        .await;
    assert_eq!(
        types["data"],
        json!(["openai", "openai-response", "anthropic", "gemini"])
    );
    let r = gw.client.get(gw.url("/api/groups")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let health: serde_json::Value = gw
        .client
        .get(gw.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "healthy");
    // A group's public integration info is the admin's, not the upstream's.
    let mock = MockProvider::start().await.unwrap();
    gw.create_group("info", "openai", &[(&mock.base_url(), 1)], &[])
        .await;
    let r = gw
        .client
        .get(gw.url(&format!("/proxy/info/api/integration/info?key={PROXY_KEY}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["data"][0]["name"], "info");
    assert!(mock.requests().is_empty(), "{:?}", mock.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_connections_are_pooled_even_across_failovers() {
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    gw.create_group(
        "pool",
        "openai",
        &[(&mock.base_url(), 1)],
        &["sk-pool-limited", "sk-pool-good"],
    )
    .await;
    mock.always(
        "sk-pool-limited",
        gateway_testkit::Reply::status(429).body(json!({"error": {"message": "slow down"}})),
    );
    let before = mock.connections();
    for _ in 0..50 {
        let r = gw
            .post("pool", "/v1/chat/completions", json!({"model": "m"}))
            .await;
        assert_eq!(r.status(), 200);
    }
    let opened = mock.connections() - before;
    // Sequential requests, half of them failing over: the drained 429 connections go back to the
    // pool, so a handful of connections (one per proxy worker thread) serve all 75 exchanges.
    assert!(
        opened <= 4,
        "{opened} new upstream connections for 50 requests"
    );
    assert_eq!(mock.requests_for_key("sk-pool-good").len(), 50);
}

/// `ADMIN_UPSTREAM` names the admin by host name (resolved by the proxy), apart from
/// `ADMIN_LISTEN`; a name that does not resolve gets a 502 that says which.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_reach_the_admin_by_a_host_name() {
    let gw = Gateway::start().await;
    let admin_port = gw.admin_listen.rsplit_once(':').unwrap().1.to_owned();
    for (upstream, expected) in [
        (format!("localhost:{admin_port}"), 200),
        ("no-such-admin.invalid:3002".to_owned(), 502),
    ] {
        let port = gateway_testkit::free_port().to_string();
        let mut env: Vec<(&str, &str)> = gw
            .env
            .iter()
            .filter(|(k, _)| k != "PORT")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        env.push(("PORT", &port));
        env.push(("METRICS_LISTEN", ""));
        env.push(("ADMIN_UPSTREAM", &upstream));
        let proxy = gateway_testkit::GatewayProcess::spawn("gateway-proxy", &env, &[]).unwrap();
        proxy
            .wait_http_ready(
                &format!("http://127.0.0.1:{port}/health"),
                std::time::Duration::from_secs(20),
            )
            .await
            .unwrap();
        let r = gw
            .client
            .get(format!("http://127.0.0.1:{port}/api/groups"))
            .bearer_auth(crate::support::AUTH_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expected, "{upstream}");
        if expected == 502 {
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["code"], "BAD_GATEWAY", "{body}");
            assert!(
                body["message"]
                    .as_str()
                    .unwrap()
                    .contains("no-such-admin.invalid:3002"),
                "{body}"
            );
        }
        proxy.kill();
    }
}
