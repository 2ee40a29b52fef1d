//! The crowd, made up front and in bulk: shoppers inserted straight into the database (hashing
//! 200,000 passwords would take longer than the sale) and their cookies sealed with the server's
//! secret, exactly as a login would.

use app::model::Role;
use server::repositories::products::{self, NewProduct};
use server::repositories::Db;
use server::services::cookie::CookieCodec;
use std::time::Duration;

pub struct Shopper {
    pub id: i64,
    pub cookie: String,
}

/// A product on sale now with `units` units.
pub async fn product(db: &Db, units: i64, name: &str) -> anyhow::Result<i64> {
    let now = server::now_ms();
    let p = NewProduct {
        name,
        price_cents: 100,
        image: "/img/gift.svg",
        stock: units,
        sale_start: now - 1_000,
        sale_end: now + 24 * 3_600_000,
        pay_within_ms: 900_000,
    };
    Ok(products::insert(db, &p, now).await?)
}

pub async fn shoppers(db: &Db, n: usize, secret: &str, tag: &str) -> anyhow::Result<Vec<Shopper>> {
    let now = server::now_ms();
    // Never a valid argon2 hash: these accounts can only be used through the sealed cookie.
    let hash = "bench-account-no-password";
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let values = vec!["(?, ?, 'shopper', ?)"; chunk.len()].join(", ");
        let sql =
            format!("INSERT INTO users (name, password_hash, role, created_at) VALUES {values}");
        let mut q = sqlx::query(&sql);
        for i in chunk {
            q = q.bind(format!("{tag}{i}")).bind(hash).bind(now);
        }
        q.execute(&db.pool).await?;
    }
    let codec = CookieCodec::new(secret, &[], Duration::from_secs(6 * 3600), false);
    let rows = sqlx::query("SELECT id, name FROM users WHERE name LIKE ? ORDER BY id")
        .bind(format!("{tag}%"))
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| {
            let id: i64 = sqlx::Row::try_get(r, "id")?;
            let name: String = sqlx::Row::try_get(r, "name")?;
            let claims = codec.claims(id, Role::Shopper, &name, now);
            Ok(Shopper {
                id,
                cookie: format!("flash_auth={}", codec.seal(&claims)),
            })
        })
        .collect()
}

/// The routing cookie each shopper's login would have set on this ring: their owner node's id.
pub fn route_cookies(shoppers: &mut [Shopper], ids: &[String], vnodes: u32) {
    use server::services::forward::ROUTE_COOKIE;
    use server::services::ring::{user_key, Ring};
    let ring = Ring::new(ids, vnodes);
    for s in shoppers {
        if let Some(owner) = ring.owner(user_key(s.id)) {
            s.cookie
                .push_str(&format!("; {ROUTE_COOKIE}={}", ids[owner]));
        }
    }
}
