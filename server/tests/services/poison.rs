//! Poison messages (issue 18, fault 5): an order that can never be written — its product deleted
//! while it sat in the queue — is retried a bounded number of times, then parked in
//! `<queue>.dead` with its reason, while the other orders of its message are stored; `dlq list`
//! shows it, `dlq replay` puts it back. And the admin's delete is refused while units are out.

use crate::backends::{amqp_url, fresh_mysql_url, unique_queue};
use crate::helpers::{code, fresh_sqlite_url, next_id, spawn_in, Mode, Shopper, TestApp};
use app::model::Role;
use lapin::options::{BasicGetOptions, BasicNackOptions, QueueDeclareOptions};
use lapin::Channel;
use reqwest::StatusCode;
use serde_json::Value;
use server::metrics::Metrics;
use server::repositories::orders::{self, NewOrder, Written};
use server::repositories::products::{self, NewProduct};
use server::repositories::{users, Db};
use server::services::queue::rabbit::{self, dead, RabbitQueue, Topology};
use server::services::queue::{Enqueued, OrderQueue};
use std::collections::HashSet;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Two products on sale; four shoppers' orders, the second one's for the product that goes.
struct Sale {
    kept: i64,
    gone: i64,
    orders: Vec<NewOrder>,
}

async fn sale(db: &Db) -> Sale {
    let now = server::now_ms();
    let product = |name| NewProduct {
        name,
        price_cents: 100,
        image: "",
        stock: 10,
        sale_start: now - 1,
        sale_end: now + 600_000,
        pay_within_ms: 900_000,
    };
    let kept = products::insert(db, &product("Kept"), now).await.unwrap();
    let gone = products::insert(db, &product("Withdrawn"), now)
        .await
        .unwrap();
    let mut orders = Vec::new();
    for i in 0..4 {
        let name = format!("poison{i}x{}", next_id());
        let user = users::insert(db, &name, "x", Role::Shopper, now)
            .await
            .unwrap();
        orders.push(order(if i == 1 { gone } else { kept }, user.id, now));
    }
    // The units were leased first, as a stock owner does before it sells them.
    sqlx::query("UPDATE products SET leased = 4")
        .execute(&db.pool)
        .await
        .unwrap();
    Sale { kept, gone, orders }
}

/// An order as a node's message carries it (decoded as the consumer does).
fn order(product_id: i64, user_id: i64, now: i64) -> NewOrder {
    let id = uuid::Uuid::now_v7();
    let text = format!(
        r#"{{"order_id":"{id}","product_id":{product_id},"user_id":{user_id},"created_at":{now}}}"#
    );
    serde_json::from_str(&text).unwrap()
}

/// The orders go through the nodes' own publisher, and travel in one message.
async fn queue_orders(topology: &Topology, orders: &[NewOrder]) {
    let (queue, publisher) = RabbitQueue::start(topology.clone(), 10, Duration::from_millis(200))
        .await
        .unwrap();
    let answers = futures::future::join_all(orders.iter().map(|o| queue.submit(o.clone()))).await;
    assert!(
        answers.iter().all(|a| matches!(a, Ok(Enqueued::Queued))),
        "{answers:?}"
    );
    drop(queue);
    publisher.await.unwrap();
}

async fn depth(channel: &Channel, queue: &str) -> u32 {
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let q = channel
        .queue_declare(queue.into(), passive, Default::default())
        .await
        .unwrap();
    q.message_count()
}

/// Polls the queue's depth until it is `want` (or 30 s have passed); returns the last seen.
async fn wait_depth(channel: &Channel, queue: &str, want: u32) -> u32 {
    let mut seen = depth(channel, queue).await;
    for _ in 0..300 {
        if seen == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        seen = depth(channel, queue).await;
    }
    seen
}

fn start_consumer(
    db: &Db,
    topology: &Topology,
    metrics: &Metrics,
) -> (watch::Sender<bool>, JoinHandle<()>) {
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(rabbit::consume(
        db.clone(),
        topology.clone(),
        4,
        metrics.clone(),
        stopped,
    ));
    (stop, task)
}

