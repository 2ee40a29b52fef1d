//! The books, shopper by shopper: every answer a shopper got, checked against the stored orders.
//! What a fault breaks shows here even where a constraint would hide it: an accepted order that
//! was never stored, a shopper told `already_bought` with no order, two orders for one shopper.

use crate::helpers::{code, Shopper, TestApp};
use reqwest::StatusCode;
use serde_json::Value;
use server::repositories::Db;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

/// One shopper's answers: the order ids of the accepted ones, the codes of the refusals.
#[derive(Default)]
struct Answers {
    accepted: Vec<String>,
    refused: Vec<String>,
}

#[derive(Default)]
pub struct Books {
    answers: Mutex<BTreeMap<i64, Answers>>,
}

impl Books {
    /// Notes one purchase answer of `shopper`.
    pub fn note(&self, shopper: i64, status: StatusCode, body: &Value) {
        let mut answers = self.answers.lock().expect("books");
        let entry = answers.entry(shopper).or_default();
        if status == StatusCode::ACCEPTED {
            let id = body["order_id"].as_str().unwrap_or_default().to_string();
            entry.accepted.push(id);
        } else {
            entry.refused.push(code(body).to_string());
        }
    }

    /// Everyone buys once, as a shopper would: again after a "try again" (503), for a while.
    /// The number of accepted answers.
    pub async fn crowd(&self, app: &TestApp, shoppers: &[Shopper], product: i64) -> usize {
        let mut accepted = 0;
        for s in shoppers {
            for _ in 0..20 {
                let (status, v) = app.buy(s, product).await;
                self.note(s.id, status, &v);
                accepted += usize::from(status == StatusCode::ACCEPTED);
                if status != StatusCode::SERVICE_UNAVAILABLE {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        accepted
    }

    /// Every shopper's answers against the product's stored orders, once `expected` are stored
    /// (or a minute passed): the list of what is wrong, empty when the books add up.
    pub async fn wrongs(&self, app: &TestApp, product: i64, expected: usize) -> Vec<String> {
        let mut stored: HashMap<i64, Vec<String>> = HashMap::new();
        for _ in 0..600 {
            stored = orders(&app.db, product).await;
            if stored.values().map(Vec::len).sum::<usize>() >= expected {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let answers = self.answers.lock().expect("books");
        let mut wrongs = Vec::new();
        for (user, ids) in &stored {
            if ids.len() > 1 {
                wrongs.push(format!("shopper {user}: {} orders", ids.len()));
            }
        }
        for (user, Answers { accepted, refused }) in answers.iter() {
            let theirs = stored.get(user).map(Vec::as_slice).unwrap_or_default();
            for id in accepted {
                if !theirs.contains(id) {
                    wrongs.push(format!("shopper {user}: accepted order {id} not stored"));
                }
            }
            if theirs.is_empty() && refused.iter().any(|c| c == "already_bought") {
                wrongs.push(format!("shopper {user}: told already_bought with no order"));
            }
        }
        wrongs
    }
}

/// The product's live (reserved or paid) order ids, per shopper.
pub async fn orders(db: &Db, product: i64) -> HashMap<i64, Vec<String>> {
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT user_id, id FROM orders WHERE product_id = ? AND live = 1")
            .bind(product)
            .fetch_all(&db.pool)
            .await
            .expect("orders");
    let mut by_user: HashMap<i64, Vec<String>> = HashMap::new();
    for (user, id) in rows {
        by_user.entry(user).or_default().push(id);
    }
    by_user
}
