//! The browser's per-site data as compact binary streams: unsigned LEB128 varints, and optional signed
//! integers as `0` for none or `zigzag(v) + 1`. Written into one blob after the page's JSON (both
//! deflated together, see [`super::html`]); `page.js` reads them back with the same rules. Small
//! integers (the delta- or mean-coded series of [`super::landcover`] and [`super::stats`]) mostly take one
//! byte, so the page carries several times less than the same numbers as JSON text.

use serde_json::{json, Value};

/// A growing blob of streams.
#[derive(Debug, Default)]
pub struct Blob {
    pub bytes: Vec<u8>,
}

impl Blob {
    /// Writes one stream with `write` and returns where it is, as `{"o": offset, "n": length}`.
    pub fn stream(&mut self, write: impl FnOnce(&mut Stream)) -> Value {
        let start = self.bytes.len();
        let mut s = Stream { bytes: std::mem::take(&mut self.bytes) };
        write(&mut s);
        self.bytes = s.bytes;
        json!({"o": start, "n": self.bytes.len() - start})
    }
}

/// One stream being written.
#[derive(Debug)]
pub struct Stream {
    bytes: Vec<u8>,
}

impl Stream {
    pub fn uint(&mut self, mut x: u64) {
        loop {
            let b = (x & 0x7f) as u8;
            x >>= 7;
            if x == 0 {
                self.bytes.push(b);
                return;
            }
            self.bytes.push(b | 0x80);
        }
    }

    pub fn opt(&mut self, v: Option<i64>) {
        match v {
            None => self.uint(0),
            Some(v) => self.uint((((v << 1) ^ (v >> 63)) as u64) + 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_optional_zigzag() {
        let mut b = Blob::default();
        let at = b.stream(|s| {
            s.uint(0);
            s.uint(300);
            s.opt(None);
            s.opt(Some(0));
            s.opt(Some(-1));
            s.opt(Some(1));
            s.opt(Some(-64));
        });
        // 300 = 0b10_0101100; zigzag: 0 → 0, −1 → 1, 1 → 2, −64 → 127; each plus one; 128 takes two bytes.
        assert_eq!(b.bytes, vec![0, 0xac, 0x02, 0, 1, 2, 3, 0x80, 0x01]);
        assert_eq!(at, json!({"o": 0, "n": 9}));
        assert_eq!(b.stream(|s| s.uint(5)), json!({"o": 9, "n": 1}));
    }
}
