//! UTF-8 validation of text messages across fragments (RFC 6455 section
//! 8.1), failing as soon as a byte makes the message invalid rather than at
//! its end (Autobahn's "fail fast" cases). It keeps at most the 3 bytes of a
//! code point split between frames, and leans on `core::str::from_utf8`,
//! whose `error_len() == None` means "a valid prefix cut short".

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidUtf8;

#[derive(Clone, Copy, Debug, Default)]
pub struct Utf8Validator {
    /// Start of a code point cut at the end of the previous chunk.
    pending: [u8; 4],
    pending_len: usize,
}

/// Bytes of the sequence a lead byte starts (0 for an invalid lead).
fn sequence_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

impl Utf8Validator {
    /// Validates the next chunk of a message.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<(), InvalidUtf8> {
        if self.pending_len > 0 {
            let want = sequence_len(self.pending[0]);
            let take = (want - self.pending_len).min(chunk.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&chunk[..take]);
            self.pending_len += take;
            chunk = &chunk[take..];
            match core::str::from_utf8(&self.pending[..self.pending_len]) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_none() => return Ok(()),
                Err(_) => return Err(InvalidUtf8),
            }
        }
        match core::str::from_utf8(chunk) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let tail = &chunk[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len();
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// The message ended: a code point still cut short is invalid.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.pending_len == 0;
        *self = Utf8Validator::default();
        if complete {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(text: &[u8], cuts: &[usize]) -> Result<(), InvalidUtf8> {
        let mut v = Utf8Validator::default();
        let mut at = 0;
        for &cut in cuts {
            v.feed(&text[at..cut])?;
            at = cut;
        }
        v.feed(&text[at..])?;
        v.finish()
    }

    #[test]
    fn code_points_split_anywhere_are_valid() {
        let text = "κόσμε €𝄞".as_bytes();
        for a in 0..=text.len() {
            for b in a..=text.len() {
                assert_eq!(chunks(text, &[a, b]), Ok(()), "cut at {a}, {b}");
            }
        }
    }

    #[test]
    fn invalid_sequences_fail_as_soon_as_they_are_seen() {
        let mut v = Utf8Validator::default();
        assert_eq!(v.feed(&[0xCE, 0xBA, 0xE1]), Ok(()));
        // 0xE1 0x80 is a valid start; 0xC0 never is.
        assert_eq!(v.feed(&[0x80]), Ok(()));
        assert_eq!(v.feed(&[0xC0]), Err(InvalidUtf8));
        let mut v = Utf8Validator::default();
        // 0xF4 0x90 is above U+10FFFF: invalid before the sequence ends.
        assert_eq!(v.feed(&[0xF4]), Ok(()));
        assert_eq!(v.feed(&[0x90]), Err(InvalidUtf8));
        // A surrogate (ED A0..) is invalid at its second byte.
        assert_eq!(
            Utf8Validator::default().feed(&[0xED, 0xA0]),
            Err(InvalidUtf8)
        );
    }

    #[test]
    fn a_message_cut_inside_a_code_point_is_invalid() {
        let mut v = Utf8Validator::default();
        assert_eq!(v.feed(&[b'a', 0xE2, 0x82]), Ok(()));
        assert_eq!(v.finish(), Err(InvalidUtf8));
        assert_eq!(v.feed(b"ok"), Ok(()));
        assert_eq!(v.finish(), Ok(()));
    }
}
