//! A database that accepts connections and then says nothing (a partition, a stuck server): the
//! admin answers 503 `DATABASE_UNAVAILABLE` and an unhealthy `/health` within a few seconds
//! instead of hanging, on PostgreSQL and MySQL, and serves again once the database answers.

use std::time::{Duration, Instant};

use gateway_testkit::{GatewayProcess, SilentRelay, TestDb, free_port};
use serde_json::Value;

const AUTH_KEY: &str = "silent-db-test-key-0123456789";

async fn scenario(db: Option<TestDb>) {
    let Some(db) = db else { return };
    let mut url = url::Url::parse(&db.dsn()).unwrap();
    let target = format!(
        "{}:{}",
        url.host_str().unwrap(),
        url.port_or_known_default().unwrap()
    );
    let target = tokio::net::lookup_host(target)
        .await
        .unwrap()
        .next()
        .unwrap();
    let relay = SilentRelay::start(target).await.unwrap();
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(relay.addr().port())).unwrap();
    if url.scheme() == "mysql" {
        // The MySQL driver moves a loopback connection to the server's Unix socket, which
        // would go around the relay.
        url.set_query(Some("prefer_socket=false"));
    }
    let dsn = url.to_string();
    let admin_listen = format!("127.0.0.1:{}", free_port());
    let admin = GatewayProcess::spawn(
        "gateway-admin",
        &[
            ("AUTH_KEY", AUTH_KEY),
            ("ADMIN_LISTEN", &admin_listen),
            ("DATABASE_DSN", &dsn),
        ],
        &[],
    )
    .unwrap();
    admin
        .wait_http_ready(
            &format!("http://{admin_listen}/health"),
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", admin.output_log()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let groups = || {
        client
            .get(format!("http://{admin_listen}/api/groups"))
            .bearer_auth(AUTH_KEY)
            .send()
    };
    assert_eq!(groups().await.unwrap().status(), 200);

    relay.go_silent();
    for what in ["/api/groups", "/health"] {
        let start = Instant::now();
        let r = client
            .get(format!("http://{admin_listen}{what}"))
            .bearer_auth(AUTH_KEY)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: no answer: {e}\n{}", admin.output_log()));
        let took = start.elapsed();
        assert_eq!(r.status(), 503, "{what}");
        assert!(took < Duration::from_secs(12), "{what} took {took:?}");
        let body: Value = r.json().await.unwrap();
        if what == "/health" {
            assert_eq!(body["status"], "unhealthy", "{body}");
        } else {
            assert_eq!(body["code"], "DATABASE_UNAVAILABLE", "{body}");
            assert!(
                body["message"]
                    .as_str()
                    .unwrap()
                    .contains("does not answer"),
                "{body}"
            );
        }
    }
    admin.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_postgres_gets_503_within_seconds() {
    scenario(TestDb::postgres().await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_mysql_gets_503_within_seconds() {
    scenario(TestDb::mysql().await.unwrap()).await;
}
