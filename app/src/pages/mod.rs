pub mod access_denied;
pub mod admin;
pub mod auth;
pub mod not_found;
pub mod orders;
pub mod pay;
pub mod product;
pub mod products;
