//! `gateway-admin migrate-keys`: encrypts (`--to`), decrypts (`--from`) or re-encrypts (`--from`
//! `--to`) every stored upstream key in `api_keys` (re-hashing the request logs that name them,
//! and masking the sealed keys of old log rows), and the passwords of the stored outbound proxy
//! URLs. Refuses while a gateway
//! process uses the database, verifies every row against the source key before changing anything,
//! and writes in one transaction, so an interruption leaves the data as it was.

use std::io::Write as _;

use anyhow::Context as _;
use chrono::Utc;
use gateway_core::key_crypto::KeyCipher;
use gateway_core::outbound_proxy;
use gateway_core::secret::mask_key;
use gateway_core::{GatewayConfig, Secret};
use gateway_schema::{Database, DatabaseUrl, PROCESS_HEARTBEAT, StoredKey, run_migrations};

/// Arguments of `migrate-keys`. The values may come from the environment instead of the command
/// line, where other users of the machine could read them.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("direction").required(true).multiple(true).args(["from", "to"])))]
pub struct MigrateArgs {
    /// The key the data is encrypted with now (omit when it is plaintext).
    #[arg(
        long,
        env = "MIGRATE_KEYS_FROM",
        hide_env_values = true,
        value_name = "OLD"
    )]
    from: Option<Secret<String>>,
    /// The key to encrypt with (omit to store plaintext).
    #[arg(
        long,
        env = "MIGRATE_KEYS_TO",
        hide_env_values = true,
        value_name = "NEW"
    )]
    to: Option<Secret<String>>,
}

/// What the verification pass found.
#[derive(Debug, Default)]
struct Survey {
    rows: usize,
    /// Rows that read back with the source key.
    source: usize,
    /// Rows that already read back with the target key.
    target: usize,
    /// The first row that reads back with neither.
    first_unreadable: Option<String>,
}

/// Runs the command.
pub async fn run(config: &GatewayConfig, args: &MigrateArgs) -> anyhow::Result<()> {
    let text = |k: &Option<Secret<String>>| k.as_ref().filter(|k| !k.is_empty()).cloned();
    let (from, to) = (text(&args.from), text(&args.to));
    if from.is_none() && to.is_none() {
        anyhow::bail!("give --from OLD, --to NEW, or both (the values must not be empty)");
    }
    if from.is_some() && from == to {
        anyhow::bail!("--from and --to are the same key; nothing to change");
    }
    let url = DatabaseUrl::parse(config.database_dsn.expose()).context("DATABASE_DSN")?;
    run_migrations(&url)
        .await
        .context("cannot migrate the database")?;
    let db = Database::connect(&url, 2).context("database pool")?;
    refuse_if_in_use(&db).await?;
    let derive = |k: Option<&Secret<String>>| {
        let k = k.cloned();
        tokio::task::spawn_blocking(move || KeyCipher::from_config(k.as_ref()))
    };
    let source = derive(from.as_ref()).await??;
    let target = derive(to.as_ref()).await??;
    let survey = survey(&db, &source, &target).await?;
    let mut out = std::io::stdout().lock();
    if survey.rows == 0 || survey.target == survey.rows {
        let proxies = reseal_proxy_urls(&db, &source, &target).await?;
        if survey.rows == 0 {
            writeln!(out, "no stored keys: nothing to change")?;
        } else {
            writeln!(
                out,
                "all {} stored keys already read back with {}: nothing to change",
                survey.rows,
                describe(&target, "--to")
            )?;
        }
        if proxies > 0 {
            writeln!(out, "re-sealed {proxies} proxy URL passwords")?;
        }
        return Ok(());
    }
    if survey.source < survey.rows {
        let unreadable = survey.rows - survey.source;
        anyhow::bail!(
            "{unreadable} of {} stored keys do not read back with {} (first: {}){}; nothing was \
             changed",
            survey.rows,
            describe(&source, "--from"),
            survey.first_unreadable.as_deref().unwrap_or("?"),
            if survey.source == 0 {
                " — is --from the key the data is encrypted with?"
            } else {
                ""
            }
        );
    }
    let counts = db
        .rewrite_stored_keys(|row| {
            let key = readable(&source, row)
                .ok_or_else(|| format!("{} changed during the migration", locate(row)))?;
            // A log row written before logs stored only a mask is masked now.
            let value = if row.table == "request_logs" {
                mask_key(&key)
            } else {
                target.seal(&key)
            };
            Ok((value, target.lookup_hash(&key)))
        })
        .await
        .context("the migration was rolled back, nothing was changed")?;
    let proxies = reseal_proxy_urls(&db, &source, &target).await?;
    writeln!(
        out,
        "{} {} keys, {} request-log rows and {proxies} proxy URL passwords.\nNow start the gateway with {}.",
        if target.is_encrypting() {
            "encrypted"
        } else {
            "decrypted"
        },
        counts.keys,
        counts.logs,
        if target.is_encrypting() {
            "ENCRYPTION_KEY set to the --to value"
        } else {
            "ENCRYPTION_KEY unset"
        }
    )?;
    Ok(())
}

