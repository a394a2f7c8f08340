//! The CRC-32C of one journal record, the value of `crc32c::crc32c`,
//! computed inline. A record is 40 to 100 bytes; the crate's entry point
//! is built for long inputs (a dispatch, then three interleaved streams
//! to set up and combine) and cost about 155 instructions per record on
//! the order path, more than the rest of the append. Eight bytes per
//! `crc32` instruction from the start is what a record that short wants.
//! Long inputs (config files) keep the crate.

/// The CRC-32C (Castagnoli) of `bytes`, equal to `crc32c::crc32c(bytes)`.
pub fn record_crc(bytes: &[u8]) -> u32 {
    debug_assert!(bytes.len() <= 1 << 16, "a record, not a file");
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("sse4.2") {
            // SAFETY: the CPU has SSE 4.2, checked just above.
            return unsafe { sse42(bytes) };
        }
    }
    crc32c::crc32c(bytes)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
fn sse42(bytes: &[u8]) -> u32 {
    use std::arch::x86_64::{_mm_crc32_u64, _mm_crc32_u8};
    let mut words = bytes.chunks_exact(8);
    let mut crc = u64::from(u32::MAX);
    for word in &mut words {
        let word = u64::from_le_bytes(word.try_into().expect("chunks of 8"));
        crc = _mm_crc32_u64(crc, word);
    }
    debug_assert!(
        crc <= u64::from(u32::MAX),
        "crc32 leaves the high half zero"
    );
    let mut crc = crc as u32;
    for &byte in words.remainder() {
        crc = _mm_crc32_u8(crc, byte);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_check_value_and_the_empty_input() {
        // The check value of CRC-32C for "123456789".
        assert_eq!(record_crc(b"123456789"), 0xE306_9283);
        assert_eq!(record_crc(b""), crc32c::crc32c(b""));
    }

    proptest! {
        #[test]
        fn equals_the_crate_at_every_length_and_alignment(
            bytes in prop::collection::vec(any::<u8>(), 0..300),
            skip in 0usize..8,
        ) {
            let bytes = &bytes[skip.min(bytes.len())..];
            prop_assert_eq!(record_crc(bytes), crc32c::crc32c(bytes));
        }
    }
}
