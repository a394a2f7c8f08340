//! Byte layout of segment headers and record frames, file names, and the
//! one place a record is framed. The offset tables are in `FORMAT.md`;
//! `tests/journal/codec.rs` holds them and these constants to each other.

use std::path::{Path, PathBuf};

use super::codec::{self, MAX_PAYLOAD};
use super::Entry;

pub const MAGIC: [u8; 8] = *b"TRDSJRNL";
pub const FORMAT_VERSION: u16 = 1;

/// The segment header occupies the first 64 bytes; records start after it.
pub const HEADER_BYTES: usize = 64;
/// Header field offsets.
pub const H_MAGIC: usize = 0;
pub const H_VERSION: usize = 8;
pub const H_SHARD: usize = 10;
pub const H_FIRST_SEQ: usize = 16;
pub const H_SEGMENT_BYTES: usize = 24;
pub const H_CREATED_NS: usize = 32;
/// CRC32C of header bytes `0..60`.
pub const H_CRC: usize = 60;

/// Record frame field offsets, relative to the record start.
pub const R_LEN: usize = 0;
pub const R_CRC: usize = 4;
pub const R_SEQ: usize = 8;
pub const R_TS: usize = 16;
pub const R_KIND: usize = 24;
pub const R_RESERVED: usize = 26;
pub const R_PAYLOAD: usize = 28;
/// Records start on 8-byte boundaries.
pub const RECORD_ALIGN: usize = 8;
/// The largest record frame: header, the largest payload, padding.
pub const MAX_RECORD_BYTES: usize = record_bytes(MAX_PAYLOAD);
/// The smallest segment that holds a header and one record of any kind.
pub const MIN_SEGMENT_BYTES: u64 = 4096;

// How the constants relate (FORMAT.md has the tables), checked by the
// compiler. The header's fields lie inside it, the CRC over all before it:
const _: () = assert!(H_MAGIC + MAGIC.len() <= H_VERSION);
const _: () = assert!(H_CREATED_NS + 8 <= H_CRC);
const _: () = assert!(H_CRC + 4 == HEADER_BYTES);
// records start aligned right after the header, and each frame's size
// keeps the next one aligned (`record_bytes` rounds with a mask);
const _: () = assert!(RECORD_ALIGN.is_power_of_two());
const _: () = assert!(HEADER_BYTES.is_multiple_of(RECORD_ALIGN));
const _: () = assert!(MAX_RECORD_BYTES.is_multiple_of(RECORD_ALIGN));
// the `len` word leads (written last, read first), the CRC it guards
// follows, and the CRC covers everything from `seq` to the payload's end;
const _: () = assert!(R_LEN == 0);
const _: () = assert!(R_CRC == R_LEN + 4);
const _: () = assert!(R_SEQ == R_CRC + 4);
const _: () = assert!(R_TS == R_SEQ + 8);
const _: () = assert!(R_KIND == R_TS + 8);
const _: () = assert!(R_RESERVED == R_KIND + 2);
const _: () = assert!(R_PAYLOAD == R_RESERVED + 2);
// and the smallest segment holds a header and one record of any kind.
const _: () = assert!(MIN_SEGMENT_BYTES as usize >= HEADER_BYTES + MAX_RECORD_BYTES);

/// Frame size of a record with `payload_len` payload bytes.
pub const fn record_bytes(payload_len: usize) -> usize {
    debug_assert!(payload_len <= MAX_PAYLOAD, "no payload is that long");
    (R_PAYLOAD + payload_len + RECORD_ALIGN - 1) & !(RECORD_ALIGN - 1)
}

/// `{first_seq:020}.seg`: zero-padded so names sort in sequence order.
pub fn segment_file_name(first_seq: u64) -> String {
    let name = format!("{first_seq:020}.seg");
    // Twenty digits hold every u64, so the name always reads back.
    debug_assert_eq!(parse_segment_file_name(&name), Some(first_seq));
    name
}

/// The sequence number a segment file name claims, if it is one.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Spares are created under a temporary name and renamed when activated.
pub const SPARE_SUFFIX: &str = ".spare";
/// Set-aside files (dropped or damaged segments) keep their name plus this.
pub const CORRUPT_SUFFIX: &str = ".corrupt";

/// `{root}/shard-{id}`: the directory of one shard's segments.
pub fn shard_dir(root: &Path, shard: u16) -> PathBuf {
    let name = format!("shard-{shard}");
    debug_assert_eq!(parse_shard_dir_name(&name), Some(shard));
    root.join(name)
}

/// The shard id a `shard-{id}` directory name claims.
pub fn parse_shard_dir_name(name: &str) -> Option<u16> {
    name.strip_prefix("shard-")?.parse().ok()
}

/// A decoded segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    pub version: u16,
    pub shard: u16,
    pub first_seq: u64,
    pub segment_bytes: u64,
    pub created_ns: u64,
}

