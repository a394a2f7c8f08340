//! A strict, allocation-free JSON scanner (RFC 8259) for the small control
//! messages clients send: the caller walks an object member by member and
//! asks for the value type it expects. Strings come back as their raw bytes
//! between the quotes (escapes are checked, not expanded); numbers as their
//! integer value when they are a non-negative integer that fits `u64`.

/// The bytes are not JSON (or not the JSON shape being read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotJson;

/// A scanned number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Number {
    /// A non-negative integer without fraction or exponent that fits `u64`.
    Integer(u64),
    /// Any other valid JSON number (negative, fractional, exponent, huge).
    Other,
}

/// The kind of value that starts at the cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Object,
    Array,
    String,
    Number,
    Literal,
}

pub struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    pub fn new(bytes: &'a [u8]) -> Scanner<'a> {
        Scanner { bytes, at: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    pub fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Consumes `byte` (after whitespace) if it is next.
    pub fn eat(&mut self, byte: u8) -> bool {
        self.skip_ws();
        if self.peek() == Some(byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    pub fn expect(&mut self, byte: u8) -> Result<(), NotJson> {
        if self.eat(byte) {
            Ok(())
        } else {
            Err(NotJson)
        }
    }

    /// Whether only whitespace is left.
    pub fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.at == self.bytes.len()
    }

    pub fn kind(&mut self) -> Result<Kind, NotJson> {
        self.skip_ws();
        Ok(match self.peek().ok_or(NotJson)? {
            b'{' => Kind::Object,
            b'[' => Kind::Array,
            b'"' => Kind::String,
            b'-' | b'0'..=b'9' => Kind::Number,
            b't' | b'f' | b'n' => Kind::Literal,
            _ => return Err(NotJson),
        })
    }

    /// A string's raw contents.
    pub fn string(&mut self) -> Result<&'a [u8], NotJson> {
        self.expect(b'"')?;
        let start = self.at;
        loop {
            match self.peek().ok_or(NotJson)? {
                b'"' => break,
                b'\\' => {
                    self.at += 1;
                    match self.peek().ok_or(NotJson)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 1,
                        b'u' => {
                            let hex = self.bytes.get(self.at + 1..self.at + 5).ok_or(NotJson)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return Err(NotJson);
                            }
                            self.at += 5;
                        }
                        _ => return Err(NotJson),
                    }
                }
                0x00..=0x1F => return Err(NotJson),
                _ => self.at += 1,
            }
        }
        let raw = &self.bytes[start..self.at];
        self.at += 1;
        Ok(raw)
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        self.at - start
    }

    pub fn number(&mut self) -> Result<Number, NotJson> {
        self.skip_ws();
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let int_start = self.at;
        let int_len = self.digits();
        if int_len == 0 || (int_len > 1 && self.bytes[int_start] == b'0') {
            return Err(NotJson);
        }
        let mut plain = !negative;
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return Err(NotJson);
            }
            plain = false;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if self.digits() == 0 {
                return Err(NotJson);
            }
            plain = false;
        }
        let digits = &self.bytes[int_start..int_start + int_len];
        let value = digits.iter().try_fold(0u64, |acc, d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        });
        Ok(match value {
            Some(v) if plain => Number::Integer(v),
            _ => Number::Other,
        })
    }

    pub fn literal(&mut self) -> Result<(), NotJson> {
        self.skip_ws();
        for word in [&b"true"[..], b"false", b"null"] {
            if self.bytes[self.at..].starts_with(word) {
                self.at += word.len();
                return Ok(());
            }
        }
        Err(NotJson)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_numbers() {
        let mut s = Scanner::new(br#" "a\"b\u00e9" 12 0 -1 1.5 1e3 01 "#);
        assert_eq!(s.string(), Ok(&br#"a\"b\u00e9"#[..]));
        assert_eq!(s.number(), Ok(Number::Integer(12)));
        assert_eq!(s.number(), Ok(Number::Integer(0)));
        assert_eq!(s.number(), Ok(Number::Other));
        assert_eq!(s.number(), Ok(Number::Other));
        assert_eq!(s.number(), Ok(Number::Other));
        assert_eq!(s.number(), Err(NotJson));
    }

    #[test]
    fn rejects_what_json_does_not_allow() {
        assert_eq!(Scanner::new(b"\"a\x01\"").string(), Err(NotJson));
        assert_eq!(Scanner::new(br#""\x""#).string(), Err(NotJson));
        assert_eq!(Scanner::new(br#""\u12g4""#).string(), Err(NotJson));
        assert_eq!(Scanner::new(b"\"open").string(), Err(NotJson));
        assert_eq!(Scanner::new(b"1.").number(), Err(NotJson));
        assert_eq!(Scanner::new(b"-").number(), Err(NotJson));
        assert_eq!(
            Scanner::new(b"99999999999999999999").number(),
            Ok(Number::Other)
        );
    }
}
