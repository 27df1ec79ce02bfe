//! Storage tests on every backend: SQLite always, PostgreSQL and MySQL on the machine's servers
//! (`TEST_POSTGRES_DSN`, `TEST_MYSQL_DSN`; a missing server fails under `REQUIRE_SERVICES=1`).
//! Each run uses a fresh database.

#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a failed expectation fails the test"
)]

use chrono::Utc;
use gateway_schema::models::{GroupChangeset, KeyStatus, NewGroup};
use gateway_schema::{Database, KeyHealthUpdate, KeyListFilter, NewGroupKeys, run_migrations};
use gateway_testkit::test_db::TestDb;

fn new_group(name: &str) -> NewGroup {
    let now = Utc::now().naive_utc();
    NewGroup {
        name: name.to_owned(),
        display_name: "Display".to_owned(),
        proxy_keys: "pk".to_owned(),
        description: String::new(),
        group_type: "standard".to_owned(),
        upstreams: r#"[{"url":"https://api.openai.com","weight":1}]"#.to_owned(),
        validation_endpoint: String::new(),
        channel_type: "openai".to_owned(),
        sort: 0,
        test_model: "gpt-4o-mini".to_owned(),
        param_overrides: "{}".to_owned(),
        config: "{}".to_owned(),
        header_rules: "[]".to_owned(),
        model_redirect_rules: "{}".to_owned(),
        model_redirect_strict: false,
        created_at: now,
        updated_at: now,
        enabled: true,
    }
}

