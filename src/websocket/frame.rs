//! RFC 6455 section 5.2 frame headers: reading one from bytes, writing one
//! into a 14-byte array, and the masking transform. Pure functions; the
//! rules that depend on the connection's state live in [`decoder`](super::decoder).

use crate::engine::wire_enum::wire_enum;

wire_enum! {
    /// Opcodes (RFC 6455 section 5.2; 0x3-0x7 and 0xB-0xF are reserved).
    pub enum Opcode: u8 (from_u8) {
        Continuation = 0x0,
        Text = 0x1,
        Binary = 0x2,
        Close = 0x8,
        Ping = 0x9,
        Pong = 0xA,
    }
}

impl Opcode {
    pub fn is_control(self) -> bool {
        self as u8 & 0x8 != 0
    }
}

/// Largest payload of a control frame (section 5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// Longest frame header: 2 bytes, 8 of extended length, 4 of mask.
pub const MAX_HEADER_LEN: usize = 14;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    /// RSV1-3 (bits 6-4 of the first byte); no extension is negotiated, so
    /// any set bit is a protocol error.
    pub rsv: u8,
    /// The raw opcode (reserved values included: the decoder refuses them).
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub payload_len: u64,
}

/// Why a header cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Not an error: at least this many bytes are needed.
    Incomplete { needed: usize },
    /// The 64-bit length has its most significant bit set (section 5.2).
    LengthTooLarge,
}

/// Reads the frame header at the start of `bytes`; returns it and its length.
pub fn read_header(bytes: &[u8]) -> Result<(FrameHeader, usize), HeaderError> {
    let need = |needed| HeaderError::Incomplete { needed };
    let (&b0, &b1) = match bytes {
        [b0, b1, ..] => (b0, b1),
        _ => return Err(need(2)),
    };
    let masked = b1 & 0x80 != 0;
    let (len_bytes, short) = match b1 & 0x7F {
        126 => (2, None),
        127 => (8, None),
        n => (0, Some(u64::from(n))),
    };
    let header_len = 2 + len_bytes + if masked { 4 } else { 0 };
    if bytes.len() < header_len {
        return Err(need(header_len));
    }
    let payload_len = match short {
        Some(n) => n,
        None => {
            let mut len = [0u8; 8];
            len[8 - len_bytes..].copy_from_slice(&bytes[2..2 + len_bytes]);
            u64::from_be_bytes(len)
        }
    };
    if payload_len >> 63 != 0 {
        return Err(HeaderError::LengthTooLarge);
    }
    let mask = masked.then(|| {
        let at = 2 + len_bytes;
        [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]
    });
    let header = FrameHeader {
        fin: b0 & 0x80 != 0,
        rsv: (b0 >> 4) & 0x7,
        opcode: b0 & 0x0F,
        mask,
        payload_len,
    };
    Ok((header, header_len))
}

/// Writes a header with the shortest length encoding (section 5.2 requires
/// it of senders); returns its length.
pub fn write_header(
    fin: bool,
    opcode: Opcode,
    payload_len: u64,
    mask: Option<[u8; 4]>,
    out: &mut [u8; MAX_HEADER_LEN],
) -> usize {
    out[0] = if fin { 0x80 } else { 0 } | opcode as u8;
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut at = match payload_len {
        0..=125 => {
            out[1] = mask_bit | payload_len as u8;
            2
        }
        126..=0xFFFF => {
            out[1] = mask_bit | 126;
            out[2..4].copy_from_slice(&(payload_len as u16).to_be_bytes());
            4
        }
        _ => {
            out[1] = mask_bit | 127;
            out[2..10].copy_from_slice(&payload_len.to_be_bytes());
            10
        }
    };
    if let Some(mask) = mask {
        out[at..at + 4].copy_from_slice(&mask);
        at += 4;
    }
    at
}

/// XORs `data` with the mask, `offset` being the position of `data[0]` in
/// the frame's payload (section 5.3). Masking and unmasking are the same.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4], offset: u64) {
    let start = (offset % 4) as usize;
    for (i, byte) in data.iter_mut().enumerate() {
        *byte ^= mask[(start + i) % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_examples_read_back() {
        // RFC 6455 section 5.7: a single-frame masked text message "Hello".
        let frame = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let (header, len) = read_header(&frame).unwrap();
        assert_eq!(len, 6);
        assert!(header.fin);
        assert_eq!(header.opcode, Opcode::Text as u8);
        assert_eq!(header.payload_len, 5);
        let mut payload = frame[6..].to_vec();
        apply_mask(&mut payload, header.mask.unwrap(), 0);
        assert_eq!(payload, b"Hello");
        // 256 bytes binary, unmasked: 16-bit length.
        let (header, len) = read_header(&[0x82, 0x7E, 0x01, 0x00]).unwrap();
        assert_eq!((header.payload_len, len, header.mask), (256, 4, None));
    }

    #[test]
    fn write_uses_the_shortest_length_and_round_trips() {
        for len in [0u64, 125, 126, 65_535, 65_536, 1 << 40] {
            for mask in [None, Some([1, 2, 3, 4])] {
                let mut out = [0u8; MAX_HEADER_LEN];
                let n = write_header(true, Opcode::Binary, len, mask, &mut out);
                let expected = 2 + if len < 126 {
                    0
                } else if len < 65_536 {
                    2
                } else {
                    8
                };
                assert_eq!(n, expected + if mask.is_some() { 4 } else { 0 });
                let (header, read) = read_header(&out[..n]).unwrap();
                assert_eq!((header.payload_len, header.mask, read), (len, mask, n));
            }
        }
    }

    #[test]
    fn incomplete_and_oversized_headers() {
        assert_eq!(
            read_header(&[0x81]),
            Err(HeaderError::Incomplete { needed: 2 })
        );
        assert_eq!(
            read_header(&[0x81, 0xFE, 0]),
            Err(HeaderError::Incomplete { needed: 8 })
        );
        let mut huge = [0xFFu8; 10];
        huge[0] = 0x82;
        huge[1] = 0x7F;
        assert_eq!(read_header(&huge), Err(HeaderError::LengthTooLarge));
    }

    #[test]
    fn masking_continues_across_chunks() {
        let mask = [9, 8, 7, 6];
        let mut whole = *b"abcdefghij";
        apply_mask(&mut whole, mask, 0);
        let mut split = *b"abcdefghij";
        let (a, b) = split.split_at_mut(3);
        apply_mask(a, mask, 0);
        apply_mask(b, mask, 3);
        assert_eq!(whole, split);
    }
}
