//! A TCP hop to a real service (the broker, a stock owner, the database) that a test can break:
//! cut every connection and refuse new ones, as if the service went away; stall them (bytes
//! swallowed both ways, the connections kept open), as a broker under an alarm looks from the
//! client; swallow only the answers (the service acts, the client never hears); or slow the
//! answers down past a caller's timeout.

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const UP: u8 = 0;
const STALLED: u8 = 1;
const DOWN: u8 = 2;
const DEAF: u8 = 3;

#[derive(Default)]
struct State {
    mode: AtomicU8,
    /// Added before each chunk of answer is passed on.
    answer_delay_ms: AtomicU64,
    /// Bumped by `cut`: connections of an older generation close.
    generation: AtomicU64,
    open: AtomicUsize,
}

pub struct Proxy {
    port: u16,
    state: Arc<State>,
}

impl Proxy {
    /// Forwards 127.0.0.1:<its port> to `target`.
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let state = Arc::new(State::default());
        let (shared, target) = (state.clone(), target.to_string());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if shared.mode.load(Ordering::SeqCst) == DOWN {
                    continue; // dropped at once
                }
                tokio::spawn(forward(client, target.clone(), shared.clone()));
            }
        });
        Proxy { port, state }
    }

    /// A proxy in front of the machine's RabbitMQ.
    pub async fn broker() -> Self {
        Self::start("127.0.0.1:5672").await
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// Closes every connection and refuses new ones; returns once all are closed.
    pub async fn cut(&self) {
        self.state.mode.store(DOWN, Ordering::SeqCst);
        self.state.generation.fetch_add(1, Ordering::SeqCst);
        while self.state.open.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Swallows every byte from here on, both ways, on old and new connections alike.
    pub fn stall(&self) {
        self.state.mode.store(STALLED, Ordering::SeqCst);
    }

    /// Passes requests on and swallows the answers.
    pub fn swallow_answers(&self) {
        self.state.mode.store(DEAF, Ordering::SeqCst);
    }

    /// Holds every chunk of answer this long before passing it on.
    pub fn slow_answers(&self, by: Duration) {
        let ms = by.as_millis() as u64;
        self.state.answer_delay_ms.store(ms, Ordering::SeqCst);
    }

    pub fn restore(&self) {
        self.state.answer_delay_ms.store(0, Ordering::SeqCst);
        self.state.mode.store(UP, Ordering::SeqCst);
    }
}

async fn forward(client: TcpStream, target: String, state: Arc<State>) {
    let Ok(service) = TcpStream::connect(&target).await else {
        return;
    };
    state.open.fetch_add(1, Ordering::SeqCst);
    let born = state.generation.load(Ordering::SeqCst);
    let (cr, cw) = client.into_split();
    let (sr, sw) = service.into_split();
    let cut = async {
        while state.generation.load(Ordering::SeqCst) == born {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::select! {
        _ = pump(cr, sw, &state, false) => {}
        _ = pump(sr, cw, &state, true) => {}
        _ = cut => {}
    }
    state.open.fetch_sub(1, Ordering::SeqCst);
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    state: &State,
    answers: bool,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        match state.mode.load(Ordering::SeqCst) {
            STALLED => continue,
            DEAF if answers => continue,
            _ => {}
        }
        let delay = state.answer_delay_ms.load(Ordering::SeqCst);
        if answers && delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
