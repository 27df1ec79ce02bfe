//! No key leaks, whatever goes wrong: a scenario that makes every kind of error happen (refused
//! connections and timeouts on Gemini's `?key=` URLs, resets, upstream errors that echo the key,
//! a broken stream, wrong proxy and admin keys, key validation failures), then searches both
//! processes' output, both metrics pages, the admin API's error answers and the database files
//! for every raw key, as it is and URL-encoded. With `ENCRYPTION_KEY` set no upstream key is in
//! the database files at all; without it, only `api_keys.key_value` holds them (request-log rows
//! hold a mask). No secret (upstream key, proxy key, `AUTH_KEY`, `ENCRYPTION_KEY`) is ever in the
//! output, the metrics or an error answer.

use std::time::Duration;

use gateway_core::secret::mask_key;
use gateway_testkit::{MockProvider, Reply, free_port};
use serde_json::json;

use crate::support::{AUTH_KEY, Gateway, PROXY_KEY};

/// One upstream key per way of failing. `/` and `+` make the URL-encoded form differ.
const DEAD: &str = "AIzaSy-dead/upstream+key-000001";
const SLOW: &str = "AIzaSy-slow/upstream+key-000002";
const ECHO_401: &str = "sk-echo-401-upstream-key-000003";
const ECHO_429: &str = "sk-echo-429-upstream-key-000004";
const RESET: &str = "sk-reset-upstream-key-000005";
const STREAM: &str = "sk-stream-abort-upstream-key-000006";
const GOOD: &str = "sk-good-upstream-key-000007";
const ENCRYPTION_KEY: &str = "leak-test-encryption-key-0123456789";
/// The password of the outbound proxy URLs stored (a group's and the system setting).
const PROXY_PASS: &str = "outbound-proxy-password-0008";

fn encoded(key: &str) -> String {
    url::form_urlencoded::byte_serialize(key.as_bytes()).collect()
}

fn leaks(haystack: &[u8], secrets: &[&str]) -> Vec<String> {
    let text = String::from_utf8_lossy(haystack);
    secrets
        .iter()
        .flat_map(|s| [(*s).to_owned(), encoded(s)])
        .filter(|s| text.contains(s.as_str()))
        .collect()
}

