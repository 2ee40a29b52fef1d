//! The axum routes: the two doors (the JSON API, and the Leptos app's server functions through
//! the backend port), health checks and the ring's internal routes, all behind one gate: the
//! cross-site check, the body limit, the token buckets, and the one log line of each 500.

pub mod admin;
pub mod api;
pub mod assets;
pub mod extract;
pub mod health;
pub mod internal;
pub mod payments;
pub mod security;
pub mod server_fns;

use crate::error::{self, AppError};
use crate::metrics::Metrics;
use crate::services::accounts::Accounts;
use crate::services::assets::Assets;
use crate::services::auth::Authenticator;
use crate::services::catalog::Catalog;
use crate::services::clients::{Client, ClientAddr, TrustedProxies};
use crate::services::limiter::{Class, Limiters};
use crate::services::live::Live;
use crate::services::monitor::Monitor;
use crate::services::operations::Operations;
use crate::services::reservations::Reservations;
use crate::services::sale::Sale;
use app::model::{ApiError, ErrorCode};
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRef, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self as mw, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::BodyExt;
use leptos::prelude::LeptosOptions;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use secrecy::SecretString;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use tower_http::compression::predicate::{DefaultPredicate, Predicate, SizeAbove};
use tower_http::compression::CompressionLayer;

/// What every request sees. axum clones the state for each handler and middleware, so it is
/// one `Arc`: cloning the fields themselves (a dozen `Arc`s, the Leptos options, a `String`) was
/// several percent of the purchase path.
#[derive(Clone)]
pub struct AppState(pub Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The services the doors call, and the gate's own settings.
pub struct Shared {
    pub auth: Authenticator,
    pub accounts: Accounts,
    pub sale: Sale,
    pub reservations: Reservations,
    pub catalog: Catalog,
    pub live: Live,
    pub assets: Assets,
    pub operations: Operations,
    pub monitor: Monitor,
    pub limiters: Limiters,
    pub proxies: TrustedProxies,
    pub metrics: Metrics,
    pub leptos: LeptosOptions,
    pub max_body: usize,
    /// Authenticates the ring's node-to-node calls; `None` on a single node.
    pub internal_secret: Option<SecretString>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(s: &AppState) -> Self {
        s.leptos.clone()
    }
}

pub fn router(state: AppState) -> Router {
    let backend: Arc<dyn app::api::Backend> = Arc::new(state.clone());
    let routes = route_list().to_vec();
    let leptos = state.leptos.clone();
    let version = app::AssetVersion(state.assets.version().map(String::from));
    let context = move || {
        leptos::prelude::provide_context(backend.clone());
        leptos::prelude::provide_context(version.clone());
    };
    // The pages and the server functions, gzipped above 1 KB (the files under /pkg are gzipped
    // ahead). The JSON API, the seed's /check and the live streams are not wrapped: the
    // purchase path of the load tools pays nothing for it.
    let pages = Router::new()
        .leptos_routes_with_context(&state, routes, context.clone(), move || {
            app::shell(leptos.clone())
        })
        // Not-found pages render the app too, and it needs the backend.
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, app::shell))
        .layer(
            CompressionLayer::new()
                .compress_when(DefaultPredicate::new().and(SizeAbove::new(1024))),
        );
    Router::new()
        .merge(assets::router())
        .merge(api::router())
        .merge(payments::router())
        .merge(admin::router())
        .merge(health::router())
        .merge(internal::router(state.internal_secret.as_ref()))
        .route("/api/v1/{*rest}", axum::routing::any(api_not_found))
        .merge(pages)
        .layer(mw::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}

/// The app's routes, found once per process. Finding them renders the app with resource loads
/// suppressed by a process-wide flag (leptos#4773): a page rendered in this process meanwhile,
/// as by a second server built beside a running one, would wait forever on its resources.
fn route_list() -> &'static [AxumRouteListing] {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(app::App))
}