/// Writes every header field except `first_seq` and the CRC (known only
/// when the segment is activated).
pub fn write_header_prefix(out: &mut [u8], shard: u16, segment_bytes: u64, created_ns: u64) {
    assert!(out.len() >= HEADER_BYTES, "room for the header");
    // A header `read_header` would refuse is never written.
    assert!(
        segment_bytes >= MIN_SEGMENT_BYTES,
        "segment_bytes {segment_bytes}"
    );
    out[..HEADER_BYTES].fill(0);
    out[H_MAGIC..H_MAGIC + 8].copy_from_slice(&MAGIC);
    put_u16(out, H_VERSION, FORMAT_VERSION);
    put_u16(out, H_SHARD, shard);
    put_u64(out, H_SEGMENT_BYTES, segment_bytes);
    put_u64(out, H_CREATED_NS, created_ns);
}

/// Completes a header: the first sequence number and the CRC that seals it.
pub fn seal_header(out: &mut [u8], first_seq: u64) {
    assert!(first_seq >= 1, "sequence numbers start at 1");
    assert_eq!(
        out[H_MAGIC..H_MAGIC + 8],
        MAGIC,
        "sealing an unwritten header"
    );
    put_u64(out, H_FIRST_SEQ, first_seq);
    let crc = crc32c::crc32c(&out[..H_CRC]);
    put_u32(out, H_CRC, crc);
    // Written, then read back as a reader will (TigerStyle's pair check).
    debug_assert_eq!(read_header(out).map(|h| h.first_seq), Ok(first_seq));
}

/// Why a header is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    TooShort(u64),
    BadMagic,
    BadCrc,
    UnsupportedVersion(u16),
    /// A `segment_bytes` smaller than any segment the writer makes.
    BadSegmentBytes(u64),
}

pub fn read_header(bytes: &[u8]) -> Result<SegmentHeader, HeaderError> {
    if bytes.len() < HEADER_BYTES {
        return Err(HeaderError::TooShort(bytes.len() as u64));
    }
    if bytes[H_MAGIC..H_MAGIC + 8] != MAGIC {
        return Err(HeaderError::BadMagic);
    }
    if crc32c::crc32c(&bytes[..H_CRC]) != get_u32(bytes, H_CRC) {
        return Err(HeaderError::BadCrc);
    }
    let version = get_u16(bytes, H_VERSION);
    if version != FORMAT_VERSION {
        return Err(HeaderError::UnsupportedVersion(version));
    }
    let segment_bytes = get_u64(bytes, H_SEGMENT_BYTES);
    if segment_bytes < MIN_SEGMENT_BYTES {
        return Err(HeaderError::BadSegmentBytes(segment_bytes));
    }
    Ok(SegmentHeader {
        version,
        shard: get_u16(bytes, H_SHARD),
        first_seq: get_u64(bytes, H_FIRST_SEQ),
        segment_bytes,
        created_ns: get_u64(bytes, H_CREATED_NS),
    })
}

/// The frame size of the record that stores `entry`.
#[inline]
pub fn entry_record_bytes(entry: &Entry) -> usize {
    let kind = codec::kind_of(entry);
    let frame = record_bytes(codec::payload_len(kind).expect("every kind has a payload length"));
    debug_assert!(frame <= MAX_RECORD_BYTES);
    debug_assert_eq!(frame % RECORD_ALIGN, 0);
    frame
}

/// Frames one record into `out` (exactly `entry_record_bytes(entry)`
/// bytes) and returns the kind. The `len` word is stored last, after a release fence: a process
/// that dies anywhere before it leaves `len == 0`, which readers take as
/// the end of the data, so a half-written record is never mistaken for a
/// whole one.
#[inline]
pub fn write_record(out: &mut [u8], seq: u64, ts_ns: u64, entry: &Entry) -> u16 {
    let kind = codec::kind_of(entry);
    let len = codec::payload_len(kind).expect("every kind has a payload length");
    assert!(out.len() == record_bytes(len), "frame sized for the kind");
    assert!(seq >= 1, "sequence numbers start at 1");
    // A zero `len` word means the end of the data: never a record's.
    assert!(len > 0, "an empty payload");
    // The padding after the payload (0 to 7 bytes) is zero: the frame's
    // last word is cleared first and the fields and payload are written
    // over its start, one store where filling the padding was a call to
    // memset. (For the shortest frames that word holds header fields,
    // which are written after it.)
    let last_word = out.len() - RECORD_ALIGN;
    assert!(last_word < R_PAYLOAD + len, "the padding is under one word");
    put_u64(out, last_word, 0);
    put_u64(out, R_SEQ, seq);
    put_u64(out, R_TS, ts_ns);
    put_u16(out, R_KIND, kind);
    put_u16(out, R_RESERVED, 0);
    codec::encode(entry, &mut out[R_PAYLOAD..R_PAYLOAD + len]);
    let crc = super::record_crc::record_crc(&out[R_SEQ..R_PAYLOAD + len]);
    put_u32(out, R_CRC, crc);
    std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
    put_u32(out, R_LEN, len as u32);
    kind
}

#[inline]
pub fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
#[inline]
pub fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
#[inline]
pub fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
#[inline]
pub fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
#[inline]
pub fn get_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}
#[inline]
pub fn get_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}
