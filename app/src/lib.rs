//! The Flash Sale Leptos app: pages, components, server functions and the shared model.
#![recursion_limit = "256"]

pub mod api;
pub mod components;
pub mod model;
pub mod pages;
pub mod time;

use components::header::Header;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};
use pages::admin::{
    blacklist::AdminBlacklistPage,
    dashboard::AdminDashboardPage,
    orders::AdminOrdersPage,
    products::{AdminProductEditor, AdminProductsPage},
};
use pages::{
    auth::{LoginPage, RegisterPage},
    not_found::NotFound,
    orders::OrdersPage,
    pay::PayPage,
    product::ProductPage,
    products::ProductsPage,
};

/// The version of the site's files under `/pkg`, for their paths (`None`: they may change).
#[derive(Clone, Debug, Default)]
pub struct AssetVersion(pub Option<String>);

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <AutoReload options=options.clone() />
                <SiteFiles options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// Leptos's `HydrationScripts` in islands mode, with the files' version in each path: a versioned
/// file is kept by browsers and caches for good, so a crowd loads the Wasm once per browser.
#[component]
fn SiteFiles(options: LeptosOptions) -> impl IntoView {
    // Versioned files live under `/pkg/v/<version>/`, and so does what they import by relative URL.
    let dir = match use_context::<AssetVersion>().and_then(|a| a.0) {
        Some(v) => format!("/{}/v/{v}", options.site_pkg_dir),
        None => format!("/{}", options.site_pkg_dir),
    };
    let base = format!("{dir}/{}", options.output_name);
    // cargo-leptos names the Wasm `<name>.wasm` when it sets LEPTOS_OUTPUT_NAME for the build
    // (.cargo/config.toml does), else wasm-bindgen's `<name>_bg.wasm`.
    let bg = if option_env!("LEPTOS_OUTPUT_NAME").is_some() {
        ""
    } else {
        "_bg"
    };
    let (js, wasm, css) = (
        format!("{base}.js"),
        format!("{base}{bg}.wasm"),
        format!("{base}.css"),
    );
    // The loader of the lazy islands (`cargo leptos … --split`), which the JS imports.
    let split = format!("{dir}/__wasm_split.______________________.js");
    // The text of a `<script>` is not escaped: the names are Rust-quoted paths.
    let start = format!("{}({js:?}, {wasm:?});", include_str!("islands.js"));
    view! {
        <link rel="modulepreload" href=js />
        <link rel="modulepreload" href=split />
        <link rel="preload" href=wasm r#as="fetch" r#type="application/wasm" crossorigin="" />
        <link rel="stylesheet" id="leptos" href=css />
        <script type="module">{start}</script>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    view! {
        <Link rel="icon" href="/favicon.ico" />
        <Meta name="description" content="Flash sales that never oversell." />
        <Title formatter=|text: String| format!("{text} · Flash Sale") />
        <Router>
            <Header />
            <main id="main" class="container">
                <Routes fallback=|| view! { <NotFound /> }>
                    <Route path=path!("") view=ProductsPage ssr=SsrMode::Async />
                    <Route path=path!("/product/:id") view=ProductPage ssr=SsrMode::Async />
                    <Route path=path!("/login") view=LoginPage />
                    <Route path=path!("/register") view=RegisterPage />
                    <Route path=path!("/orders") view=OrdersPage ssr=SsrMode::Async />
                    <Route path=path!("/pay/:id") view=PayPage />
                    <Route path=path!("/admin") view=AdminProductsPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/products/new") view=AdminProductEditor ssr=SsrMode::Async />
                    <Route path=path!("/admin/products/:id/edit") view=AdminProductEditor ssr=SsrMode::Async />
                    <Route path=path!("/admin/orders") view=AdminOrdersPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/blacklist") view=AdminBlacklistPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/dashboard/:id") view=AdminDashboardPage ssr=SsrMode::Async />
                </Routes>
            </main>
        </Router>
    }
}

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Only the islands are hydrated, each by its own function (`islands.js` calls them).
    leptos::mount::hydrate_islands();
}
