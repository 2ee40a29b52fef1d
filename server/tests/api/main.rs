//! Integration tests: each spawns a real server on port 0 with its own database and talks HTTP.

mod admin;
mod auth;
mod cluster;
mod faults;
mod hangups;
mod harness;
mod helpers;
mod pages;
mod pipeline;
mod rabbit;
mod refusals;
