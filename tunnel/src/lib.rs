//! Tunnels to an upstream through an outbound proxy (`proxy_url`, `HTTP_PROXY`, `HTTPS_PROXY`):
//! HTTP CONNECT to the proxy over TCP (`http://`) or over TLS (`https://`), with
//! `Proxy-Authorization: Basic` from the URL's credentials, or the SOCKS5 handshake
//! (`socks5://`) with username/password authentication. The proxy resolves the upstream's name.
//! The result is a byte stream to the upstream; the caller speaks TLS to the provider over it
//! (with the provider's name as SNI) or plain HTTP.
//!
//! Errors name the proxy by `host:port` and never carry its credentials.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use gateway_core::outbound_proxy::{ProxyScheme, ProxyUrl};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Longest answer header of a proxy to CONNECT.
const MAX_CONNECT_ANSWER: usize = 8 << 10;

/// Why no tunnel was opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("proxy {proxy}: {reason}")]
pub struct TunnelError {
    /// The proxy, as `host:port`.
    pub proxy: String,
    /// What went wrong.
    pub reason: String,
}

/// A byte stream to the upstream through the proxy.
#[derive(Debug)]
pub enum TunnelStream {
    /// Over a TCP connection to the proxy.
    Tcp(TcpStream),
    /// Over a TLS connection to an `https://` proxy.
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for TunnelStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            TunnelStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            TunnelStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for TunnelStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            TunnelStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            TunnelStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            TunnelStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            TunnelStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            TunnelStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            TunnelStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Opens tunnels; holds the TLS settings for `https://` proxies (the system's roots, so
/// `SSL_CERT_FILE` applies as for upstreams). Cheap to share.
#[derive(Clone)]
pub struct Tunneler {
    tls: TlsConnector,
}

impl std::fmt::Debug for Tunneler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tunneler")
    }
}

/// TLS client settings (ring) trusting the system's root certificates, `SSL_CERT_FILE` too: for
/// `https://` proxies, and for providers where the caller speaks TLS itself.
pub fn native_tls_config() -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(match found.errors.first() {
            Some(e) => format!("no root certificate could be loaded: {e}"),
            None => "no root certificate was found on this system".to_owned(),
        });
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS settings: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl Tunneler {
    /// A tunneler speaking TLS to `https://` proxies with `tls` (see [`native_tls_config`]).
    pub fn new(tls: rustls::ClientConfig) -> Self {
        Self {
            tls: TlsConnector::from(Arc::new(tls)),
        }
    }

    /// A connection to `proxy` itself (TCP, and TLS for `https://`) within `timeout`, for
    /// requests it forwards in absolute form (plain-HTTP upstreams behind an HTTP proxy).
    pub async fn to_proxy(
        &self,
        proxy: &ProxyUrl,
        timeout: Duration,
    ) -> Result<TunnelStream, TunnelError> {
        match tokio::time::timeout(timeout, self.connect_proxy(proxy)).await {
            Ok(connected) => connected,
            Err(_) => Err(TunnelError {
                proxy: proxy.endpoint(),
                reason: format!("no connection within {} ms", timeout.as_millis()),
            }),
        }
    }

    /// TCP to the proxy, then TLS for an `https://` proxy.
    async fn connect_proxy(&self, proxy: &ProxyUrl) -> Result<TunnelStream, TunnelError> {
        let fail = |reason: String| TunnelError {
            proxy: proxy.endpoint(),
            reason,
        };
        let tcp = TcpStream::connect((proxy.host.as_str(), proxy.port))
            .await
            .map_err(|e| fail(format!("cannot connect: {e}")))?;
        let _ = tcp.set_nodelay(true);
        Ok(match proxy.scheme {
            ProxyScheme::Https => {
                let name = ServerName::try_from(proxy.host.clone())
                    .map_err(|e| fail(format!("not a TLS server name: {e}")))?;
                let tls = self
                    .tls
                    .connect(name, tcp)
                    .await
                    .map_err(|e| fail(format!("TLS handshake with the proxy failed: {e}")))?;
                TunnelStream::Tls(Box::new(tls))
            }
            ProxyScheme::Http | ProxyScheme::Socks5 => TunnelStream::Tcp(tcp),
        })
    }

    /// A tunnel through `proxy` to `host:port`, opened within `timeout` (connecting to the proxy,
    /// TLS to it for `https://`, and the handshake).
    pub async fn open(
        &self,
        proxy: &ProxyUrl,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<TunnelStream, TunnelError> {
        let fail = |reason: String| TunnelError {
            proxy: proxy.endpoint(),
            reason,
        };
        let opening = async {
            let mut s = self.connect_proxy(proxy).await?;
            let handshake = match proxy.scheme {
                ProxyScheme::Socks5 => socks5_connect(&mut s, proxy, host, port).await,
                ProxyScheme::Http | ProxyScheme::Https => {
                    http_connect(&mut s, proxy, host, port).await
                }
            };
            handshake.map_err(fail)?;
            Ok(s)
        };
        match tokio::time::timeout(timeout, opening).await {
            Ok(opened) => opened,
            Err(_) => Err(fail(format!(
                "no tunnel to {} within {} ms",
                authority(host, port),
                timeout.as_millis()
            ))),
        }
    }
}

/// `host:port`, IPv6 in brackets.
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// HTTP CONNECT: asks the proxy for a tunnel and reads its answer header (nothing beyond it).
async fn http_connect<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
) -> Result<(), String> {
    let target = authority(host, port);
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(auth) = proxy.basic_auth() {
        request.push_str("Proxy-Authorization: ");
        request.push_str(&auth);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    s.write_all(request.as_bytes())
        .await
        .map_err(|e| format!("sending CONNECT failed: {e}"))?;
    s.flush()
        .await
        .map_err(|e| format!("sending CONNECT failed: {e}"))?;
    // Read byte by byte up to the blank line: the tunnel's first bytes must stay unread.
    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_CONNECT_ANSWER {
            return Err("the answer to CONNECT is too long".to_owned());
        }
        let b = s
            .read_u8()
            .await
            .map_err(|e| format!("the proxy closed the connection during CONNECT ({e})"))?;
        head.push(b);
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or_default();
    let mut parts = line.splitn(3, ' ');
    let (version, status, reason) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default().trim(),
    );
    if !version.starts_with("HTTP/1.") {
        return Err("the proxy does not answer HTTP (is it a SOCKS proxy? use socks5://)".into());
    }
    match status.parse::<u16>() {
        Ok(200..=299) => Ok(()),
        // 407 is the standard answer; some proxies (tinyproxy) answer CONNECT with 401.
        Ok(code @ (401 | 407)) if proxy.username.is_some() => Err(format!(
            "the proxy refused the credentials ({code} {reason}) for CONNECT {target}"
        )),
        Ok(code @ (401 | 407)) => Err(format!(
            "the proxy requires authentication ({code} {reason}): put user:password in the proxy URL"
        )),
        Ok(code) => Err(format!(
            "the proxy answered {code} {reason} to CONNECT {target}"
        )),
        Err(_) => Err(format!("the proxy sent an invalid status line: {line:.80}")),
    }
}

