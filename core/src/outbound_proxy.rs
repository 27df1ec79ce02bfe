//! Outbound proxies (docs/configuration.md "Outbound proxies"): the `proxy_url` setting
//! (system-wide, or a group's override) and the environment's `HTTP_PROXY` / `HTTPS_PROXY` /
//! `NO_PROXY`. Parsing and validation of the three URL forms (`http://`, `https://`, `socks5://`,
//! each with optional `user:pass@`), masking of their credentials, and which proxy an upstream goes
//! through.

use std::net::IpAddr;

use base64::Engine;

use crate::Secret;
use crate::key_crypto::{ENCRYPTED_PREFIX, KeyCipher};

/// How the gateway talks to the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProxyScheme {
    /// HTTP CONNECT over plain TCP.
    Http,
    /// HTTP CONNECT over TLS to the proxy.
    Https,
    /// The SOCKS5 handshake (the proxy resolves the upstream's name).
    Socks5,
}

impl ProxyScheme {
    fn as_str(self) -> &'static str {
        match self {
            ProxyScheme::Http => "http",
            ProxyScheme::Https => "https",
            ProxyScheme::Socks5 => "socks5",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            ProxyScheme::Http => 80,
            ProxyScheme::Https => 443,
            ProxyScheme::Socks5 => 1080,
        }
    }
}

/// A parsed proxy URL. `Display` masks the password; the whole URL is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    /// How to talk to the proxy.
    pub scheme: ProxyScheme,
    /// Host name or IP address of the proxy (IPv6 without brackets).
    pub host: String,
    /// Port of the proxy.
    pub port: u16,
    /// User name, when the URL has credentials.
    pub username: Option<String>,
    /// Password (may be empty), when the URL has credentials.
    password: Option<Secret<String>>,
}

/// What a password is shown as.
pub const MASK: &str = "****";

impl ProxyUrl {
    /// Parses and validates `text`: one of the three schemes, a host, an optional port, no path
    /// or query. Credentials may be percent-encoded.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let url = url::Url::parse(text).map_err(|e| format!("not a valid URL ({e})"))?;
        let scheme = match url.scheme() {
            "http" => ProxyScheme::Http,
            "https" => ProxyScheme::Https,
            "socks5" | "socks5h" => ProxyScheme::Socks5,
            other => {
                return Err(format!(
                    "unsupported scheme '{other}': use http://, https:// or socks5://"
                ));
            }
        };
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err("the proxy URL names no host".to_owned()),
        };
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err("a proxy URL has only scheme, credentials, host and port".to_owned());
        }
        let decode = |s: &str| {
            percent_decode(s).ok_or_else(|| "credentials are not valid percent-encoding".to_owned())
        };
        let username = (!url.username().is_empty())
            .then(|| decode(url.username()))
            .transpose()?;
        let password = url.password().map(decode).transpose()?.map(Secret::new);
        if password.is_some() && username.is_none() {
            return Err("a password needs a user name (user:pass@host)".to_owned());
        }
        if scheme == ProxyScheme::Socks5 {
            for part in [
                username.as_deref(),
                password.as_ref().map(|p| p.expose().as_str()),
            ]
            .into_iter()
            .flatten()
            {
                if part.len() > 255 {
                    return Err("SOCKS5 user names and passwords are at most 255 bytes".to_owned());
                }
            }
        }
        Ok(Self {
            scheme,
            port: url.port().unwrap_or_else(|| scheme.default_port()),
            host,
            username,
            password,
        })
    }

    /// `host:port` (IPv6 in brackets): how messages name the proxy.
    pub fn endpoint(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The password, when the URL has one.
    pub fn password(&self) -> Option<&str> {
        self.password.as_ref().map(|p| p.expose().as_str())
    }

    /// The `Proxy-Authorization` value of HTTP CONNECT (`Basic …`), with credentials.
    pub fn basic_auth(&self) -> Option<String> {
        let user = self.username.as_deref()?;
        let pass = self.password().unwrap_or("");
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        Some(format!("Basic {token}"))
    }

    /// The URL with its password masked: what APIs, logs and errors show.
    pub fn masked(&self) -> String {
        let creds = match (&self.username, &self.password) {
            (Some(u), Some(_)) => format!("{}:{MASK}@", percent_encode(u)),
            (Some(u), None) => format!("{}@", percent_encode(u)),
            _ => String::new(),
        };
        format!("{}://{creds}{}", self.scheme.as_str(), self.endpoint())
    }

    /// The URL in full, credentials included (to store it).
    pub fn expose(&self) -> String {
        let creds = match (&self.username, self.password()) {
            (Some(u), Some(p)) => format!("{}:{}@", percent_encode(u), percent_encode(p)),
            (Some(u), None) => format!("{}@", percent_encode(u)),
            _ => String::new(),
        };
        format!("{}://{creds}{}", self.scheme.as_str(), self.endpoint())
    }
}

