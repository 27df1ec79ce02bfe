//! A TCP relay in front of a database server that can fall silent: after
//! [`SilentRelay::go_silent`] it still accepts connections and keeps the open ones, but forwards
//! nothing either way, as a network partition or a stuck server looks to a client (unlike a
//! refused connection, which fails fast).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The relay; dropping it closes everything.
pub struct SilentRelay {
    addr: SocketAddr,
    silent: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl SilentRelay {
    /// A relay on a free loopback port forwarding to `target`.
    pub async fn start(target: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let silent = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(accept(listener, target, Arc::clone(&silent)));
        Ok(Self { addr, silent, task })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// From now on nothing is forwarded, on new or open connections.
    pub fn go_silent(&self) {
        self.silent.store(true, Ordering::SeqCst);
    }
}

impl Drop for SilentRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, target: SocketAddr, silent: Arc<AtomicBool>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((inbound, _)) = accepted else { continue };
                let silent = Arc::clone(&silent);
                connections.spawn(async move {
                    if silent.load(Ordering::SeqCst) {
                        // Hold the connection and never answer.
                        let _held = &inbound;
                        std::future::pending::<()>().await;
                        return;
                    }
                    let Ok(outbound) = TcpStream::connect(target).await else { return };
                    let (in_read, in_write) = inbound.into_split();
                    let (out_read, out_write) = outbound.into_split();
                    tokio::join!(
                        pipe(in_read, out_write, Arc::clone(&silent)),
                        pipe(out_read, in_write, silent),
                    );
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Copies `from` to `to` until either closes; once silent, what is read is dropped.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    silent: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if silent.load(Ordering::SeqCst) {
            continue;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
