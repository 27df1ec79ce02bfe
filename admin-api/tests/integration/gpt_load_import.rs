//! `import-gpt-load` against GPT-Load-shaped databases built on each backend (GORM's column
//! types: MySQL's unsigned ids, `json` and `tinyint` booleans; PostgreSQL's `json` and
//! `boolean`; SQLite's loose types), with and without GPT-Load's key encryption.

use gateway_admin::gpt_load_import::{GptLoadCipher, ImportReport, import};
use gateway_core::key_crypto::KeyCipher;
use gateway_schema::Database;
use gateway_testkit::{GatewayProcess, TestDb};

/// GPT-Load's `ENCRYPTION_KEY` in the encrypted scenarios.
const GPT_LOAD_KEY: &str = "gpt-load-secret-key";

/// `(source group id, key, status, notes)` of the source database.
const KEYS: [(i64, &str, &str, &str); 6] = [
    (1, "sk-main-1", "active", "primary"),
    (1, "sk-main-2", "invalid", ""),
    (2, "AIza-gemini-1", "active", ""),
    (4, "sk-backup-1", "active", ""),
    // The same key in a second group: a key of each group (the dry run counts it twice too).
    (4, "sk-main-1", "active", ""),
    // A key of the aggregate itself (GPT-Load never has one): left out.
    (3, "sk-stray", "active", ""),
];

fn schema(backend: &str) -> String {
    let (id, json, flag, time, q) = match backend {
        "mysql" => (
            "BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY",
            "JSON",
            "BOOLEAN DEFAULT false",
            "DATETIME(3)",
            '`',
        ),
        "postgres" => (
            "BIGSERIAL PRIMARY KEY",
            "JSON",
            "BOOLEAN DEFAULT false",
            "TIMESTAMPTZ",
            '"',
        ),
        _ => (
            "INTEGER PRIMARY KEY AUTOINCREMENT",
            "JSON",
            "NUMERIC DEFAULT false",
            "DATETIME",
            '"',
        ),
    };
    let uint = if backend == "mysql" {
        "BIGINT UNSIGNED"
    } else {
        "BIGINT"
    };
    format!(
        "CREATE TABLE system_settings (id {id}, setting_key VARCHAR(255) NOT NULL UNIQUE,
            setting_value TEXT NOT NULL, description VARCHAR(512), created_at {time}, updated_at {time});
         CREATE TABLE {q}groups{q} (id {id}, name VARCHAR(255) NOT NULL UNIQUE, display_name VARCHAR(255),
            proxy_keys TEXT, description VARCHAR(512), group_type VARCHAR(50) DEFAULT 'standard',
            upstreams {json} NOT NULL, validation_endpoint VARCHAR(255), channel_type VARCHAR(50) NOT NULL,
            sort INT DEFAULT 0, test_model VARCHAR(255) NOT NULL, param_overrides {json}, config {json},
            header_rules {json}, model_redirect_rules {json}, model_redirect_strict {flag},
            last_validated_at {time} NULL, created_at {time}, updated_at {time});
         CREATE TABLE group_sub_groups (id {id}, group_id {uint} NOT NULL, sub_group_id {uint} NOT NULL,
            weight INT DEFAULT 0, created_at {time}, updated_at {time});
         CREATE TABLE api_keys (id {id}, key_value TEXT NOT NULL, key_hash VARCHAR(128), group_id {uint} NOT NULL,
            status VARCHAR(50) NOT NULL DEFAULT 'active', notes VARCHAR(255) DEFAULT '',
            request_count BIGINT NOT NULL DEFAULT 0, failure_count BIGINT NOT NULL DEFAULT 0,
            last_used_at {time} NULL, created_at {time}, updated_at {time})"
    )
}

