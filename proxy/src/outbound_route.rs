//! Outbound proxies on the data plane: which proxy each upstream of a group goes through (the
//! group's effective `proxy_url`, else `HTTP_PROXY` / `HTTPS_PROXY` unless `NO_PROXY` exempts the
//! host), decided when the snapshot is built, and the Pingora L4 connector that opens the tunnel
//! (`gateway_tunnel`). Pingora then speaks TLS to the provider over the tunnel with the
//! provider's SNI, and pools the connection under a key of its own per (upstream, proxy), so
//! tunnels are reused like direct connections.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gateway_core::outbound_proxy::{EnvProxies, ProxyUrl, effective};
use gateway_tunnel::{TunnelStream, Tunneler};
use pingora::connectors::L4Connect;
use pingora::protocols::l4::socket::SocketAddr;
use pingora::protocols::l4::stream::Stream;
use pingora::protocols::l4::virt::{VirtualSockOpt, VirtualSocket, VirtualSocketStream};
use pingora::{Error, ErrorType, Result};

/// The process's outbound proxies: the environment's, and the tunnel opener.
#[derive(Clone, Debug)]
pub struct OutboundProxies {
    env: EnvProxies,
    tunneler: Option<Tunneler>,
}

impl OutboundProxies {
    /// Proxies of the environment (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`), tunnels opened by
    /// `tunneler` (`None` when it could not be built: a proxied upstream then fails with that
    /// reason, direct ones work).
    pub fn new(env: EnvProxies, tunneler: Option<Tunneler>) -> Self {
        Self { env, tunneler }
    }

    /// No proxy at all (tests, tools).
    pub fn none() -> Self {
        Self::new(EnvProxies::default(), None)
    }

    /// The route of one upstream of a group whose effective `proxy_url` is `setting` (empty =
    /// none): `None` to connect directly.
    pub fn route(
        &self,
        setting: Option<&ProxyUrl>,
        tls: bool,
        host: &str,
        port: u16,
        connect_timeout: Duration,
    ) -> Option<Arc<ProxyRoute>> {
        let proxy = effective(setting, &self.env, tls, host, port)?;
        let mut key = std::collections::hash_map::DefaultHasher::new();
        proxy.expose().hash(&mut key);
        Some(Arc::new(ProxyRoute {
            proxy: proxy.clone(),
            host: host.to_owned(),
            port,
            connect_timeout,
            tunneler: self.tunneler.clone(),
            pool_key: key.finish(),
        }))
    }
}

/// How one upstream is reached through a proxy: Pingora's custom L4 connector for its peers.
#[derive(Debug)]
pub struct ProxyRoute {
    /// The proxy (its `Display` masks the password).
    pub proxy: ProxyUrl,
    host: String,
    port: u16,
    connect_timeout: Duration,
    tunneler: Option<Tunneler>,
    /// Separates pooled connections through this proxy from direct ones and other proxies'.
    pub pool_key: u64,
}

#[async_trait]
impl L4Connect for ProxyRoute {
    async fn connect(&self, _addr: &SocketAddr) -> Result<Stream> {
        let Some(tunneler) = &self.tunneler else {
            return Error::e_explain(
                ErrorType::ConnectError,
                format!(
                    "proxy {}: TLS for proxies could not be set up at start",
                    self.proxy.endpoint()
                ),
            );
        };
        match tunneler
            .open(&self.proxy, &self.host, self.port, self.connect_timeout)
            .await
        {
            Ok(TunnelStream::Tcp(tcp)) => Ok(tcp.into()),
            Ok(tls) => Ok(VirtualSocketStream::new(Box::new(TunnelSocket(tls))).into()),
            Err(e) => Error::e_explain(ErrorType::ConnectError, e.to_string()),
        }
    }
}

/// A tunnel over TLS to an `https://` proxy, as a Pingora virtual socket.
#[derive(Debug)]
struct TunnelSocket(TunnelStream);

impl VirtualSocket for TunnelSocket {
    fn set_socket_option(&self, opt: VirtualSockOpt) -> std::io::Result<()> {
        match opt {
            VirtualSockOpt::NoDelay => self.0.tcp().set_nodelay(true),
            _ => Ok(()),
        }
    }
}

impl tokio::io::AsyncRead for TunnelSocket {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for TunnelSocket {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}
