//! `server reconcile` in the middle of a sale (issue 18, fault 4): orders still in the queue
//! hold units that are not sold yet, and a live owner holds its lease; neither may be handed
//! back to stock. Checked shopper by shopper, against the stock.

use crate::backends::{amqp_url, fresh_mysql_url, unique_queue};
use crate::books::Books;
use crate::helpers::spawn_app_on;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reconcile_during_a_sale_gives_back_neither_queued_orders_nor_live_leases() {
    let (db_url, amqp, queue) = (fresh_mysql_url().await, amqp_url(), unique_queue());
    let env = [
        ("AMQP_URL", amqp.as_str()),
        ("FLASH_QUEUE", queue.as_str()),
        ("FLASH_STOCK_BLOCK", "4"),
        ("FLASH_USER_INTERVAL_MS", "1"),
    ];
    // A node whose orders wait in the queue: no consumer yet.
    let mut quiet = env.to_vec();
    quiet.push(("FLASH_CONSUMER", "0"));
    let node = spawn_app_on(&db_url, &quiet).await;
    let (units, books) = (6, Books::default());
    let p = node.on_sale(units).await;
    let shoppers = node.shoppers(12).await;
    let early = books.crowd(&node, &shoppers[..3], p).await;
    assert_eq!(early, 3);

    let out = Command::new(env!("CARGO_BIN_EXE_server"))
        .arg("reconcile")
        .env("DATABASE_URL", &db_url)
        .env("AMQP_URL", &amqp)
        .env("FLASH_QUEUE", &queue)
        .env("RUST_LOG", "warn")
        .output()
        .expect("server reconcile");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The sale goes on, and a consumer writes whatever is still queued.
    let writer = spawn_app_on(&db_url, &env).await;
    let accepted = early + books.crowd(&node, &shoppers[3..], p).await;
    assert_eq!(accepted, units as usize, "every unit sold once, none twice");
    let wrongs = books.wrongs(&node, p, accepted).await;
    assert!(wrongs.is_empty(), "{wrongs:?}");
    node.stop().await;
    writer.stop().await;
}
