//! Outbound proxies on loopback with real proxy servers from Debian's packages (testkit
//! `TestProxy`: tinyproxy for HTTP CONNECT, microsocks for SOCKS5, stunnel + tinyproxy for an
//! `https://` proxy) in front of the mock provider served over TLS with a test CA: requests and
//! streams go through the tunnel with the provider's SNI, tunnels are pooled, authentication
//! failures and dead proxies are 502s that name the proxy (never its credentials) and are not
//! the key's fault, a group's `proxy_url` beats the system's, the environment's proxies honour
//! `NO_PROXY`, key validation goes the same way, and invalid URLs are refused.

use std::time::Duration;

use gateway_testkit::{GatewayProcess, MockProvider, TestCa, TestProxy};
use serde_json::{Value, json};

use crate::support::{AUTH_KEY, Gateway};
use crate::tls::https_mock;

const USER: &str = "gw-user";
const PASS: &str = "pr0xy-s3cret";

/// A gateway trusting `ca` (for the mock's and the https proxy's certificates), with `env`.
async fn gateway(ca: &TestCa, env: &[(&str, &str)]) -> (Gateway, tempfile::NamedTempFile) {
    let file = ca.cert_pem_file().unwrap();
    let path = file.path().to_str().unwrap().to_owned();
    let mut all = vec![("SSL_CERT_FILE", path.as_str())];
    all.extend_from_slice(env);
    (Gateway::start_with(&all).await, file)
}

/// A gateway trusting `ca` and an HTTPS mock provider on `localhost` with a certificate from it:
/// the gateway, the CA file it reads (kept while the test runs), the mock and its URL.
struct Scene {
    gw: Gateway,
    _ca_file: tempfile::NamedTempFile,
    mock: MockProvider,
    upstream: String,
}

async fn scene(ca: &TestCa) -> Scene {
    let (gw, _ca_file) = gateway(ca, &[]).await;
    let (mock, upstream) = https_mock(ca, &["localhost"]).await;
    Scene {
        gw,
        _ca_file,
        mock,
        upstream,
    }
}

/// Sets the system `proxy_url` and waits until the proxy serves it.
async fn system_proxy(gw: &Gateway, url: &str) {
    gw.api(
        reqwest::Method::PUT,
        "/api/settings",
        Some(json!({ "proxy_url": url })),
    )
    .await;
    gw.wait_synced().await;
}

