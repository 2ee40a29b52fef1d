//! The site's files under `/pkg` (the Wasm, its JS, the CSS): read once, gzipped once, kept in
//! memory. Their version, a hash of their bytes taken at start, goes into the links the pages
//! carry, so that a browser or a CDN may keep a versioned file for good. Under
//! `cargo leptos watch` the files change while the server runs: nothing is kept or versioned.

use axum::body::Bytes;
use dashmap::DashMap;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Clone)]
pub struct Assets(Arc<Inner>);

struct Inner {
    dir: PathBuf,
    version: Option<String>,
    /// Only files that exist, and only when versioned: bounded by the directory.
    files: DashMap<String, Arc<Asset>>,
    /// One file read and compressed at a time: a crowd's first page loads came together, each
    /// compressed the 1.5 MB Wasm itself, and 18,000 pages' loads took 11 s at p99.
    loading: tokio::sync::Mutex<()>,
}

pub struct Asset {
    pub bytes: Bytes,
    /// When it is smaller than `bytes`.
    pub gzip: Option<Bytes>,
    pub content_type: &'static str,
    pub etag: String,
}

impl Assets {
    /// The files of `dir`; `changing` when a watcher rebuilds them under the running server.
    pub fn new(dir: PathBuf, changing: bool) -> Self {
        let version = if changing { None } else { version_of(&dir) };
        if !split(&dir) {
            tracing::error!(
                dir = %dir.display(),
                "the site was built without `--split`: its Wasm imports the lazy islands' loader, \
                 which is missing, so no page will be interactive; build it with \
                 `cargo leptos build --split` (scripts/run.sh does)"
            );
        }
        Assets(Arc::new(Inner {
            dir,
            version,
            files: DashMap::new(),
            loading: tokio::sync::Mutex::new(()),
        }))
    }

    /// What the links carry (`?v=…`); `None` when the files may change.
    pub fn version(&self) -> Option<&str> {
        self.0.version.as_deref()
    }

    /// The file, from memory or read (and compressed) now; `None` when there is no such file.
    pub async fn get(&self, name: &str) -> Option<Arc<Asset>> {
        if !is_plain(name) {
            return None;
        }
        if let Some(a) = self.0.files.get(name) {
            return Some(a.clone());
        }
        let _one = self.0.loading.lock().await;
        // Loaded while this request waited its turn.
        if let Some(a) = self.0.files.get(name) {
            return Some(a.clone());
        }
        let inner = self.0.clone();
        let name = name.to_string();
        tokio::task::spawn_blocking(move || {
            let bytes = std::fs::read(inner.dir.join(&name)).ok()?;
            let asset = Arc::new(Asset::new(&name, bytes));
            if inner.version.is_some() {
                inner.files.insert(name, asset.clone());
            }
            Some(asset)
        })
        .await
        .ok()
        .flatten()
    }
}

impl Asset {
    fn new(name: &str, bytes: Vec<u8>) -> Self {
        let content_type = content_type(name);
        let etag = format!("\"{}\"", &hex(&Sha256::digest(&bytes))[..20]);
        let gzip = compressible(content_type)
            .then(|| gzip(&bytes))
            .flatten()
            .filter(|z| z.len() < bytes.len())
            .map(Bytes::from);
        Asset {
            bytes: Bytes::from(bytes),
            gzip,
            content_type,
            etag,
        }
    }
}

/// A relative path without `..`, hidden files or odd characters.
fn is_plain(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 256
        && name.split('/').all(|part| {
            !part.is_empty()
                && !part.starts_with('.')
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("html") => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn compressible(content_type: &str) -> bool {
    content_type != "application/octet-stream"
}

fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(bytes).ok()?;
    z.finish().ok()
}

/// Whether the Wasm in `dir` (if any) was split by `cargo leptos … --split`: the lazy islands
/// (the pages a shopper never sees) are loaded by `__wasm_split.*.js`, which only a split writes.
fn split(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return true;
    };
    let names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    let has = |f: fn(&str) -> bool| names.iter().any(|n| f(n));
    !has(|n| n.ends_with(".wasm")) || has(|n| n.starts_with("__wasm_split."))
}

/// A hash of the directory's files (names and bytes, not its subdirectories).
fn version_of(dir: &Path) -> Option<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    if files.is_empty() {
        return None;
    }
    files.sort();
    let mut h = Sha256::new();
    for f in files {
        h.update(f.file_name()?.as_encoded_bytes());
        h.update(std::fs::read(&f).ok()?);
    }
    Some(hex(&h.finalize())[..12].to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn files_are_versioned_compressed_and_kept_only_when_fixed() {
        let dir = std::env::temp_dir().join(format!("flash-assets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("app.js"), "console.log('hi');\n".repeat(200)).unwrap();
        let fixed = Assets::new(dir.clone(), false);
        let v1 = fixed.version().expect("a version").to_string();
        let js = fixed.get("app.js").await.expect("the file");
        assert_eq!(js.content_type, "text/javascript");
        assert!(js.gzip.as_ref().is_some_and(|z| z.len() < js.bytes.len()));
        for bad in ["../etc/passwd", ".hidden", "a//b", "", "x?y"] {
            assert!(fixed.get(bad).await.is_none(), "{bad}");
        }
        assert!(fixed.get("missing.js").await.is_none());
        std::fs::write(dir.join("app.js"), "changed").unwrap();
        assert_eq!(fixed.get("app.js").await.unwrap().bytes, js.bytes, "kept");
        assert_ne!(Assets::new(dir.clone(), false).version(), Some(v1.as_str()));
        let changing = Assets::new(dir.clone(), true);
        assert!(changing.version().is_none());
        assert_eq!(&changing.get("app.js").await.unwrap().bytes[..], b"changed");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_site_is_split_when_its_wasm_has_the_loader() {
        let dir = std::env::temp_dir().join(format!("flash-split-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(split(&dir), "no Wasm yet: nothing to say");
        std::fs::write(dir.join("flash-sale.wasm"), b"\0asm").unwrap();
        assert!(!split(&dir));
        std::fs::write(dir.join("__wasm_split.______________________.js"), "").unwrap();
        assert!(split(&dir));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
