//! The Flash Sale Leptos app: pages, components, server functions and the shared model.
#![recursion_limit = "256"]

pub mod api;
pub mod components;
pub mod model;
pub mod pages;
pub mod time;

use components::header::Header;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Stylesheet, Title};
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
    product::ProductPage,
    products::ProductsPage,
};

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    components::auth_state::provide_auth();

    view! {
        <Stylesheet id="leptos" href="/pkg/flash-sale.css" />
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
                    <Route path=path!("/admin") view=AdminProductsPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/products/new") view=AdminProductEditor ssr=SsrMode::Async />
                    <Route path=path!("/admin/products/:id/edit") view=AdminProductEditor ssr=SsrMode::Async />
                    <Route path=path!("/admin/orders") view=AdminOrdersPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/blacklist") view=AdminBlacklistPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/dashboard/:id") view=AdminDashboardPage ssr=SsrMode::Async />
                </Routes>
            </main>
            <components::hydration::HydrationMark />
        </Router>
    }
}

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
