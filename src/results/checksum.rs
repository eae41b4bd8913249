//! Checksums of downloaded files: what Cloud Storage (`crc32c`, `md5Hash`, base64) and Drive (`md5Checksum`,
//! hex) report for a file, and the same sums computed over the local bytes as they arrive, so a download is
//! kept only when they agree.

use base64::Engine as _;
use md5::Digest as _;

/// A checksum a service reported that cannot be read: its `field` (`crc32c`, `md5Hash`, `md5Checksum`),
/// its text, and what it should have been (`base64`, `4 bytes`, …).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field} `{text}` is not {should_be}")]
pub struct ChecksumError {
    pub field: &'static str,
    pub text: String,
    pub should_be: &'static str,
}

fn bad(field: &'static str, text: &str, should_be: &'static str) -> ChecksumError {
    ChecksumError { field, text: text.to_string(), should_be }
}

/// Checksums a service reports for a file. Files are verified with crc32c when known, else MD5, else size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    pub crc32c: Option<u32>,
    pub md5: Option<[u8; 16]>,
    pub size: Option<u64>,
    /// Show MD5 in hex (Drive's `md5Checksum`) rather than base64 (Cloud Storage's `md5Hash`).
    pub md5_hex: bool,
}

impl Expected {
    /// From Cloud Storage's object resource: `crc32c` is base64 of the big-endian CRC32C, `md5Hash` base64.
    pub fn from_gcs(crc32c: Option<&str>, md5: Option<&str>, size: Option<u64>) -> Result<Expected, ChecksumError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let crc32c = match crc32c {
            None => None,
            Some(s) => {
                let b = b64.decode(s).map_err(|_| bad("crc32c", s, "base64"))?;
                let arr: [u8; 4] = b.try_into().map_err(|_| bad("crc32c", s, "4 bytes"))?;
                Some(u32::from_be_bytes(arr))
            }
        };
        let md5 = match md5 {
            None => None,
            Some(s) => {
                let b = b64.decode(s).map_err(|_| bad("md5Hash", s, "base64"))?;
                Some(b.try_into().map_err(|_| bad("md5Hash", s, "16 bytes"))?)
            }
        };
        Ok(Expected { crc32c, md5, size, md5_hex: false })
    }

    /// From Drive's file resource: `md5Checksum` is hex.
    pub fn from_drive(md5_hex: Option<&str>, size: Option<u64>) -> Result<Expected, ChecksumError> {
        let md5 = match md5_hex {
            None => None,
            Some(s) => {
                let b = hex::decode(s).map_err(|_| bad("md5Checksum", s, "hex"))?;
                Some(b.try_into().map_err(|_| bad("md5Checksum", s, "16 bytes"))?)
            }
        };
        Ok(Expected { crc32c: None, md5, size, md5_hex: true })
    }

    pub(super) fn matches(&self, d: &Digest) -> bool {
        if let Some(c) = self.crc32c {
            return c == d.crc32c && self.size.is_none_or(|s| s == d.size);
        }
        if let Some(m) = self.md5 {
            return m == d.md5 && self.size.is_none_or(|s| s == d.size);
        }
        self.size.is_none_or(|s| s == d.size)
    }

    /// (got, expected) in the service's own notation.
    pub(super) fn describe(&self, d: &Digest) -> (String, String) {
        let b64 = base64::engine::general_purpose::STANDARD;
        if let Some(c) = self.crc32c {
            return (
                format!("crc32c {} ({} bytes)", b64.encode(d.crc32c.to_be_bytes()), d.size),
                format!("crc32c {}", b64.encode(c.to_be_bytes())),
            );
        }
        let md5 = |m: &[u8; 16]| if self.md5_hex { hex::encode(m) } else { b64.encode(m) };
        if let Some(m) = &self.md5 {
            return (format!("md5 {} ({} bytes)", md5(&d.md5), d.size), format!("md5 {}", md5(m)));
        }
        (format!("{} bytes", d.size), format!("{} bytes", self.size.unwrap_or(0)))
    }
}

/// Checksums of local bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Digest {
    pub crc32c: u32,
    pub md5: [u8; 16],
    pub size: u64,
}

#[derive(Default)]
pub(super) struct Hasher {
    crc: u32,
    md5: md5::Md5,
    size: u64,
}

impl Hasher {
    pub fn update(&mut self, b: &[u8]) {
        self.crc = crc32c::crc32c_append(self.crc, b);
        self.md5.update(b);
        self.size += b.len() as u64;
    }
    pub fn finish(self) -> Digest {
        Digest { crc32c: self.crc, md5: self.md5.finalize().into(), size: self.size }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcs_checksums_decode_big_endian() {
        // crc32c("hello") = 0x9a71bb4c, md5("hello") = 5d41402abc4b2a76b9719d911017c592.
        let e = Expected::from_gcs(Some("mnG7TA=="), Some("XUFAKrxLKna5cZ2REBfFkg=="), Some(5)).unwrap();
        let mut h = Hasher::default();
        h.update(b"hel");
        h.update(b"lo");
        let d = h.finish();
        assert_eq!(e.crc32c, Some(0x9a71bb4c));
        assert!(e.matches(&d));
        let md5_only = Expected { crc32c: None, ..e.clone() };
        assert!(md5_only.matches(&d));
        let mut h = Hasher::default();
        h.update(b"hellO");
        let bad = h.finish();
        assert!(!e.matches(&bad));
        assert!(!md5_only.matches(&bad));
        let (got, want) = e.describe(&bad);
        assert_eq!(want, "crc32c mnG7TA==");
        assert!(got.starts_with("crc32c ") && got.ends_with("(5 bytes)") && got != "crc32c mnG7TA== (5 bytes)");
        let drive = Expected::from_drive(Some("5d41402abc4b2a76b9719d911017c592"), None).unwrap();
        assert!(drive.matches(&d));
        assert_eq!(drive.describe(&bad).1, "md5 5d41402abc4b2a76b9719d911017c592");
        assert!(Expected::from_gcs(Some("***"), None, None).is_err());
        assert!(Expected::from_drive(Some("abc"), None).is_err());
    }
}
