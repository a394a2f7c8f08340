//! A JSON writer over a caller's byte buffer: no allocation, no escaping
//! needed (every string it writes is a fixed ASCII name), 64-bit integers
//! written as decimal strings so that JavaScript's doubles lose nothing.

use core::fmt::Write;

use super::encode::BufferTooSmall;

pub struct JsonOut<'a> {
    buf: &'a mut [u8],
    at: usize,
    /// Set once a write did not fit; everything after is dropped.
    overflow: bool,
    /// Whether the next member or element needs a comma before it.
    comma: bool,
}

impl Write for JsonOut<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.raw(s);
        Ok(())
    }
}

impl<'a> JsonOut<'a> {
    pub fn new(buf: &'a mut [u8]) -> JsonOut<'a> {
        JsonOut {
            buf,
            at: 0,
            overflow: false,
            comma: false,
        }
    }

    pub fn raw(&mut self, s: &str) {
        self.raw_bytes(s.as_bytes());
    }

    fn raw_bytes(&mut self, s: &[u8]) {
        match self.buf.get_mut(self.at..self.at + s.len()) {
            Some(dst) if !self.overflow => {
                dst.copy_from_slice(s);
                self.at += s.len();
            }
            _ => self.overflow = true,
        }
    }

    /// `"key":"…"` with `contents` copied as they are: the caller passes the
    /// raw contents of a JSON string it scanned (valid escapes, no control
    /// characters, no bare quote), which are valid contents again.
    pub fn scanned_string(&mut self, key: &str, contents: &[u8]) {
        self.key(key);
        self.raw("\"");
        self.raw_bytes(contents);
        self.raw("\"");
        self.comma = true;
    }

    /// The bytes written, or how short the buffer was (a lower bound).
    pub fn finish(self) -> Result<usize, BufferTooSmall> {
        if self.overflow {
            Err(BufferTooSmall {
                needed: self.buf.len() + 1,
            })
        } else {
            Ok(self.at)
        }
    }

    fn sep(&mut self) {
        if self.comma {
            self.raw(",");
        }
        self.comma = true;
    }

    pub fn open(&mut self) {
        self.sep();
        self.raw("{");
        self.comma = false;
    }

    pub fn close(&mut self) {
        self.raw("}");
        self.comma = true;
    }

    pub fn open_array(&mut self, key: &str) {
        self.key(key);
        self.raw("[");
        self.comma = false;
    }

    pub fn close_array(&mut self) {
        self.raw("]");
        self.comma = true;
    }

    pub fn key(&mut self, key: &str) {
        self.sep();
        self.raw("\"");
        self.raw(key);
        self.raw("\":");
        self.comma = false;
    }

    /// `"key":"name"`: `name` is one of the protocol's fixed printable-ASCII
    /// strings (no quote, no backslash), so it needs no escaping.
    pub fn name(&mut self, key: &str, name: &str) {
        debug_assert!(name
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\'));
        self.key(key);
        self.raw("\"");
        self.raw(name);
        self.raw("\"");
        self.comma = true;
    }

    /// A number that fits a double exactly (32-bit values).
    pub fn small(&mut self, key: &str, value: u32) {
        self.key(key);
        let _ = write!(self, "{value}");
        self.comma = true;
    }

    /// An integer a double holds exactly (at most 2^53 - 1) as a number.
    pub fn exact(&mut self, key: &str, value: u64) {
        debug_assert!(value < 1 << 53);
        self.key(key);
        let _ = write!(self, "{value}");
        self.comma = true;
    }

    /// A 64-bit (or wider) integer as a decimal string.
    pub fn big(&mut self, key: &str, value: impl core::fmt::Display) {
        self.key(key);
        let _ = write!(self, "\"{value}\"");
        self.comma = true;
    }

    pub fn bool(&mut self, key: &str, value: bool) {
        self.key(key);
        self.raw(if value { "true" } else { "false" });
        self.comma = true;
    }

    pub fn null(&mut self, key: &str) {
        self.key(key);
        self.raw("null");
        self.comma = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_members_arrays_and_exact_big_integers() {
        let mut buf = [0u8; 128];
        let mut out = JsonOut::new(&mut buf);
        out.open();
        out.name("type", "x");
        out.big("seq", u64::MAX);
        out.open_array("a");
        out.open();
        out.small("n", 1);
        out.close();
        out.open();
        out.null("m");
        out.close();
        out.close_array();
        out.bool("b", true);
        out.close();
        let n = out.finish().unwrap();
        assert_eq!(
            core::str::from_utf8(&buf[..n]).unwrap(),
            r#"{"type":"x","seq":"18446744073709551615","a":[{"n":1},{"m":null}],"b":true}"#
        );
    }

    #[test]
    fn a_short_buffer_is_an_error_not_a_truncated_document() {
        let mut buf = [0u8; 8];
        let mut out = JsonOut::new(&mut buf);
        out.open();
        out.name("type", "longer than eight");
        assert!(out.finish().is_err());
    }
}
