//! Keys encrypted at rest, end to end on each backend: a plaintext installation encrypted with
//! `migrate-keys --to`, start-up refused for each kind of mismatch, traffic served and logged with
//! encrypted keys, `migrate-keys` refused while a gateway runs and with a wrong `--from`, then
//! rotation and decryption back to plaintext.

use std::time::Duration;

use gateway_schema::{Database, StoredKey};
use gateway_testkit::{GatewayProcess, MockProvider, TestDb};
use serde_json::{Value, json};

use crate::support::{AUTH_KEY, Gateway};

const KEYS: [&str; 2] = [
    "sk-enc-upstream-key-aaaa1111",
    "sk-enc-upstream-key-bbbb2222",
];
const K1: &str = "first-encryption-key-0123456789abcdef";
const K2: &str = "second-encryption-key-0123456789abcdef";
const K3: &str = "third-encryption-key-0123456789abcdef";
/// The password of a group's outbound proxy URL, sealed and opened with the keys.
const PROXY_PASS: &str = "proxy-password-sealed-too-42";

/// The `proxy_url` of group `via-proxy` as stored.
async fn stored_proxy_url(db: &Database) -> String {
    let groups = db.groups().await.unwrap();
    let group = groups.iter().find(|g| g.name == "via-proxy").unwrap();
    let config: Value = serde_json::from_str(&group.config).unwrap();
    config["proxy_url"].as_str().unwrap().to_owned()
}

/// Every stored `(table, value, hash)`.
async fn stored(db: &Database) -> Vec<StoredKey> {
    let mut out = Vec::new();
    let mut after: Option<StoredKey> = None;
    loop {
        let page = db.stored_keys_page(after.as_ref()).await.unwrap();
        match page.last().cloned() {
            Some(last) => after = Some(last),
            None => return out,
        }
        out.extend(page);
    }
}

/// Runs `gateway-admin migrate-keys args` on `dsn`; returns whether it succeeded and its output.
async fn migrate(dsn: &str, args: &[&str]) -> (bool, String) {
    let mut all = vec!["migrate-keys"];
    all.extend_from_slice(args);
    let p = GatewayProcess::spawn(
        "gateway-admin",
        &[("AUTH_KEY", AUTH_KEY), ("DATABASE_DSN", dsn)],
        &all,
    )
    .unwrap();
    let status = p.wait_exit(Duration::from_secs(60)).await.unwrap();
    (status.success(), p.output_log())
}

/// Starts `binary` on `dsn` with `ENCRYPTION_KEY=key` and expects it to refuse with `scenario`.
async fn refuses_to_start(binary: &str, dsn: &str, key: &str, scenario: &str) {
    let p = GatewayProcess::spawn(
        binary,
        &[
            ("AUTH_KEY", AUTH_KEY),
            ("DATABASE_DSN", dsn),
            ("ENCRYPTION_KEY", key),
            ("HOST", "127.0.0.1"),
            ("PORT", &gateway_testkit::free_port().to_string()),
            (
                "ADMIN_LISTEN",
                &format!("127.0.0.1:{}", gateway_testkit::free_port()),
            ),
        ],
        &[],
    )
    .unwrap();
    let status = p.wait_exit(Duration::from_secs(30)).await.unwrap();
    let log = p.output_log();
    assert!(!status.success(), "{binary} started: {log}");
    assert!(log.contains(scenario), "{binary}: {log}");
    assert!(log.contains("migrate-keys"), "says how to fix it: {log}");
    assert!(
        key.is_empty() || !log.contains(key),
        "the key is never printed: {log}"
    );
}

async fn chat(gw: &Gateway) -> u16 {
    gw.post(
        "enc",
        "/v1/chat/completions",
        json!({"model": "m", "messages": []}),
    )
    .await
    .status()
    .as_u16()
}

