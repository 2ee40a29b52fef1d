//! Integration tests on the machine's MariaDB (127.0.0.1:3306) and RabbitMQ (127.0.0.1:5672):
//! `scripts/services.sh` starts both. Without them each test here fails at once, saying so; the
//! tests that need nothing else are `cargo test -p server --lib --test api --test fuzz`.

// Shared with the `api` tests, which use the rest of them.
#[allow(dead_code)]
#[path = "../support/reservations.rs"]
mod after_click;
#[allow(dead_code)]
#[path = "../support/backends.rs"]
mod backends;
#[allow(dead_code)]
#[path = "../support/books.rs"]
mod books;
#[allow(dead_code)]
#[path = "../support/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "../support/live.rs"]
mod live;
#[allow(dead_code)]
#[path = "../support/proxy.rs"]
mod proxy;
#[allow(dead_code)]
#[path = "../support/scenarios.rs"]
mod scenarios;

mod cluster;
mod confirms;
mod faults;
mod faults_books;
mod harness;
mod harness_shoppers;
mod live_orders;
mod payments;
mod pipeline;
mod poison;
mod quorum;
mod rabbit;
mod reconcile;
mod slow_database;
mod stock_owners;
mod storage;
