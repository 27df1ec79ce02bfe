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
use gateway_core::outbound_proxy::{EnvProxies, ProxyScheme, ProxyUrl, effective};
use gateway_tunnel::{TunnelStream, Tunneler};
use pingora::connectors::L4Connect;
use pingora::protocols::l4::socket::SocketAddr;
use pingora::protocols::l4::stream::Stream;
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
            forward: !tls && proxy.scheme != ProxyScheme::Socks5,
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
///
/// A plain `http://` upstream behind an HTTP(S) proxy is not tunnelled (`forward`): its requests
/// go to the proxy itself in absolute form (`POST http://host:port/path`) with
/// `Proxy-Authorization`, as curl and Go's `http.Transport` send them, because common proxies
/// allow `CONNECT` only to port 443. Those connections are pooled per proxy.
#[derive(Debug)]
pub struct ProxyRoute {
    /// The proxy (its `Display` masks the password).
    pub proxy: ProxyUrl,
    /// Requests are forwarded to the proxy in absolute form instead of through a tunnel.
    pub forward: bool,
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
            Ok(tls) => relay_through_socket_pair(tls),
            Err(e) => Error::e_explain(ErrorType::ConnectError, e.to_string()),
        }
    }
}

/// A tunnel over TLS to an `https://` proxy, handed to Pingora as one end of a Unix socket pair
/// whose other end a task relays to the tunnel. Pingora pools only connections with a real file
/// descriptor (it checks the peer of the descriptor before reusing one), so a tunnel wrapped as
/// a virtual socket would be opened anew for every request; this one is pooled like the others.
fn relay_through_socket_pair(mut tunnel: TunnelStream) -> Result<Stream> {
    let (ours, mut theirs) = tokio::net::UnixStream::pair()
        .map_err(|e| Error::because(ErrorType::ConnectError, "socket pair for a TLS tunnel", e))?;
    tokio::spawn(async move {
        // Ends when either side closes: Pingora dropping the connection, or the proxy.
        let _ = tokio::io::copy_bidirectional(&mut tunnel, &mut theirs).await;
    });
    Ok(ours.into())
}
