//! The admin's product form, checked field by field: every refused field is reported together.

use crate::error::{AppError, AppResult};
use crate::now_ms;
use crate::repositories::products::NewProduct;
use app::model::{ApiError, ErrorCode, FieldError, ProductForm};

/// The payment deadline of a product whose form leaves it empty.
pub const DEFAULT_PAY_WITHIN_MS: i64 = 15 * 60_000;

#[derive(Debug)]
pub struct ValidProduct {
    pub name: String,
    pub price_cents: i64,
    pub image: String,
    pub stock: i64,
    pub sale_start: i64,
    pub sale_end: i64,
    pub pay_within_ms: i64,
}

impl ValidProduct {
    pub fn row(&self) -> NewProduct<'_> {
        NewProduct {
            name: &self.name,
            price_cents: self.price_cents,
            image: &self.image,
            stock: self.stock,
            sale_start: self.sale_start,
            sale_end: self.sale_end,
            pay_within_ms: self.pay_within_ms,
        }
    }
}

/// Checks every field and reports all the refused ones together.
pub fn validate(form: &ProductForm) -> AppResult<ValidProduct> {
    let mut errors = Vec::new();
    let mut refuse = |field: &str, message: &str| {
        errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    };
    let name = form.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 120 {
        refuse("name", "1 to 120 characters");
    }
    let price_cents = parse_price(&form.price);
    if price_cents.is_none() {
        refuse("price", "a price ≥ 0 with at most 2 decimals, e.g. 19.99");
    }
    let image = form.image.trim().to_string();
    let image_ok = image.is_empty()
        || ((image.starts_with('/') || image.starts_with("https://"))
            && image.len() <= 500
            && !image.contains(['"', '<', '>', ' ']));
    if !image_ok {
        refuse("image", "a path like /img/gift.svg or an https:// URL");
    }
    let stock = form
        .stock
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|s| (0..=100_000_000).contains(s));
    if stock.is_none() {
        refuse("stock", "a whole number ≥ 0");
    }
    let start = sale_time(if form.sale_start.trim().is_empty() {
        Some(now_ms())
    } else {
        parse_time(&form.sale_start)
    });
    if let Err(message) = start {
        refuse("sale_start", message);
    }
    let end = sale_time(parse_time(&form.sale_end));
    if let Err(message) = end {
        refuse("sale_end", message);
    }
    let pay_within = parse_pay_within(&form.pay_within_secs);
    if pay_within.is_none() {
        refuse("pay_within_secs", "whole seconds from 1 to 86400 (a day)");
    }
    let (start, end) = (start.ok(), end.ok());
    if let (Some(s), Some(e)) = (start, end) {
        if e <= s {
            refuse("sale_end", "the sale must end after it starts");
        }
    }
    match (price_cents, stock, start, end, pay_within) {
        (Some(price_cents), Some(stock), Some(sale_start), Some(sale_end), Some(pay_within_ms))
            if errors.is_empty() =>
        {
            let image = if image.is_empty() {
                "/img/gift.svg".to_string()
            } else {
                image
            };
            Ok(ValidProduct {
                name,
                price_cents,
                image,
                stock,
                sale_start,
                sale_end,
                pay_within_ms,
            })
        }
        _ => {
            let mut e = ApiError::new(ErrorCode::BadRequest, "some fields need a fix");
            e.fields = errors;
            Err(AppError::Api(e))
        }
    }
}

/// Seconds to pay a reservation: empty is the default, 15 minutes.
fn parse_pay_within(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Some(DEFAULT_PAY_WITHIN_MS);
    }
    let secs: i64 = raw.parse().ok()?;
    (1..=86_400).contains(&secs).then_some(secs * 1_000)
}

fn parse_price(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    let (whole, frac) = raw.split_once('.').unwrap_or((raw, ""));
    let digits = |s: &str| !s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || frac.len() > 2 || !(frac.is_empty() || digits(frac)) {
        return None;
    }
    let cents: i64 = format!("{frac:0<2}").parse().ok()?;
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents)
}

/// 2000-01-01T00:00Z and the last millisecond of 9999 (UTC).
const EARLIEST_MS: i64 = days_from_civil(2000, 1, 1) * 86_400_000;
const LATEST_MS: i64 = days_from_civil(10_000, 1, 1) * 86_400_000 - 1;

