//! Keys encrypted at rest, end to end on each backend: a plaintext installation encrypted with
//! `migrate-keys --to`, start-up refused for each kind of mismatch, traffic served and logged
//! (log rows hold a mask and follow their key's hash through every migration), `migrate-keys`
//! refused while a gateway runs and with a wrong `--from`, log rows that an earlier version
//! sealed masked by the next migration, then rotation and decryption back to plaintext.

use std::time::Duration;

use gateway_core::Secret;
use gateway_core::key_crypto::KeyCipher;
use gateway_core::secret::mask_key;
use gateway_schema::models::RequestLog;
use gateway_schema::{Database, LogBatch, LogFilter, StoredKey};
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
/// A key whose only trace is a log row an earlier version sealed (it was deleted since).
const DELETED: &str = "sk-enc-deleted-key-cccc3333";
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

/// Every request-log row, as stored.
async fn log_rows(db: &Database) -> Vec<RequestLog> {
    db.list_logs(&LogFilter::default(), 1, 10_000)
        .await
        .unwrap()
        .0
}

/// Every log row names its key by a mask of one of [`KEYS`] (or of `extra`), never by value.
fn assert_masked(rows: &[RequestLog], extra: &[&str]) {
    let masks: Vec<String> = KEYS.iter().chain(extra).map(|k| mask_key(k)).collect();
    for r in rows {
        assert!(masks.contains(&r.key_value), "{r:?}");
    }
}

/// Writes a log row as a version before this one did with `ENCRYPTION_KEY` set: the key sealed.
async fn write_sealed_log(db: &Database, like: &RequestLog, cipher: &KeyCipher, key: &str) {
    let mut row = like.clone();
    row.id = uuid::Uuid::now_v7().to_string();
    row.key_value = cipher.seal(key);
    row.key_hash = cipher.lookup_hash(key);
    db.write_request_logs(&LogBatch::new(vec![row]))
        .await
        .unwrap();
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
    // Log rows hold a mask, not the key: the stored keys are the two of `api_keys`.
    assert_eq!(before.len(), 2, "{before:?}");
    assert!(before.iter().all(|r| r.table == "api_keys"), "{before:?}");
    let plain_logs = log_rows(&database).await;
    assert!(plain_logs.len() >= 2, "{plain_logs:?}");
    assert_masked(&plain_logs, &[]);

    // Encrypt. The log rows follow their keys' new hashes. A second run changes nothing.
    let (ok, out) = migrate(&dsn, &["--to", K1]).await;
    assert!(ok, "{out}");
    let rehashed = format!("encrypted 2 keys, {} request-log rows", plain_logs.len());
    assert!(out.contains(&rehashed), "{out}");
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
    let logs = log_rows(&database).await;
    assert_masked(&logs, &[]);
    assert!(
        logs.iter()
            .all(|l| after.iter().any(|k| k.hash == l.key_hash)),
        "{logs:?}"
    );
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

    // With the right key everything works: upstream sees the real key, the API shows it for
    // the rows logged before and after encryption, the key filter finds them all.
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
    assert_eq!(
        found.len(),
        logs.iter()
            .filter(|l| l["key_value"] == one.as_str())
            .count(),
        "{filtered}"
    );
    assert!(found.iter().all(|l| l["key_value"] == one.as_str()));
    let db = gw.stop().await;
    assert_eq!(stored(&database).await, after, "logs add no stored key");
    let logs = log_rows(&database).await;
    assert_masked(&logs, &[]);

    // Rows an earlier version wrote with encryption on hold the key sealed, also of a key
    // deleted since: the next migration masks them.
    let k1 = KeyCipher::from_config(Some(&Secret::new(K1.to_owned()))).unwrap();
    write_sealed_log(&database, &logs[0], &k1, KEYS[0]).await;
    write_sealed_log(&database, &logs[0], &k1, DELETED).await;
    let legacy = stored(&database).await;
    assert_eq!(legacy.len(), after.len() + 2, "{legacy:?}");
    // Rotate, then decrypt back to plaintext; each leaves the data readable with its key.
    let (ok, out) = migrate(&dsn, &["--from", K1, "--to", K3]).await;
    assert!(ok, "{out}");
    let rotated = logs.len() + 2;
    assert!(
        out.contains(&format!("encrypted 2 keys, {rotated} request-log rows")),
        "{out}"
    );
    assert_eq!(
        stored(&database).await.len(),
        after.len(),
        "sealed logs masked"
    );
    assert_masked(&log_rows(&database).await, &[DELETED]);
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

    // The API shows each log's key while the key exists, and a mask once it is deleted; the CSV
    // export too.
    let plain = KeyCipher::plaintext();
    let hashes = [plain.lookup_hash(KEYS[0]), plain.lookup_hash(KEYS[1])];
    // What each row shows, by the key its hash names (`None`: a key that is not in `KEYS`).
    let shown = |logs: &[Value]| -> Vec<(Option<usize>, String)> {
        logs.iter()
            .map(|l| {
                let key = hashes.iter().position(|h| l["key_hash"] == h.as_str());
                (key, l["key_value"].as_str().unwrap_or("").to_owned())
            })
            .collect()
    };
    let logs = wait_logged(&gw, rotated + 1).await;
    for (key, value) in shown(&logs) {
        match key {
            Some(i) => assert_eq!(value, KEYS[i], "{logs:?}"),
            None => assert_eq!(value, mask_key(DELETED), "{logs:?}"),
        }
    }
    let deleted = gw
        .api(
            reqwest::Method::POST,
            "/api/keys/delete-multiple",
            Some(json!({"group_id": gid, "keys_text": KEYS[1]})),
        )
        .await;
    assert_eq!(deleted["code"], 0, "{deleted}");
    let logs = wait_logged(&gw, rotated + 1).await;
    let rows = shown(&logs);
    assert!(rows.iter().any(|(k, _)| *k == Some(1)), "{logs:?}");
    for (key, value) in rows {
        match key {
            Some(0) => assert_eq!(value, KEYS[0], "{logs:?}"),
            Some(_) => assert_eq!(value, mask_key(KEYS[1]), "{logs:?}"),
            None => assert_eq!(value, mask_key(DELETED), "{logs:?}"),
        }
    }
    let csv = gw
        .client
        .get(gw.url("/api/logs/export"))
        .bearer_auth(AUTH_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.contains(&format!("{},enc,", KEYS[0])), "{csv}");
    assert!(
        csv.contains(&format!("{},enc,", mask_key(KEYS[1]))),
        "{csv}"
    );
    assert!(
        csv.contains(&format!("{},enc,", mask_key(DELETED))),
        "{csv}"
    );
    assert!(!csv.contains(KEYS[1]) && !csv.contains(DELETED), "{csv}");
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
