//! Content-Encoding for text responses (pages, CSS, JS): brotli when the client accepts it,
//! else gzip, else none. Static files are compressed once per process, on first request, at the
//! best levels; a memoised page keeps its compressed forms beside it (`Encoded`), made on first ask.

use std::io::Write;
use std::sync::OnceLock;

use bytes::Bytes;

/// Bodies smaller than this are sent as they are: the header costs more than it saves.
pub const MIN_BYTES: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Brotli,
    Gzip,
}

/// How hard to try: `Fast` on a request path, `Best` for what is compressed once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    Fast,
    Best,
}

impl Encoding {
    /// The encoding to answer an `Accept-Encoding` header with (RFC 9110 §12.5.3): brotli if
    /// it is acceptable, else gzip, else none. `q=0` refuses a coding; `*` stands for any not
    /// named; a header that does not parse accepts nothing.
    pub fn negotiate(accept_encoding: Option<&str>) -> Option<Self> {
        let header = accept_encoding?;
        let mut named = [None::<bool>; 2];
        let mut star = None::<bool>;
        for item in header.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let mut acceptable = true;
            for param in parts {
                if let Some((key, value)) = param.split_once('=')
                    && key.trim().eq_ignore_ascii_case("q")
                {
                    acceptable = value.trim().parse::<f32>().is_ok_and(|q| q > 0.0);
                }
            }
            match coding.as_str() {
                "br" => named[0] = Some(acceptable),
                "gzip" | "x-gzip" => named[1] = Some(acceptable),
                "*" => star = Some(acceptable),
                _ => {}
            }
        }
        let allowed = |i: usize| named[i].or(star).unwrap_or(false);
        if allowed(0) {
            Some(Encoding::Brotli)
        } else if allowed(1) {
            Some(Encoding::Gzip)
        } else {
            None
        }
    }

    /// The `Content-Encoding` value.
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Brotli => "br",
            Encoding::Gzip => "gzip",
        }
    }

    /// `bytes` in this encoding; `None` if the encoder failed (send the body as it is).
    pub fn compress(self, bytes: &[u8], effort: Effort) -> Option<Vec<u8>> {
        match self {
            Encoding::Brotli => {
                let quality = if effort == Effort::Best { 11 } else { 5 };
                // 22: the format's default window; pages and assets are far smaller anyway.
                let mut writer = brotli::CompressorWriter::new(Vec::with_capacity(bytes.len() / 3), 4096, quality, 22);
                writer.write_all(bytes).ok()?;
                writer.flush().ok()?;
                Some(writer.into_inner())
            }
            Encoding::Gzip => {
                let level = if effort == Effort::Best { 9 } else { 6 };
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 3), flate2::Compression::new(level));
                encoder.write_all(bytes).ok()?;
                encoder.finish().ok()
            }
        }
    }
}

/// The compressed forms of one body that is sent many times, each made once, when first asked.
#[derive(Debug)]
pub struct Encoded {
    effort: Effort,
    brotli: OnceLock<Option<Bytes>>,
    gzip: OnceLock<Option<Bytes>>,
}

impl Encoded {
    /// `Best` for what lives as long as the process (static files); `Fast` for a memoised page,
    /// which is made anew whenever its list changes (with the cache off, on every request).
    pub fn new(effort: Effort) -> Self {
        Self { effort, brotli: OnceLock::new(), gzip: OnceLock::new() }
    }

    /// `body` (which must be the body these forms are of) in `encoding`.
    pub fn get(&self, body: &[u8], encoding: Encoding) -> Option<Bytes> {
        let slot = match encoding {
            Encoding::Brotli => &self.brotli,
            Encoding::Gzip => &self.gzip,
        };
        slot.get_or_init(|| encoding.compress(body, self.effort).map(Bytes::from)).clone()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::{Effort, Encoded, Encoding};

    #[test]
    fn negotiation_prefers_brotli_and_honours_q_zero() {
        let cases = [
            (None, None),
            (Some(""), None),
            (Some("identity"), None),
            (Some("gzip, deflate, br, zstd"), Some(Encoding::Brotli)),
            (Some("gzip"), Some(Encoding::Gzip)),
            (Some("GZIP;q=0.5"), Some(Encoding::Gzip)),
            (Some("br;q=0, gzip"), Some(Encoding::Gzip)),
            (Some("br;q=0, gzip;q=0.0"), None),
            (Some("*"), Some(Encoding::Brotli)),
            (Some("br;q=0, *"), Some(Encoding::Gzip)),
            (Some("*;q=0"), None),
            (Some("gzip;q=nonsense"), None),
            (Some("deflate"), None),
        ];
        for (header, expected) in cases {
            assert_eq!(Encoding::negotiate(header), expected, "{header:?}");
        }
    }

    #[test]
    fn both_encodings_round_trip() {
        let body = "<p>Stratus</p>\n".repeat(200);
        let br = Encoding::Brotli.compress(body.as_bytes(), Effort::Fast).expect("brotli");
        let mut out = String::new();
        brotli::Decompressor::new(br.as_slice(), 4096).read_to_string(&mut out).expect("brotli decodes");
        assert_eq!(out, body);
        assert!(br.len() < body.len() / 10);
        let gz = Encoding::Gzip.compress(body.as_bytes(), Effort::Best).expect("gzip");
        let mut out = String::new();
        flate2::read::GzDecoder::new(gz.as_slice()).read_to_string(&mut out).expect("gzip decodes");
        assert_eq!(out, body);
    }

    #[test]
    fn encoded_forms_are_made_once() {
        let encoded = Encoded::new(Effort::Fast);
        let body = "x".repeat(4096);
        let first = encoded.get(body.as_bytes(), Encoding::Gzip).expect("gzip");
        // A different body would give different bytes: the memo answers without recompressing.
        let again = encoded.get(b"something else entirely", Encoding::Gzip).expect("gzip");
        assert_eq!(first.as_ptr(), again.as_ptr());
    }
}
