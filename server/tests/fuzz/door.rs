//! The door's own parsing of what a stranger writes: forwarding headers (which decide whose
//! bucket a request spends), proxy lists, and the cross-site check's Host, Origin and Referer.

use super::*;
use crate::garbage::{body, content_type, cookie_for_http, is_api_error};
use crate::pass::any_text;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use server::controllers::security;
use server::services::clients::{Block, ForwardedHeader, TrustedProxies};
use std::net::IpAddr;

/// Addresses, near misses of addresses, and the separators the headers use.
fn hop() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| IpAddr::from(b).to_string()),
        any::<[u8; 16]>().prop_map(|b| format!("\"[{}]:443\"", IpAddr::from(b))),
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(b, p)| format!("{}:{p}", IpAddr::from(b))),
        Just("10.0.0.1".to_string()),
        Just("unknown".to_string()),
        "[0-9a-f:.\\[\\]\"]{0,40}",
        any_text(),
    ]
}

fn header_text() -> impl Strategy<Value = String> {
    vec(
        (
            hop(),
            prop::sample::select(vec![", ", ",", ";", " ; for=", "for="]),
        ),
        0..6,
    )
    .prop_map(|parts| {
        parts
            .into_iter()
            .map(|(h, sep)| format!("{sep}{h}"))
            .collect::<String>()
    })
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.append(HeaderName::from_bytes(k.as_bytes()).expect("name"), v);
        }
    }
    h
}

proptest! {
    #![proptest_config(config(4096))]

    /// Whatever the headers say, the client is the peer or an address they name, and never a
    /// trusted proxy unless the peer itself (a proxy naming only proxies is the client).
    #[test]
    fn forwarding_headers_name_the_peer_or_an_untrusted_hop(
        xff in header_text(),
        forwarded in header_text(),
        peer in prop_oneof![Just([10u8, 0, 0, 1]), any::<[u8; 4]>()],
        use_forwarded in any::<bool>(),
    ) {
        let header = if use_forwarded { ForwardedHeader::Forwarded } else { ForwardedHeader::XForwardedFor };
        let proxies = TrustedProxies::new(vec!["10.0.0.0/8".parse().expect("block")], header);
        let peer = IpAddr::from(peer);
        let h = headers(&[("x-forwarded-for", &xff), ("forwarded", &forwarded)]);
        let client = proxies.client(peer, &h).ip;
        let trusted = |ip: IpAddr| match ip { IpAddr::V4(v4) => v4.octets()[0] == 10, _ => false };
        if !trusted(peer) {
            prop_assert_eq!(client, peer);
        } else if client != peer {
            prop_assert!(!trusted(client), "{} is a trusted proxy", client);
            let named = if use_forwarded { forwarded.clone() } else { xff.clone() };
            let bare = client.to_string();
            prop_assert!(named.contains(&bare), "{} named nowhere in {}", bare, named);
        }
    }

    /// Proxy lists parse or are refused, never a panic.
    #[test]
    fn proxy_blocks_parse_or_are_refused(raw in prop_oneof![hop(), "[0-9./:a-f]{0,50}"]) {
        let _ = raw.parse::<Block>();
    }

    /// The cross-site check: never a panic; a request naming no source is never refused, and a
    /// GET other than `/check` may always be linked to.
    #[test]
    fn the_cross_site_check_never_panics_and_spares_links(
        origin in prop::option::of(any_text()),
        referer in prop::option::of(any_text()),
        host in prop::option::of(any_text()),
        method in prop::sample::select(vec!["GET", "POST", "DELETE"]),
        path in prop::sample::select(vec!["/check?productID=1", "/api/purchase", "/product/1", "http://shop.example/api/purchase"]),
    ) {
        let mut b = axum::http::Request::builder().method(method).uri(path);
        for (k, v) in [("origin", &origin), ("referer", &referer), ("host", &host)] {
            if let Some(v) = v.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
                b = b.header(k, v);
            }
        }
        let req = b.body(axum::body::Body::empty()).expect("request");
        let named = req.headers().contains_key("origin") || req.headers().contains_key("referer");
        let refused = security::refused(&req);
        if !named || (method == "GET" && !path.starts_with("/check")) {
            prop_assert!(!refused);
        }
    }
}

proptest! {
    #![proptest_config(http_config(300))]

    /// Garbage forwarding and Host headers at the door: the page, the API, the seed's purchase
    /// and the metrics answer without a 5xx, and a client's own forwarding headers are not
    /// believed (the server trusts no proxy): the metrics stay this machine's.
    #[test]
    fn the_door_answers_garbage_forwarding_headers(
        xff in header_text(),
        forwarded in header_text(),
        host in prop::option::of("[ -~]{0,60}"),
        path in prop::sample::select(vec!["/api/v1/products", "/metrics", "/check?productID=1", "/login"]),
        cookie in prop::option::of(Just(crate::http::server().cookie.clone())),
    ) {
        let s = crate::http::server();
        let (status, text) = s.rt.block_on(async {
            let mut b = s.http.get(format!("{}{path}", s.base));
            for (k, v) in [("x-forwarded-for", Some(&xff)), ("forwarded", Some(&forwarded)), ("host", host.as_ref()), ("cookie", cookie.as_ref())] {
                if let Some(v) = v.and_then(|v| HeaderValue::from_str(v).ok()) {
                    b = b.header(k, v);
                }
            }
            let resp = b.send().await.expect("the server answers");
            (resp.status(), resp.text().await.unwrap_or_default())
        });
        prop_assert!(!status.is_server_error(), "{} {} {}", path, status, text);
        // The server trusts no proxy: forwarding headers never make a client local or remote.
        if path == "/metrics" {
            prop_assert_eq!(status, StatusCode::OK);
        }
    }
}

proptest! {
    #![proptest_config(http_config(300))]

    /// Garbage at the door's own routes — login, registration, the admin's revocation (its JSON
    /// route and its server function) — with
    /// arbitrary bodies, content types and cookies: a 4xx in the API's error shape (a shopper's
    /// cookie revokes nothing), never a 5xx, and never a login for garbage.
    #[test]
    fn the_doors_own_routes_answer_4xx_to_garbage(
        route in prop::sample::select(vec!["/api/v1/login", "/api/v1/register", "/api/v1/admin/revocations", "/api/admin/revoke_logins"]),
        body in body(),
        content_type in content_type(),
        cookie in cookie_for_http(&crate::http::server().cookie),
    ) {
        let s = crate::http::server();
        let (status, text) = s.rt.block_on(async {
            let mut b = s.http.post(format!("{}{route}", s.base)).body(body);
            for (k, v) in [("content-type", content_type.as_ref()), ("cookie", cookie.as_ref())] {
                if let Some(v) = v.and_then(|v| HeaderValue::from_str(v).ok()) {
                    b = b.header(k, v);
                }
            }
            let resp = b.send().await.expect("the server answers");
            (resp.status(), resp.text().await.unwrap_or_default())
        });
        // A random body could spell a valid new name and password: registration may succeed.
        if route == "/api/v1/register" && status == StatusCode::CREATED {
            return Ok(());
        }
        prop_assert!(status.is_client_error(), "{} {} {}", route, status, text);
        prop_assert!(is_api_error(&text), "not the error shape: {}", text);
    }
}
