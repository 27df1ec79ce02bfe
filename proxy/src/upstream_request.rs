//! `UpstreamRequest`: builds the request sent to the provider: upstream URL (base path + the
//! client's path + the client's query without `key`), client headers minus hop-by-hop and
//! credential headers, the group's header rules (`request_rewrite`), and the upstream key
//! injected the way the channel's provider expects it. The only place a key is written into a
//! request; elsewhere the plaintext is read only to mask it (answers, errors, request logs).

use gateway_core::ChannelType;
use gateway_core::channel::{
    ANTHROPIC_DEFAULT_VERSION, CLIENT_CREDENTIAL_HEADERS, CredentialPlacement,
};
use http::header::HeaderName;
use pingora::http::RequestHeader;

use crate::key_ring::PoolKey;
use crate::request_rewrite::{HeaderAction, HeaderRule, HeaderVariables};
use crate::upstream_selection::Upstream;

/// Headers that belong to one connection and are never forwarded (RFC 9110 §7.6.1), plus the
/// ones we recompute (`host`, `content-length`) or answer ourselves (`expect`), and
/// `accept-encoding`: responses come back uncompressed, so the gateway can read token usage,
/// redact keys in error bodies and rewrite model lists (the client still gets what it can read).
const DROPPED_HEADERS: [&str; 12] = [
    "accept-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "expect",
];

/// What one attempt sends upstream, besides the body.
pub struct UpstreamRequest<'a> {
    /// Provider API of the group.
    pub channel: ChannelType,
    /// The upstream picked for this attempt.
    pub upstream: &'a Upstream,
    /// The key picked for this attempt.
    pub key: &'a PoolKey,
    /// The client's path after `/proxy/{group}` (raw).
    pub rest: &'a str,
    /// The client's query without `key` (raw).
    pub query: Option<&'a str>,
    /// Length of the body that will be written.
    pub body_len: usize,
    /// The group's header rules, applied after the key is injected.
    pub header_rules: &'a [HeaderRule],
    /// `${GROUP_NAME}` of the header rules.
    pub group_name: &'a str,
    /// `${CLIENT_IP}` of the header rules.
    pub client_ip: &'a str,
    /// Unix milliseconds of this attempt (`${TIMESTAMP_MS}`, `${TIMESTAMP_S}`).
    pub now_ms: u64,
}

impl UpstreamRequest<'_> {
    /// The upstream request header built from the client's.
    pub fn build(&self, client: &RequestHeader) -> pingora::Result<RequestHeader> {
        let forward = self.upstream.route.as_ref().filter(|r| r.forward);
        let (path, placement) = self.target(forward.is_some());
        let mut req = RequestHeader::build_no_case(
            client.method.clone(),
            path.as_bytes(),
            Some(client.headers.len() + 4),
        )?;
        let connection_named: Vec<String> = client
            .headers
            .get_all(http::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
            .collect();
        for (name, value) in &client.headers {
            let n = name.as_str();
            if DROPPED_HEADERS.contains(&n)
                || CLIENT_CREDENTIAL_HEADERS.contains(&n)
                || connection_named.iter().any(|c| c == n)
            {
                continue;
            }
            req.append_header(name.clone(), value.clone())?;
        }
        req.insert_header(http::header::HOST, self.upstream.host_header.as_str())?;
        if let Some(auth) = forward.and_then(|r| r.proxy.basic_auth()) {
            req.insert_header(http::header::PROXY_AUTHORIZATION, auth)?;
        }
        req.insert_header(http::header::CONTENT_LENGTH, self.body_len.to_string())?;
        let key = self.key.value.expose().as_str();
        inject_key(&mut req, placement, key)?;
        self.apply_header_rules(&mut req, key)?;
        Ok(req)
    }

    /// The request target (absolute form for a forwarding proxy, RFC 9112 §3.2.2), with the
    /// key in the query when the channel carries it there, and where the key goes.
    fn target(&self, absolute: bool) -> (String, CredentialPlacement) {
        let mut path = String::with_capacity(self.upstream.base_path.len() + self.rest.len() + 64);
        if absolute {
            path.push_str("http://");
            path.push_str(&self.upstream.host_header);
        }
        let origin = path.len();
        path.push_str(&self.upstream.base_path);
        path.push_str(self.rest);
        if path.len() == origin {
            path.push('/');
        }
        let placement = self.channel.credential_placement(&path[origin..]);
        let mut query = self.query.map(str::to_owned);
        if placement == CredentialPlacement::QueryKey {
            let key: String =
                form_urlencoded::byte_serialize(self.key.value.expose().as_bytes()).collect();
            let q = query.get_or_insert_with(String::new);
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str("key=");
            q.push_str(&key);
        }
        if let Some(q) = &query {
            path.push('?');
            path.push_str(q);
        }
        (path, placement)
    }

    /// The group's header rules, with their variables (`${CLIENT_IP}`, `${GROUP_NAME}`,
    /// `${API_KEY}`, the timestamps) filled in.
    fn apply_header_rules(&self, req: &mut RequestHeader, key: &str) -> pingora::Result<()> {
        if self.header_rules.is_empty() {
            return Ok(());
        }
        let vars = HeaderVariables {
            client_ip: self.client_ip,
            group_name: self.group_name,
            api_key: key,
            now_ms: self.now_ms,
        };
        for rule in self.header_rules {
            match &rule.action {
                HeaderAction::Set(value) => {
                    req.insert_header(rule.name.clone(), vars.substitute(value))?;
                }
                HeaderAction::Remove => {
                    req.remove_header(&rule.name);
                }
            }
        }
        Ok(())
    }
}

