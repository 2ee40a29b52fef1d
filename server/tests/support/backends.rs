//! MariaDB and RabbitMQ for the `services` tests: a database and a queue of their own per test,
//! and one clear message, naming `scripts/services.sh`, when either cannot be reached.

use crate::helpers::next_id;
use std::time::Duration;

/// A database of its own on the machine's MariaDB, so that tests do not see each other.
pub async fn fresh_mysql_url() -> String {
    sqlx::any::install_default_drivers();
    let root = std::env::var("TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    let name = format!(
        "flash_t{}_{}_{}",
        std::process::id(),
        server::now_ms(),
        next_id()
    );
    require("MariaDB", &root);
    let pool = sqlx::AnyPool::connect(&root)
        .await
        .unwrap_or_else(|e| unreachable_service("MariaDB", &root, e));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .expect("create database");
    let base = root
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap_or(root);
    format!("{base}/{name}")
}

/// The broker's URL, once it is known to answer.
pub fn amqp_url() -> String {
    let url = std::env::var("TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    require("RabbitMQ", &url);
    url
}

/// Fails at once, saying what to start, when nothing listens at the URL's `host:port` (a pool
/// would wait half a minute first).
fn require(service: &str, url: &str) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = host.split('/').next().unwrap_or_default();
    let addr = std::net::ToSocketAddrs::to_socket_addrs(host)
        .ok()
        .and_then(|mut a| a.next());
    let Some(addr) = addr else {
        unreachable_service(service, url, "no such address")
    };
    if let Err(e) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        unreachable_service(service, url, e)
    }
}

/// A test of the `services` binary without its service: say what to do, once, and stop.
fn unreachable_service(service: &str, at: &str, e: impl std::fmt::Display) -> ! {
    let at = server::config::redact_url(at);
    panic!(
        "{service} at {at} is not reachable ({e}). Start the services with `scripts/services.sh`, \
         or run only the tests that need none: `cargo test -p server --lib --test api --test fuzz`"
    )
}

pub fn unique_queue() -> String {
    format!(
        "flash.test.{}.{}.{}",
        std::process::id(),
        server::now_ms(),
        next_id()
    )
}