impl std::fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked())
    }
}

impl std::fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProxyUrl({})", self.masked())
    }
}

/// A stored `proxy_url` value as an API shows it: the password masked. Empty stays empty; text
/// that does not parse (stored before validation existed) loses everything before `@`.
pub fn mask_setting(stored: &str) -> String {
    if stored.trim().is_empty() {
        return String::new();
    }
    match ProxyUrl::parse(stored) {
        Ok(p) => p.masked(),
        Err(_) => match stored.rfind('@') {
            Some(at) => format!("{MASK}{}", &stored[at..]),
            None => stored.to_owned(),
        },
    }
}

/// A `proxy_url` value sent by a client, made ready to store: validated, and a masked password
/// (the client sent back what it was shown) replaced by the stored one when scheme, user, host
/// and port are unchanged. Empty clears the setting.
pub fn unmask_setting(sent: &str, stored: &str) -> Result<String, String> {
    if sent.trim().is_empty() {
        return Ok(String::new());
    }
    let mut new = ProxyUrl::parse(sent)?;
    if new.password() == Some(MASK) {
        let old = ProxyUrl::parse(stored).ok().filter(|old| {
            old.scheme == new.scheme
                && old.host == new.host
                && old.port == new.port
                && old.username == new.username
        });
        match old {
            Some(old) => new.password = old.password,
            None => {
                return Err(format!(
                    "the password is the mask '{MASK}' but no stored proxy URL with the same user, host and port has one: send the password"
                ));
            }
        }
    }
    Ok(new.expose())
}

/// The stored form of a `proxy_url` value: its password sealed with `cipher`, as upstream keys
/// are under `ENCRYPTION_KEY` (`http://user:enc1%3A…@host:port`: scheme, user, host and port stay
/// readable, so the value can still be shown masked). Unchanged without encryption, when empty,
/// without a password, already sealed, or not a proxy URL (validation refuses those first).
pub fn seal_setting(value: &str, cipher: &KeyCipher) -> String {
    if !cipher.is_encrypting() {
        return value.to_owned();
    }
    match ProxyUrl::parse(value) {
        Ok(mut url) => match url.password() {
            Some(p) if !p.starts_with(ENCRYPTED_PREFIX) => {
                url.password = Some(Secret::new(cipher.seal(p)));
                url.expose()
            }
            _ => value.to_owned(),
        },
        Err(_) => value.to_owned(),
    }
}

/// A stored `proxy_url` value, parsed, with its password opened: what connections use. A
/// password that is not sealed (stored before `ENCRYPTION_KEY` was set) is taken as it is.
/// `None` when empty.
pub fn open_setting(stored: &str, cipher: &KeyCipher) -> Result<Option<ProxyUrl>, String> {
    if stored.trim().is_empty() {
        return Ok(None);
    }
    let mut url = ProxyUrl::parse(stored)?;
    if let Some(sealed) = url.password().filter(|p| p.starts_with(ENCRYPTED_PREFIX)) {
        let plain = cipher.open(sealed).map_err(|e| {
            format!(
                "the password of proxy {} cannot be opened with this ENCRYPTION_KEY ({e})",
                url.endpoint()
            )
        })?;
        url.password = Some(Secret::new(plain));
    }
    Ok(Some(url))
}

/// The environment's proxies: `HTTP_PROXY` for `http://` upstreams, `HTTPS_PROXY` for
/// `https://` upstreams, except hosts matched by `NO_PROXY`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvProxies {
    /// `HTTP_PROXY` / `http_proxy`.
    pub http: Option<ProxyUrl>,
    /// `HTTPS_PROXY` / `https_proxy`.
    pub https: Option<ProxyUrl>,
    /// `NO_PROXY` / `no_proxy`.
    pub no_proxy: NoProxy,
}

impl EnvProxies {
    /// Parses the three values (empty = unset). The error names the variable.
    pub fn parse(http: &str, https: &str, no_proxy: &str) -> Result<Self, String> {
        let one = |name: &str, v: &str| {
            if v.trim().is_empty() {
                Ok(None)
            } else {
                ProxyUrl::parse(v)
                    .map(Some)
                    .map_err(|e| format!("{name}: {e}"))
            }
        };
        Ok(Self {
            http: one("HTTP_PROXY", http)?,
            https: one("HTTPS_PROXY", https)?,
            no_proxy: NoProxy::parse(no_proxy),
        })
    }

