//! The listening socket: each accepted connection served HTTP/1.1 by hyper, with the peer's
//! address for the routes (`ConnectInfo`), until the shutdown signal; then no new connection,
//! idle ones closed and the others drained. Not `axum::serve`: its HTTP/1-or-2 detection held
//! some 30 KB per idle connection, and every open page holds one for its live stream (see
//! BENCHMARKS.md, the crowd). Browsers speak HTTP/2 only over TLS, which a proxy in front ends.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tower::Service;

/// A client that has not sent a whole request head in this long is hung up on (slow-loris); a
/// kept-alive connection waits for its next request as long.
const HEAD_WITHIN: Duration = Duration::from_secs(30);
/// Connections the kernel may hold before they are accepted (capped by `net.core.somaxconn`).
/// `TcpListener::bind` asks for 128: a crowd's clicks overflowed it, and each dropped connection
/// is tried again by the client a whole second later.
const BACKLOG: u32 = 4096;

/// The listening socket, with a backlog for a crowd.
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()>) {
    serve_with(listener, router, shutdown, HEAD_WITHIN).await
}

async fn serve_with(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()>,
    head_within: Duration,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(head_within);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    backoff(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            router.clone().call(req)
        });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended in error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// A failed accept: one connection's trouble is passed over; anything else (out of open files)
/// waits a moment, as retrying at once would spin.
async fn backoff(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting connections failed; retrying in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::oneshot;

    /// A server answering `GET /` with the peer's address; stopped by the sender.
    async fn start(
        head_within: Duration,
    ) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route(
            "/",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let task = tokio::spawn(serve_with(listener, router, shutdown, head_within));
        (addr, stop, task)
    }

    async fn read_all(stream: &mut TcpStream, within: Duration) -> String {
        let mut out = Vec::new();
        let read = tokio::time::timeout(within, stream.read_to_end(&mut out)).await;
        assert!(
            read.is_ok(),
            "the server did not close the connection in time"
        );
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn the_routes_see_the_peer_address() {
        let (addr, stop, task) = start(HEAD_WITHIN).await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        let local = c.local_addr().unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let answer = read_all(&mut c, Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with(&local.to_string()), "{answer}");
        drop(stop);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_head_sent_too_slowly_is_hung_up_on() {
        let (addr, _stop, _task) = start(Duration::from_millis(300)).await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n").await.unwrap();
        let answer = read_all(&mut c, Duration::from_secs(5)).await;
        assert!(!answer.contains(" 200 "), "{answer}");
    }

    #[tokio::test]
    async fn shutdown_closes_idle_connections_and_returns() {
        let (addr, stop, task) = start(HEAD_WITHIN).await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        assert!(c.read(&mut buf).await.unwrap() > 0, "answered, kept alive");
        drop(stop);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("serve returned with a kept-alive connection open")
            .unwrap();
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "no longer listening"
        );
    }
}