/// A streamed chat completion: status and the whole body.
async fn stream(gw: &Gateway, group: &str) -> (u16, String) {
    let r = gw
        .post(
            group,
            "/v1/chat/completions",
            json!({"model": "gpt-4o", "messages": [], "stream": true}),
        )
        .await;
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

/// Asserts a 502 whose message names `proxy` (`host:port`) and says `what`, without `secret`.
fn assert_proxy_failure(status: u16, body: &Value, proxy: &str, what: &str) {
    assert_eq!(status, 502, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&format!("proxy {proxy}")), "{message}");
    assert!(message.contains(what), "{message}");
    assert!(!body.to_string().contains(PASS), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_connect_proxy_carries_requests_and_streams_over_pooled_tunnels() {
    let Some(proxy) = TestProxy::http(Some((USER, PASS))).await.unwrap() else {
        return;
    };
    let ca = TestCa::new().unwrap();
    let Scene {
        gw,
        mock,
        upstream,
        _ca_file,
    } = scene(&ca).await;
    system_proxy(&gw, &proxy.url()).await;
    gw.create_group("via-http", "openai", &[(&upstream, 1)], &["sk-via-http-1"])
        .await;
    let (tunnels, connections) = (proxy.connect_requests(), mock.connections());
    assert!(tunnels >= 1, "the readiness probe went through the proxy");
    mock.clear();
    for _ in 0..3 {
        let (status, body) = gw.chat("via-http", "gpt-4o").await;
        assert_eq!(status, 200, "{body}\n{}", gw.proxy.output_log());
    }
    let (status, body) = stream(&gw, "via-http").await;
    assert_eq!(status, 200);
    assert!(body.contains("data: [DONE]"), "{body}");
    // TLS to the provider inside the tunnel, with its name; the key injected as without a proxy.
    assert!(
        mock.tls_server_names()
            .contains(&Some("localhost".to_owned()))
    );
    assert_eq!(mock.requests_for_key("sk-via-http-1").len(), 4);
    // One pooled tunnel carried them all.
    assert_eq!(proxy.connect_requests(), tunnels);
    assert_eq!(mock.connections(), connections);

    // The API shows the URL with its password masked; sending the masked URL back keeps it.
    let (_, settings) = gw
        .api_answer(reqwest::Method::GET, "/api/settings", None)
        .await;
    let shown = settings.to_string();
    assert!(!shown.contains(PASS), "the password is not shown");
    let masked = proxy.url().replace(PASS, "****");
    assert!(shown.contains(&masked), "{shown}");
    system_proxy(&gw, &masked).await;
    assert_eq!(gw.chat("via-http", "gpt-4o").await.0, 200);
    for log in [gw.proxy.output_log(), gw.admin.output_log()] {
        assert!(
            !log.contains(PASS),
            "a log holds the proxy password:\n{log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_and_a_dead_proxy_are_502s_naming_the_proxy_not_the_keys_fault() {
    let Some(mut proxy) = TestProxy::http(Some((USER, PASS))).await.unwrap() else {
        return;
    };
    let ca = TestCa::new().unwrap();
    let Scene {
        gw,
        mock: _mock,
        upstream,
        _ca_file,
    } = scene(&ca).await;
    let id = gw
        .create_group("auth", "openai", &[(&upstream, 1)], &["sk-auth-only"])
        .await;
    let endpoint = format!("127.0.0.1:{}", proxy.port());
    // More failures than the blacklist threshold (3), with one key and one upstream that is
    // never ejected: if the key were blamed it would be out of rotation afterwards.
    let strict =
        |url: String| json!({"proxy_url": url, "max_retries": 0, "upstream_failure_threshold": 0});
    gw.configure_group(id, strict(proxy.url_with(None))).await;
    for _ in 0..4 {
        let (status, body) = gw.chat("auth", "gpt-4o").await;
        assert_proxy_failure(status, &body, &endpoint, "requires authentication (40");
    }
    gw.configure_group(id, strict(proxy.url_with(Some((USER, "wrong-pass")))))
        .await;
    let (status, body) = gw.chat("auth", "gpt-4o").await;
    assert_proxy_failure(status, &body, &endpoint, "refused the credentials");
    assert!(!body.to_string().contains("wrong-pass"));
    // The right credentials: the same (only) key serves, so none of that was charged to it.
    gw.configure_group(id, strict(proxy.url())).await;
    let (status, body) = gw.chat("auth", "gpt-4o").await;
    assert_eq!(status, 200, "{body}");
    // The proxy goes away: pooled tunnels die with it and new ones cannot be opened.
    proxy.stop();
    let (status, body) = gw.chat("auth", "gpt-4o").await;
    if status == 502 && body.to_string().contains("proxy ") {
        assert_proxy_failure(status, &body, &endpoint, "cannot connect");
    } else {
        // the dead pooled tunnel was noticed first: the next attempt opens a new one
        let (status, body) = gw.chat("auth", "gpt-4o").await;
        assert_proxy_failure(status, &body, &endpoint, "cannot connect");
    }
    for log in [gw.proxy.output_log(), gw.admin.output_log()] {
        assert!(
            !log.contains(PASS),
            "a log holds the proxy password:\n{log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_groups_socks5_proxy_beats_the_system_setting() {
    let Some(socks) = TestProxy::socks5(Some((USER, PASS))).await.unwrap() else {
        return;
    };
    let ca = TestCa::new().unwrap();
    let Scene {
        gw,
        mock,
        upstream,
        _ca_file,
    } = scene(&ca).await;
    let id = gw
        .create_group("socks", "openai", &[(&upstream, 1)], &["sk-socks-1"])
        .await;
    gw.create_group("sys", "openai", &[(&upstream, 1)], &["sk-sys-1"])
        .await;
    // The system's proxy is dead; the group's own is the SOCKS5 proxy.
    system_proxy(&gw, "http://127.0.0.1:1").await;
    gw.configure_group(id, json!({"proxy_url": socks.url()}))
        .await;
    let (status, body) = gw.chat("sys", "gpt-4o").await;
    assert_proxy_failure(status, &body, "127.0.0.1:1", "cannot connect");
    let connections = mock.connections();
    mock.clear();
    for _ in 0..3 {
        let (status, body) = gw.chat("socks", "gpt-4o").await;
        assert_eq!(status, 200, "{body}\n{}", gw.proxy.output_log());
    }
    let (status, body) = stream(&gw, "socks").await;
    assert_eq!(status, 200);
    assert!(body.contains("data: [DONE]"));
    assert_eq!(mock.requests_for_key("sk-socks-1").len(), 4);
    assert!(
        mock.tls_server_names()
            .contains(&Some("localhost".to_owned()))
    );
    assert_eq!(
        mock.connections(),
        connections + 1,
        "one SOCKS5 tunnel, reused"
    );
    // The group shows its proxy masked; a form sending the whole config back keeps the password.
    let groups = gw.api(reqwest::Method::GET, "/api/groups", None).await;
    let shown = groups["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == id)
        .unwrap()["config"]
        .clone();
    assert_eq!(shown["proxy_url"], socks.url().replace(PASS, "****"));
    gw.configure_group(id, shown).await;
    assert_eq!(gw.chat("socks", "gpt-4o").await.0, 200);
    // Without the credentials the SOCKS5 proxy refuses.
    gw.configure_group(id, json!({"proxy_url": socks.url_with(None)}))
        .await;
    let (status, body) = gw.chat("socks", "gpt-4o").await;
    assert_proxy_failure(
        status,
        &body,
        &format!("127.0.0.1:{}", socks.port()),
        "requires authentication",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_proxy_speaks_tls_to_the_proxy_and_to_the_provider_inside() {
    let ca = TestCa::new().unwrap();
    let Some(proxy) = TestProxy::https(&ca, Some((USER, PASS))).await.unwrap() else {
        return;
    };
    let Scene {
        gw,
        mock,
        upstream,
        _ca_file,
    } = scene(&ca).await;
    let id = gw
        .create_group("tls-proxy", "anthropic", &[(&upstream, 1)], &["sk-ant-tls"])
        .await;
    gw.configure_group(id, json!({"proxy_url": proxy.url()}))
        .await;
    let before = proxy.connect_requests();
    let r = gw
        .post(
            "tls-proxy",
            "/v1/messages",
            json!({"model": "claude-x", "max_tokens": 5, "messages": []}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", gw.proxy.output_log());
    r.text().await.unwrap();
    // A stream over the same (pooled) tunnel, relayed event by event.
    let r = gw
        .post(
            "tls-proxy",
            "/v1/messages",
            json!({"model": "claude-x", "max_tokens": 5, "messages": [], "stream": true}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let events = r.text().await.unwrap();
    assert!(events.contains("event: message_stop"), "{events}");
    assert_eq!(proxy.connect_requests(), before + 1, "one tunnel for both");
    assert!(
        mock.tls_server_names()
            .contains(&Some("localhost".to_owned()))
    );
    assert_eq!(mock.requests_for_key("sk-ant-tls").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_proxies_apply_unless_no_proxy_names_the_upstream() {
    let Some(proxy) = TestProxy::http(Some((USER, PASS))).await.unwrap() else {
        return;
    };
    let ca = TestCa::new().unwrap();
    let (direct_mock, direct) = https_mock(&ca, &["localhost"]).await;
    let (proxied_mock, proxied) = https_mock(&ca, &["localhost"]).await;
    let no_proxy = format!("example.internal, localhost:{}", direct_mock.addr().port());
    let url = proxy.url();
    let (gw, _ca_file) = gateway(
        &ca,
        &[
            ("HTTPS_PROXY", url.as_str()),
            ("NO_PROXY", no_proxy.as_str()),
        ],
    )
    .await;
    gw.create_group("direct", "openai", &[(&direct, 1)], &["sk-env-direct"])
        .await;
    assert_eq!(
        proxy.connect_requests(),
        0,
        "NO_PROXY: straight to the upstream"
    );
    gw.create_group("proxied", "openai", &[(&proxied, 1)], &["sk-env-proxied"])
        .await;
    let tunnels = proxy.connect_requests();
    assert!(tunnels >= 1, "HTTPS_PROXY carried the probe");
    assert_eq!(gw.chat("direct", "gpt-4o").await.0, 200);
    assert_eq!(gw.chat("proxied", "gpt-4o").await.0, 200);
    assert_eq!(proxy.connect_requests(), tunnels);
    assert_eq!(direct_mock.requests_for_key("sk-env-direct").len(), 1);
    assert_eq!(proxied_mock.requests_for_key("sk-env-proxied").len(), 1);
    assert!(!gw.proxy.output_log().contains(PASS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_validation_goes_through_the_groups_proxy() {
    let Some(proxy) = TestProxy::http(Some((USER, PASS))).await.unwrap() else {
        return;
    };
    let ca = TestCa::new().unwrap();
    let Scene {
        gw,
        mock,
        upstream,
        _ca_file,
    } = scene(&ca).await;
    let id = gw
        .create_group("checked", "openai", &[(&upstream, 1)], &["sk-checked-1"])
        .await;
    let test = |keys: &'static str| {
        gw.api(
            reqwest::Method::POST,
            "/api/keys/test-multiple",
            Some(json!({"group_id": id, "keys_text": keys})),
        )
    };
    // Without a proxy: straight to the provider over TLS, trusting the same roots.
    mock.clear();
    let answer = test("sk-checked-1").await;
    assert_eq!(answer["data"]["results"][0]["is_valid"], true, "{answer}");
    assert_eq!(proxy.connect_requests(), 0);
    assert_eq!(mock.requests_for_key("sk-checked-1").len(), 1);
    gw.configure_group(id, json!({"proxy_url": proxy.url()}))
        .await;
    let before = proxy.connect_requests();
    mock.clear();
    let answer = test("sk-checked-1").await;
    assert_eq!(answer["data"]["results"][0]["is_valid"], true, "{answer}");
    assert_eq!(
        proxy.connect_requests(),
        before + 1,
        "validated through the proxy"
    );
    assert_eq!(mock.requests_for_key("sk-checked-1").len(), 1);
    // Through a dead proxy, validation fails and says where.
    gw.configure_group(id, json!({"proxy_url": "socks5://u:hidden@127.0.0.1:1"}))
        .await;
    let answer = test("sk-checked-1").await;
    let error = answer["data"]["results"][0]["error"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(answer["data"]["results"][0]["is_valid"], false, "{answer}");
    assert!(error.contains("proxy 127.0.0.1:1"), "{error}");
    assert!(!answer.to_string().contains("hidden"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_proxy_urls_are_refused_on_save_and_at_start() {
    let gw = Gateway::start().await;
    let (status, body) = gw
        .api_answer(
            reqwest::Method::PUT,
            "/api/settings",
            Some(json!({"proxy_url": "ftp://u:pw@proxy:21"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("proxy_url") && message.contains("unsupported scheme 'ftp'"),
        "{message}"
    );
    let mock = MockProvider::start().await.unwrap();
    let id = gw
        .create_group("bad-proxy", "openai", &[(&mock.base_url(), 1)], &[])
        .await;
    for (url, why) in [
        ("socks5://:pw@127.0.0.1:1080", "user name"),
        ("http://127.0.0.1:3128/path", "only scheme"),
        ("http://u:****@127.0.0.1:3128", "mask"),
    ] {
        let (status, body) = gw
            .api_answer(
                reqwest::Method::PUT,
                &format!("/api/groups/{id}"),
                Some(json!({"config": {"proxy_url": url}})),
            )
            .await;
        assert_eq!(status, 400, "{url}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("proxy_url") && message.contains(why),
            "{url}: {message}"
        );
    }
    // The environment's proxies are checked at start, and their credentials never printed.
    let check = GatewayProcess::spawn(
        "gateway-proxy",
        &[
            ("AUTH_KEY", AUTH_KEY),
            ("HTTPS_PROXY", "socks4://user:env-secret@127.0.0.1:1080"),
        ],
        &["--check-config"],
    )
    .unwrap();
    let exit = check.wait_exit(Duration::from_secs(20)).await.unwrap();
    assert!(!exit.success());
    let out = check.output_log();
    assert!(
        out.contains("HTTPS_PROXY") && out.contains("unsupported scheme 'socks4'"),
        "{out}"
    );
    assert!(!out.contains("env-secret"), "{out}");
}

/// A plain `http://` upstream behind an HTTP proxy that allows `CONNECT` only to 443 (Debian's
/// tinyproxy, Squid's defaults): requests are forwarded in absolute form with
/// `Proxy-Authorization`, streams too; without the credentials the proxy's 407 is a 502 naming
/// the proxy, not the key's fault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_http_upstream_is_forwarded_by_a_proxy_that_connects_only_to_443() {
    let Some(proxy) = TestProxy::http_connect_443_only(Some((USER, PASS)))
        .await
        .unwrap()
    else {
        return;
    };
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    let upstream = mock.base_url();
    let group = gw
        .create_group_with(
            "forwarded",
            "openai",
            &[(&upstream, 1)],
            &["sk-forwarded-1"],
            json!({"config": {"proxy_url": proxy.url(), "blacklist_threshold": 1}}),
        )
        .await;
    assert_eq!(proxy.connect_requests(), 0, "no tunnel was asked for");
    mock.clear();
    let before = proxy.forwarded_requests();
    for _ in 0..3 {
        let (status, body) = gw.chat("forwarded", "gpt-4o").await;
        assert_eq!(status, 200, "{body}\n{}", gw.proxy.output_log());
    }
    let (status, body) = stream(&gw, "forwarded").await;
    assert_eq!(status, 200);
    assert!(body.contains("data: [DONE]"), "{body}");
    let seen = mock.requests_for_key("sk-forwarded-1");
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[0].path, "/v1/chat/completions", "origin form upstream");
    assert_eq!(proxy.forwarded_requests(), before + 4);
    assert_eq!(proxy.connect_requests(), 0);
    // Key validation takes the same way.
    let answer = gw
        .api(
            reqwest::Method::POST,
            "/api/keys/test-multiple",
            Some(json!({"group_id": group, "keys_text": "sk-forwarded-1"})),
        )
        .await;
    assert_eq!(answer["data"]["results"][0]["is_valid"], true, "{answer}");
    assert_eq!(proxy.forwarded_requests(), before + 5);
    assert_eq!(proxy.connect_requests(), 0);

    // Without the credentials: the proxy's 407, a 502 that names it; the key stays usable.
    let anon = gw
        .create_group_with(
            "forwarded-anon",
            "openai",
            &[(&upstream, 1)],
            &[],
            json!({"config": {"proxy_url": proxy.url_with(None), "blacklist_threshold": 1}}),
        )
        .await;
    gw.api(
        reqwest::Method::POST,
        "/api/keys/add-multiple",
        Some(json!({"group_id": anon, "keys_text": "sk-forwarded-anon-1"})),
    )
    .await;
    gw.wait_synced().await;
    for _ in 0..3 {
        let (status, body) = gw.chat("forwarded-anon", "gpt-4o").await;
        assert_proxy_failure(
            status,
            &body,
            &format!("127.0.0.1:{}", proxy.port()),
            "requires authentication (407",
        );
    }
    let keys = gw.keys(anon).await;
    assert_eq!(keys["sk-forwarded-anon-1"]["status"], "active");
    let answer = gw
        .api(
            reqwest::Method::POST,
            "/api/keys/test-multiple",
            Some(json!({"group_id": anon, "keys_text": "sk-forwarded-anon-1"})),
        )
        .await;
    let result = &answer["data"]["results"][0];
    assert_eq!(result["is_valid"], false, "{answer}");
    assert!(
        result["error"]
            .as_str()
            .is_some_and(|e| e.contains("requires authentication (407")),
        "{answer}"
    );
    let keys = gw.keys(anon).await;
    assert_eq!(
        keys["sk-forwarded-anon-1"]["status"], "active",
        "a proxy's refusal is not the key's fault"
    );
}
