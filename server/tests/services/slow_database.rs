//! A database that stops answering in time mid-sale (issue 18: a timeout on every wait of the
//! purchase path). The node reaches MariaDB through a proxy that holds its answers back for 10 s;
//! a purchase must be told 503 within a few seconds, not wait, and nothing it began may be
//! stranded: a stock refill it gave up on lands all the same, and every unit is sold in the end.

use crate::backends::{amqp_url, fresh_mysql_url, unique_queue};
use crate::books::Books;
use crate::helpers::{code, spawn_app_on};
use crate::proxy::Proxy;
use reqwest::StatusCode;
use std::time::{Duration, Instant};

/// Well past the purchase path's wait for the database (3 s).
const HELD: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_too_slow_to_answer_is_a_quick_503_and_strands_nothing() {
    let db_url = fresh_mysql_url().await;
    let database = Proxy::start("127.0.0.1:3306").await;
    let at = format!("127.0.0.1:{}", database.port());
    let proxied = db_url.replacen("127.0.0.1:3306", &at, 1);
    let queue = unique_queue();
    let app = spawn_app_on(
        &proxied,
        &[
            ("AMQP_URL", amqp_url().as_str()),
            ("FLASH_QUEUE", &queue),
            ("FLASH_STOCK_BLOCK", "1"),
            ("FLASH_USER_INTERVAL_MS", "1"),
        ],
    )
    .await;
    let (units, books) = (5, Books::default());
    let p = app.on_sale(units).await;
    let shoppers = app.shoppers(9).await;
    let (status, v) = app.buy(&shoppers[0], p).await;
    books.note(shoppers[0].id, status, &v);
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");

    // Its one leased unit is sold: the next purchase leases again, from a database now slow.
    let slow =
        |what: &'static str, (status, v): (StatusCode, serde_json::Value), took: Duration| {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {v}");
            assert_eq!(code(&v), "unavailable", "{what}: {v}");
            assert!(
                took < Duration::from_secs(6),
                "{what}: answered after {took:?}"
            );
        };
    let pass = app.pass(&shoppers[1], p).await;
    database.slow_answers(HELD);
    let started = Instant::now();
    let answer = app.purchase(&shoppers[1], p, &pass).await;
    books.note(shoppers[1].id, answer.0, &answer.1);
    slow("a stock refill", answer, started.elapsed());

    // The product's row, past its one-second cache.
    database.restore();
    let pass = app.pass(&shoppers[2], p).await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    database.slow_answers(HELD);
    let started = Instant::now();
    let answer = app.purchase(&shoppers[2], p, &pass).await;
    books.note(shoppers[2].id, answer.0, &answer.1);
    slow("the product's row", answer, started.elapsed());

    // Answering again: the refill given up on has landed, and every unit sells, once.
    database.restore();
    tokio::time::sleep(HELD).await;
    let mut accepted = 1;
    for s in &shoppers[1..] {
        let (status, v) = app.buy(s, p).await;
        books.note(s.id, status, &v);
        accepted += usize::from(status == StatusCode::ACCEPTED);
    }
    assert_eq!(accepted, units as usize, "every unit sold: none stranded");
    let wrongs = books.wrongs(&app, p, accepted).await;
    assert!(wrongs.is_empty(), "{wrongs:?}");
    app.stop().await;
}