fn data(backend: &str, cipher: &GptLoadCipher) -> String {
    let q = if backend == "mysql" { '`' } else { '"' };
    let (yes, no) = if backend == "postgres" {
        ("true", "false")
    } else {
        ("1", "0")
    };
    let mut sql = format!(
        "INSERT INTO system_settings (setting_key, setting_value) VALUES
            ('max_retries', '5'), ('blacklist_threshold', '2'), ('request_timeout', '300'),
            ('app_url', 'http://gpt-load.example:3001'), ('proxy_keys', 'sk-old-proxy'),
            ('some_removed_setting', 'x'), ('request_log_retention_days', 'lots');
         INSERT INTO {q}groups{q} (id, name, display_name, proxy_keys, description, group_type, upstreams,
            validation_endpoint, channel_type, sort, test_model, param_overrides, config, header_rules,
            model_redirect_rules, model_redirect_strict) VALUES
          (1, 'openai-main', 'OpenAI main', 'sk-g1, sk-g2', 'the main pool', 'standard',
           '[{{\"url\":\"https://api.openai.com\",\"weight\":3}},{{\"url\":\"https://eu.example.com/v1\",\"weight\":1}}]',
           '', 'openai', 2, 'gpt-4o-mini', '{{\"temperature\":0.5}}', '{{\"max_retries\":2}}',
           '[{{\"key\":\"X-Team\",\"value\":\"blue\",\"action\":\"set\"}}]', '{{\"gpt-4\":\"gpt-4o\"}}', {yes}),
          (2, 'gemini', '', '', '', 'standard',
           '[{{\"url\":\"https://generativelanguage.googleapis.com\",\"weight\":1}}]',
           '', 'gemini', 1, 'gemini-2.0-flash', NULL, '{{}}', '[]', NULL, {no}),
          (3, 'all-openai', 'All', 'sk-agg', '', 'aggregate', '[]', '', 'openai', 0, '-', '{{}}', '{{}}', '[]', '{{}}', {no}),
          (4, 'openai-backup', '', '', '', 'standard', '[{{\"url\":\"https://backup.example.com\",\"weight\":1}}]',
           '', 'openai', 3, 'gpt-4o-mini', '{{}}', '{{}}', '[]', '{{}}', {no});
         INSERT INTO group_sub_groups (group_id, sub_group_id, weight) VALUES (3, 1, 10), (3, 4, 5);"
    );
    for (i, (group, key, status, notes)) in KEYS.iter().enumerate() {
        let nonce = [u8::try_from(i).unwrap_or(0); 12];
        sql.push_str(&format!(
            "INSERT INTO api_keys (key_value, key_hash, group_id, status, notes) VALUES ('{}', 'h{i}', {group}, '{status}', '{notes}');",
            cipher.seal(key, nonce)
        ));
    }
    sql
}

async fn source(backend: &str, encrypted: bool) -> Option<TestDb> {
    let db = TestDb::empty(backend).await.unwrap()?;
    let cipher = GptLoadCipher::new(encrypted.then_some(GPT_LOAD_KEY));
    db.execute(&schema(backend)).await.unwrap();
    db.execute(&data(backend, &cipher)).await.unwrap();
    Some(db)
}

/// The bytes of a SQLite source file (with its `-wal`/`-journal` companions, if any); empty
/// for a server database.
fn source_file(db: &TestDb) -> Vec<u8> {
    let dsn = db.dsn();
    if dsn.contains("://") {
        return Vec::new();
    }
    let mut bytes = std::fs::read(&dsn).unwrap();
    for companion in ["-wal", "-shm", "-journal"] {
        let path = format!("{dsn}{companion}");
        assert!(
            !std::path::Path::new(&path).exists(),
            "{path} was created next to the source"
        );
    }
    bytes.push(0);
    bytes
}

async fn run(source: &Database, target: &Database, key: Option<&str>, dry: bool) -> ImportReport {
    import(
        source,
        target,
        &KeyCipher::plaintext(),
        &GptLoadCipher::new(key),
        dry,
    )
    .await
    .unwrap()
}

