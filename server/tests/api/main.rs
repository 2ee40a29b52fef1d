//! Integration tests that need nothing but this machine: each spawns a real server on port 0 with
//! its own SQLite database and talks HTTP. Those that need MariaDB and RabbitMQ are the
//! `services` test binary (`cargo test -p server --test services`).

// Shared with the `services` tests, which use the rest of them.
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
#[path = "../support/scenarios.rs"]
mod scenarios;

mod abuse;
mod admin;
mod auth;
mod hangups;
mod live_pages;
mod lockdown;
mod pages;
mod payments;
mod pipeline;
mod refusals;
mod restarts;