/// A parsed sale time within years 2000 to 9999: Unix milliseconds are taken as they come, and
/// one near the ends of `i64` would overflow the window's arithmetic.
fn sale_time(parsed: Option<i64>) -> Result<i64, &'static str> {
    match parsed {
        None => Err("a date and time, YYYY-MM-DDTHH:MM (UTC)"),
        Some(ms) if !(EARLIEST_MS..=LATEST_MS).contains(&ms) => {
            Err("a date and time from 2000-01-01 to 9999-12-31 (UTC)")
        }
        Some(ms) => Ok(ms),
    }
}

/// `YYYY-MM-DDTHH:MM[:SS]` in UTC (what `datetime-local` sends), or Unix milliseconds.
pub fn parse_time(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    if let Ok(ms) = raw.parse::<i64>() {
        return Some(ms);
    }
    let (date, time) = raw.split_once(['T', ' '])?;
    let d: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let t: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let ([y, m, day], [hh, mm, rest @ ..]) = (d.as_slice(), t.as_slice()) else {
        return None;
    };
    let ss = rest.first().copied().unwrap_or(0);
    let valid = (1970..=9999).contains(y)
        && (1..=12).contains(m)
        && (1..=31).contains(day)
        && (0..24).contains(hh)
        && (0..60).contains(mm)
        && (0..60).contains(&ss)
        && rest.len() <= 1;
    valid.then(|| (days_from_civil(*y, *m, *day) * 86_400 + hh * 3600 + mm * 60 + ss) * 1000)
}

// Howard Hinnant's civil-to-days algorithm.
const fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(price: &str, stock: &str, start: &str, end: &str) -> ProductForm {
        ProductForm {
            name: "Lamp".into(),
            price: price.into(),
            image: String::new(),
            stock: stock.into(),
            sale_start: start.into(),
            sale_end: end.into(),
            pay_within_secs: String::new(),
        }
    }

    #[test]
    fn products_are_validated_field_by_field() {
        let ok = validate(&form("19.9", "5", "2026-11-28T12:00", "2026-11-28T13:00")).unwrap();
        assert_eq!((ok.price_cents, ok.stock), (1990, 5));
        assert_eq!(ok.sale_end - ok.sale_start, 3_600_000);
        assert_eq!(parse_time("2026-11-28T12:05"), Some(1_795_867_500_000));
        let bad: ApiError = validate(&form("-1", "x", "soon", "2026-11-28T13:00"))
            .unwrap_err()
            .into();
        let fields: Vec<_> = bad.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["price", "stock", "sale_start"]);
        let bad: ApiError = validate(&form("1", "1", "2026-11-28T13:00", "2026-11-28T12:00"))
            .unwrap_err()
            .into();
        assert_eq!(bad.fields[0].field, "sale_end");
        for p in ["1.234", "1e3", "", ".5", "99999999999999"] {
            assert_eq!(parse_price(p), None, "{p}");
        }
        let mut f = form("1", "1", "2026-11-28T12:00", "2026-11-28T13:00");
        f.image = "javascript:alert(1)".into();
        assert!(validate(&f).is_err());
    }

    #[test]
    fn sale_times_outside_years_2000_to_9999_are_refused() {
        let (min, max) = (i64::MIN.to_string(), i64::MAX.to_string());
        let (start, end) = ("2026-11-28T12:00", "2026-11-28T13:00");
        for (s, e, field) in [
            (min.as_str(), end, "sale_start"),
            (max.as_str(), end, "sale_start"),
            (start, min.as_str(), "sale_end"),
            (start, max.as_str(), "sale_end"),
            ("1999-12-31T23:59", end, "sale_start"),
        ] {
            let bad: ApiError = validate(&form("1", "1", s, e)).unwrap_err().into();
            assert_eq!(bad.error, ErrorCode::BadRequest);
            assert_eq!(bad.fields[0].field, field, "{s} {e}");
            assert_eq!(
                bad.fields[0].message,
                "a date and time from 2000-01-01 to 9999-12-31 (UTC)"
            );
        }
        // The ends themselves are taken.
        let ok = validate(&form(
            "1",
            "1",
            &EARLIEST_MS.to_string(),
            "9999-12-31T23:59:59",
        ))
        .unwrap();
        assert_eq!(ok.sale_start, 946_684_800_000);
        assert_eq!(ok.sale_end, LATEST_MS - 999);
    }
}
