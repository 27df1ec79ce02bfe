//! gateway-testkit (dev only): a scripted mock AI provider, fresh migrated test databases, the
//! test Redis behind a relay that can be cut, real outbound proxies (tinyproxy, microsocks,
//! stunnel), and a launcher for the workspace's real binaries. Nothing here ships in the gateway.

pub mod launcher;
pub mod mock_provider;
pub mod silent_relay;
pub mod test_db;
pub mod test_proxy;
pub mod test_redis;
pub mod test_tls;

pub use launcher::{GatewayProcess, binary_path, free_port};
pub use mock_provider::{MockProvider, Recorded, Reply, ReplyBody};
pub use silent_relay::SilentRelay;
pub use test_db::{TestDb, services_required};
pub use test_proxy::{ProxyKind, TestProxy};
pub use test_redis::TestRedis;
pub use test_tls::{LeafCert, TestCa};
