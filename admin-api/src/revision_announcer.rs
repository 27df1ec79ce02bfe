//! Tells the proxies of a cluster that the configuration changed (docs/ARCHITECTURE.md "Reload contract", docs/cluster.md): a write
//! through the API nudges the announcer, which reads `config_revision` and publishes it on the
//! cluster channel, so every proxy rebuilds at once instead of at its next database poll.
//! Changes made by background work (tasks, key checks) are caught by reading the revision every
//! `RELOAD_POLL_INTERVAL_MS`. Without Redis nothing runs and the proxies poll the database.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use gateway_cluster::{ClusterLink, ClusterMessage};
use gateway_schema::Database;
use tokio::sync::Notify;

/// The API's side: "something may have changed".
#[derive(Debug, Default)]
pub struct RevisionAnnouncer {
    nudge: Notify,
}

impl RevisionAnnouncer {
    /// Look at the revision now.
    pub fn changed(&self) {
        self.nudge.notify_one();
    }
}

/// Middleware: a successful write (any method but GET, HEAD and OPTIONS) nudges the announcer.
pub async fn announce_writes(
    State(revisions): State<std::sync::Arc<RevisionAnnouncer>>,
    request: Request,
    next: Next,
) -> Response {
    let write = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let response = next.run(request).await;
    if write && response.status().is_success() {
        revisions.changed();
    }
    response
}

/// Publishes each new revision until the process ends. A revision that could not be published
/// (Redis away) is published again at the next look; proxies poll the database meanwhile.
pub async fn run_forever(
    db: Database,
    link: ClusterLink,
    announcer: Arc<RevisionAnnouncer>,
    interval: Duration,
) {
    let mut published: Option<i64> = None;
    loop {
        if let Ok(revision) = db.revision().await
            && published != Some(revision)
            && link
                .publish(&ClusterMessage::Revision { revision })
                .await
                .is_ok()
        {
            published = Some(revision);
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = announcer.nudge.notified() => {}
        }
    }
}
