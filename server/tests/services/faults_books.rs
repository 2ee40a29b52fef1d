//! What the fault run (`faults.rs`) waits for and runs as an operator would: the queue quiet,
//! and `server reconcile`. The stored orders per shopper are `books::orders`.

use crate::backends::amqp_url;
use crate::helpers::SECRET;
use server::repositories::{orders, Db};
use std::time::{Duration, Instant};

/// `server reconcile`, as an operator runs it with the sale stopped.
pub fn reconcile(db_url: &str, queue: &str) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .arg("reconcile")
        .envs([("DATABASE_URL", db_url), ("FLASH_QUEUE", queue)])
        .envs([("AMQP_URL", amqp_url().as_str()), ("FLASH_SECRET", SECRET)])
        .output()
        .expect("server reconcile");
    let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "server reconcile failed: {said}");
    print!("{said}");
}

/// Waits until the number of orders has not changed for 3 s (the queue is drained).
pub async fn settled(db: &Db, product: i64) {
    let mut last = (-1, -1);
    let mut since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let now = orders::tally(db, product).await.expect("tally");
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() > Duration::from_secs(3) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