/// Everything in front of the routes, in one layer: five `from_fn` layers each boxed, cloned and
/// moved the request's future, several percent of the purchase path. In order: the security
/// headers on every answer, cross-site refusal, who is asking (the client's address, the
/// shopper's cookie), the token buckets, the body limit, then every answer counted by class and
/// status (after server functions got their real status).
async fn gate(State(s): State<AppState>, req: Request, next: Next) -> Response {
    // A `Uri` clone shares its bytes: nothing is copied unless it is logged.
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let class = classify(uri.path());
    let (mut resp, failure) = error::watch(admit(&s, class, req, next)).await;
    if let Some(detail) = failure {
        let (route, status) = (uri.path(), resp.status().as_u16());
        tracing::error!(%method, route, status, error = %detail, "internal error");
    }
    security::add_headers(resp.headers_mut());
    // Every answer counts, refusals at the door included.
    let label = match class {
        Some(Class::Purchase) => "purchase",
        Some(Class::Captcha) => "captcha",
        Some(Class::Read) => "read",
        Some(Class::Page) => "page",
        None => "other",
    };
    s.metrics.request(label, resp.status().as_str());
    resp
}

/// Which token bucket a path draws from; `None` for static files, health checks and the ring's
/// internal calls. It mirrors the routes: `api`'s purchase route, the server function
/// `/api/purchase` and the seed's `/check` are purchases; the captcha routes and server functions
/// (`…/captcha`, `…/captcha/verify`, `/api/captcha*`) captchas; the rest of `/api/` (server
/// functions, the JSON API, live streams) reads; anything else a page.
pub fn classify(path: &str) -> Option<Class> {
    if path.starts_with("/pkg/")
        || path.starts_with("/img/")
        || path == "/favicon.ico"
        || path == "/healthz"
        || path == "/readyz"
        || path == "/metrics"
        || path.starts_with("/internal/")
    {
        None
    } else if path == "/check" || path.ends_with("/purchase") {
        Some(Class::Purchase)
    } else if path.contains("/captcha") {
        Some(Class::Captcha)
    } else if path.starts_with("/api/") {
        Some(Class::Read)
    } else {
        Some(Class::Page)
    }
}

async fn admit(s: &AppState, class: Option<Class>, mut req: Request, next: Next) -> Response {
    if security::refused(&req) {
        return AppError::code(ErrorCode::Forbidden, "cross-site request refused").into_response();
    }
    let client_addr: Option<ClientAddr> = (req.extensions().get::<ConnectInfo<SocketAddr>>())
        .map(|c| s.proxies.client(c.0.ip(), req.headers()));
    let address = client_addr.map(|a| a.ip);
    if let Some(a) = client_addr {
        req.extensions_mut().insert(a);
    }
    if let Some(c) = class {
        // The cookie is opened once, here (microseconds); the handlers take the proof from
        // the request. A purchase or captcha without one costs no token: it is a 401.
        let shopper = s.auth.shopper(req.headers()).ok();
        if matches!(c, Class::Purchase | Class::Captcha) && shopper.is_none() {
            return AppError::Api(ApiError::unauthenticated()).into_response();
        }
        let client = Client::of(shopper.as_ref().map(|u| u.id()), address);
        if let Err(e) = s.limiters.check(c, client) {
            return e.into_response();
        }
        if let Some(u) = shopper {
            req.extensions_mut().insert(u);
        }
    }
    let path = req.uri().path();
    let is_server_fn = path.starts_with("/api/") && !path.starts_with("/api/v1/");
    // Only pages and images get cache headers: the purchase path allocates nothing for them.
    let cached = (class == Some(Class::Page) || path_is_image(path)).then(|| path.to_string());
    let req = match read_body(req, s.max_body).await {
        Ok(req) => req,
        Err(refused) => return refused,
    };
    let mut resp = next.run(req).await;
    if is_server_fn && resp.status() == StatusCode::INTERNAL_SERVER_ERROR {
        resp = server_fn_status(resp).await;
    }
    if let Some(path) = cached {
        cache_control(&path, &mut resp);
    }
    resp
}

