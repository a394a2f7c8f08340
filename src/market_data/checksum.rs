//! The book checksum every book message carries: CRC-32 (IEEE 802.3, the
//! one of zlib, Python's `zlib.crc32` and Node's `zlib.crc32`) over the top
//! [`CHECKSUM_LEVELS`] levels of each side, computed over integer prices
//! and quantities in a fixed binary layout. Kraken's checksum over decimal
//! strings broke clients on precision and formatting edge cases (ccxt
//! disabled it by default); integers in little-endian have one spelling.
//!
//! The bytes fed to the CRC (`docs/MARKET_DATA.md`, "Checksum"):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | bid_count: u32, levels that follow for the bids (0..=10) |
//! | 4 | 4 | ask_count: u32 |
//! | 8 | 16 x bid_count | bids best first: price i64, qty u64 |
//! | .. | 16 x ask_count | asks best first: price i64, qty u64 |
//!
//! The counts make the split between the sides explicit, so two different
//! books never feed the same bytes. An empty book feeds 8 zero bytes.

use super::image::{BookImage, ImageLevel};
use crate::engine::{Price, Qty};

/// Levels per side the checksum covers.
pub const CHECKSUM_LEVELS: usize = 10;

/// Largest input the checksum is computed over.
pub const CHECKSUM_INPUT_MAX: usize = 8 + 2 * CHECKSUM_LEVELS * 16;

/// Writes up to [`CHECKSUM_LEVELS`] of `levels` at `*at`; returns how many.
fn put_side(
    levels: impl IntoIterator<Item = (Price, Qty)>,
    out: &mut [u8; CHECKSUM_INPUT_MAX],
    at: &mut usize,
) -> u32 {
    let mut count = 0;
    for (price, qty) in levels.into_iter().take(CHECKSUM_LEVELS) {
        out[*at..*at + 8].copy_from_slice(&price.to_le_bytes());
        out[*at + 8..*at + 16].copy_from_slice(&qty.to_le_bytes());
        *at += 16;
        count += 1;
    }
    count
}

/// Writes the checksum input for the given sides (best first; only the
/// first [`CHECKSUM_LEVELS`] of each are used) into `out`; returns its length.
pub fn checksum_input<B, A>(bids: B, asks: A, out: &mut [u8; CHECKSUM_INPUT_MAX]) -> usize
where
    B: IntoIterator<Item = (Price, Qty)>,
    A: IntoIterator<Item = (Price, Qty)>,
{
    let mut at = 8;
    let bid_count = put_side(bids, out, &mut at);
    let ask_count = put_side(asks, out, &mut at);
    out[0..4].copy_from_slice(&bid_count.to_le_bytes());
    out[4..8].copy_from_slice(&ask_count.to_le_bytes());
    at
}

/// The checksum of sides given best first.
pub fn checksum_of<B, A>(bids: B, asks: A) -> u32
where
    B: IntoIterator<Item = (Price, Qty)>,
    A: IntoIterator<Item = (Price, Qty)>,
{
    let mut input = [0u8; CHECKSUM_INPUT_MAX];
    let len = checksum_input(bids, asks, &mut input);
    crc32fast::hash(&input[..len])
}

fn pair(level: &ImageLevel) -> (Price, Qty) {
    (level.price, level.qty)
}

/// The checksum of `image`.
pub fn book_checksum(image: &BookImage) -> u32 {
    checksum_of(
        image.bids.best_first().map(pair),
        image.asks.best_first().map(pair),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Side;

    #[test]
    fn input_layout_is_counts_then_bids_then_asks() {
        let mut out = [0u8; CHECKSUM_INPUT_MAX];
        let len = checksum_input([(101, 2)], [(103, 1), (104, 9)], &mut out);
        assert_eq!(len, 8 + 3 * 16);
        assert_eq!(out[..8], [1, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(out[8..16], 101i64.to_le_bytes());
        assert_eq!(out[16..24], 2u64.to_le_bytes());
        assert_eq!(out[24..32], 103i64.to_le_bytes());
        assert_eq!(out[48..56], 9u64.to_le_bytes());
    }

    #[test]
    fn only_the_top_ten_levels_count() {
        let mut image = BookImage::new(16);
        for price in 1..=12 {
            image.set(Side::Buy, price, 1, 1).unwrap();
        }
        let top: Vec<_> = (3..=12).rev().map(|p| (p, 1)).collect();
        assert_eq!(book_checksum(&image), checksum_of(top, []));
        image.set(Side::Buy, 1, 0, 0).unwrap();
        assert_eq!(
            book_checksum(&image),
            checksum_of((3..=12).rev().map(|p| (p, 1)), [])
        );
    }

    #[test]
    fn the_crc_is_ieee_crc32() {
        // The check value of CRC-32/ISO-HDLC (zlib's crc32) for "123456789".
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
        assert_eq!(checksum_of([], []), crc32fast::hash(&[0; 8]));
    }
}
