//! Everything the binary serves or renders is embedded, so it runs from any directory.
//! Static files get a content hash in their public name and are cached forever.

use std::collections::HashMap;

use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};

use crate::compress::{Effort, Encoded};

#[derive(RustEmbed)]
#[folder = "assets/templates"]
pub struct Templates;

#[derive(RustEmbed)]
#[folder = "assets/static"]
struct StaticFiles;

#[derive(RustEmbed)]
#[folder = "assets/demo"]
struct DemoPhotos;

/// An embedded static file under its hashed name.
pub struct StaticAsset {
    pub bytes: &'static [u8],
    pub content_type: &'static str,
    /// Its brotli and gzip forms when it is text, each compressed once at the best level.
    pub encoded: Option<Encoded>,
}

pub struct StaticAssets {
    /// `app.css` → `app.1a2b3c4d.css`
    public_names: HashMap<String, String>,
    by_public_name: HashMap<String, StaticAsset>,
}

fn leak(data: std::borrow::Cow<'static, [u8]>) -> &'static [u8] {
    match data {
        std::borrow::Cow::Borrowed(bytes) => bytes,
        // Only in debug builds with rust-embed's on-disk mode; a handful of small files, once.
        std::borrow::Cow::Owned(bytes) => Box::leak(bytes.into_boxed_slice()),
    }
}

impl StaticAssets {
    pub fn load() -> Self {
        let mut public_names = HashMap::new();
        let mut by_public_name = HashMap::new();
        for name in StaticFiles::iter() {
            let Some(file) = StaticFiles::get(&name) else { continue };
            let bytes = leak(file.data);
            let hash = hex::encode(&Sha256::digest(bytes)[..4]);
            let public = match name.rsplit_once('.') {
                Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
                None => format!("{name}.{hash}"),
            };
            let content_type = match name.rsplit_once('.').map(|(_, ext)| ext) {
                Some("css") => "text/css; charset=utf-8",
                Some("js") => "text/javascript; charset=utf-8",
                Some("svg") => "image/svg+xml",
                Some("png") => "image/png",
                Some("ico") => "image/x-icon",
                _ => "application/octet-stream",
            };
            let encoded = (content_type.starts_with("text/") || content_type == "image/svg+xml")
                .then(|| Encoded::new(Effort::Best));
            by_public_name.insert(public.clone(), StaticAsset { bytes, content_type, encoded });
            public_names.insert(name.to_string(), public);
        }
        Self { public_names, by_public_name }
    }

    /// The URL path of the static file `name` (e.g. `app.css`).
    pub fn url(&self, name: &str) -> Option<String> {
        self.public_names.get(name).map(|public| format!("/static/{public}"))
    }

    pub fn get(&self, public_name: &str) -> Option<&StaticAsset> {
        self.by_public_name.get(public_name)
    }
}

/// The demo photos seeded on first start, as (caption, bytes), in order.
pub fn demo_photos() -> Vec<(String, bytes::Bytes)> {
    let mut names: Vec<_> = DemoPhotos::iter().filter(|n| n.ends_with(".jpg")).collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|name| {
            let file = DemoPhotos::get(&name)?;
            // "03-violet-peaks.jpg" → "Violet peaks"
            let stem = name.trim_end_matches(".jpg");
            let words = stem.split_once('-').map_or(stem, |(_, rest)| rest).replace('-', " ");
            let mut caption: Vec<char> = words.chars().collect();
            if let Some(first) = caption.first_mut() {
                *first = first.to_ascii_uppercase();
            }
            Some((caption.into_iter().collect(), bytes::Bytes::from(file.data.into_owned())))
        })
        .collect()
}