async fn text_of(client: &reqwest::Client, url: &str) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// Runs the scenario; returns what was collected: `(what, bytes)`.
async fn scenario(gw: &Gateway, metrics_url: &str) -> Vec<(String, Vec<u8>)> {
    let mock = MockProvider::start().await.unwrap();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let no_retry = json!({"config": {"max_retries": 0, "request_timeout": 1}});
    gw.create_group_with("dead", "gemini", &[(&dead, 1)], &[DEAD], no_retry.clone())
        .await;
    gw.create_group_with(
        "slow",
        "gemini",
        &[(&mock.base_url(), 1)],
        &[SLOW],
        no_retry.clone(),
    )
    .await;
    gw.create_group_with(
        "echo",
        "openai",
        &[(&mock.base_url(), 1)],
        &[ECHO_401, ECHO_429, RESET, STREAM, GOOD],
        json!({"config": {"max_retries": 4, "blacklist_threshold": 1}}),
    )
    .await;
    // Proxy URLs with a password: sealed under ENCRYPTION_KEY, masked wherever shown.
    let proxy_url = format!("http://gw-user:{PROXY_PASS}@127.0.0.1:{}", free_port());
    gw.create_group_with(
        "proxied",
        "openai",
        &[("https://api.openai.example", 1)],
        &[],
        json!({"config": {"proxy_url": proxy_url}}),
    )
    .await;
    let shown = gw.api(reqwest::Method::GET, "/api/groups", None).await;
    assert!(shown.to_string().contains("gw-user:****@"), "{shown}");
    assert!(!shown.to_string().contains(PROXY_PASS), "{shown}");
    gw.log_at_once().await;
    mock.always(SLOW, Reply::ok().delay(Duration::from_secs(3)));
    mock.always(
        ECHO_401,
        Reply::status(401).body(format!(
            r#"{{"error":{{"message":"Incorrect API key provided: {ECHO_401}","code":"invalid_api_key"}}}}"#
        )),
    );
    mock.always(
        ECHO_429,
        Reply::status(429).retry_after(60).body(format!(
            r#"{{"error":{{"message":"quota of {ECHO_429} exceeded"}}}}"#
        )),
    );
    mock.always(RESET, Reply::reset());
    mock.always(
        STREAM,
        Reply::sse(4, Duration::from_millis(10)).abort_after(1),
    );
    let gemini = "/v1beta/models/gemini-pro:generateContent";
    let mut answers: Vec<(String, Vec<u8>)> = Vec::new();
    for group in ["dead", "slow"] {
        let r = gw
            .client
            .post(gw.url(&format!("/proxy/{group}{gemini}?key={PROXY_KEY}")))
            .json(&json!({"contents": []}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_server_error(), "{group}: {}", r.status());
        answers.push((
            format!("answer of {group}"),
            r.bytes().await.unwrap().to_vec(),
        ));
    }
    // The echo group walks its keys: 401, 429, reset, broken stream, then the good one.
    for stream in [false, true, false, false, true] {
        let r = gw
            .post(
                "echo",
                "/v1/chat/completions",
                json!({"model": "m", "stream": stream, "messages": []}),
            )
            .await;
        answers.push((
            "answer of echo".into(),
            r.bytes().await.unwrap_or_default().to_vec(),
        ));
    }
    // Wrong proxy keys and admin keys, in the query where access lines would show them.
    let wrong = "wrong-proxy-key-in-the-query";
    let r = gw
        .client
        .get(gw.url(&format!("/proxy/echo/v1/models?key={wrong}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = gw
        .client
        .get(gw.url(&format!("/api/groups?key={wrong}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    answers.push(("admin 401".into(), r.bytes().await.unwrap().to_vec()));
    // Key validation through the admin: a transport error on a ?key= URL and an echoing 401.
    let groups = gw.api(reqwest::Method::GET, "/api/groups", None).await;
    let id_of = |name: &str| {
        groups["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == name)
            .and_then(|g| g["id"].as_i64())
            .unwrap()
    };
    for (group, key) in [("dead", DEAD), ("echo", ECHO_401)] {
        let v = gw
            .api(
                reqwest::Method::POST,
                "/api/keys/test-multiple",
                Some(json!({"group_id": id_of(group), "keys_text": key})),
            )
            .await;
        let result = &v["data"]["results"][0];
        assert_eq!(result["is_valid"], false, "{v}");
        let error = result["error"].as_str().unwrap_or("").to_owned();
        assert!(!error.is_empty(), "{v}");
        answers.push((format!("validation error of {group}"), error.into_bytes()));
    }
    // Every log row written.
    gw.wait_until(Duration::from_secs(10), || async {
        let v = gw
            .api(reqwest::Method::GET, "/api/logs?page_size=100", None)
            .await;
        v["data"]["items"].as_array().map_or(0, Vec::len) >= 7
    })
    .await;
    for key in [SLOW, ECHO_401, ECHO_429, RESET, STREAM, GOOD] {
        assert!(
            !mock.requests_for_key(key).is_empty(),
            "{key} was never tried"
        );
    }
    gw.api(
        reqwest::Method::PUT,
        "/api/settings",
        Some(json!({ "proxy_url": proxy_url })),
    )
    .await;
    let (_, settings) = gw
        .api_answer(reqwest::Method::GET, "/api/settings", None)
        .await;
    let shown_proxy = settings["data"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["settings"].as_array().cloned().unwrap_or_default())
        .find(|item| item["key"] == "proxy_url")
        .map(|item| item["value"].to_string())
        .unwrap_or_default();
    assert!(shown_proxy.contains("gw-user:****@"), "{settings}");
    answers.push(("the proxy_url setting".into(), shown_proxy.into_bytes()));
    gw.api(
        reqwest::Method::PUT,
        "/api/settings",
        Some(json!({ "proxy_url": "" })),
    )
    .await;
    let mut out = answers;
    out.push((
        "proxy metrics".into(),
        text_of(&gw.client, metrics_url).await.into_bytes(),
    ));
    out.push((
        "admin metrics".into(),
        text_of(&gw.client, &format!("http://{}/metrics", gw.admin_listen))
            .await
            .into_bytes(),
    ));
    out
}

const ALL: [&str; 7] = [DEAD, SLOW, ECHO_401, ECHO_429, RESET, STREAM, GOOD];

async fn run(encrypted: bool) {
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let mut env = vec![
        ("LOG_LEVEL", "debug"),
        ("METRICS_LISTEN", metrics_addr.as_str()),
    ];
    if encrypted {
        env.push(("ENCRYPTION_KEY", ENCRYPTION_KEY));
    }
    let gw = Gateway::start_with(&env).await;
    let collected = scenario(&gw, &format!("http://{metrics_addr}/metrics")).await;
    let (proxy_log, admin_log) = (gw.proxy.output_log(), gw.admin.output_log());
    let db_path = gw.db.dsn();
    let db = gw.stop().await;
    let mut secrets: Vec<&str> = ALL.to_vec();
    secrets.extend([
        PROXY_KEY,
        AUTH_KEY,
        ENCRYPTION_KEY,
        "wrong-proxy-key-in-the-query",
        PROXY_PASS,
    ]);
    let mut found = Vec::new();
    for (what, bytes) in collected
        .iter()
        .map(|(w, b)| (w.as_str(), b.as_slice()))
        .chain([
            ("proxy output", proxy_log.as_bytes()),
            ("admin output", admin_log.as_bytes()),
        ])
    {
        for leak in leaks(bytes, &secrets) {
            found.push(format!("{what}: {leak}"));
        }
    }
    // The database files, byte for byte (every table, index and free page, and the WAL).
    for suffix in ["", "-wal", "-shm"] {
        let Ok(bytes) = std::fs::read(format!("{db_path}{suffix}")) else {
            continue;
        };
        // Proxy keys and settings are configuration the database holds by design; the upstream
        // keys are what must not be there in the clear.
        let sealed: Vec<&str> = ALL.iter().copied().chain([PROXY_PASS]).collect();
        let forbidden: &[&str] = if encrypted { &sealed } else { &[] };
        for leak in leaks(&bytes, forbidden) {
            found.push(format!("database file{suffix}: {leak}"));
        }
    }
    assert!(found.is_empty(), "secrets found:\n{}", found.join("\n"));
    if !encrypted {
        // Plaintext storage keeps keys only in the two key columns (GPT-Load's schema).
        let database = db.database().unwrap();
        let mut after = None;
        loop {
            let page = database.stored_keys_page(after.as_ref()).await.unwrap();
            let Some(last) = page.last().cloned() else {
                break;
            };
            for row in &page {
                assert_eq!(row.table, "api_keys", "{row:?}");
                assert!(ALL.contains(&row.value.as_str()), "{row:?}");
            }
            after = Some(last);
        }
        // Log rows name their key by hash and mask only.
        let (logs, _) = database
            .list_logs(&gateway_schema::LogFilter::default(), 1, 10_000)
            .await
            .unwrap();
        let masks: Vec<String> = ALL.iter().map(|k| mask_key(k)).collect();
        assert!(logs.iter().any(|l| !l.key_hash.is_empty()), "{logs:?}");
        for l in logs.iter().filter(|l| !l.key_hash.is_empty()) {
            assert!(masks.contains(&l.key_value), "{l:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_is_found_anywhere_after_every_kind_of_error_with_encryption() {
    run(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_encryption_keys_are_only_in_the_key_columns() {
    run(false).await;
}
