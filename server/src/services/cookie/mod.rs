//! The auth cookie carries the user itself, so any node of the ring can authenticate a request
//! without a session store or a database round trip. That makes the cookie the only thing between
//! a forged request and someone else's purchase: it is encrypted (names and roles are not exposed),
//! MAC-checked in constant time before a single byte is decrypted (no padding oracle), parsed
//! without trusting any length, and signed with a key id so the secret can be rotated without
//! logging everybody out.

use std::{sync::Arc, time::Duration};

use aes::Aes128;
use app::model::Role;
use axum::http::{header::COOKIE, HeaderMap};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use cbc::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

pub const COOKIE_NAME: &str = "flash_auth";

const VERSION: u8 = 1;
const IV_LEN: usize = 16;
const TAG_LEN: usize = 32;
const HEADER_LEN: usize = 2 + IV_LEN;
/// Bytes of the encoded value; a genuine cookie is ASCII and far shorter.
const MAX_ENCODED: usize = 4096;
const MAX_NAME: usize = 64;
const MAX_CLOCK_SKEW_MS: i64 = 60_000;
/// user id, role, issued, expires, name length.
const FIXED_PAYLOAD: usize = 8 + 1 + 8 + 8 + 1;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Claims {
    pub user_id: i64,
    pub role: Role,
    pub name: String,
    pub issued_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CookieError {
    #[error("no auth cookie")]
    Missing,
    #[error("auth cookie is too large")]
    TooLarge,
    #[error("auth cookie is malformed")]
    Malformed,
    #[error("unsupported auth cookie version")]
    BadVersion,
    #[error("auth cookie signed with an unknown key")]
    UnknownKey,
    #[error("auth cookie tag does not verify")]
    BadTag,
    #[error("auth cookie padding is invalid")]
    BadPadding,
    #[error("auth cookie payload is invalid")]
    BadPayload,
    #[error("auth cookie has expired")]
    Expired,
    #[error("auth cookie was issued in the future")]
    IssuedInFuture,
}

struct Key {
    id: u8,
    enc: [u8; 16],
    /// Keyed MAC state, cloned per use so the key schedule is computed once.
    mac: Hmac<Sha256>,
}

impl Key {
    fn derive(secret: &str) -> Self {
        let prf = |label: &[u8]| {
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
                .expect("HMAC takes any key length");
            m.update(label);
            m.finalize().into_bytes()
        };
        let mut enc = [0u8; 16];
        enc.copy_from_slice(&prf(b"flash_auth/v1/enc")[..16]);
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(&prf(b"flash_auth/v1/mac"))
            .expect("HMAC takes any key length");
        let id = prf(b"flash_auth/v1/kid")[0];
        Key { id, enc, mac }
    }

    fn mac_over(&self, signed: &[u8]) -> Hmac<Sha256> {
        let mut m = self.mac.clone();
        m.update(signed);
        m
    }
}

struct Inner {
    current: Key,
    previous: Vec<Key>,
    ttl: Duration,
    secure: bool,
}

/// Seals and opens auth cookies. Cheap to clone; no `Debug`, so its keys cannot reach a log.
#[derive(Clone)]
pub struct CookieCodec(Arc<Inner>);

impl CookieCodec {
    pub fn new(secret: &str, previous: &[String], ttl: Duration, secure: bool) -> Self {
        let previous = previous.iter().map(|s| Key::derive(s)).collect();
        let current = Key::derive(secret);
        CookieCodec(Arc::new(Inner {
            current,
            previous,
            ttl,
            secure,
        }))
    }

    pub fn ttl_ms(&self) -> i64 {
        i64::try_from(self.0.ttl.as_millis()).unwrap_or(i64::MAX)
    }

    /// Claims for a fresh login at `now_ms` (expires_at = now + ttl). Names longer than 64 bytes
    /// are cut at a character boundary, exactly as `seal` would store them.
    pub fn claims(&self, user_id: i64, role: Role, name: &str, now_ms: i64) -> Claims {
        Claims {
            user_id,
            role,
            name: clip_name(name).to_owned(),
            issued_at: now_ms,
            expires_at: now_ms.saturating_add(self.ttl_ms()),
        }
    }

    /// The cookie value.
    pub fn seal(&self, claims: &Claims) -> String {
        self.seal_payload(&encode_payload(claims))
    }

    fn seal_payload(&self, payload: &[u8]) -> String {
        let key = &self.0.current;
        let mut iv = [0u8; IV_LEN];
        rand::thread_rng().fill_bytes(&mut iv);
        let ct = cbc::Encryptor::<Aes128>::new(&key.enc.into(), &iv.into())
            .encrypt_padded_vec_mut::<Pkcs7>(payload);
        let mut out = Vec::with_capacity(HEADER_LEN + ct.len() + TAG_LEN);
        out.extend_from_slice(&[VERSION, key.id]);
        out.extend_from_slice(&iv);
        out.extend_from_slice(&ct);
        let tag = key.mac_over(&out).finalize().into_bytes();
        out.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(out)
    }

    pub fn open(&self, value: &str, now_ms: i64) -> Result<Claims, CookieError> {
        if value.is_empty() {
            return Err(CookieError::Missing);
        }
        if value.len() > MAX_ENCODED {
            return Err(CookieError::TooLarge);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|_| CookieError::Malformed)?;
        let body_len = raw.len().saturating_sub(HEADER_LEN + TAG_LEN);
        if body_len == 0 || body_len % 16 != 0 {
            return Err(CookieError::Malformed);
        }
        let (signed, tag) = raw.split_at(raw.len() - TAG_LEN);
        if signed[0] != VERSION {
            return Err(CookieError::BadVersion);
        }
        let all = std::iter::once(&self.0.current).chain(&self.0.previous);
        let mut keys = all.filter(|k| k.id == signed[1]).peekable();
        if keys.peek().is_none() {
            return Err(CookieError::UnknownKey);
        }
        // Constant-time comparison; nothing is decrypted unless the tag verifies.
        let verifies = |k: &&Key| k.mac_over(signed).verify_slice(tag).is_ok();
        let key = keys.find(verifies).ok_or(CookieError::BadTag)?;
        let (iv, ct) = signed[2..].split_at(IV_LEN);
        let payload = cbc::Decryptor::<Aes128>::new_from_slices(&key.enc, iv)
            .map_err(|_| CookieError::Malformed)?
            .decrypt_padded_vec_mut::<Pkcs7>(ct)
            .map_err(|_| CookieError::BadPadding)?;
        let claims = decode_payload(&payload).ok_or(CookieError::BadPayload)?;
        if now_ms >= claims.expires_at {
            return Err(CookieError::Expired);
        }
        if claims.issued_at > now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
            return Err(CookieError::IssuedInFuture);
        }
        Ok(claims)
    }

    /// The `Set-Cookie` header value for a login.
    pub fn set_cookie(&self, claims: &Claims) -> String {
        let attributes = self.attributes(self.0.ttl.as_secs());
        format!("{COOKIE_NAME}={}{attributes}", self.seal(claims))
    }

    /// A `Set-Cookie` value of an unsealed cookie with the auth cookie's flags and lifetime (the
    /// routing cookie: a node id, nothing secret).
    pub fn plain_cookie(&self, name: &str, value: &str) -> String {
        format!("{name}={value}{}", self.attributes(self.0.ttl.as_secs()))
    }

    /// A `Set-Cookie` value that deletes the cookie (Max-Age=0, same flags).
    pub fn clear_cookie(&self) -> String {
        format!("{COOKIE_NAME}={}", self.attributes(0))
    }

    fn attributes(&self, max_age: u64) -> String {
        let secure = if self.0.secure { "; Secure" } else { "" };
        format!("; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}")
    }

    /// Finds `flash_auth` among all `Cookie` headers and opens it. When several are sent (e.g. a
    /// stale one from another path), the first of at most 8 that opens wins; else the last error.
    pub fn from_headers(&self, headers: &HeaderMap, now_ms: i64) -> Result<Claims, CookieError> {
        let ours = (headers.get_all(COOKIE).iter())
            .filter_map(|h| h.to_str().ok())
            .flat_map(|h| h.split(';'))
            .filter_map(|pair| pair.split_once('='))
            .filter(|(name, _)| name.trim() == COOKIE_NAME);
        let mut result = Err(CookieError::Missing);
        for (_, value) in ours.take(8) {
            result = self.open(value.trim(), now_ms);
            if result.is_ok() {
                break;
            }
        }
        result
    }
}