/// Writes the key where the channel's provider expects it in a header (a query key is already
/// in the target); Anthropic also gets its API version unless the client chose one.
fn inject_key(
    req: &mut RequestHeader,
    placement: CredentialPlacement,
    key: &str,
) -> pingora::Result<()> {
    match placement {
        CredentialPlacement::Bearer => {
            req.insert_header(http::header::AUTHORIZATION, format!("Bearer {key}"))?;
        }
        CredentialPlacement::XApiKey => {
            req.insert_header(HeaderName::from_static("x-api-key"), key)?;
            if !req.headers.contains_key("anthropic-version") {
                req.insert_header(
                    HeaderName::from_static("anthropic-version"),
                    ANTHROPIC_DEFAULT_VERSION,
                )?;
            }
        }
        CredentialPlacement::QueryKey => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use gateway_core::Secret;

    use super::*;

    fn client() -> RequestHeader {
        let mut r =
            RequestHeader::build("POST", b"/proxy/g/v1/chat/completions?key=proxy&x=1", None)
                .unwrap();
        for (k, v) in [
            ("authorization", "Bearer proxy"),
            ("x-api-key", "proxy"),
            ("x-goog-api-key", "proxy"),
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "1"),
            ("content-length", "99"),
            ("expect", "100-continue"),
            ("host", "gateway"),
            ("user-agent", "sdk/1.0"),
            ("anthropic-beta", "tools"),
        ] {
            r.append_header(k, v).unwrap();
        }
        r
    }

    fn build(channel: ChannelType, base: &str, rest: &str) -> RequestHeader {
        let up = Upstream::parse(base, 1).unwrap();
        let key = Arc::new(PoolKey {
            id: 1,
            value: Secret::new("sk-upstream/+1".into()),
            hash: String::new(),
            sealed: None,
            health: Arc::default(),
            usage: None,
        });
        UpstreamRequest {
            channel,
            upstream: &up,
            key: &key,
            rest,
            query: Some("x=1"),
            body_len: 10,
            header_rules: &[],
            group_name: "g",
            client_ip: "127.0.0.1",
            now_ms: 0,
        }
        .build(&client())
        .unwrap()
    }

    fn header<'a>(r: &'a RequestHeader, n: &str) -> Option<&'a str> {
        r.headers.get(n).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn openai_gets_bearer_and_client_credentials_are_gone() {
        let r = build(
            ChannelType::OpenAi,
            "https://api.openai.com/base/",
            "/v1/chat/completions",
        );
        assert_eq!(r.uri.to_string(), "/base/v1/chat/completions?x=1");
        assert_eq!(header(&r, "authorization"), Some("Bearer sk-upstream/+1"));
        assert_eq!(header(&r, "x-api-key"), None);
        assert_eq!(header(&r, "x-goog-api-key"), None);
        assert_eq!(header(&r, "x-hop"), None);
        assert_eq!(header(&r, "connection"), None);
        assert_eq!(header(&r, "expect"), None);
        assert_eq!(header(&r, "host"), Some("api.openai.com"));
        assert_eq!(header(&r, "content-length"), Some("10"));
        assert_eq!(header(&r, "user-agent"), Some("sdk/1.0"));
    }

    #[test]
    fn anthropic_gets_x_api_key_and_a_default_version() {
        let r = build(
            ChannelType::Anthropic,
            "http://127.0.0.1:9000",
            "/v1/messages",
        );
        assert_eq!(header(&r, "x-api-key"), Some("sk-upstream/+1"));
        assert_eq!(header(&r, "anthropic-version"), Some("2023-06-01"));
        assert_eq!(header(&r, "authorization"), None);
        assert_eq!(header(&r, "host"), Some("127.0.0.1:9000"));
        assert_eq!(header(&r, "anthropic-beta"), Some("tools"));
    }

    #[test]
    fn gemini_native_gets_query_key_and_openai_surface_bearer() {
        let r = build(
            ChannelType::Gemini,
            "https://g.example",
            "/v1beta/models/m:generateContent",
        );
        assert_eq!(
            r.uri.to_string(),
            "/v1beta/models/m:generateContent?x=1&key=sk-upstream%2F%2B1"
        );
        assert_eq!(header(&r, "authorization"), None);
        let r = build(
            ChannelType::Gemini,
            "https://g.example",
            "/v1beta/openai/chat/completions",
        );
        assert_eq!(header(&r, "authorization"), Some("Bearer sk-upstream/+1"));
        assert_eq!(r.uri.to_string(), "/v1beta/openai/chat/completions?x=1");
    }
}
