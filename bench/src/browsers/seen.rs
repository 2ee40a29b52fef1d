//! What the crowd saw: counted by each page, merged over the pages of a load process and then
//! over the processes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the crowd saw, merged over the pages of one load process.
#[derive(Default, Serialize, Deserialize)]
pub struct Seen {
    pub pages: u64,
    pub page_load_ms: Vec<f64>,
    pub asset_bytes: u64,
    pub captcha_ms: Vec<f64>,
    pub purchase_ms: Vec<f64>,
    /// Answers by what was asked and its status (`page 200`, `captcha 429`, `purchase sold_out`).
    pub answers: BTreeMap<String, u64>,
    /// Page loads and stream opens answered 429.
    pub refused_429: u64,
    /// Streams that could not be opened or ended before the crowd left.
    pub streams_lost: u64,
    /// Per page that saw it: when its stream said no unit was left (Unix ms).
    pub sold_out_seen_at: Vec<i64>,
    pub accepted_at: Vec<i64>,
    pub orders_told_on_stream: u64,
    pub hangups: u64,
}

impl Seen {
    pub fn count(&mut self, what: &str, status: impl std::fmt::Display) {
        *self.answers.entry(format!("{what} {status}")).or_default() += 1;
    }

    pub fn merge(&mut self, o: Seen) {
        self.pages += o.pages;
        self.page_load_ms.extend(o.page_load_ms);
        self.asset_bytes += o.asset_bytes;
        self.captcha_ms.extend(o.captcha_ms);
        self.purchase_ms.extend(o.purchase_ms);
        for (k, n) in o.answers {
            *self.answers.entry(k).or_default() += n;
        }
        self.refused_429 += o.refused_429;
        self.streams_lost += o.streams_lost;
        self.sold_out_seen_at.extend(o.sold_out_seen_at);
        self.accepted_at.extend(o.accepted_at);
        self.orders_told_on_stream += o.orders_told_on_stream;
        self.hangups += o.hangups;
    }
}