/// Public pages are the same for everyone (the user's parts are filled in by the browser): a
/// cache may keep them for two seconds, and the live stream corrects what they show. The user's
/// own pages, and every refusal, are kept by nobody.
fn cache_control(path: &str, resp: &mut Response) {
    let public =
        path == "/" || path.starts_with("/product/") || path == "/login" || path == "/register";
    let value = if path_is_image(path) {
        "public, max-age=3600"
    } else if public && resp.status() == StatusCode::OK {
        "public, max-age=2"
    } else {
        "private, no-store"
    };
    resp.headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(header::HeaderValue::from_static(value));
}

fn path_is_image(path: &str) -> bool {
    path.starts_with("/img/") || path == "/favicon.ico"
}

/// Reads the whole body before the handler runs (bodies here are small), so that a handler which
/// ignores its body never leaves bytes unread: hyper would then close the connection while the
/// client is still writing, and the client would see a broken pipe instead of the answer. A body
/// over the limit (declared or real) is answered 413, after reading and dropping up to
/// `DRAIN_BYTES` more within `DRAIN_TIME`, for the same reason.
async fn read_body(req: Request, limit: usize) -> Result<Request, Response> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let (parts, mut body) = req.into_parts();
    if declared.is_some_and(|n| n > limit) {
        drain(body).await;
        return Err(too_large());
    }
    match http_body_util::Limited::new(&mut body, limit)
        .collect()
        .await
    {
        Ok(all) => Ok(Request::from_parts(parts, Body::from(all.to_bytes()))),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            drain(body).await;
            Err(too_large())
        }
        Err(_) => Err(
            AppError::code(ErrorCode::BadRequest, "the request body could not be read")
                .into_response(),
        ),
    }
}

const DRAIN_BYTES: usize = 1 << 20;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

async fn drain(mut body: Body) {
    let discard = async {
        let mut seen = 0;
        while let Some(Ok(frame)) = body.frame().await {
            seen += frame.data_ref().map_or(0, |d| d.len());
            if seen > DRAIN_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, discard).await;
}

fn too_large() -> Response {
    AppError::code(ErrorCode::PayloadTooLarge, "request body too large").into_response()
}

async fn api_not_found() -> AppError {
    AppError::code(ErrorCode::NotFound, "no such API route")
}

/// Server functions answer every error with 500; give it the status its error code deserves.
async fn server_fn_status(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    if let Ok(err) = serde_json::from_slice::<ApiError>(&bytes) {
        parts.status = StatusCode::from_u16(err.error.status()).unwrap_or(parts.status);
    }
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_draw_from_the_right_bucket() {
        assert_eq!(classify("/check"), Some(Class::Purchase));
        assert_eq!(
            classify("/api/v1/products/3/purchase"),
            Some(Class::Purchase)
        );
        assert_eq!(classify("/api/purchase"), Some(Class::Purchase));
        assert_eq!(
            classify("/api/v1/products/3/captcha/verify"),
            Some(Class::Captcha)
        );
        assert_eq!(classify("/api/captcha_verify"), Some(Class::Captcha));
        assert_eq!(classify("/product/3"), Some(Class::Page));
        assert_eq!(classify("/"), Some(Class::Page));
        assert_eq!(classify("/api/stock"), Some(Class::Read));
        assert_eq!(classify("/api/v1/products/3/live"), Some(Class::Read));
        assert_eq!(classify("/pkg/flash-sale.wasm"), None);
        assert_eq!(classify("/healthz"), None);
    }

    #[test]
    fn public_pages_may_be_cached_briefly_and_private_ones_not_at_all() {
        let cached = |path: &str, status: StatusCode| {
            let mut resp = Response::builder()
                .status(status)
                .body(Body::empty())
                .unwrap();
            cache_control(path, &mut resp);
            resp.headers()[header::CACHE_CONTROL]
                .to_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(cached("/product/3", StatusCode::OK), "public, max-age=2");
        assert_eq!(cached("/", StatusCode::OK), "public, max-age=2");
        assert_eq!(
            cached("/product/99", StatusCode::NOT_FOUND),
            "private, no-store"
        );
        assert_eq!(cached("/orders", StatusCode::OK), "private, no-store");
        assert_eq!(cached("/admin", StatusCode::OK), "private, no-store");
        assert_eq!(
            cached("/img/gift.svg", StatusCode::OK),
            "public, max-age=3600"
        );
    }
}
