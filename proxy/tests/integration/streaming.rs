//! Streams are relayed chunk by chunk: spacing survives the gateway.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use gateway_testkit::{MockProvider, Reply};
use serde_json::json;

use crate::support::Gateway;

/// Reads a streamed body to its end: the text, and whether it ended with an error (a cut
/// stream) rather than cleanly.
async fn read_stream(r: reqwest::Response) -> (String, bool) {
    let mut stream = r.bytes_stream();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => text.push_str(&String::from_utf8_lossy(&c)),
            Err(_) => return (text, true),
        }
    }
    (text, false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_chunks_arrive_spaced_not_all_at_once() {
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    gw.create_group("sse", "openai", &[(&mock.base_url(), 1)], &["sk-sse-1"])
        .await;
    mock.always("sk-sse-1", Reply::sse(5, Duration::from_millis(200)));
    let started = Instant::now();
    let r = gw
        .post(
            "sse",
            "/v1/chat/completions",
            json!({"model": "m", "stream": true}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut arrivals = Vec::new();
    let mut text = String::new();
    let mut stream = r.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        let s = String::from_utf8_lossy(&chunk);
        for _ in 0..s.matches("data:").count() {
            arrivals.push(started.elapsed());
        }
        text.push_str(&s);
    }
    assert!(text.contains("[DONE]"), "{text}");
    assert!(arrivals.len() >= 5, "{arrivals:?}");
    // First content event and last content event are 4 × 200 ms apart; bunched delivery would
    // show them within a few milliseconds of each other.
    let first = arrivals[0];
    let last_content = arrivals[4];
    let spread = last_content - first;
    assert!(
        spread >= Duration::from_millis(650),
        "events bunched: {arrivals:?}"
    );
    for pair in arrivals[..5].windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(120),
            "gap too small: {arrivals:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_stream_generate_content_streams() {
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    gw.create_group("gs", "gemini", &[(&mock.base_url(), 1)], &["AIza-gs-1"])
        .await;
    mock.always("AIza-gs-1", Reply::sse(3, Duration::from_millis(150)));
    let started = Instant::now();
    let r = gw
        .client
        .post(gw.url("/proxy/gs/v1beta/models/gemini-pro:streamGenerateContent?alt=sse"))
        .header("x-goog-api-key", crate::support::PROXY_KEY)
        .json(&json!({"contents": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    let mut first = None;
    let mut last = Duration::ZERO;
    while let Some(chunk) = stream.next().await {
        if !chunk.unwrap().is_empty() {
            first.get_or_insert(started.elapsed());
            last = started.elapsed();
        }
    }
    assert!(
        last - first.unwrap() >= Duration::from_millis(250),
        "first {first:?} last {last:?}"
    );
    let seen = mock.requests_for_key("AIza-gs-1");
    assert_eq!(
        seen.last().unwrap().query_param("alt").as_deref(),
        Some("sse")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_failure_mid_stream_truncates_the_client_stream_and_logs_no_key() {
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    gw.create_group(
        "cut",
        "openai",
        &[(&mock.base_url(), 1)],
        &["sk-cut-upstream-1"],
    )
    .await;
    mock.clear();
    mock.always(
        "sk-cut-upstream-1",
        Reply::sse(5, Duration::from_millis(50)).abort_after(2),
    );
    let r = gw
        .client
        .post(gw.url(&format!(
            "/proxy/cut/v1/chat/completions?key={}",
            crate::support::PROXY_KEY
        )))
        .json(&json!({"model": "m", "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the header went out before the failure");
    let (text, ended_with_error) = read_stream(r).await;
    assert!(
        ended_with_error,
        "a cut stream must not look complete: {text}"
    );
    assert!(
        text.contains("data:"),
        "the events before the failure arrived: {text}"
    );
    assert!(!text.contains("[DONE]"));
    assert_eq!(
        mock.requests().len(),
        1,
        "a stream is never retried once its first chunk went out"
    );
    // Pingora logs the failed request; neither key may appear in what the proxy printed.
    let log = gw
        .proxy
        .wait_for_log("key=*****", Duration::from_secs(5))
        .await
        .unwrap();
    assert!(
        !log.contains(crate::support::PROXY_KEY),
        "proxy key in the log:\n{log}"
    );
    assert!(
        !log.contains("sk-cut-upstream-1"),
        "upstream key in the log:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_mid_stream_releases_the_upstream() {
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    let key = "sk-gone-upstream-1";
    gw.create_group("gone", "openai", &[(&mock.base_url(), 1)], &[key])
        .await;
    mock.always(key, Reply::sse(100, Duration::from_millis(100)));
    let r = gw
        .post(
            "gone",
            "/v1/chat/completions",
            json!({"model": "m", "stream": true}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("data:"));
    drop(stream);
    // The proxy notices, abandons the upstream request and logs it as 499.
    gw.proxy
        .wait_for_log("status=499", Duration::from_secs(5))
        .await
        .unwrap();
    gw.wait_until(Duration::from_secs(5), || async {
        mock.abandoned_streams() == 1
    })
    .await;
    // Nothing was charged to the key: it serves the next request.
    mock.always(key, Reply::ok());
    let r = gw
        .post("gone", "/v1/chat/completions", json!({"model": "m"}))
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_gives_up_waiting_abandons_the_upstream_request() {
    let gw = Gateway::start().await;
    let mock = MockProvider::start().await.unwrap();
    let key = "sk-impatient-1";
    gw.create_group("slow", "openai", &[(&mock.base_url(), 1)], &[key])
        .await;
    mock.always(key, Reply::ok().delay(Duration::from_secs(5)));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let gave_up = client
        .post(gw.url("/proxy/slow/v1/chat/completions"))
        .bearer_auth(crate::support::PROXY_KEY)
        .json(&json!({"model": "m"}))
        .send()
        .await;
    assert!(gave_up.is_err());
    let log = gw
        .proxy
        .wait_for_log("waiting for the upstream", Duration::from_secs(3))
        .await
        .unwrap();
    assert!(log.contains("status=499"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_stream_idle_ends_a_silent_stream_request_timeout_bounds_a_whole_request_and_a_busy_stream_outlives_the_write_timeout()
 {
    // A one-second write timeout per write: a stream longer than that must still complete.
    let gw = Gateway::start_with(&[("SERVER_WRITE_TIMEOUT", "1")]).await;
    let mock = MockProvider::start().await.unwrap();
    let key = "sk-timeouts-1";
    gw.create_group_with(
        "timeouts",
        "openai",
        &[(&mock.base_url(), 1)],
        &[key],
        json!({"config": {"stream_idle_timeout": 1, "request_timeout": 1, "max_retries": 0}}),
    )
    .await;
    let stream_request = json!({"model": "m", "stream": true});

    // 8 events 400 ms apart: 2.8 s in all, never silent for a second.
    mock.script(key, Reply::sse(8, Duration::from_millis(400)));
    let started = Instant::now();
    let r = gw
        .post("timeouts", "/v1/chat/completions", stream_request.clone())
        .await;
    let (text, failed) = read_stream(r).await;
    assert!(
        !failed && text.contains("[DONE]"),
        "a busy stream runs to its end: {text}"
    );
    assert!(started.elapsed() >= Duration::from_millis(2500));

    // A request that does not ask for a stream but gets one (a provider's own stream switch)
    // is recognised by the upstream's Content-Type: the 1 s request_timeout does not cut it.
    mock.script(key, Reply::sse(4, Duration::from_millis(400)));
    let r = gw
        .post("timeouts", "/v1/chat/completions", json!({"model": "m"}))
        .await;
    let (text, failed) = read_stream(r).await;
    assert!(!failed && text.contains("[DONE]"), "{text}");

    // A stream silent for 2 s after its first event is ended by the 1 s idle timeout.
    mock.script(key, Reply::sse(3, Duration::from_secs(2)));
    let started = Instant::now();
    let r = gw
        .post("timeouts", "/v1/chat/completions", stream_request)
        .await;
    let (text, failed) = read_stream(r).await;
    assert!(failed, "a silent stream is cut, not completed: {text}");
    assert!(text.contains("data:") && !text.contains("[DONE]"));
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );

    // A non-streaming request whose upstream takes 3 s: 504 after the 1 s request_timeout.
    mock.script(key, Reply::ok().delay(Duration::from_secs(3)));
    let started = Instant::now();
    let r = gw
        .post("timeouts", "/v1/chat/completions", json!({"model": "m"}))
        .await;
    assert_eq!(r.status(), 504);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_millis(2500),
        "{elapsed:?}"
    );
}
