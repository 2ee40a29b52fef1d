//! Unit tests' database: a fresh SQLite file with one product on sale (10 units) and shoppers.

use super::products::{self, NewProduct};
use super::{users, Db};
use app::model::Role;

/// The database, the product's id and the shoppers' ids, in the order of `names`.
pub async fn sale(names: &[&str]) -> (Db, i64, Vec<i64>) {
    let path = std::env::temp_dir().join(format!("flash-test-{}.db", uuid::Uuid::now_v7()));
    let db = Db::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    let p = NewProduct {
        name: "Lamp",
        price_cents: 100,
        image: "",
        stock: 10,
        sale_start: 0,
        sale_end: i64::MAX,
        pay_within_ms: 900_000,
    };
    let product = products::insert(&db, &p, 0).await.unwrap();
    let mut ids = Vec::new();
    for name in names {
        let user = users::insert(&db, name, "x", Role::Shopper, 0).await;
        ids.push(user.unwrap().id);
    }
    (db, product, ids)
}
