//! The crowd's HTTP/1.1 client: one keep-alive connection per worker, requests written as
//! prepared bytes, answers parsed with `httparse`. reqwest (a pool behind channels, a URL parsed
//! and a header map built per request, the system allocator) cost the load generator about
//! 80 µs of CPU per purchase: more than the server spent answering it, on the same two cores.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A server's address and its `Host` header value, from `http://host:port`.
#[derive(Clone)]
pub struct Target {
    pub addr: String,
}

impl Target {
    pub fn parse(base: &str) -> anyhow::Result<Self> {
        let addr = base
            .strip_prefix("http://")
            .ok_or_else(|| anyhow::anyhow!("only http:// servers: {base}"))?
            .trim_end_matches('/');
        Ok(Target { addr: addr.into() })
    }

    /// A POST with a JSON body, as raw bytes.
    pub fn post(&self, path: &str, cookie: &str, body: &str) -> Vec<u8> {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .into_bytes()
    }
}

pub struct Answer {
    pub status: u16,
    pub retry_after: Option<u64>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The `error` code of a refusal (`{"error": "...", ...}`), or "error" when there is none.
    pub fn error_code(&self) -> String {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["error"].as_str().map(String::from))
            .unwrap_or_else(|| "error".into())
    }
}

/// At most this much of an answer is read (captcha images are a few kilobytes).
const MAX_ANSWER: usize = 1 << 20;

/// One keep-alive connection, opened on first use and again after any failure.
pub struct Conn {
    target: Target,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("no answer within the timeout")]
    Timeout,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("malformed answer: {0}")]
    Malformed(String),
}

impl Conn {
    pub fn new(target: Target, timeout: Duration) -> Self {
        Conn {
            target,
            stream: None,
            buf: Vec::with_capacity(16 * 1024),
            timeout,
        }
    }

    /// Sends one request and reads its answer; on any failure the connection is dropped (the
    /// next request opens a new one), so a late answer can never be read as another's.
    pub async fn send(&mut self, request: &[u8]) -> Result<Answer, HttpError> {
        let result = tokio::time::timeout(self.timeout, self.exchange(request)).await;
        let answer = match result {
            Ok(Ok(a)) => Ok(a),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(HttpError::Timeout),
        };
        if answer.is_err() {
            self.stream = None;
        }
        answer
    }

    async fn exchange(&mut self, request: &[u8]) -> Result<Answer, HttpError> {
        if self.stream.is_none() {
            let s = TcpStream::connect(&self.target.addr).await?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(HttpError::Malformed("no connection".into()));
        };
        stream.write_all(request).await?;
        self.buf.clear();
        loop {
            if let Some(head) = parse(&self.buf)? {
                let end = head.len + head.body;
                if self.buf.len() >= end {
                    if head.close {
                        self.stream = None;
                    }
                    return Ok(Answer {
                        status: head.status,
                        retry_after: head.retry_after,
                        body: self.buf[head.len..end].to_vec(),
                    });
                }
            }
            if self.buf.len() > MAX_ANSWER {
                return Err(HttpError::Malformed("answer too large".into()));
            }
            if stream.read_buf(&mut self.buf).await? == 0 {
                return Err(HttpError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }
}

/// The head of an answer.
struct Head {
    /// Its length in bytes.
    len: usize,
    status: u16,
    retry_after: Option<u64>,
    close: bool,
    /// The body's length (`Content-Length`).
    body: usize,
}

/// The head of an answer, once all of it has arrived.
fn parse(buf: &[u8]) -> Result<Option<Head>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HttpError::Malformed(e.to_string())),
    };
    let (mut retry_after, mut close, mut body) = (None, false, None);
    for h in resp.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("").trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            body = value.parse::<usize>().ok();
        } else if h.name.eq_ignore_ascii_case("retry-after") {
            retry_after = value.parse().ok();
        } else if h.name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HttpError::Malformed(
                "chunked answers are not expected".into(),
            ));
        }
    }
    let body = body.ok_or_else(|| HttpError::Malformed("no content-length".into()))?;
    if body > MAX_ANSWER {
        return Err(HttpError::Malformed("answer too large".into()));
    }
    Ok(Some(Head {
        len,
        status: resp.code.unwrap_or(0),
        retry_after,
        close,
        body,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_complete_answer_and_waits_for_a_partial_one() {
        let raw = b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 24\r\nretry-after: 3\r\n\r\n{\"error\":\"too_frequent\"}";
        assert!(parse(&raw[..20]).unwrap().is_none());
        let h = parse(raw).unwrap().unwrap();
        assert_eq!((h.status, h.retry_after, h.close), (429, Some(3), false));
        assert_eq!(h.len + h.body, raw.len());
        let a = Answer {
            status: 429,
            retry_after: None,
            body: br#"{"error":"sold_out","message":"x"}"#.to_vec(),
        };
        assert_eq!(a.error_code(), "sold_out");
        assert!(parse(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }
}
