pub mod auth_state;
pub mod buy;
pub mod captcha_modal;
pub mod clock;
pub mod countdown;
pub mod header;
pub mod hydration;
pub mod stock_meter;