fn clip_name(name: &str) -> &str {
    let mut end = name.len().min(MAX_NAME);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// `[user id i64 BE][role u8][issued i64 BE][expires i64 BE][name len u8][name]`
fn encode_payload(c: &Claims) -> Vec<u8> {
    let name = clip_name(&c.name).as_bytes();
    let mut out = Vec::with_capacity(FIXED_PAYLOAD + name.len());
    out.extend_from_slice(&c.user_id.to_be_bytes());
    out.push(match c.role {
        Role::Shopper => 0,
        Role::Admin => 1,
    });
    out.extend_from_slice(&c.issued_at.to_be_bytes());
    out.extend_from_slice(&c.expires_at.to_be_bytes());
    out.push(name.len() as u8); // ≤ MAX_NAME
    out.extend_from_slice(name);
    out
}

fn decode_payload(bytes: &[u8]) -> Option<Claims> {
    fn i64_at(b: &[u8], at: usize) -> Option<i64> {
        Some(i64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
    }
    let role = match *bytes.get(8)? {
        0 => Role::Shopper,
        1 => Role::Admin,
        _ => return None,
    };
    let name_len = usize::from(*bytes.get(FIXED_PAYLOAD - 1)?);
    if name_len > MAX_NAME || bytes.len() != FIXED_PAYLOAD + name_len {
        return None;
    }
    Some(Claims {
        user_id: i64_at(bytes, 0)?,
        role,
        issued_at: i64_at(bytes, 9)?,
        expires_at: i64_at(bytes, 17)?,
        name: std::str::from_utf8(bytes.get(FIXED_PAYLOAD..)?)
            .ok()?
            .to_owned(),
    })
}

#[cfg(test)]
mod tests;