/// Seals the passwords of the stored proxy URLs (the `proxy_url` setting and each group's
/// `config.proxy_url`) with `target` instead of `source`; returns how many it rewrote. A password
/// stored in plaintext (before encryption was turned on) is sealed too.
async fn reseal_proxy_urls(
    db: &Database,
    source: &KeyCipher,
    target: &KeyCipher,
) -> anyhow::Result<usize> {
    let reseal = |stored: &str, whose: &str| -> anyhow::Result<Option<String>> {
        let opened = match outbound_proxy::open_setting(stored, source) {
            Ok(opened) => opened,
            // Already sealed with the target key (a second run): nothing to do.
            Err(_) if outbound_proxy::open_setting(stored, target).is_ok() => return Ok(None),
            Err(e) => anyhow::bail!("{whose}: {e}; is --from the key it is sealed with?"),
        };
        Ok(opened
            .filter(|url| url.password().is_some())
            .map(|url| outbound_proxy::seal_setting(&url.expose(), target))
            .filter(|resealed| resealed != stored))
    };
    let mut rewritten = 0;
    if let Some((_, stored)) = db
        .settings()
        .await?
        .into_iter()
        .find(|(k, _)| k == "proxy_url")
        && let Some(sealed) = reseal(&stored, "the proxy_url setting")?
    {
        db.update_settings(&[("proxy_url".to_owned(), sealed)])
            .await?;
        rewritten += 1;
    }
    for group in db.groups().await? {
        let Ok(mut config) = serde_json::from_str::<serde_json::Value>(&group.config) else {
            continue;
        };
        let Some(stored) = config.get("proxy_url").and_then(|v| v.as_str()) else {
            continue;
        };
        let Some(sealed) = reseal(stored, &format!("group '{}'", group.name))? else {
            continue;
        };
        config["proxy_url"] = serde_json::Value::String(sealed);
        let changes = gateway_schema::models::GroupChangeset {
            config: Some(config.to_string()),
            updated_at: Some(Utc::now().naive_utc()),
            ..Default::default()
        };
        db.update_group(group.id, &changes).await?;
        rewritten += 1;
    }
    Ok(rewritten)
}

/// Fails when a gateway process has said it is running within the last three heartbeats.
async fn refuse_if_in_use(db: &Database) -> anyhow::Result<()> {
    let since = Utc::now().naive_utc() - PROCESS_HEARTBEAT * 3;
    let live = db
        .live_processes(since)
        .await
        .context("cannot read gateway_processes")?;
    if live.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = live
        .iter()
        .map(|p| format!("{} (pid {} on {})", p.role, p.pid, p.hostname))
        .collect();
    anyhow::bail!(
        "gateway processes are using this database: {}; stop them first (a process that died \
         without stopping is forgotten after {} s)",
        names.join(", "),
        (PROCESS_HEARTBEAT * 3).as_secs()
    )
}

/// Reads every stored key once, without writing.
async fn survey(db: &Database, source: &KeyCipher, target: &KeyCipher) -> anyhow::Result<Survey> {
    let mut s = Survey::default();
    let mut after: Option<StoredKey> = None;
    loop {
        let page = db
            .stored_keys_page(after.as_ref())
            .await
            .context("cannot read stored keys")?;
        for row in &page {
            s.rows += 1;
            if readable(source, row).is_some() {
                s.source += 1;
            } else if s.first_unreadable.is_none() {
                s.first_unreadable = Some(locate(row));
            }
            if readable(target, row).is_some() {
                s.target += 1;
            }
        }
        match page.into_iter().last() {
            Some(last) => after = Some(last),
            None => return Ok(s),
        }
    }
}

/// The key a row holds, when `cipher` opens it and its hash matches.
fn readable(cipher: &KeyCipher, row: &StoredKey) -> Option<String> {
    let key = cipher.open(&row.value).ok()?;
    (row.hash.is_empty() || cipher.lookup_hash(&key) == row.hash).then_some(key)
}

fn locate(row: &StoredKey) -> String {
    format!("{} id {}", row.table, row.id)
}

fn describe(cipher: &KeyCipher, flag: &str) -> String {
    if cipher.is_encrypting() {
        format!("the {flag} key")
    } else {
        "no key (plaintext)".to_owned()
    }
}
