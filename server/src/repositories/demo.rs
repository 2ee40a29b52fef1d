//! Demo data for an empty database: sales in every phase and two accounts (see README).

use super::products::{self, NewProduct};
use super::{users, Db};
use app::model::Role;

pub const DEMO_SHOPPER: (&str, &str) = ("alice", "alice-demo-pass");
pub const DEMO_ADMIN: (&str, &str) = ("admin", "admin-demo-pass");

const MIN: i64 = 60_000;
const DAY: i64 = 24 * 60 * MIN;

/// Seeds once: does nothing when any user exists. `hash` turns a password into its stored hash.
pub async fn seed(
    db: &Db,
    now: i64,
    hash: impl Fn(&str) -> anyhow::Result<String>,
) -> anyhow::Result<bool> {
    if users::count(db).await? > 0 {
        return Ok(false);
    }
    for (name, start, end, stock, price, image) in [
        (
            "Mechanical Keyboard",
            now - 60 * MIN,
            now + 30 * DAY,
            1000,
            4999,
            "/img/keyboard.svg",
        ),
        (
            "Last One Standing",
            now - 60 * MIN,
            now + 30 * DAY,
            1,
            999,
            "/img/gift.svg",
        ),
        (
            "Noise-cancelling Headphones",
            now + 5 * MIN,
            now + 30 * DAY,
            500,
            12900,
            "/img/headphones.svg",
        ),
        (
            "Smart Watch",
            now + 2 * DAY,
            now + 9 * DAY,
            200,
            19900,
            "/img/watch.svg",
        ),
        (
            "Vintage Camera",
            now - 9 * DAY,
            now - DAY,
            50,
            34900,
            "/img/camera.svg",
        ),
    ] {
        let p = NewProduct {
            name,
            price_cents: price,
            image,
            stock,
            sale_start: start,
            sale_end: end,
            pay_within_ms: 900_000,
        };
        products::insert(db, &p, now).await?;
    }
    for ((name, password), role) in [(DEMO_SHOPPER, Role::Shopper), (DEMO_ADMIN, Role::Admin)] {
        users::insert(db, name, &hash(password)?, role, now).await?;
    }
    Ok(true)
}
