//! The sale's promises under concurrency and restarts, embedded: never oversell, one order per
//! shopper. The same scenarios on RabbitMQ + MariaDB are in the `services` tests.

use crate::helpers::{code, spawn_app_on, Mode};
use crate::scenarios::{
    crowd, one_shopper_one_hundred_purchases, two_thousand_shoppers_one_hundred_units,
};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_two_thousand_shoppers_one_hundred_units_exactly_one_hundred_orders() {
    two_thousand_shoppers_one_hundred_units(Mode::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_one_shopper_sending_one_hundred_purchases_gets_one_order() {
    one_shopper_one_hundred_purchases(Mode::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_mid_sale_does_not_oversell() {
    let url = crate::helpers::fresh_sqlite_url();
    let block = [("FLASH_STOCK_BLOCK", "8"), ("FLASH_PASS_TTL_MS", "600000")];
    let app = spawn_app_on(&url, &block).await;
    let p = app.on_sale(40).await;
    let first = app.shoppers(25).await;
    let answers = crowd(&app, &first, p).await;
    assert!(answers.iter().all(|(s, _)| *s == StatusCode::ACCEPTED));
    // A crash: leased units are stranded in the dead process. It restarts at the same address,
    // so as the same owner of leases: its dead run's unsold units go back at once.
    let addr = app.base.trim_start_matches("http://").to_string();
    app.kill().await;

    let same = [block[0], block[1], ("LEPTOS_SITE_ADDR", addr.as_str())];
    let app = spawn_app_on(&url, &same).await;
    let second = app.shoppers(60).await;
    let answers = crowd(&app, &second, p).await;
    let accepted = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::ACCEPTED)
        .count();
    assert_eq!(
        accepted, 15,
        "the restarted server sells exactly what is left"
    );
    assert_eq!(app.order_count(p).await, (40, 40));
    // A graceful restart hands its leases back too.
    app.stop().await;
    let app = spawn_app_on(&url, &block).await;
    let late = &app.shoppers(1).await[0];
    let (s, v) = app.buy(late, p).await;
    assert_eq!((s, code(&v)), (StatusCode::GONE, "sold_out"));
    let row = server::repositories::products::get(&app.db, p)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.sold, row.leased, row.stock), (40, 40, 40));
    app.stop().await;
}
