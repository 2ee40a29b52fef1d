//! sqlx storage for SQLite (embedded default) and MySQL/MariaDB (scale-out), through one
//! `AnyPool`. Both dialects take `?` placeholders; the few statements that differ ask `Db::kind`.

pub mod blacklist;
pub mod db;
pub mod demo;
#[cfg(test)]
pub mod fixture;
pub mod leases;
pub mod orders;
pub mod payments;
pub mod products;
pub mod users;

pub use db::{Db, DbKind};