async fn wait_logged(gw: &Gateway, at_least: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let v = gw
            .api(reqwest::Method::GET, "/api/logs?page_size=100", None)
            .await;
        let items = v["data"]["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= at_least {
            return items;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} logs, want {at_least}",
            items.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn encryption_flow(db: TestDb) {
    let mock = MockProvider::start().await.unwrap();
    let dsn = db.dsn();
    // A plaintext installation with traffic in its logs.
    let gw = Gateway::start_on(db, &[]).await;
    gw.log_at_once().await;
    gw.create_group("enc", "openai", &[(&mock.base_url(), 1)], &KEYS)
        .await;
    gw.create_group_with(
        "via-proxy",
        "openai",
        &[("https://api.openai.example", 1)],
        &[],
        json!({"config": {"proxy_url": format!("http://user:{PROXY_PASS}@127.0.0.1:3128")}}),
    )
    .await;
    for _ in 0..2 {
        assert_eq!(chat(&gw).await, 200);
    }
    wait_logged(&gw, 2).await;
    let (ok, out) = migrate(&dsn, &["--to", K1]).await;
    assert!(
        !ok && out.contains("gateway processes are using this database"),
        "{out}"
    );
    let db = gw.stop().await;
    let database = db.database().unwrap();
    let before = stored(&database).await;
    assert!(
        before.iter().any(|r| r.table == "request_logs"),
        "{before:?}"
    );

    // Encrypt. A second run changes nothing.
    let (ok, out) = migrate(&dsn, &["--to", K1]).await;
    assert!(ok, "{out}");
    assert!(out.contains("encrypted 2 keys,"), "{out}");
    assert!(out.contains("and 1 proxy URL passwords"), "{out}");
    let sealed = stored_proxy_url(&database).await;
    assert!(sealed.starts_with("http://user:enc1%3A"), "{sealed}");
    assert!(!sealed.contains(PROXY_PASS), "{sealed}");
    let after = stored(&database).await;
    assert_eq!(after.len(), before.len());
    for row in &after {
        assert!(row.value.starts_with("enc1:"), "{row:?}");
        assert!(KEYS.iter().all(|k| !row.value.contains(k)));
        assert!(
            before.iter().all(|b| b.hash != row.hash),
            "hash is keyed now"
        );
    }
    let (ok, out) = migrate(&dsn, &["--to", K1]).await;
    assert!(ok && out.contains("nothing to change"), "{out}");
    assert_eq!(stored(&database).await, after);
    assert_eq!(stored_proxy_url(&database).await, sealed);

    // Each mismatch refuses to start and says which.
    refuses_to_start("gateway-admin", &dsn, "", "key_not_configured").await;
    refuses_to_start("gateway-proxy", &dsn, "", "key_not_configured").await;
    refuses_to_start("gateway-admin", &dsn, K2, "key_mismatch").await;
    refuses_to_start("gateway-proxy", &dsn, K2, "key_mismatch").await;

    // A wrong --from changes nothing and says so.
    let (ok, out) = migrate(&dsn, &["--from", K2, "--to", K3]).await;
    assert!(
        !ok && out.contains("do not read back with the --from key"),
        "{out}"
    );
    assert!(out.contains("nothing was changed"), "{out}");
    assert_eq!(stored(&database).await, after);

    // With the right key everything works: upstream sees the real key, the API shows it, new log
    // rows are encrypted, the key filter finds them.
    let gw = Gateway::start_on(db, &[("ENCRYPTION_KEY", K1)]).await;
    gw.wait_served("enc", 2).await;
    mock.clear_scripts();
    assert_eq!(chat(&gw).await, 200);
    let sent = mock.requests();
    let auth = sent.last().and_then(|r| r.header("authorization")).unwrap();
    assert!(KEYS.iter().any(|k| auth == format!("Bearer {k}")), "{auth}");
    let status = gw
        .api(
            reqwest::Method::GET,
            "/api/dashboard/encryption-status",
            None,
        )
        .await;
    assert_eq!(status["data"]["has_mismatch"], false, "{status}");
    let groups = gw.api(reqwest::Method::GET, "/api/groups", None).await;
    let gid = groups["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "enc")
        .and_then(|g| g["id"].as_i64())
        .unwrap();
    let listed = gw.keys(gid).await;
    for k in KEYS {
        assert!(listed.contains_key(k), "{listed:?}");
    }
    let logs = wait_logged(&gw, 3).await;
    assert!(
        logs.iter()
            .all(|l| KEYS.contains(&l["key_value"].as_str().unwrap_or(""))),
        "{logs:?}"
    );
    let one = logs[0]["key_value"].as_str().unwrap().to_owned();
    let filtered = gw
        .api(
            reqwest::Method::GET,
            &format!("/api/logs?key_value={one}"),
            None,
        )
        .await;
    let found = filtered["data"]["items"].as_array().unwrap();
    assert!(!found.is_empty() && found.iter().all(|l| l["key_value"] == one.as_str()));
    let db = gw.stop().await;
    let rows = stored(&database).await;
    assert!(rows.len() > after.len());
    assert!(
        rows.iter().all(|r| r.value.starts_with("enc1:")),
        "{rows:?}"
    );

    // Rotate, then decrypt back to plaintext; each leaves the data readable with its key.
    let (ok, out) = migrate(&dsn, &["--from", K1, "--to", K3]).await;
    assert!(ok, "{out}");
    refuses_to_start("gateway-admin", &dsn, K1, "key_mismatch").await;
    let (ok, out) = migrate(&dsn, &["--from", K3]).await;
    assert!(ok && out.contains("decrypted 2 keys"), "{out}");
    refuses_to_start("gateway-admin", &dsn, K3, "data_not_encrypted").await;
    let plain = stored(&database).await;
    assert!(
        plain.iter().all(|r| KEYS.contains(&r.value.as_str())),
        "{plain:?}"
    );
    assert_eq!(
        stored_proxy_url(&database).await,
        format!("http://user:{PROXY_PASS}@127.0.0.1:3128"),
        "decrypted with the keys"
    );
    let gw = Gateway::start_on(db, &[]).await;
    gw.wait_served("enc", 2).await;
    assert_eq!(chat(&gw).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_encrypted_migrated_and_checked_on_sqlite() {
    encryption_flow(TestDb::sqlite().await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_encrypted_migrated_and_checked_on_postgres() {
    if let Some(db) = TestDb::postgres().await.unwrap() {
        encryption_flow(db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_encrypted_migrated_and_checked_on_mysql() {
    if let Some(db) = TestDb::mysql().await.unwrap() {
        encryption_flow(db).await;
    }
}

#[test]
fn migrate_keys_needs_a_direction_and_two_different_keys() {
    let run = |args: &[&str]| {
        let out =
            std::process::Command::new(gateway_testkit::binary_path("gateway-admin").unwrap())
                .arg("migrate-keys")
                .args(args)
                .env("AUTH_KEY", AUTH_KEY)
                .env("DATABASE_DSN", "/nonexistent/never-created.db")
                .output()
                .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = run(&[]);
    assert!(
        !ok && err.contains("--from") && err.contains("--to"),
        "{err}"
    );
    let (ok, err) = run(&["--from", K1, "--to", K1]);
    assert!(!ok && err.contains("the same key"), "{err}");
    assert!(!err.contains(K1), "{err}");
}