/// The whole storage contract, run against one backend.
async fn exercise(test_db: &TestDb) -> anyhow::Result<()> {
    let db: Database = test_db.database()?;
    let backend = test_db.backend();
    assert_eq!(db.backend(), backend);
    // Migrations already ran; running them again is a no-op.
    assert_eq!(
        run_migrations(&test_db.url()).await?,
        0,
        "{backend}: second migration run"
    );
    let r0 = db.revision().await?;
    assert_eq!(r0, 1, "{backend}: initial revision");

    // Settings: seed inserts missing rows only; update writes and bumps the revision.
    let defaults = vec![
        ("max_retries".to_owned(), "3".to_owned(), "d".to_owned()),
        ("proxy_keys".to_owned(), "a,b".to_owned(), "d".to_owned()),
    ];
    assert_eq!(db.seed_settings(&defaults).await?, 2);
    assert_eq!(db.seed_settings(&defaults).await?, 0);
    db.update_settings(&[
        ("max_retries".to_owned(), "5".to_owned()),
        ("new_key".to_owned(), "x".to_owned()),
    ])
    .await?;
    let settings = db.settings().await?;
    assert!(
        settings.contains(&("max_retries".to_owned(), "5".to_owned())),
        "{backend}: {settings:?}"
    );
    assert!(settings.contains(&("new_key".to_owned(), "x".to_owned())));
    let r1 = db.revision().await?;
    assert_eq!(r1, r0 + 2, "{backend}: seed and update each bump once");

    // Groups: create, duplicate name, update, ordering.
    let g = db.create_group(&new_group("alpha")).await?;
    assert_eq!(g.name, "alpha");
    assert_eq!(g.test_model, "gpt-4o-mini");
    let dup = db
        .create_group(&new_group("alpha"))
        .await
        .expect_err("duplicate name");
    assert!(dup.is_unique_violation(), "{backend}: {dup}");
    let b = db
        .create_group(&NewGroup {
            sort: -1,
            ..new_group("beta")
        })
        .await?;
    let names: Vec<String> = db.groups().await?.into_iter().map(|g| g.name).collect();
    assert_eq!(names, ["beta", "alpha"], "{backend}: sort ASC, id DESC");
    let changes = GroupChangeset {
        display_name: Some("Renamed".into()),
        model_redirect_strict: Some(true),
        ..Default::default()
    };
    let updated = db
        .update_group(g.id, &changes)
        .await?
        .expect("group exists");
    assert_eq!(updated.display_name, "Renamed");
    assert!(updated.model_redirect_strict);
    assert!(db.update_group(999_999, &changes).await?.is_none());
    let r2 = db.revision().await?;
    assert!(r2 > r1, "{backend}: group writes bump the revision");

    // Keys: 1,200 keys cross the 500-row chunks; pages, filters, hashes, active list.
    let keys: Vec<(String, String)> = (0..1200)
        .map(|i| (format!("sk-{i:05}"), format!("hash-{i:05}")))
        .collect();
    let written = db
        .insert_keys(&NewGroupKeys {
            group_id: g.id,
            keys,
        })
        .await?;
    assert_eq!(written, 1200);
    db.insert_keys(&NewGroupKeys {
        group_id: b.id,
        keys: vec![("sk-b".into(), "hash-b".into())],
    })
    .await?;
    assert_eq!(db.count_keys(g.id).await?, 1200);
    // Keys the group already has are skipped (the unique index decides), new ones inserted.
    let again = db
        .insert_keys(&NewGroupKeys {
            group_id: g.id,
            keys: vec![
                ("sk-00007".into(), "hash-00007".into()),
                ("sk-new".into(), "hash-new".into()),
            ],
        })
        .await?;
    assert_eq!(again, 1, "{backend}: only the new key is inserted");
    assert_eq!(
        db.delete_keys_by_hash(
            g.id,
            &["hash-new".to_owned()],
            gateway_schema::Announce::EachChunk
        )
        .await?,
        1
    );
    let (page, total) = db
        .list_keys(&KeyListFilter {
            group_id: g.id,
            page: 2,
            page_size: 15,
            ..Default::default()
        })
        .await?;
    assert_eq!(total, 1200);
    assert_eq!(page.len(), 15);
    assert!(
        page[0].id > page[14].id,
        "{backend}: id DESC within equal last_used_at"
    );
    let (one, total) = db
        .list_keys(&KeyListFilter {
            group_id: g.id,
            key_hash: Some("hash-00042".into()),
            page: 1,
            page_size: 15,
            ..Default::default()
        })
        .await?;
    assert_eq!(
        (one.len(), total, one[0].key_value.as_str()),
        (1, 1, "sk-00042")
    );
    let (none, total) = db
        .list_keys(&KeyListFilter {
            group_id: g.id,
            status: Some("invalid".into()),
            page: 1,
            page_size: 15,
            ..Default::default()
        })
        .await?;
    assert_eq!((none.len(), total), (0, 0));
    let active = db.routable_keys().await?;
    assert_eq!(active.len(), 1201);
    assert!(
        active.windows(2).all(|w| w[0].id < w[1].id),
        "{backend}: active keys in id order"
    );

    // Runtime health is saved in one batch without bumping the revision: an invalid key leaves
    // rotation, cooling keys stay in it, and ended cool-downs return to active.
    let revision = db.revision().await?;
    let now = chrono::Utc::now().naive_utc();
    let ids: Vec<i64> = active.iter().take(4).map(|k| k.id).collect();
    let update = |id, status, failure_count, cooldown_until| KeyHealthUpdate {
        id,
        status,
        failure_count,
        cooldown_until,
    };
    let changed = db
        .save_key_health(&[
            update(ids[0], KeyStatus::Invalid, 3, None),
            update(
                ids[1],
                KeyStatus::Cooling,
                0,
                Some(now - chrono::Duration::seconds(1)),
            ),
            update(
                ids[2],
                KeyStatus::Cooling,
                0,
                Some(now + chrono::Duration::hours(1)),
            ),
            update(ids[3], KeyStatus::Active, 2, None),
            update(i64::MAX, KeyStatus::Active, 0, None),
        ])
        .await?;
    assert_eq!(changed, 4, "{backend}: the unknown id changes nothing");
    assert_eq!(
        db.revision().await?,
        revision,
        "{backend}: health is not configuration"
    );
    let routable = db.routable_keys().await?;
    assert_eq!(
        routable.len(),
        1200,
        "{backend}: the invalid key left rotation"
    );
    let cooling = routable.iter().find(|k| k.id == ids[2]).unwrap();
    assert_eq!(cooling.status, "cooling");
    assert!(cooling.cooldown_until.is_some());
    assert_eq!(
        routable
            .iter()
            .find(|k| k.id == ids[3])
            .unwrap()
            .failure_count,
        2
    );
    assert_eq!(
        db.end_cooldowns(now).await?,
        1,
        "{backend}: only the ended cool-down"
    );
    let (cooling_rows, total) = db
        .list_keys(&KeyListFilter {
            group_id: g.id,
            status: Some("cooling".into()),
            page: 1,
            page_size: 15,
            ..Default::default()
        })
        .await?;
    assert_eq!((cooling_rows[0].id, total), (ids[2], 1));

    // Delete removes the group's keys; unknown id reports false.
    assert!(db.delete_group(g.id).await?);
    assert!(!db.delete_group(g.id).await?);
    assert_eq!(db.count_keys(g.id).await?, 0);
    assert_eq!(db.routable_keys().await?.len(), 1);
    assert!(db.group(g.id).await?.is_none());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_storage() -> anyhow::Result<()> {
    exercise(&TestDb::sqlite().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_storage() -> anyhow::Result<()> {
    match TestDb::postgres().await? {
        Some(db) => exercise(&db).await,
        None => Ok(()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_storage() -> anyhow::Result<()> {
    match TestDb::mysql().await? {
        Some(db) => exercise(&db).await,
        None => Ok(()),
    }
}

/// A request-log row holding `key_value` as a version before logs stored only a mask wrote it.
fn old_log_row(n: u8, key_value: &str) -> gateway_schema::models::RequestLog {
    gateway_schema::models::RequestLog {
        id: format!("00000000-0000-4000-8000-00000000000{n}"),
        timestamp: Utc::now().naive_utc(),
        group_id: 1,
        group_name: "g".to_owned(),
        parent_group_id: 0,
        parent_group_name: String::new(),
        key_value: key_value.to_owned(),
        key_hash: if key_value.is_empty() {
            String::new()
        } else {
            format!("hash-{n}")
        },
        model: "m".to_owned(),
        is_success: false,
        source_ip: "127.0.0.1".to_owned(),
        status_code: 500,
        request_path: "/proxy/g/v1/chat/completions".to_owned(),
        duration: 1,
        error_message: String::new(),
        user_agent: String::new(),
        request_type: "final".to_owned(),
        upstream_addr: "http://127.0.0.1:1".to_owned(),
        is_stream: false,
        request_body: String::new(),
        retry_index: 0,
        ttfb_ms: 1,
        input_tokens: 0,
        output_tokens: 0,
        total_tokens: 0,
    }
}

/// The migration that masks the keys of existing log rows: plaintext keys become
/// `first4****last4` (`*****` when 8 characters or fewer, as the proxy masks), sealed ones and
/// rows without a key stay as they are.
async fn old_log_keys_are_masked(test_db: &TestDb) -> anyhow::Result<()> {
    let db = test_db.database()?;
    let backend = test_db.backend();
    let stored = [
        "sk-old-plaintext-key-0001",
        "short",
        "enc1:c2VhbGVkLWJ5LWFuLW9sZGVyLXZlcnNpb24",
        "",
        "ключ-секретный",
    ];
    let rows = stored
        .iter()
        .zip(1..)
        .map(|(k, n)| old_log_row(n, k))
        .collect();
    db.write_request_logs(&gateway_schema::LogBatch::new(rows))
        .await?;
    // Forget the masking migration, as on a database that has not run it yet.
    test_db
        .execute("DELETE FROM __diesel_schema_migrations WHERE version = '20261207000009'")
        .await?;
    assert_eq!(run_migrations(&test_db.url()).await?, 1, "{backend}");
    let (logs, _) = db
        .list_logs(&gateway_schema::LogFilter::default(), 1, 100)
        .await?;
    let mut by_id: Vec<(String, String)> = logs.into_iter().map(|r| (r.id, r.key_value)).collect();
    by_id.sort();
    let values: Vec<&str> = by_id.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(
        values,
        [
            "sk-o****0001",
            "*****",
            "enc1:c2VhbGVkLWJ5LWFuLW9sZGVyLXZlcnNpb24",
            "",
            "ключ****тный"
        ],
        "{backend}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_old_log_keys_are_masked() -> anyhow::Result<()> {
    old_log_keys_are_masked(&TestDb::sqlite().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_old_log_keys_are_masked() -> anyhow::Result<()> {
    match TestDb::postgres().await? {
        Some(db) => old_log_keys_are_masked(&db).await,
        None => Ok(()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_old_log_keys_are_masked() -> anyhow::Result<()> {
    match TestDb::mysql().await? {
        Some(db) => old_log_keys_are_masked(&db).await,
        None => Ok(()),
    }
}
