//! Who is logged in: asked by the browser for shared pages, by the server for the user's own.

use crate::api::current_user;
use crate::model::{ApiError, User};
use leptos::prelude::*;

/// Who is logged in, asked by the browser once the page is up: public pages render the same HTML
/// for everyone (a cache may serve them), and the user's parts fill in afterwards. Every island
/// of the page shares the one answer; a login or logout loads a new page, which asks again.
pub fn use_user() -> LocalResource<Result<Option<User>, ApiError>> {
    LocalResource::new(asked_once)
}

#[cfg(feature = "hydrate")]
async fn asked_once() -> Result<Option<User>, ApiError> {
    use futures::future::{FutureExt, LocalBoxFuture, Shared};
    type Asked = Shared<LocalBoxFuture<'static, Result<Option<User>, ApiError>>>;
    thread_local! {
        static ASKED: std::cell::RefCell<Option<Asked>> = const { std::cell::RefCell::new(None) };
    }
    let asked = ASKED.with(|a| {
        a.borrow_mut()
            .get_or_insert_with(|| current_user().boxed_local().shared())
            .clone()
    });
    asked.await
}

#[cfg(not(feature = "hydrate"))]
async fn asked_once() -> Result<Option<User>, ApiError> {
    current_user().await
}

/// Who is logged in, asked while the server renders: for the pages that are the user's own
/// (orders, admin), which redirect or refuse before anything is shown.
pub fn rendered_user() -> Resource<Result<Option<User>, ApiError>> {
    Resource::new(|| (), |_| current_user())
}

/// `/login?next=…` for the current path, so that login comes back here.
pub fn login_href(next: &str) -> String {
    let safe = if next.starts_with('/') && !next.starts_with("//") {
        next
    } else {
        "/"
    };
    let mut encoded = String::with_capacity(safe.len());
    for b in safe.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' => {
                encoded.push(b as char)
            }
            _ => encoded.push_str(&format!("%{b:02X}")),
        }
    }
    format!("/login?next={encoded}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn login_href_keeps_local_paths_only() {
        assert_eq!(super::login_href("/product/1"), "/login?next=/product/1");
        assert_eq!(super::login_href("//evil.example"), "/login?next=/");
        assert_eq!(super::login_href("https://x"), "/login?next=/");
        assert_eq!(super::login_href("/a?b=c"), "/login?next=/a%3Fb%3Dc");
    }
}
