//! An open page's live stream, read as a browser's EventSource would: event by event.

use crate::helpers::{Shopper, TestApp};
use serde_json::Value;
use std::time::Duration;

pub struct LiveEvents {
    resp: reqwest::Response,
    buf: String,
}

impl LiveEvents {
    /// Opens the product's stream (as `who`, or without a login); the answer when it is refused.
    pub async fn open(
        app: &TestApp,
        who: Option<&Shopper>,
        product: i64,
    ) -> Result<LiveEvents, (reqwest::StatusCode, Value)> {
        let mut req = app
            .http
            .get(app.url(&format!("/api/v1/products/{product}/live")));
        if let Some(s) = who {
            req = req.header("cookie", &s.cookie);
        }
        // The client's 60 s timeout would end a stream that is meant to stay.
        let resp = req
            .timeout(Duration::from_secs(3600))
            .send()
            .await
            .expect("stream opens");
        if resp.status() != reqwest::StatusCode::OK {
            let status = resp.status();
            return Err((status, resp.json().await.unwrap_or_default()));
        }
        let kind = resp.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .to_string();
        assert_eq!(kind, "text/event-stream");
        Ok(LiveEvents {
            resp,
            buf: String::new(),
        })
    }

    /// The next event (name, data), or `None` when the stream ended or said nothing for 10 s.
    pub async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let event: String = self.buf.drain(..end + 2).collect();
                let mut name = String::new();
                let mut data = Value::Null;
                for line in event.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        name = v.to_string();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = serde_json::from_str(v).expect("JSON data");
                    }
                }
                return Some((name, data));
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.resp.chunk()).await;
            match chunk {
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    /// Reads until an event `name` whose data satisfies `pred`; panics after 10 s of silence.
    pub async fn until(&mut self, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            match self.next().await {
                Some((n, data)) if n == name && pred(&data) => return data,
                Some(_) => continue,
                None => panic!("the stream ended or fell silent before a matching `{name}` event"),
            }
        }
    }
}
