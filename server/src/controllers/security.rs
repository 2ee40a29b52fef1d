//! Browser-facing defences on every response and state-changing request: a cross-site request
//! (its Origin or Referer names another host) is refused before it reaches a handler, on top of
//! SameSite=Lax cookies; and headers that forbid framing and MIME sniffing.

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method};

/// The `host[:port]` of an `Origin` or `Referer` value.
fn authority(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    Some(rest.split(['/', '?', '#']).next().unwrap_or(rest))
}

/// Whether the request comes from a page of another site. Tools that send neither header
/// (curl, load generators, peer nodes) are not browsers and carry no ambient cookies to abuse.
pub fn cross_site(req: &Request) -> bool {
    let headers = req.headers();
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    match source {
        None => false,
        Some("null") => true,
        Some(src) => authority(src).is_none_or(|a| !a.eq_ignore_ascii_case(host)),
    }
}

/// A state-changing request from another site.
pub fn refused(req: &Request) -> bool {
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    changes_state && cross_site(req)
}

/// The headers every answer carries.
pub fn add_headers(h: &mut HeaderMap) {
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "frame-ancestors 'none'; base-uri 'self'; object-src 'none'; form-action 'self'",
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(origin: Option<&str>, referer: Option<&str>) -> Request {
        let mut b = Request::builder()
            .method("POST")
            .uri("/api/purchase")
            .header("host", "shop.example:3000");
        if let Some(o) = origin {
            b = b.header("origin", o);
        }
        if let Some(r) = referer {
            b = b.header("referer", r);
        }
        b.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn only_other_sites_are_cross_site() {
        assert!(!cross_site(&req(None, None)));
        assert!(!cross_site(&req(Some("http://shop.example:3000"), None)));
        assert!(!cross_site(&req(
            None,
            Some("https://shop.example:3000/product/1?x=1")
        )));
        assert!(cross_site(&req(Some("https://evil.example"), None)));
        assert!(cross_site(&req(Some("null"), None)));
        assert!(cross_site(&req(
            None,
            Some("http://shop.example:3000.evil.example/")
        )));
        assert!(cross_site(&req(Some("http://shop.example:3001"), None)));
    }
}