    /// True when no proxy is set.
    pub fn is_empty(&self) -> bool {
        self.http.is_none() && self.https.is_none()
    }

    /// One line for start-up logs and `--check-config` (passwords masked).
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return "none".to_owned();
        }
        let show = |p: &Option<ProxyUrl>| p.as_ref().map_or("-".to_owned(), ProxyUrl::masked);
        format!(
            "HTTP_PROXY {}, HTTPS_PROXY {}{}",
            show(&self.http),
            show(&self.https),
            if self.no_proxy == NoProxy::default() {
                ""
            } else {
                ", NO_PROXY set"
            }
        )
    }

    /// The proxy for an upstream (`tls` = `https://`), unless `NO_PROXY` exempts its host.
    pub fn for_upstream(&self, tls: bool, host: &str, port: u16) -> Option<&ProxyUrl> {
        let proxy = if tls { &self.https } else { &self.http };
        proxy
            .as_ref()
            .filter(|_| !self.no_proxy.matches(host, port))
    }
}

/// The proxy an upstream goes through: the group's effective `proxy_url` when set (it applies to
/// every upstream of the group), else the environment's.
pub fn effective<'a>(
    setting: Option<&'a ProxyUrl>,
    env: &'a EnvProxies,
    tls: bool,
    host: &str,
    port: u16,
) -> Option<&'a ProxyUrl> {
    setting.or_else(|| env.for_upstream(tls, host, port))
}

/// `NO_PROXY`: comma-separated hosts (`example.com` also covers its subdomains, a leading `.` or
/// `*.` too), IP addresses, CIDR ranges, optional `:port`, or `*` for everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoProxy {
    all: bool,
    entries: Vec<(NoProxyHost, Option<u16>)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum NoProxyHost {
    Domain(String),
    Net(IpAddr, u8),
}

impl NoProxy {
    /// Parses the list; entries that mean nothing are ignored, as curl does.
    pub fn parse(text: &str) -> Self {
        let mut out = Self::default();
        for raw in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if raw == "*" {
                out.all = true;
                continue;
            }
            let (host, port) = split_port(raw);
            let host = host.trim_start_matches("*.").trim_start_matches('.');
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let entry = if let Some((ip, bits)) = host.split_once('/') {
                match (ip.parse::<IpAddr>(), bits.parse::<u8>()) {
                    (Ok(ip), Ok(bits)) => NoProxyHost::Net(ip, bits),
                    _ => continue,
                }
            } else if let Ok(ip) = host.parse::<IpAddr>() {
                NoProxyHost::Net(ip, if ip.is_ipv4() { 32 } else { 128 })
            } else if !host.is_empty() {
                NoProxyHost::Domain(host.to_ascii_lowercase())
            } else {
                continue;
            };
            out.entries.push((entry, port));
        }
        out
    }

    /// True when `host:port` goes direct.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.all {
            return true;
        }
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        self.entries.iter().any(|(entry, p)| {
            p.is_none_or(|p| p == port)
                && match entry {
                    NoProxyHost::Domain(d) => {
                        host == *d
                            || host
                                .strip_suffix(d.as_str())
                                .is_some_and(|rest| rest.ends_with('.'))
                    }
                    NoProxyHost::Net(net, bits) => ip.is_some_and(|ip| in_net(ip, *net, *bits)),
                }
        })
    }
}

