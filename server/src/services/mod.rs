//! One module per stage of the purchase pipeline, in the order a request meets them:
//! limiter → cookie → blacklist → window → cooldown → captcha → stock → queue → orders.
//! `purchase` strings them together.

pub mod accounts;
pub mod admin;
pub mod blacklist;
pub mod captcha;
pub mod cookie;
pub mod cooldown;
pub mod limiter;
pub mod orders;
pub mod purchase;
pub mod queue;
pub mod stock;
pub mod window;
