//! The services behind the doors, each owning its state. In the order a purchase meets them:
//! auth (cookie → shopper) → sale (blacklist, catalog's window, cooldown, captcha, buyers, stock,
//! queue) → the queue's consumer. On a ring of nodes the sale first forwards each shopper's steps
//! to the node that owns them (`forward`, `ring`, `peers`). Beside the sale: accounts, the
//! catalog, the operators' `operations` and the `monitor`.

pub mod accounts;
pub mod assets;
pub mod auth;
pub mod blacklist;
pub mod buyers;
pub mod captcha;
pub mod catalog;
pub mod clients;
pub mod cookie;
pub mod cooldown;
pub mod forward;
pub mod guard;
pub mod limiter;
pub mod live;
pub mod monitor;
pub mod operations;
pub mod peers;
pub mod pending;
pub mod priority;
pub mod product_form;
pub mod queue;
pub mod reservations;
pub mod revocations;
pub mod ring;
pub mod sale;
pub mod stand_in;
pub mod stock;
pub mod sweeper;
