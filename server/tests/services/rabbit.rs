//! RabbitMQ + MariaDB faults, against the machine's real services.

use crate::backends::{amqp_url, fresh_mysql_url, unique_queue};
use crate::helpers::{code, spawn_app_on};
use crate::proxy::Proxy;
use futures::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicQosOptions};
use reqwest::StatusCode;
use server::repositories::orders::{self, NewOrder};
use server::repositories::{products, Db};
use server::services::queue::rabbit::{self, RabbitQueue, Topology};
use server::services::queue::{Enqueued, OrderQueue};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_between_insert_and_ack_creates_no_duplicate() {
    let db = Db::connect(&fresh_mysql_url().await).await.unwrap();
    let now = server::now_ms();
    let p = products::insert(
        &db,
        &products::NewProduct {
            name: "Redelivered",
            price_cents: 1,
            image: "/img/gift.svg",
            stock: 10,
            sale_start: now - 1,
            sale_end: now + 60_000,
            pay_within_ms: 900_000,
        },
        now,
    )
    .await
    .unwrap();
    let mut users = Vec::new();
    for i in 0..3 {
        users.push(
            server::repositories::users::insert(
                &db,
                &format!("redeliver{i}"),
                "x",
                app::model::Role::Shopper,
                now,
            )
            .await
            .unwrap()
            .id,
        );
    }
    sqlx::query("UPDATE products SET leased = 3 WHERE id = ?")
        .bind(p)
        .execute(&db.pool)
        .await
        .unwrap();
    let topology = Topology::new(amqp_url(), unique_queue());
    let (queue, publisher) = RabbitQueue::start(topology.clone(), 10, Duration::from_millis(20))
        .await
        .unwrap();
    let batch = futures::future::join_all(users.iter().map(|&u| {
        queue.submit(NewOrder {
            order_id: uuid::Uuid::now_v7(),
            product_id: p,
            user_id: u,
            created_at: now,
            lease_owner: 0,
            deadline: 0,
        })
    }))
    .await;
    assert!(
        batch.iter().all(|r| matches!(r, Ok(Enqueued::Queued))),
        "{batch:?}"
    );
    drop(queue);
    publisher.await.unwrap();

    // A consumer takes the message, commits the orders, and dies before its ack.
    {
        let (conn, channel) = topology.connect().await.unwrap();
        channel
            .basic_qos(1, BasicQosOptions::default())
            .await
            .unwrap();
        let mut deliveries = channel
            .basic_consume(
                topology.queue.as_str().into(),
                "doomed".into(),
                BasicConsumeOptions::default(),
                Default::default(),
            )
            .await
            .unwrap();
        let delivery = deliveries.next().await.unwrap().unwrap();
        let orders_in: Vec<NewOrder> = serde_json::from_slice(&delivery.data).unwrap();
        orders::commit(&db, &orders_in).await.unwrap();
        drop(deliveries);
        conn.close(320, "killed".into()).await.ok();
    }
    assert_eq!(
        server::repositories::orders::tally(&db, p).await.unwrap(),
        (3, 3)
    );

    // The restarted consumer gets the message again: nothing is written twice.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let consumer = tokio::spawn(rabbit::consume(
        db.clone(),
        topology.clone(),
        4,
        server::metrics::Metrics::new().unwrap(),
        stopped,
    ));
    let mut drained = false;
    for _ in 0..100 {
        let (_c, ch) = topology.connect().await.unwrap();
        let q = ch
            .queue_declare(
                topology.queue.as_str().into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await
            .unwrap();
        if q.message_count() == 0 && q.consumer_count() > 0 {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.send(true).unwrap();
    consumer.await.unwrap();
    assert!(drained, "the redelivered message was not consumed");
    assert_eq!(
        server::repositories::orders::tally(&db, p).await.unwrap(),
        (3, 3)
    );
    let row = products::get(&db, p).await.unwrap().unwrap();
    assert_eq!(row.sold, 3, "sold counted each order once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broker_unreachable_during_a_purchase_returns_the_unit_and_the_books_add_up() {
    let proxy = Proxy::broker().await;
    let (amqp, queue) = (proxy.amqp_url(), unique_queue());
    let db_url = fresh_mysql_url().await;
    let app = spawn_app_on(&db_url, &[("AMQP_URL", &amqp), ("FLASH_QUEUE", &queue)]).await;
    let p = app.on_sale(3).await;
    let sh = app.shoppers(4).await;

    let (s, v) = app.buy(&sh[0], p).await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::ACCEPTED, Some("queued")),
        "{v}"
    );
    assert_eq!(app.orders_settle(p, 1).await, (1, 1));

    let pass = app.pass(&sh[1], p).await;
    proxy.cut().await;
    let (s, v) = app.purchase(&sh[1], p, &pass).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    );
    proxy.restore();

    // The unit went back: the two units left still sell, then it is sold out.
    for shopper in &sh[2..4] {
        let (s, v) = app.buy(shopper, p).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    }
    let (s, v) = app.buy(&sh[1], p).await;
    assert!(
        s == StatusCode::GONE || code(&v) == "too_frequent",
        "{s} {v}"
    );
    assert_eq!(app.orders_settle(p, 3).await, (3, 3));
    app.stop().await;
    let row = products::get(&Db::connect(&db_url).await.unwrap(), p)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.stock, row.sold, row.leased),
        (3, 3, 3),
        "stock, orders and leases add up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_messages_go_to_the_dead_letter_queue() {
    let db = Db::connect(&fresh_mysql_url().await).await.unwrap();
    let topology = Topology::new(amqp_url(), unique_queue());
    let (_conn, channel) = topology.connect().await.unwrap();
    let props = lapin::BasicProperties::default().with_delivery_mode(2);
    channel
        .basic_publish(
            "".into(),
            topology.queue.as_str().into(),
            Default::default(),
            b"{not an order batch",
            props,
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let consumer = tokio::spawn(rabbit::consume(
        db,
        topology.clone(),
        4,
        server::metrics::Metrics::new().unwrap(),
        stopped,
    ));
    let passive = lapin::options::QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let mut dead = 0;
    for _ in 0..100 {
        let q = channel
            .queue_declare(
                topology.dead_letter().as_str().into(),
                passive,
                Default::default(),
            )
            .await
            .unwrap();
        dead = q.message_count();
        if dead > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.send(true).unwrap();
    consumer.await.unwrap();
    assert_eq!(
        dead,
        1,
        "the poison message is parked in {}",
        topology.dead_letter()
    );
}
