//! One module per stage of the purchase pipeline, in the order a request meets them:
//! limiter → cookie → blacklist → window → cooldown → captcha → stock → queue → orders.
//! `purchase` strings them together; on a ring of nodes `forward` first sends each user's steps
//! to the node that owns the user (`ring`, `peers`).

pub mod accounts;
pub mod admin;
pub mod blacklist;
pub mod buyers;
pub mod captcha;
pub mod cookie;
pub mod cooldown;
pub mod forward;
pub mod limiter;
pub mod orders;
pub mod peers;
pub mod pending;
pub mod purchase;
pub mod queue;
pub mod ring;
pub mod stock;
pub mod window;
