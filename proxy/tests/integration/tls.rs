//! HTTPS upstreams through rustls: the proxy resolves the host name, sends it as SNI, verifies
//! the certificate against its trust store (`SSL_CERT_FILE`, read by `rustls-native-certs` when
//! Pingora builds its connector) and refuses a certificate for another name or from an unknown
//! authority with a 502 that names the host.

use std::net::SocketAddr;

use gateway_testkit::{MockProvider, TestCa};
use serde_json::json;

use crate::support::Gateway;

/// The address `localhost` resolves to first, port 0: the proxy connects to the first address
/// too, so a mock bound here is reached whether the system lists `127.0.0.1` or `::1` first.
pub(crate) async fn localhost_any_port() -> SocketAddr {
    tokio::net::lookup_host(("localhost", 0))
        .await
        .unwrap()
        .next()
        .expect("localhost resolves")
}

/// An HTTPS mock on `localhost` presenting a certificate for `names` signed by `ca`, and its
/// upstream URL `https://localhost:PORT`.
pub(crate) async fn https_mock(ca: &TestCa, names: &[&str]) -> (MockProvider, String) {
    let leaf = ca.leaf(names).unwrap();
    let mock = MockProvider::bind_tls(localhost_any_port().await, &leaf.cert_pem, &leaf.key_pem)
        .await
        .unwrap();
    let url = format!("https://localhost:{}", mock.addr().port());
    (mock, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstream_by_host_name_with_a_verified_certificate() {
    let ca = TestCa::new().unwrap();
    let ca_file = ca.cert_pem_file().unwrap();
    let gw = Gateway::start_with(&[("SSL_CERT_FILE", ca_file.path().to_str().unwrap())]).await;
    let (mock, url) = https_mock(&ca, &["localhost"]).await;
    let port = mock.addr().port();
    gw.create_group("secure", "openai", &[(&url, 1)], &["sk-tls-secret-1"])
        .await;
    mock.clear();

    let r = gw
        .post(
            "secure",
            "/v1/chat/completions",
            json!({"model": "m", "messages": []}),
        )
        .await;
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "{text}\nproxy log:\n{}", gw.proxy.output_log());
    assert!(text.contains("chat.completion"), "{text}");

    let recorded = mock.requests_for_key("sk-tls-secret-1");
    assert_eq!(recorded.len(), 1, "{:?}", mock.requests());
    assert_eq!(recorded[0].path, "/v1/chat/completions");
    let host = format!("localhost:{port}");
    assert_eq!(recorded[0].header("host"), Some(host.as_str()));
    let names = mock.tls_server_names();
    assert!(!names.is_empty());
    assert!(
        names.iter().all(|n| n.as_deref() == Some("localhost")),
        "SNI sent: {names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_for_another_name_or_from_an_unknown_ca_is_refused() {
    let ca = TestCa::new().unwrap();
    let ca_file = ca.cert_pem_file().unwrap();
    let gw = Gateway::start_with(&[("SSL_CERT_FILE", ca_file.path().to_str().unwrap())]).await;
    // Trusted CA, wrong name.
    let (wrong_name, wrong_name_url) = https_mock(&ca, &["other.example"]).await;
    // Right name, CA the proxy does not trust.
    let stranger = TestCa::new().unwrap();
    let (unknown_ca, unknown_ca_url) = https_mock(&stranger, &["localhost"]).await;
    gw.create_group(
        "wrongname",
        "openai",
        &[(&wrong_name_url, 1)],
        &["sk-tls-wrong-name-key"],
    )
    .await;
    gw.create_group(
        "unknownca",
        "openai",
        &[(&unknown_ca_url, 1)],
        &["sk-tls-unknown-ca-key"],
    )
    .await;

    for (group, key, mock) in [
        ("wrongname", "sk-tls-wrong-name-key", &wrong_name),
        ("unknownca", "sk-tls-unknown-ca-key", &unknown_ca),
    ] {
        let r = gw
            .post(group, "/v1/chat/completions", json!({"model": "m"}))
            .await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert_eq!(status, 502, "{group}: {text}");
        assert!(
            text.contains("localhost"),
            "{group}: names the upstream host: {text}"
        );
        assert!(!text.contains(key), "{group}: leaks the key: {text}");
        assert!(
            text.contains("TLSHandshakeFailure ("),
            "{group}: says why: {text}"
        );
        assert!(
            !text.contains("local address"),
            "{group}: shows the proxy's own socket: {text}"
        );
        assert!(
            mock.requests().is_empty(),
            "{group}: a request crossed a refused TLS handshake: {:?}",
            mock.requests()
        );
        let names = mock.tls_server_names();
        assert!(
            !names.is_empty() && names.iter().all(|n| n.as_deref() == Some("localhost")),
            "{group}: the proxy tried TLS with SNI localhost: {names:?}"
        );
    }
    let log = gw.proxy.output_log();
    assert!(
        !log.contains("sk-tls-wrong-name-key") && !log.contains("sk-tls-unknown-ca-key"),
        "key in the proxy's output"
    );
}
