//! Writing frames. A server's frames are never masked (RFC 6455 section
//! 5.1), so one encoded data frame is byte-identical for every subscriber:
//! the shard frames each event once and every client's writer sends the
//! same bytes. Clients' frames (and the tests') are masked.

use super::close::write_close_payload;
use super::frame::{apply_mask, write_header, Opcode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};

/// The buffer given was shorter than the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameTooLong {
    pub needed: usize,
}

/// Bytes of an unmasked frame carrying `payload_len` bytes.
pub fn server_frame_len(payload_len: usize) -> usize {
    let header = match payload_len {
        0..=125 => 2,
        126..=0xFFFF => 4,
        _ => 10,
    };
    header + payload_len
}

/// A final, unmasked frame (a server's).
pub fn write_server_frame(
    opcode: Opcode,
    payload: &[u8],
    out: &mut [u8],
) -> Result<usize, FrameTooLong> {
    write_frame(true, opcode, payload, None, out)
}

/// A frame; masked with `mask` when given (a client's).
pub fn write_frame(
    fin: bool,
    opcode: Opcode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
    out: &mut [u8],
) -> Result<usize, FrameTooLong> {
    let mut header = [0u8; MAX_HEADER_LEN];
    let header_len = write_header(fin, opcode, payload.len() as u64, mask, &mut header);
    let needed = header_len + payload.len();
    let out = out.get_mut(..needed).ok_or(FrameTooLong { needed })?;
    out[..header_len].copy_from_slice(&header[..header_len]);
    out[header_len..].copy_from_slice(payload);
    if let Some(mask) = mask {
        apply_mask(&mut out[header_len..], mask, 0);
    }
    Ok(needed)
}

/// A server's close frame with `code` and as much of `reason` as fits.
pub fn write_server_close(code: u16, reason: &str, out: &mut [u8]) -> Result<usize, FrameTooLong> {
    let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
    let n = write_close_payload(code, reason, &mut payload);
    write_server_frame(Opcode::Close, &payload[..n], out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_frames_are_unmasked_and_sized_as_promised() {
        let mut out = [0u8; 300];
        for len in [0, 5, 125, 126, 200] {
            let payload = vec![7u8; len];
            let n = write_server_frame(Opcode::Binary, &payload, &mut out).unwrap();
            assert_eq!(n, server_frame_len(len));
            assert_eq!(out[0], 0x82);
            assert_eq!(out[1] & 0x80, 0);
        }
        assert_eq!(
            write_server_frame(Opcode::Text, b"Hello", &mut out[..6]),
            Err(FrameTooLong { needed: 7 })
        );
        let n = write_server_frame(Opcode::Text, b"Hello", &mut out).unwrap();
        // RFC 6455 section 5.7: a single-frame unmasked text message.
        assert_eq!(&out[..n], &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    }
}
