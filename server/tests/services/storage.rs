//! Repository statements under concurrency on MariaDB, where InnoDB's locking (not SQLite's
//! single writer) decides what each statement sees.

use crate::backends::fresh_mysql_url;
use app::model::Role;
use server::repositories::products::{self, NewProduct};
use server::repositories::{blacklist, leases, users, Db};
use std::time::Duration;

async fn fresh_db() -> Db {
    Db::connect(&fresh_mysql_url().await)
        .await
        .expect("test db")
}

fn product(name: &str, stock: i64) -> NewProduct<'_> {
    NewProduct {
        name,
        price_cents: 100,
        image: "",
        stock,
        sale_start: 0,
        sale_end: i64::MAX,
        pay_within_ms: 900_000,
    }
}

#[tokio::test]
async fn concurrent_inserts_each_get_their_own_id() {
    let db = fresh_db().await;
    let names: Vec<String> = (0..20).map(|i| format!("p{i}")).collect();
    let rows: Vec<NewProduct> = names.iter().map(|n| product(n, 1)).collect();
    let ids = futures::future::try_join_all(rows.iter().map(|p| products::insert(&db, p, 0)))
        .await
        .unwrap();
    for (name, id) in names.iter().zip(ids) {
        let row = products::get(&db, id).await.unwrap().unwrap();
        assert_eq!(&row.name, name, "id {id}");
    }
}

/// The stock is lowered after the lease read it and before its compare-and-set: the row lock of
/// an open transaction holds the update until the lower stock is committed.
#[tokio::test]
async fn a_lease_raced_by_a_lowered_stock_stays_within_it() {
    let db = fresh_db().await;
    // MySQL before 8.0.16 parses CHECK constraints and ignores them: nothing else stops it.
    sqlx::query("ALTER TABLE products DROP CONSTRAINT products_leased")
        .execute(&db.pool)
        .await
        .unwrap();
    let id = products::insert(&db, &product("Lamp", 10), 0)
        .await
        .unwrap();
    let mut admin = db.pool.begin().await.unwrap();
    sqlx::query("UPDATE products SET stock = 3 WHERE id = ?")
        .bind(id)
        .execute(&mut *admin)
        .await
        .unwrap();
    let now = server::now_ms();
    leases::register(&db, 7, "stock@test:7", now).await.unwrap();
    let lease = tokio::spawn({
        let db = db.clone();
        async move { leases::lease(&db, 7, id, 5, now).await }
    });
    let mut waiting = false;
    for _ in 0..200 {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST \
             WHERE DB = DATABASE() AND INFO LIKE 'UPDATE products SET leased%'",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        if sqlx::Row::get::<i64, _>(&row, "n") > 0 {
            waiting = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(waiting, "the lease never waited for the admin's row lock");
    admin.commit().await.unwrap();
    assert_eq!(lease.await.unwrap().unwrap(), 3);
    let row = products::get(&db, id).await.unwrap().unwrap();
    assert_eq!((row.stock, row.leased), (3, 3));
}

#[tokio::test]
async fn concurrent_blacklistings_of_the_same_and_other_users_all_succeed() {
    let db = fresh_db().await;
    let mut ids = Vec::new();
    for i in 0..10 {
        let user = users::insert(&db, &format!("u{i}"), "x", Role::Shopper, 0).await;
        ids.push(user.unwrap().id);
    }
    let reasons: Vec<String> = (0..30).map(|i| format!("r{i}")).collect();
    let added = futures::future::try_join_all(
        reasons
            .iter()
            .enumerate()
            .map(|(i, r)| blacklist::add(&db, ids[i % ids.len()], r, i as i64)),
    )
    .await
    .unwrap();
    assert_eq!(added, vec![true; 30]);
    let listed = blacklist::list(&db).await.unwrap();
    assert_eq!(listed.len(), ids.len());
    for e in &listed {
        let i: usize = e.reason[1..].parse().unwrap();
        assert_eq!(ids[i % ids.len()], e.user_id, "{e:?}");
    }
    assert!(!blacklist::add(&db, ids[9] + 1_000, "ghost", 0)
        .await
        .unwrap());
    // Twice: an update to the same values still says the user exists.
    for _ in 0..2 {
        assert!(blacklist::add(&db, ids[0], "changed", 99).await.unwrap());
    }
    let listed = blacklist::list(&db).await.unwrap();
    let first = listed.iter().find(|e| e.user_id == ids[0]).unwrap();
    assert_eq!((first.reason.as_str(), first.created_at), ("changed", 99));
}

#[tokio::test]
async fn a_revocation_only_moves_forward() {
    for db in [fresh_db().await, sqlite_db().await] {
        let user = users::insert(&db, "revoked", "x", Role::Shopper, 0)
            .await
            .unwrap();
        assert!(users::revoke_logins(&db, user.id, 5_000).await.unwrap());
        // A revoking host with a slower clock does not bring older logins back.
        assert!(users::revoke_logins(&db, user.id, 3_000).await.unwrap());
        assert_eq!(
            users::revoked_since(&db, 0).await.unwrap(),
            vec![(user.id, 5_000)]
        );
        assert!(users::revoked_since(&db, 5_000).await.unwrap().is_empty());
        assert!(!users::revoke_logins(&db, user.id + 1, 1).await.unwrap());
    }
}

async fn sqlite_db() -> Db {
    let path = std::env::temp_dir().join(format!(
        "flash-revocation-{}-{}.db",
        std::process::id(),
        server::now_ms()
    ));
    Db::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .expect("sqlite db")
}

/// Processes that start together each register their tenure (a stock owner's failed to start
/// on a deadlock in CI).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn owners_registering_together_all_get_in() {
    let db = fresh_db().await;
    for round in 0..5 {
        let registered = futures::future::join_all((0..8).map(|i| {
            let db = db.clone();
            async move {
                let name = format!("stock@127.0.0.1:{i}");
                leases::register(&db, round * 100 + i, &name, server::now_ms()).await
            }
        }))
        .await;
        for r in registered {
            r.expect("registered");
        }
    }
}