fn split_port(entry: &str) -> (&str, Option<u16>) {
    // `host:port`, `[v6]:port`; a bare IPv6 address has several colons and no port.
    if let Some(rest) = entry.strip_prefix('[')
        && let Some((host, tail)) = rest.split_once(']')
    {
        return (host, tail.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(p) => (host, Some(p)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let bits = u32::from(bits.min(32));
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let bits = u32::from(bits.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn percent_encode(s: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_sealed_and_opened() {
        let cipher = KeyCipher::derive(&Secret::new("a-test-encryption-key".to_owned())).unwrap();
        let plain = "http://user:s3cret@proxy.example:3128";
        let sealed = seal_setting(plain, &cipher);
        assert!(sealed.starts_with("http://user:enc1%3A"), "{sealed}");
        assert!(sealed.ends_with("@proxy.example:3128"), "{sealed}");
        assert!(!sealed.contains("s3cret"));
        assert_eq!(seal_setting(&sealed, &cipher), sealed, "sealed once");
        assert_eq!(mask_setting(&sealed), "http://user:****@proxy.example:3128");
        let opened = open_setting(&sealed, &cipher).unwrap().unwrap();
        assert_eq!(opened.password(), Some("s3cret"));
        // Stored before encryption: read as it is.
        let old = open_setting(plain, &cipher).unwrap().unwrap();
        assert_eq!(old.password(), Some("s3cret"));
        // Without the key nothing is sealed, and a sealed value says why it cannot be used.
        let none = KeyCipher::plaintext();
        assert_eq!(seal_setting(plain, &none), plain);
        let err = open_setting(&sealed, &none).unwrap_err();
        assert!(
            err.contains("proxy.example:3128") && !err.contains("s3cret"),
            "{err}"
        );
        assert_eq!(open_setting(" ", &cipher).unwrap(), None);
        assert_eq!(
            seal_setting("socks5://proxy:1080", &cipher),
            "socks5://proxy:1080"
        );
    }

    #[test]
    fn the_three_forms_parse_and_never_print_their_password() {
        let p = ProxyUrl::parse("http://user:p%40ss@proxy.local:3128").unwrap();
        assert_eq!(p.scheme, ProxyScheme::Http);
        assert_eq!(p.endpoint(), "proxy.local:3128");
        assert_eq!(p.password(), Some("p@ss"));
        assert_eq!(p.basic_auth().unwrap(), "Basic dXNlcjpwQHNz");
        assert_eq!(p.to_string(), "http://user:****@proxy.local:3128");
        assert_eq!(
            format!("{p:?}"),
            "ProxyUrl(http://user:****@proxy.local:3128)"
        );
        assert_eq!(p.expose(), "http://user:p%40ss@proxy.local:3128");
        let s = ProxyUrl::parse("socks5://u:v@[::1]:1080").unwrap();
        assert_eq!(
            (s.scheme, s.endpoint()),
            (ProxyScheme::Socks5, "[::1]:1080".into())
        );
        let t = ProxyUrl::parse("https://secure.proxy").unwrap();
        assert_eq!((t.port, t.basic_auth()), (443, None));
        for (bad, why) in [
            ("ftp://x:1", "unsupported scheme"),
            ("proxy.local:3128", "scheme"),
            ("http://:pw@host:1", "user name"),
            ("http://host:1/path", "only scheme"),
            ("http://", "URL"),
        ] {
            let e = ProxyUrl::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn masked_settings_keep_the_stored_password() {
        let stored = "socks5://me:secret@10.0.0.1:1080";
        assert_eq!(mask_setting(stored), "socks5://me:****@10.0.0.1:1080");
        assert_eq!(
            unmask_setting("socks5://me:****@10.0.0.1:1080", stored).unwrap(),
            stored
        );
        assert_eq!(
            unmask_setting("socks5://me:new@10.0.0.1:1080", stored).unwrap(),
            "socks5://me:new@10.0.0.1:1080"
        );
        assert!(unmask_setting("socks5://other:****@10.0.0.1:1080", stored).is_err());
        assert_eq!(unmask_setting(" ", stored).unwrap(), "");
        assert_eq!(mask_setting("junk://a:b@c"), "****@c");
    }

    #[test]
    fn env_proxies_follow_the_scheme_and_no_proxy() {
        let env = EnvProxies::parse(
            "http://plain:8080",
            "socks5://tls:1080",
            "localhost, .internal.example, 10.0.0.0/8, api.local:8443, [::1]",
        )
        .unwrap();
        let via = |tls, host, port| env.for_upstream(tls, host, port).map(ProxyUrl::endpoint);
        assert_eq!(via(true, "api.openai.com", 443), Some("tls:1080".into()));
        assert_eq!(via(false, "api.openai.com", 80), Some("plain:8080".into()));
        assert_eq!(via(true, "localhost", 443), None);
        assert_eq!(via(true, "a.internal.example", 443), None);
        assert_eq!(via(true, "internal.example", 443), None);
        assert_eq!(
            via(true, "notinternal.example", 443),
            Some("tls:1080".into())
        );
        assert_eq!(via(true, "10.2.3.4", 443), None);
        assert_eq!(via(true, "11.2.3.4", 443), Some("tls:1080".into()));
        assert_eq!(via(true, "api.local", 8443), None);
        assert_eq!(via(true, "api.local", 443), Some("tls:1080".into()));
        assert_eq!(via(true, "::1", 443), None);
        assert!(NoProxy::parse("*").matches("anything", 1));
        let e = EnvProxies::parse("", "socks4://x:1", "").unwrap_err();
        assert!(e.starts_with("HTTPS_PROXY: unsupported scheme"), "{e}");
        let group = ProxyUrl::parse("http://group:1").unwrap();
        assert_eq!(
            effective(Some(&group), &env, true, "localhost", 443),
            Some(&group)
        );
        assert_eq!(effective(None, &env, true, "localhost", 443), None);
    }
}
