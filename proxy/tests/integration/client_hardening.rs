//! The public port against a hostile client, on raw sockets: a request framed by both
//! `Content-Length` and `Transfer-Encoding` closes its connection (no smuggled second request);
//! a proxy key in a percent-encoded `key` parameter is removed and masked like a plain one;
//! upstream keys are masked in response headers and headers named by `Connection` are dropped;
//! slow headers get 408, idle connections close, connections above `SERVER_MAX_CONNECTIONS` get
//! 503; a declared body length reserves no memory before the bytes arrive.

use std::time::{Duration, Instant};

use gateway_testkit::{MockProvider, Reply, free_port};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Gateway, PROXY_KEY};

/// Everything the server sends until it closes the connection (at most `limit`).
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let closed = tokio::time::timeout(limit, stream.read_to_end(&mut out))
        .await
        .is_ok();
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

/// One response (header and `Content-Length` body) read from `stream`.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&out).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                    })
                    .unwrap_or(0);
                if body.len() >= len {
                    break;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("a response within 10 s");
    String::from_utf8_lossy(&out).into_owned()
}

fn status_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("HTTP/1.1 "))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_length_with_transfer_encoding_closes_the_connection() {
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    gw.create_group(
        "smuggle",
        "openai",
        &[(&mock.base_url(), 1)],
        &["sk-smuggle-1"],
    )
    .await;
    for (what, first) in [
        (
            "proxy route",
            format!(
                "POST /proxy/smuggle/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {PROXY_KEY}\r\nContent-Type: application/json\r\n"
            ),
        ),
        (
            "admin route",
            "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                .to_owned(),
        ),
    ] {
        let mut s = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
        let request =
            format!("{first}Content-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
        s.write_all(request.as_bytes()).await.unwrap();
        let answered = read_response(&mut s).await;
        // The next request on the same connection, once the first is answered (a closed
        // connection may refuse the write).
        let _ = s
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        let (rest, closed) = read_until_closed(&mut s, Duration::from_secs(10)).await;
        let text = format!("{answered}{rest}");
        assert!(closed, "{what}: the connection must close\n{text}");
        let lines = status_lines(&text);
        assert_eq!(
            lines.len(),
            1,
            "{what}: only the first request is answered\n{text}"
        );
        assert!(
            !text.contains("\"healthy\""),
            "{what}: the smuggled request was served\n{text}"
        );
        assert!(
            text.to_ascii_lowercase().contains("connection: close"),
            "{what}: {text}"
        );
    }
    // A normal request on a kept-alive connection is still served twice.
    let mut s = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let first = read_response(&mut s).await;
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (second, closed) = read_until_closed(&mut s, Duration::from_secs(10)).await;
    assert!(closed);
    assert!(first.starts_with("HTTP/1.1 200 ") && second.starts_with("HTTP/1.1 200 "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encoded_key_parameter_is_removed_and_masked() {
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    gw.create_group("enc", "openai", &[(&mock.base_url(), 1)], &["sk-enc-1"])
        .await;
    gw.log_at_once().await;
    mock.clear();
    let spellings = [
        "%6bey=PK",
        "%6Bey=PK",
        "k%65y=PK",
        "%6B%65%79=PK",
        "key=PK&%6bey=PK",
    ];
    for spelling in spellings {
        let query = spelling.replace("PK", PROXY_KEY);
        let r = gw
            .client
            .post(gw.url(&format!("/proxy/enc/v1/chat/completions?{query}&a=1")))
            .json(&serde_json::json!({"model": "m", "messages": []}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{spelling} authenticates");
    }
    let seen = mock.requests();
    assert_eq!(seen.len(), spellings.len());
    for r in &seen {
        assert_eq!(r.query.as_deref(), Some("a=1"), "the upstream got {r:?}");
        assert!(
            r.headers.iter().all(|(_, v)| !v.contains(PROXY_KEY)),
            "{r:?}"
        );
    }
    let paths = || async {
        let v = gw
            .api(reqwest::Method::GET, "/api/logs?page_size=50", None)
            .await;
        v["data"]["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|i| i["request_path"].as_str().unwrap_or("").to_owned())
                    .filter(|p| p.contains("/chat/completions"))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    gw.wait_until(Duration::from_secs(10), || async {
        paths().await.len() >= spellings.len()
    })
    .await;
    let logged = paths().await;
    for path in &logged {
        assert!(!path.contains(PROXY_KEY), "logged {path}");
        assert!(path.ends_with("?a=1"), "logged {path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_keys_are_masked_in_response_headers() {
    const KEY: &str = "AIzaSy-header/echo+key-0001";
    const KEY_401: &str = "AIzaSy-header/echo+key-0002";
    let encoded: String = url::form_urlencoded::byte_serialize(KEY.as_bytes()).collect();
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    let group = gw
        .create_group_with(
            "hdr",
            "gemini",
            &[(&mock.base_url(), 1)],
            &[KEY],
            serde_json::json!({"config": {"max_retries": 0}}),
        )
        .await;
    // A redirect to https://$host$request_uri, as a plain-HTTP front would answer.
    mock.always(
        KEY,
        Reply::status(302)
            .header(
                "location",
                &format!("https://upstream.example/v1beta/models?key={encoded}"),
            )
            .header("x-echo-key", KEY)
            .header("connection", "x-hop-secret")
            .header("x-hop-secret", "hop-value"),
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .get(gw.url(&format!("/proxy/hdr/v1beta/models?key={PROXY_KEY}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "{:?}", r.headers());
    let headers = format!("{:?}", r.headers());
    let location = r.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("https://upstream.example/v1beta/models?key=AIza"),
        "{location}"
    );
    assert!(location.contains("****"), "{location}");
    assert!(r.headers()["x-echo-key"].to_str().unwrap().contains("****"));
    assert!(
        !headers.contains(KEY) && !headers.contains(&encoded),
        "{headers}"
    );
    assert!(
        r.headers().get("x-hop-secret").is_none(),
        "a header the upstream's Connection names is hop-by-hop: {headers}"
    );

    // An error answer passed on: the same masking.
    gw.api(
        reqwest::Method::POST,
        "/api/keys/add-multiple",
        Some(serde_json::json!({"group_id": group, "keys_text": KEY_401})),
    )
    .await;
    gw.wait_synced().await;
    mock.always(KEY, Reply::status(401).header("x-echo-key", KEY));
    mock.always(KEY_401, Reply::status(401).header("x-echo-key", KEY_401));
    for _ in 0..2 {
        let r = gw
            .client
            .get(gw.url(&format!("/proxy/hdr/v1beta/models?key={PROXY_KEY}")))
            .send()
            .await
            .unwrap();
        let echoed = r.headers()["x-echo-key"].to_str().unwrap().to_owned();
        assert!(
            echoed.contains("****") && !echoed.contains("key-000"),
            "{echoed}"
        );
    }
}

/// `gateway_client_connections_closed_total{reason}` on the proxy's metrics listener.
async fn closed_by_gateway(gw: &Gateway, metrics: &str, reason: &str) -> u64 {
    let text = gw
        .client
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("gateway_client_connections_closed_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Writes `bytes` one byte at a time, `gap` apart, until the server answers or closes; returns
/// what it answered and when.
async fn drip(stream: &mut TcpStream, bytes: &[u8], gap: Duration) -> (String, Duration) {
    let start = Instant::now();
    let mut buf = vec![0u8; 4096];
    for b in bytes.iter().cycle() {
        if stream.write_all(&[*b]).await.is_err() {
            break;
        }
        match tokio::time::timeout(gap, stream.read(&mut buf)).await {
            Ok(Ok(n)) => {
                let mut out = buf[..n].to_vec();
                let _ = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut out))
                    .await;
                return (String::from_utf8_lossy(&out).into_owned(), start.elapsed());
            }
            Ok(Err(_)) => break,
            Err(_) => {}
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never cut off");
    }
    (String::new(), start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_bodies_and_idle_connections_are_cut() {
    let metrics = format!("127.0.0.1:{}", free_port());
    let gw = Gateway::start_with(&[
        ("SERVER_READ_TIMEOUT", "2"),
        ("SERVER_IDLE_TIMEOUT", "2"),
        ("METRICS_LISTEN", &metrics),
    ])
    .await;

    // A header dripped a byte at a time: 408 once SERVER_READ_TIMEOUT passed since the start.
    let mut s = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    let (answer, after) = drip(
        &mut s,
        b"GET /health HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        Duration::from_millis(100),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer:?}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(
        after >= Duration::from_millis(1800) && after < Duration::from_secs(8),
        "{after:?}"
    );

    // A connection that never sends anything is closed quietly.
    let mut s = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    let start = Instant::now();
    let (text, closed) = read_until_closed(&mut s, Duration::from_secs(10)).await;
    assert!(closed && text.is_empty(), "{text:?}");
    assert!(start.elapsed() < Duration::from_secs(6));

    // A kept-alive connection that stays idle after its answer closes after SERVER_IDLE_TIMEOUT.
    let mut s = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let start = Instant::now();
    let (text, closed) = read_until_closed(&mut s, Duration::from_secs(10)).await;
    assert!(closed, "idle connection kept open: {text}");
    assert_eq!(status_lines(&text).len(), 1, "{text}");
    assert!(
        start.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );

    // An admin-route body that never comes: cut after SERVER_READ_TIMEOUT, not Pingora's 60 s.
    let mut s = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    s.write_all(b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"auth_key\":")
        .await
        .unwrap();
    let start = Instant::now();
    let (text, closed) = read_until_closed(&mut s, Duration::from_secs(15)).await;
    assert!(closed, "{text}");
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    assert!(text.contains("REQUEST_TIMEOUT"), "{text}");
    assert_eq!(closed_by_gateway(&gw, &metrics, "header_timeout").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_above_the_cap_get_503() {
    let metrics = format!("127.0.0.1:{}", free_port());
    let gw = Gateway::start_with(&[
        ("SERVER_MAX_CONNECTIONS", "40"),
        ("METRICS_LISTEN", &metrics),
    ])
    .await;
    // Connections above SERVER_MAX_CONNECTIONS get 503 at once; the ones held stay usable.
    let mut opened = Vec::new();
    for _ in 0..50 {
        opened.push(TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap());
    }
    let mut held = Vec::new();
    let mut refused = Vec::new();
    for mut s in opened {
        let mut buf = vec![0u8; 1024];
        match tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => refused.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            _ => held.push(s),
        }
    }
    assert!(held.len() <= 40, "{} held", held.len());
    assert!(refused.len() >= 10, "{} refused", refused.len());
    assert!(refused[0].starts_with("HTTP/1.1 503 "), "{}", refused[0]);
    assert!(
        refused[0].contains("too_many_connections"),
        "{}",
        refused[0]
    );
    assert!(refused[0].contains("Retry-After: 1"), "{}", refused[0]);
    let s = held.first_mut().unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (text, _) = read_until_closed(s, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    drop(held);
    // Closed connections give their places back.
    gw.wait_healthy().await;
    // The readiness polls above may have been refused too while the held ones closed.
    let over_limit = closed_by_gateway(&gw, &metrics, "over_limit").await;
    assert!(over_limit >= refused.len() as u64, "{over_limit}");
}

/// `VmRSS` and `VmSize` of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    (field("VmRSS:"), field("VmSize:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_body_length_reserves_nothing_before_the_bytes_arrive() {
    let metrics = format!("127.0.0.1:{}", free_port());
    let gw = Gateway::start_with(&[
        ("MAX_CONCURRENT_REQUESTS", "100"),
        ("METRICS_LISTEN", &metrics),
    ])
    .await;
    let mock = MockProvider::start().await.unwrap();
    gw.create_group("mem", "openai", &[(&mock.base_url(), 1)], &["sk-mem-1"])
        .await;
    let (rss_before, vm_before) = memory_kib(gw.proxy.pid());
    let declared = 32 * 1024 * 1024 - 1;
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
        let head = format!(
            "POST /proxy/mem/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {PROXY_KEY}\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&[b' '; 1024]).await.unwrap();
        held.push(s);
    }
    // All twenty are inside the proxy, reading their bodies.
    gw.wait_until(Duration::from_secs(10), || async {
        let text = match gw
            .client
            .get(format!("http://{metrics}/metrics"))
            .send()
            .await
        {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => return false,
        };
        text.lines().any(|l| l == "gateway_inflight_requests 20")
    })
    .await;
    let (rss_after, vm_after) = memory_kib(gw.proxy.pid());
    let rss_growth = rss_after.saturating_sub(rss_before);
    let vm_growth = vm_after.saturating_sub(vm_before);
    // 20 × 32 MiB reserved up front would be 640 MiB of address space.
    assert!(rss_growth < 24 * 1024, "RSS grew {rss_growth} KiB");
    assert!(
        vm_growth < 320 * 1024,
        "virtual memory grew {vm_growth} KiB"
    );
    drop(held);
}