async fn scenario(backend: &str, encrypted: bool) {
    let Some(src) = source(backend, encrypted).await else {
        return;
    };
    // Opened as the command opens it: read-only.
    let source = Database::connect_read_only(&src.url(), 2).unwrap();
    let file_before = source_file(&src);
    let target_db = TestDb::sqlite().await.unwrap();
    let target = target_db.database().unwrap();
    let key = encrypted.then_some(GPT_LOAD_KEY);
    if encrypted {
        let err = import(
            &source,
            &target,
            &KeyCipher::plaintext(),
            &GptLoadCipher::new(None),
            true,
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("--encryption-key"), "{err}");
    }

    // Dry run: the full plan, nothing written.
    let plan = run(&source, &target, key, true).await;
    assert_eq!(
        plan.groups_created,
        ["openai-main", "gemini", "all-openai", "openai-backup"]
    );
    assert_eq!(
        (plan.keys_added, plan.keys_invalid, plan.members_changed),
        (5, 1, 2)
    );
    assert!(plan.settings_changed.contains(&"max_retries".to_owned()));
    assert!(
        plan.settings_skipped
            .iter()
            .any(|s| s.starts_with("some_removed_setting")),
        "{plan}"
    );
    assert!(
        plan.settings_skipped
            .iter()
            .any(|s| s.starts_with("request_log_retention_days")),
        "an invalid value is reported, not imported: {plan}"
    );
    assert!(
        target.groups().await.unwrap().is_empty(),
        "a dry run writes nothing"
    );
    assert_eq!(
        source_file(&src),
        file_before,
        "the source is unchanged by a dry run"
    );

    // The import.
    let done = run(&source, &target, key, false).await;
    assert_eq!(done, plan, "the run does what the dry run said");
    assert_eq!(
        source_file(&src),
        file_before,
        "the source is unchanged by an import"
    );
    let refused = source
        .seed_settings(&[("x".to_owned(), "1".to_owned(), String::new())])
        .await;
    assert!(
        refused.is_err(),
        "{backend}: the source connection cannot write"
    );
    let groups = target.groups().await.unwrap();
    let main = groups.iter().find(|g| g.name == "openai-main").unwrap();
    assert_eq!(main.display_name, "OpenAI main");
    assert_eq!(main.proxy_keys, "sk-g1,sk-g2");
    assert!(main.model_redirect_strict);
    assert_eq!(main.sort, 2);
    let json = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
    assert_eq!(json(&main.config), serde_json::json!({"max_retries": 2}));
    assert_eq!(
        json(&main.model_redirect_rules),
        serde_json::json!({"gpt-4": "gpt-4o"})
    );
    assert_eq!(
        json(&main.param_overrides),
        serde_json::json!({"temperature": 0.5})
    );
    assert_eq!(json(&main.header_rules)[0]["key"], "X-Team");
    assert_eq!(json(&main.upstreams)[1]["url"], "https://eu.example.com/v1");
    let agg = groups.iter().find(|g| g.name == "all-openai").unwrap();
    assert_eq!(agg.group_type, "aggregate");
    let members: Vec<(String, i32)> = target
        .sub_groups(agg.id)
        .await
        .unwrap()
        .into_iter()
        .map(|(g, w)| (g.name, w))
        .collect();
    assert_eq!(
        members,
        [
            ("openai-main".to_owned(), 10),
            ("openai-backup".to_owned(), 5)
        ]
    );
    let cipher = KeyCipher::plaintext();
    let rows = target
        .keys_by_hash(
            main.id,
            &[
                cipher.lookup_hash("sk-main-1"),
                cipher.lookup_hash("sk-main-2"),
            ],
        )
        .await
        .unwrap();
    let state = |k: &str| {
        rows.iter()
            .find(|r| r.key_value == k)
            .map(|r| r.status.clone())
    };
    assert_eq!(
        state("sk-main-1").as_deref(),
        Some("active"),
        "opened and stored"
    );
    assert_eq!(
        state("sk-main-2").as_deref(),
        Some("invalid"),
        "states kept"
    );
    let settings: std::collections::HashMap<String, String> =
        target.settings().await.unwrap().into_iter().collect();
    assert_eq!(settings["max_retries"], "5");
    assert_eq!(settings["app_url"], "http://gpt-load.example:3001");

    // Again: nothing changes.
    let again = run(&source, &target, key, false).await;
    assert!(again.is_empty(), "{again}");
    assert_eq!((again.groups_unchanged, again.keys_present), (4, 5));

    if encrypted {
        // A wrong key opens nothing; nothing of it is stored.
        let fresh = TestDb::sqlite().await.unwrap();
        let report = run(
            &source,
            &fresh.database().unwrap(),
            Some("not-the-key"),
            false,
        )
        .await;
        assert_eq!((report.keys_added, report.keys_unreadable), (0, 5));
        assert!(report.to_string().contains("--encryption-key"), "{report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_a_gpt_load_sqlite_database_with_and_without_encryption() {
    scenario("sqlite", false).await;
    scenario("sqlite", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_a_gpt_load_postgres_database_with_and_without_encryption() {
    scenario("postgres", false).await;
    scenario("postgres", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_a_gpt_load_mysql_database_with_and_without_encryption() {
    scenario("mysql", false).await;
    scenario("mysql", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_reports_a_dry_run_and_imports() {
    let src = source("sqlite", true).await.unwrap();
    let target = TestDb::sqlite().await.unwrap();
    let target_dsn = target.dsn();
    let source_dsn = src.dsn();
    let env = [
        ("AUTH_KEY", "import-test-key-0123456789"),
        ("DATABASE_DSN", target_dsn.as_str()),
        ("GPT_LOAD_ENCRYPTION_KEY", GPT_LOAD_KEY),
    ];
    let file_before = source_file(&src);
    assert_eq!(
        &file_before[18..20],
        &[1, 1],
        "GPT-Load's file is in rollback-journal mode"
    );
    let dry = GatewayProcess::spawn(
        "gateway-admin",
        &env,
        &["import-gpt-load", "--dsn", &source_dsn, "--dry-run"],
    )
    .unwrap();
    let status = dry
        .wait_exit(std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let log = dry.output_log();
    assert!(status.success(), "{log}");
    assert!(log.contains("dry run, nothing written"), "{log}");
    assert!(log.contains("keys: 5 added (1 of them invalid"), "{log}");
    assert!(!log.contains(GPT_LOAD_KEY), "the key is never printed");
    let real = GatewayProcess::spawn(
        "gateway-admin",
        &env,
        &["import-gpt-load", "--dsn", &source_dsn],
    )
    .unwrap();
    assert!(
        real.wait_exit(std::time::Duration::from_secs(60))
            .await
            .unwrap()
            .success()
    );
    assert_eq!(target.database().unwrap().groups().await.unwrap().len(), 4);
    assert_eq!(
        source_file(&src),
        file_before,
        "neither the dry run nor the import changed the source file"
    );
}