async fn dead_lettered_once(db: &Db, topology: &Topology, channel: &Channel, metrics: &Metrics) {
    let (stop, task) = start_consumer(db, topology, metrics);
    let dead = wait_depth(channel, &topology.dead_letter(), 1).await;
    // Nothing loops: the main queue stays empty, the dead-letter queue keeps its one message.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let left = depth(channel, &topology.queue).await;
    stop.send(true).unwrap();
    task.await.unwrap();
    assert_eq!(
        dead,
        1,
        "the withdrawn product's order reached {} after its retries",
        topology.dead_letter()
    );
    assert_eq!(left, 0, "nothing left looping in {}", topology.queue);
    assert_eq!(depth(channel, &topology.dead_letter()).await, 1);
}

async fn a_deleted_products_order_is_dead_lettered_and_the_rest_stored(db: Db) {
    let topology = Topology::new(amqp_url(), unique_queue());
    let s = sale(&db).await;
    queue_orders(&topology, &s.orders).await;
    let (_conn, channel) = topology.connect().await.unwrap();
    assert_eq!(depth(&channel, &topology.queue).await, 1, "one message");
    // The product goes while its order waits in the queue (no guard at the database's level).
    sqlx::query("DELETE FROM products WHERE id = ?")
        .bind(s.gone)
        .execute(&db.pool)
        .await
        .unwrap();
    let metrics = Metrics::new().unwrap();
    dead_lettered_once(&db, &topology, &channel, &metrics).await;

    let listed = dead::list(&topology).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let letter = &listed[0];
    assert_eq!(letter.retries, dead::MAX_RETRIES, "{letter:?}");
    assert!(letter.reason.contains("product"), "{letter:?}");
    let dead_ids: HashSet<_> = letter.orders.iter().flatten().map(|o| o.order_id).collect();
    // Shopper by shopper: each accepted order stored exactly once, but the dead-lettered one.
    for o in &s.orders {
        let stored = orders::stored_among(&db, o.product_id, &[o.user_id])
            .await
            .unwrap();
        if o.product_id == s.gone {
            assert!(stored.is_empty(), "{stored:?}");
            assert!(
                dead_ids.contains(&o.order_id),
                "shopper {}: lost",
                o.user_id
            );
        } else {
            assert_eq!(stored, vec![(o.user_id, o.order_id.to_string())]);
            assert!(!dead_ids.contains(&o.order_id), "shopper {}", o.user_id);
        }
    }
    assert_eq!(dead_ids.len(), 1);
    assert_eq!(orders::tally(&db, s.kept).await.unwrap(), (3, 3));
    assert_eq!(products::get(&db, s.kept).await.unwrap().unwrap().sold, 3);
    let text = metrics.render();
    assert!(text.contains("flash_dead_letters_total 1"), "{text}");

    // Replay: back in the main queue, its retries forgotten...
    let replayed = dead::replay(&topology).await.unwrap();
    assert_eq!(replayed.moved, 1, "{replayed:?}");
    assert_eq!(depth(&channel, &topology.dead_letter()).await, 0);
    let back = channel
        .basic_get(topology.queue.as_str().into(), BasicGetOptions::default())
        .await
        .unwrap()
        .expect("the replayed message is in the main queue");
    let headers = back
        .delivery
        .properties
        .headers()
        .clone()
        .unwrap_or_default();
    assert!(!headers.contains_key("x-flash-retries"), "{headers:?}");
    let again: Vec<NewOrder> = serde_json::from_slice(&back.delivery.data).unwrap();
    assert_eq!(again, letter.orders.clone().unwrap());
    back.delivery
        .nack(BasicNackOptions {
            requeue: true,
            multiple: false,
        })
        .await
        .unwrap();
    // ... and, its product still gone, parked again after as many tries.
    dead_lettered_once(&db, &topology, &channel, &metrics).await;
    let listed = dead::list(&topology).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].retries, dead::MAX_RETRIES);
    assert_eq!(orders::tally(&db, s.kept).await.unwrap(), (3, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_a_deleted_products_order_is_dead_lettered_and_the_rest_stored() {
    let db = Db::connect(&fresh_mysql_url().await).await.unwrap();
    a_deleted_products_order_is_dead_lettered_and_the_rest_stored(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_deleted_products_order_is_dead_lettered_not_looping() {
    let db = Db::connect(&fresh_sqlite_url()).await.unwrap();
    a_deleted_products_order_is_dead_lettered_and_the_rest_stored(db).await;
}

/// `server reconcile` drains the queue first. A poison order there is parked as the consumer
/// parks it and the rest of its message stored; the drain ends (it stopped at the poison order,
/// and the reconciliation with it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_before_a_reconcile_parks_a_poison_order_and_stores_the_rest() {
    let db = Db::connect(&fresh_mysql_url().await).await.unwrap();
    let topology = Topology::new(amqp_url(), unique_queue());
    let s = sale(&db).await;
    queue_orders(&topology, &s.orders).await;
    sqlx::query("DELETE FROM products WHERE id = ?")
        .bind(s.gone)
        .execute(&db.pool)
        .await
        .unwrap();
    let settled = rabbit::drain(&db, &topology).await.expect("the drain ends");
    assert!(settled >= 1, "{settled}");
    let (_conn, channel) = topology.connect().await.unwrap();
    assert_eq!(
        depth(&channel, &topology.queue).await,
        0,
        "nothing left queued"
    );
    let listed = dead::list(&topology).await.unwrap();
    assert_eq!(listed.len(), 1, "the poison order parked: {listed:?}");
    assert!(listed[0].reason.contains("product"), "{listed:?}");
    for o in &s.orders {
        let stored = orders::stored_among(&db, o.product_id, &[o.user_id])
            .await
            .unwrap();
        let want = match o.product_id == s.gone {
            true => vec![],
            false => vec![(o.user_id, o.order_id.to_string())],
        };
        assert_eq!(stored, want, "shopper {}", o.user_id);
    }
    assert_eq!(orders::tally(&db, s.kept).await.unwrap(), (3, 3));
}

/// `INSERT IGNORE` turned the foreign-key error into a warning: the order was "a duplicate".
#[tokio::test]
async fn an_order_for_a_missing_product_is_an_error_not_a_duplicate() {
    for url in [fresh_mysql_url().await, fresh_sqlite_url()] {
        let db = Db::connect(&url).await.unwrap();
        let s = sale(&db).await;
        sqlx::query("DELETE FROM products WHERE id = ?")
            .bind(s.gone)
            .execute(&db.pool)
            .await
            .unwrap();
        let orphan = orders::write_batch(&db, &s.orders[1..2]).await;
        assert!(orphan.is_err(), "{url}: {orphan:?}");
        // A real second order of a buyer stays a duplicate, and a redelivery is stored.
        let first = s.orders[0].clone();
        let second = NewOrder {
            order_id: uuid::Uuid::now_v7(),
            ..first.clone()
        };
        let written = orders::write_batch(&db, &[first.clone(), second, first])
            .await
            .unwrap();
        assert_eq!(
            written,
            vec![Written::Stored, Written::Duplicate, Written::Stored],
            "{url}"
        );
    }
}

async fn delete(app: &TestApp, admin: &Shopper, id: i64) -> (StatusCode, Value) {
    let r = app
        .http
        .delete(app.url(&format!("/api/v1/admin/products/{id}")))
        .header("cookie", &admin.cookie)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_with_queued_orders_or_leased_units_is_not_deleted() {
    // No consumer: the order stays in the queue, nothing is in the orders table.
    let app = spawn_in(Mode::Rabbit, &[("FLASH_CONSUMER", "0")]).await;
    let (sold, untouched) = (app.on_sale(5).await, app.on_sale(5).await);
    let shopper = app.shoppers(1).await.remove(0);
    let admin = app.admin().await;
    let (s, v) = app.buy(&shopper, sold).await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::ACCEPTED, Some("queued")),
        "{v}"
    );
    assert_eq!(app.order_count(sold).await, (0, 0));

    let (s, v) = delete(&app, &admin, sold).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "conflict"), "{v}");
    let message = v["message"].as_str().unwrap_or_default();
    assert!(message.contains("queued"), "{message}");
    assert!(products::get(&app.db, sold).await.unwrap().is_some());
    // A product nobody bought still goes.
    let (s, v) = delete(&app, &admin, untouched).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert!(products::get(&app.db, untouched).await.unwrap().is_none());
    app.stop().await;
}
