//! `/pkg/*`: the site's Wasm, JS and CSS from memory, gzipped when the browser takes it. A link
//! under the current version (`/pkg/v/<version>/<file>`) may be kept for good, any other is
//! revalidated. The version is a folder, not a query, so that what the files import by relative
//! URL (the lazy islands' loader and Wasm, the JS once more) is versioned too and is one module:
//! `flash-sale.js?v=…` and the `./flash-sale.js` it is imported as would be two.

use super::AppState;
use crate::error::AppError;
use app::model::ErrorCode;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new().route("/pkg/{*file}", get(pkg))
}

const FOREVER: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

async fn pkg(State(s): State<AppState>, Path(path): Path<String>, headers: HeaderMap) -> Response {
    let (asked, file) = versioned_path(&path);
    let Some(asset) = s.assets.get(file).await else {
        return AppError::code(ErrorCode::NotFound, "no such file").into_response();
    };
    let versioned = s.assets.version().is_some_and(|v| asked == Some(v));
    let cache = if versioned { FOREVER } else { REVALIDATE };
    let etag = HeaderValue::from_str(&asset.etag).unwrap_or(HeaderValue::from_static("\"\""));
    let mut resp = if header_has(&headers, header::IF_NONE_MATCH, &asset.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        match &asset.gzip {
            Some(z) if header_has(&headers, header::ACCEPT_ENCODING, "gzip") => {
                let mut r = Body::from(z.clone()).into_response();
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                r
            }
            _ => Body::from(asset.bytes.clone()).into_response(),
        }
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::ETAG, etag);
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    resp
}

/// `v/<version>/<file>` → (the version, the file); any other path is a file of no version.
fn versioned_path(path: &str) -> (Option<&str>, &str) {
    path.strip_prefix("v/")
        .and_then(|rest| rest.split_once('/'))
        .map_or((None, path), |(v, file)| (Some(v), file))
}

/// Whether a comma-separated header lists `token` (`gzip;q=1.0` counts; `gzip;q=0` does not).
fn header_has(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let named = parts.next() == Some(token);
            named && !parts.any(|p| p.replace(' ', "") == "q=0")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_is_the_first_folder() {
        assert_eq!(
            versioned_path("v/abc/flash-sale.js"),
            (Some("abc"), "flash-sale.js")
        );
        assert_eq!(versioned_path("flash-sale.js"), (None, "flash-sale.js"));
        assert_eq!(versioned_path("v/flash-sale.js"), (None, "v/flash-sale.js"));
    }

    #[test]
    fn tokens_in_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0.8"),
        );
        assert!(header_has(&h, header::ACCEPT_ENCODING, "gzip"));
        assert!(!header_has(&h, header::ACCEPT_ENCODING, "deflate"));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0"),
        );
        assert!(!header_has(&h, header::ACCEPT_ENCODING, "gzip"));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"a\", \"b\""),
        );
        assert!(header_has(&h, header::IF_NONE_MATCH, "\"b\""));
    }
}