/// The SOCKS5 handshake (RFC 1928, username/password of RFC 1929), asking the proxy to connect
/// to `host:port` by name (or by address for an IP literal).
async fn socks5_connect<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
) -> Result<(), String> {
    let io = |e: std::io::Error| format!("SOCKS5 handshake failed: {e}");
    let with_password = proxy.username.is_some();
    let greeting: &[u8] = if with_password {
        &[5, 2, 0, 2]
    } else {
        &[5, 1, 0]
    };
    s.write_all(greeting).await.map_err(io)?;
    let mut chosen = [0_u8; 2];
    s.read_exact(&mut chosen).await.map_err(io)?;
    if chosen[0] != 5 {
        return Err("the proxy does not speak SOCKS5 (is it an HTTP proxy? use http://)".into());
    }
    match chosen[1] {
        0 => {}
        2 if with_password => {
            let user = proxy.username.as_deref().unwrap_or_default().as_bytes();
            let pass = proxy.password().unwrap_or_default().as_bytes();
            let mut auth = Vec::with_capacity(3 + user.len() + pass.len());
            auth.push(1);
            auth.push(u8::try_from(user.len()).map_err(|_| "user name too long".to_owned())?);
            auth.extend_from_slice(user);
            auth.push(u8::try_from(pass.len()).map_err(|_| "password too long".to_owned())?);
            auth.extend_from_slice(pass);
            s.write_all(&auth).await.map_err(io)?;
            let mut status = [0_u8; 2];
            s.read_exact(&mut status).await.map_err(io)?;
            if status[1] != 0 {
                return Err("the proxy refused the credentials (SOCKS5 authentication)".into());
            }
        }
        _ if with_password => {
            return Err("the proxy accepts none of our authentication methods".into());
        }
        _ => {
            return Err(
                "the proxy requires authentication: put user:password in the proxy URL".into(),
            );
        }
    }
    let mut request = vec![5, 1, 0];
    match host.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            request.push(1);
            request.extend_from_slice(&ip.octets());
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            request.push(4);
            request.extend_from_slice(&ip.octets());
        }
        Err(_) => {
            request.push(3);
            request.push(u8::try_from(host.len()).map_err(|_| "host name too long".to_owned())?);
            request.extend_from_slice(host.as_bytes());
        }
    }
    request.extend_from_slice(&port.to_be_bytes());
    s.write_all(&request).await.map_err(io)?;
    let mut reply = [0_u8; 4];
    s.read_exact(&mut reply).await.map_err(io)?;
    if reply[1] != 0 {
        let why = match reply[1] {
            2 => "not allowed by the proxy's rules",
            3 => "network unreachable",
            4 => "host unreachable",
            5 => "connection refused",
            6 => "TTL expired",
            7 => "command not supported",
            8 => "address type not supported",
            _ => "general failure",
        };
        return Err(format!(
            "the proxy could not connect to {} ({why})",
            authority(host, port)
        ));
    }
    // The address the proxy bound: read and dropped.
    let rest = match reply[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => usize::from(s.read_u8().await.map_err(io)?) + 2,
        other => return Err(format!("the proxy sent an unknown address type {other}")),
    };
    let mut bound = vec![0_u8; rest];
    s.read_exact(&mut bound).await.map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A one-connection fake proxy: for each step, reads that many bytes, then writes the
    /// answer. Returns what it read.
    async fn fake_proxy(
        steps: Vec<(usize, &'static [u8])>,
    ) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            for (n, answer) in steps {
                let mut part = vec![0_u8; n];
                s.read_exact(&mut part).await.unwrap();
                got.extend_from_slice(&part);
                s.write_all(answer).await.unwrap();
            }
            got
        });
        (addr, task)
    }

    #[tokio::test]
    async fn connect_sends_basic_credentials_and_reads_only_the_answer_header() {
        let request = b"CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\nProxy-Authorization: Basic dTpw\r\n\r\n";
        let (addr, task) = fake_proxy(vec![(
            request.len(),
            b"HTTP/1.1 200 Connection established\r\n\r\nTLS",
        )])
        .await;
        let proxy = ProxyUrl::parse(&format!("http://u:p@{addr}")).unwrap();
        let tunneler = Tunneler::new(test_tls());
        let mut s = tunneler
            .open(&proxy, "api.example.com", 443, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(task.await.unwrap(), request.to_vec());
        let mut first = [0_u8; 3];
        s.read_exact(&mut first).await.unwrap();
        assert_eq!(
            &first, b"TLS",
            "bytes after the answer belong to the tunnel"
        );
    }

    #[tokio::test]
    async fn refusals_name_the_proxy_and_never_the_password() {
        let request_len = b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\nProxy-Authorization: Basic dTpzZWNyZXQ=\r\n\r\n".len();
        let (addr, _task) = fake_proxy(vec![(
            request_len,
            b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n",
        )])
        .await;
        let proxy = ProxyUrl::parse(&format!("http://u:secret@{addr}")).unwrap();
        let tunneler = Tunneler::new(test_tls());
        let e = tunneler
            .open(&proxy, "h", 443, Duration::from_secs(5))
            .await
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "proxy {addr}: the proxy refused the credentials (407"
            )),
            "{text}"
        );
        assert!(!text.contains("secret"));
        // nothing listens: refused
        let dead = ProxyUrl::parse("socks5://u:secret@127.0.0.1:1").unwrap();
        let e = tunneler
            .open(&dead, "h", 443, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("proxy 127.0.0.1:1: cannot connect"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn socks5_authenticates_and_connects_by_name() {
        // greeting (4), username/password (1+1+1+1+6), connect by name (4+1+15+2)
        let (addr, task) = fake_proxy(vec![
            (4, &[5, 2]),
            (10, &[1, 0]),
            (22, &[5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90]),
        ])
        .await;
        let proxy = ProxyUrl::parse(&format!("socks5://u:secret@{addr}")).unwrap();
        let tunneler = Tunneler::new(test_tls());
        tunneler
            .open(&proxy, "api.example.com", 443, Duration::from_secs(5))
            .await
            .unwrap();
        let got = task.await.unwrap();
        assert_eq!(&got[..4], &[5, 2, 0, 2]);
        assert_eq!(&got[4..14], b"\x01\x01u\x06secret");
        assert_eq!(&got[14..19], &[5, 1, 0, 3, 15]);
        assert_eq!(&got[19..34], b"api.example.com");
        assert_eq!(&got[34..], &443_u16.to_be_bytes());
    }

    fn test_tls() -> rustls::ClientConfig {
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
    }
}
