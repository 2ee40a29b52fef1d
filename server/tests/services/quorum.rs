//! RabbitMQ as a cluster (issue 20): quorum queues on the 3-node cluster that
//! `scripts/rabbit-cluster.sh` starts on this machine, one node killed with -9 in the middle of a
//! sale and started again. Shopper by shopper: every accepted answer is one stored order, nobody
//! is told `already_bought` without one, and no unit is sold twice.

use crate::backends::{fresh_mysql_url, unique_queue};
use crate::books::Books;
use crate::helpers::spawn_app_on;
use std::process::Command;
use std::time::Duration;

/// Runs the cluster script; its last line of output.
fn cluster(args: &[&str]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/rabbit-cluster.sh");
    let out = Command::new("bash")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rabbit-cluster.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    stdout.lines().last().unwrap_or_default().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_node_killed_mid_sale_loses_no_order() {
    let url = cluster(&["start"]);
    assert_eq!(url.split(',').count(), 3, "{url}");
    let queue = unique_queue();
    let app = spawn_app_on(
        &fresh_mysql_url().await,
        &[
            ("AMQP_URL", &url),
            ("FLASH_QUEUE", &queue),
            ("FLASH_QUEUE_TYPE", "quorum"),
            ("FLASH_PASS_TTL_MS", "600000"),
        ],
    )
    .await;
    let p = app.on_sale(300).await;
    let shoppers = app.shoppers(600).await;
    let books = Books::default();
    let crowd = futures::future::join_all(shoppers.chunks(150).map(|c| books.crowd(&app, c, p)));
    let fault = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        cluster(&["kill", "1"]);
        tokio::time::sleep(Duration::from_secs(4)).await;
        cluster(&["restart", "1"]);
    };
    let (accepted, ()) = tokio::join!(crowd, fault);
    let accepted: usize = accepted.into_iter().sum();
    assert_eq!(accepted, 300, "every unit sold once the broker is back");
    let wrongs = books.wrongs(&app, p, accepted).await;
    assert!(wrongs.is_empty(), "{wrongs:?}");
    let (orders, buyers) = app.orders_settle(p, 300).await;
    assert_eq!((orders, buyers), (300, 300), "no duplicate, none lost");
    let (stock, sold): (i64, i64) = sqlx::query_as("SELECT stock, sold FROM products WHERE id = ?")
        .bind(p)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!((stock, sold), (300, 300), "not oversold");
    app.stop().await;
    // Three Erlang nodes are not left running for the rest of the run.
    cluster(&["stop"]);
}
