//! The secrets check: does any secret appear in a text, in any form a person or a log could
//! still read it back from?
//!
//! A text is searched as written, with ANSI escape sequences and every line break and space
//! removed (a terminal recording wraps lines and colours words), and percent-decoded. A secret
//! is looked for as itself, base64-encoded (standard and URL-safe alphabets, at each of the
//! three alignments a secret can have inside a longer encoded text), and hex-encoded (either
//! case).
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};

/// Secrets shorter than this are not searched for (they would match by chance).
pub const MIN_SECRET_LEN: usize = 8;
/// An encoded fragment shorter than this is not searched for (it would match by chance).
const MIN_FRAGMENT_LEN: usize = 12;

/// One way a secret can be written down.
pub struct Form {
    pub name: &'static str,
    pub needle: String,
    /// Hex is compared case-insensitively (against the lower-cased text).
    lower: bool,
}

/// The text of a base64 encoding of `secret` that does not depend on what surrounds it, when
/// the secret starts `skew` bytes after a 3-byte boundary of the encoded text: the groups that
/// hold only secret bytes.
fn base64_core(engine: &impl Engine, secret: &[u8], skew: usize) -> Option<String> {
    let mut padded = vec![0u8; skew];
    padded.extend_from_slice(secret);
    let encoded = engine.encode(&padded);
    let start = if skew == 0 { 0 } else { 4 };
    let end = (padded.len() / 3) * 4;
    let core = encoded.get(start..end)?.to_string();
    (core.len() >= MIN_FRAGMENT_LEN).then_some(core)
}

/// Every form of `secret` the check looks for.
pub fn forms(secret: &str) -> Vec<Form> {
    let plain: String = secret.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = secret.as_bytes();
    let mut out = vec![Form {
        name: "as is",
        needle: plain,
        lower: false,
    }];
    for skew in 0..3 {
        if let Some(core) = base64_core(&STANDARD, bytes, skew) {
            out.push(Form {
                name: "base64",
                needle: core,
                lower: false,
            });
        }
        if let Some(core) = base64_core(&URL_SAFE, bytes, skew) {
            out.push(Form {
                name: "base64 (URL-safe)",
                needle: core,
                lower: false,
            });
        }
    }
    out.push(Form {
        name: "hex",
        needle: hex::encode(bytes),
        lower: true,
    });
    out.dedup_by(|a, b| a.needle == b.needle);
    out
}

/// A text prepared for searching: flattened, percent-decoded and lower-cased once.
pub struct Haystack {
    flat: String,
    decoded: String,
    lower: String,
}

impl Haystack {
    pub fn new(text: &str) -> Haystack {
        let flat: String = console::strip_ansi_codes(text)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let decoded = percent_encoding::percent_decode_str(&flat)
            .decode_utf8_lossy()
            .into_owned();
        let lower = flat.to_ascii_lowercase();
        Haystack {
            flat,
            decoded,
            lower,
        }
    }

    /// The first form of a secret found in this text.
    pub fn find<'f>(&self, forms: &'f [Form]) -> Option<&'f Form> {
        forms.iter().find(|f| {
            if f.lower {
                self.lower.contains(&f.needle)
            } else {
                self.flat.contains(&f.needle) || self.decoded.contains(&f.needle)
            }
        })
    }
}

/// `text` with every occurrence of `secret` in the forms found as is replaced, for a report
/// that does not repeat the secret.
pub fn redact(text: &str, secret: &str) -> String {
    let mut out = console::strip_ansi_codes(text).into_owned();
    for f in forms(secret) {
        out = out.replace(&f.needle, "<THE SECRET>");
        if f.lower {
            out = out.replace(&f.needle.to_ascii_uppercase(), "<THE SECRET>");
        }
    }
    // Whatever is left of it (split by a line break, or percent-encoded) is cut off.
    if Haystack::new(&out).find(&forms(secret)).is_some() {
        return format!(
            "(not shown: the secret is in it split by a line break or percent-encoded; {} characters)",
            text.len()
        );
    }
    out
}
