//! Hot reload: a group created through the API serves within a second, and traffic on other
//! groups sees no failure while snapshots are swapped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gateway_testkit::MockProvider;
use serde_json::json;

use crate::support::{Gateway, PROXY_KEY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_group_serves_within_a_second_while_traffic_runs() {
    let gw = Arc::new(Gateway::start().await);
    let mock = MockProvider::start().await.unwrap();
    gw.create_group(
        "steady",
        "openai",
        &[(&mock.base_url(), 1)],
        &["sk-steady-1", "sk-steady-2"],
    )
    .await;

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (gw, stop, ok) = (Arc::clone(&gw), Arc::clone(&stop), Arc::clone(&ok));
        workers.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let r = gw
                    .post("steady", "/v1/chat/completions", json!({"model": "m"}))
                    .await;
                if r.status() == 200 {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failures.push(r.status().as_u16());
                }
            }
            failures
        }));
    }

    // Several writes, each a new snapshot, while the workers run.
    let mut latencies = Vec::new();
    for i in 0..3 {
        let name = format!("fresh{i}");
        let created = gw
            .api(
                reqwest::Method::POST,
                "/api/groups",
                Some(json!({"name": name, "channel_type": "openai", "upstreams": [{"url": mock.base_url(), "weight": 1}],
                            "test_model": "m", "proxy_keys": PROXY_KEY})),
            )
            .await;
        let id = created["data"]["id"].as_i64().unwrap();
        gw.api(
            reqwest::Method::POST,
            "/api/keys/add-multiple",
            Some(json!({"group_id": id, "keys_text": format!("sk-fresh-{i}")})),
        )
        .await;
        let written = Instant::now();
        loop {
            let r = gw
                .post(&name, "/v1/chat/completions", json!({"model": "m"}))
                .await;
            if r.status() == 200 {
                break;
            }
            assert!(
                written.elapsed() < Duration::from_secs(5),
                "group {name} never served: {}",
                r.status()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        latencies.push(written.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let failures = w.await.unwrap();
        assert!(
            failures.is_empty(),
            "requests failed during reloads: {failures:?}"
        );
    }
    assert!(ok.load(Ordering::Relaxed) > 10, "traffic ran");
    for l in &latencies {
        assert!(
            *l < Duration::from_secs(1),
            "a new group took {l:?} to serve: {latencies:?}"
        );
    }
}
