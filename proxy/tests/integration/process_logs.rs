//! The processes' own logs: `LOG_FORMAT=json` with `LOG_ENABLE_FILE` / `LOG_FILE_PATH`,
//! Pingora's log output in the same stream, access lines at debug level, and no key or proxy key
//! anywhere in them, even for failed attempts whose upstream URL carries the key.

use std::time::Duration;

use gateway_testkit::{MockProvider, free_port};
use serde_json::{Value, json};

use crate::support::{Gateway, PROXY_KEY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_go_to_stdout_and_the_file_bridge_pingora_and_never_show_a_key() {
    let gw = Gateway::start_with(&[
        ("LOG_LEVEL", "debug"),
        ("LOG_FORMAT", "json"),
        ("LOG_ENABLE_FILE", "true"),
        ("LOG_FILE_PATH", "./data/logs/gateway.log"),
    ])
    .await;
    let mock = MockProvider::start().await.unwrap();
    let upstream_key = "AIzaSy-upstream-secret-0123456789";
    // One upstream that refuses connections (its error text would name the URL with ?key=).
    let dead = format!("http://127.0.0.1:{}", free_port());
    gw.create_group_with(
        "plog",
        "gemini",
        &[(&mock.base_url(), 1)],
        &[upstream_key],
        json!({"config": {"max_retries": 0}}),
    )
    .await;
    gw.create_group_with(
        "plog-dead",
        "gemini",
        &[(&dead, 1)],
        &[upstream_key],
        json!({"config": {"max_retries": 0}}),
    )
    .await;
    let path = "/v1beta/models/gemini-pro:generateContent";
    for group in ["plog", "plog-dead"] {
        let r = gw
            .client
            .post(gw.url(&format!("/proxy/{group}{path}?key={PROXY_KEY}")))
            .json(&json!({"contents": []}))
            .send()
            .await
            .unwrap();
        let expected = if group == "plog" { 200 } else { 502 };
        assert_eq!(r.status(), expected, "{group}");
        let body = r.text().await.unwrap();
        assert!(!body.contains(upstream_key), "{body}");
    }
    // Each request's access line is written when its logging phase ends, which may be after
    // the client has its answer; the file is written by its own thread.
    for line in ["/proxy/plog/v1beta", "/proxy/plog-dead/v1beta"] {
        gw.proxy
            .wait_for_log(line, Duration::from_secs(5))
            .await
            .unwrap();
    }
    let stdout = gw.proxy.output_log();
    let path = gw.proxy.dir().join("data/logs/gateway.log");
    let read_file = || std::fs::read_to_string(&path).unwrap_or_default();
    crate::support::poll_until(
        Duration::from_secs(5),
        || async {
            let file = read_file();
            file.contains("/proxy/plog/v1beta") && file.contains("/proxy/plog-dead/v1beta")
        },
        &read_file,
    )
    .await;
    let file = read_file();
    let admin = gw.admin.output_log();
    for secret in [upstream_key, PROXY_KEY] {
        assert!(!admin.contains(secret), "{secret} in the admin log");
    }
    for (name, text) in [("stdout", &stdout), ("file", &file)] {
        for secret in [upstream_key, PROXY_KEY] {
            let leaks: Vec<&str> = text.lines().filter(|l| l.contains(secret)).collect();
            assert!(leaks.is_empty(), "{secret} in the {name} log: {leaks:#?}");
        }
        let lines: Vec<Value> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {l}"))
            })
            .collect();
        let message = |l: &Value| l["fields"]["message"].as_str().unwrap_or("").to_owned();
        // Pingora's own `log` output arrives through the same subscriber.
        assert!(
            lines.iter().any(|l| message(l) == "Bootstrap starting"),
            "{name}"
        );
        let access: Vec<&Value> = lines.iter().filter(|l| l["target"] == "access").collect();
        assert!(
            access
                .iter()
                .any(|l| l["fields"]["status"] == 200 && message(l).contains("/proxy/plog/")),
            "{name}: {access:?}"
        );
        assert!(
            access
                .iter()
                .any(|l| l["fields"]["status"] == 502 && message(l).contains("key=****")),
            "{name}: {access:?}"
        );
    }
}
