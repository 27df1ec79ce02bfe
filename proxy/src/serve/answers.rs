//! The answers the gateway writes itself: its own errors in the provider's JSON shape, a
//! failed request's last failure, and complete responses with a known body.

use std::time::Duration;

use bytes::Bytes;
use gateway_core::ChannelType;
use pingora::Result;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

use super::outcome::Failure;
use crate::client_response_header::complete_header;
use crate::clock::now_ms;
use crate::error::GatewayError;
use crate::group_runtime::GroupRuntime;
use crate::metrics::Outcome;
use crate::request_context::RequestContext;
use crate::request_log::AttemptRecord;

/// Answers one of our own errors with a provider-shaped JSON body (and `Retry-After` when the
/// client should simply come back).
pub(super) async fn respond_error(
    session: &mut Session,
    error: &GatewayError,
    channel: Option<ChannelType>,
) -> Result<()> {
    let body = Bytes::from(error.body(channel));
    let mut header = response_header(
        error.status(),
        Some(http::HeaderValue::from_static("application/json")),
        body.len(),
    )?;
    if let Some(seconds) = error.retry_after() {
        header.insert_header(http::header::RETRY_AFTER, seconds.to_string())?;
    }
    send_complete(session, header, body).await
}

/// Answers one of our own errors from inside the attempts, noting it for the request log.
pub(super) async fn respond_gateway_error(
    session: &mut Session,
    ctx: &mut RequestContext,
    error: GatewayError,
    channel: Option<ChannelType>,
) -> Result<()> {
    ctx.outcome = Some(Outcome::GatewayError);
    let answered = respond_error(session, &error, channel).await;
    ctx.gateway_error = Some(error.to_string());
    answered
}

/// Sends the answer of a failed request.
pub(super) async fn respond_failure(
    session: &mut Session,
    failure: Failure,
    channel: Option<ChannelType>,
) -> Result<()> {
    match failure {
        Failure::Upstream { header, body } => {
            let out = complete_header(*header, body.len())?;
            send_complete(session, out, body).await
        }
        Failure::Gateway(error) => respond_error(session, &error, channel).await,
    }
}

/// Answers a request whose attempts all failed: the last failure, or our own error when no
/// attempt was made (no usable key).
pub(super) async fn respond_exhausted(
    session: &mut Session,
    ctx: &mut RequestContext,
    group: &GroupRuntime,
    last_failure: Option<Failure>,
) -> Result<()> {
    let channel = Some(group.channel);
    match last_failure {
        Some(Failure::Gateway(error)) => {
            if ctx.attempts > 0 && matches!(error, GatewayError::RateLimited { .. }) {
                // A rate limit met after failed attempts: the log's final record is the answer
                // the client got, the attempts become its retries.
                let text = error.to_string();
                if let Some(log) = ctx.log.as_mut() {
                    log.attempt(&AttemptRecord {
                        key: None,
                        upstream: "",
                        status: error.status(),
                        ok: false,
                        error: &text,
                        duration: ctx.started.elapsed(),
                        ttfb: Duration::ZERO,
                        stream: false,
                        usage: None,
                    });
                }
            }
            respond_gateway_error(session, ctx, error, channel).await
        }
        Some(failure) => {
            ctx.outcome = Some(Outcome::UpstreamError);
            respond_failure(session, failure, channel).await
        }
        None => {
            let now = now_ms();
            let error = no_attempt_error(&group.name, group.keys.all_cooling_until(now), now);
            respond_gateway_error(session, ctx, error, channel).await
        }
    }
}

/// Why no attempt could be made: every key is cooling (come back when the first one is
/// usable), or the group has no active key.
fn no_attempt_error(group: &str, cooling_until: Option<u64>, now: u64) -> GatewayError {
    match cooling_until {
        Some(until) => GatewayError::AllKeysCooling {
            group: group.to_owned(),
            retry_after_secs: until.saturating_sub(now).div_ceil(1000).max(1),
        },
        None => GatewayError::NoActiveKeys(group.to_owned()),
    }
}

/// Notes a request whose client went away (status 499, as nginx counts it) and makes sure the
/// connection is not reused. Nothing is charged to the key or the upstream.
pub(super) fn client_closed(session: &mut Session, group: &GroupRuntime, when: &str) {
    session.set_keepalive(None);
    tracing::info!(group = %group.name, status = 499, "client closed the request {when}; upstream request abandoned");
}

/// Answers a complete response with a known body.
pub async fn respond_raw(
    session: &mut Session,
    status: u16,
    content_type: Option<http::HeaderValue>,
    body: Bytes,
) -> Result<()> {
    let header = response_header(status, content_type, body.len())?;
    send_complete(session, header, body).await
}

fn response_header(
    status: u16,
    content_type: Option<http::HeaderValue>,
    len: usize,
) -> Result<ResponseHeader> {
    let mut header = ResponseHeader::build(status, Some(4))?;
    if let Some(ct) = content_type {
        header.insert_header(http::header::CONTENT_TYPE, ct)?;
    }
    header.insert_header(http::header::CONTENT_LENGTH, len.to_string())?;
    Ok(header)
}

/// Writes `header` and the whole `body`, ending the response.
pub(super) async fn send_complete(
    session: &mut Session,
    header: ResponseHeader,
    body: Bytes,
) -> Result<()> {
    session
        .write_response_header(Box::new(header), false)
        .await?;
    session.write_response_body(Some(body), true).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_attempt_cooling_keys_say_when_to_come_back() {
        let cooling = no_attempt_error("g", Some(10_001), 8_000);
        assert!(
            matches!(
                cooling,
                GatewayError::AllKeysCooling {
                    retry_after_secs: 3,
                    ..
                }
            ),
            "{cooling:?}"
        );
        let soon = no_attempt_error("g", Some(8_000), 8_000);
        assert!(matches!(
            soon,
            GatewayError::AllKeysCooling {
                retry_after_secs: 1,
                ..
            }
        ));
        assert!(
            matches!(no_attempt_error("g", None, 0), GatewayError::NoActiveKeys(g) if g == "g")
        );
    }
}
