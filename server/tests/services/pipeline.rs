//! The sale's promises under concurrency on RabbitMQ + MariaDB.

use crate::helpers::Mode;
use crate::scenarios::{
    one_shopper_one_hundred_purchases, two_thousand_shoppers_one_hundred_units,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rabbit_mariadb_two_thousand_shoppers_one_hundred_units_exactly_one_hundred_orders() {
    two_thousand_shoppers_one_hundred_units(Mode::Rabbit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rabbit_mariadb_one_shopper_sending_one_hundred_purchases_gets_one_order() {
    one_shopper_one_hundred_purchases(Mode::Rabbit).await;
}
