//! Who is logged in, shared by every page; refreshed after login and logout.

use crate::api::current_user;
use crate::model::{ApiError, User};
use leptos::prelude::*;

#[derive(Clone, Copy)]
pub struct Auth {
    /// Who is logged in, asked by the browser once the page is up: public pages render the same
    /// HTML for everyone (a cache may serve them), and the user's parts fill in afterwards.
    pub user: LocalResource<Result<Option<User>, ApiError>>,
    refresh: RwSignal<u32>,
}

impl Auth {
    pub fn refresh(&self) {
        self.refresh.update(|n| *n = n.wrapping_add(1));
    }

    /// Who is logged in, asked while the server renders: for the pages that are the user's own
    /// (orders, admin), which redirect or refuse before anything is shown.
    pub fn rendered_user(&self) -> Resource<Result<Option<User>, ApiError>> {
        let refresh = self.refresh;
        Resource::new(move || refresh.get(), |_| current_user())
    }
}

pub fn provide_auth() {
    let refresh = RwSignal::new(0u32);
    let user = LocalResource::new(move || {
        refresh.track();
        current_user()
    });
    provide_context(Auth { user, refresh });
}

pub fn use_auth() -> Auth {
    expect_context::<Auth>()
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
