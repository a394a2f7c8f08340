//! The feed epoch: a 64-bit id that changes whenever the gateway starts, so
//! that a client can tell a restart (new epoch: throw the book away, take a
//! snapshot) from a gap (same epoch: resync). It plays MoldUDP64's session
//! field and Bybit's `u = 1`.
//!
//! Why it is needed although sequences are a pure function of the journal:
//! with `sync = none` a power loss can take the journal's unsynced tail, and
//! the restarted gateway then gives the same sequence numbers to different
//! events. The epoch makes `(epoch, symbol, seq)` name one message forever.
//!
//! Derivation (pure, here): the start's wall clock in nanoseconds since the
//! Unix epoch, raised to the previous epoch found in the journal plus one
//! when the clock is behind it. So epochs rise from start to start even when
//! the clock steps back, and a start that lost the previous epoch's record
//! (the lost tail) still gets a new value unless the clock went back too.
//!
//! Recording (`docs/MARKET_DATA.md`, 4.2 "Epoch"; done by the shard,
//! `shard/core/market.rs`): after recovery and before its first command,
//! every shard appends one journal record of kind 10 `feed_epoch` whose
//! 16-byte payload is [`FeedEpoch::to_payload`], the same value on every
//! shard (`shard/md/exchange.rs`). Replay takes the epoch from the last
//! such record, so a follower replaying the journal serves the same epoch.

/// Kind number of the `feed_epoch` journal record (after `config_epoch`,
/// 9, in `src/journal/FORMAT.md`).
pub const FEED_EPOCH_RECORD_KIND: u16 = 10;

/// Payload bytes of a `feed_epoch` record: `epoch u64`, `reserved[8]`.
pub const FEED_EPOCH_PAYLOAD_LEN: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FeedEpoch(pub u64);

/// Why a `feed_epoch` payload was refused (recovery treats it as corruption).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpochPayloadError {
    WrongLength,
    NonZeroReserved,
    /// Epoch 0 is never derived, so a zero payload is not a record.
    Zero,
}

impl FeedEpoch {
    /// The epoch of a start at wall clock `now_ns` after the journal's last
    /// epoch `previous` (`None` for a fresh journal).
    pub fn derive(previous: Option<FeedEpoch>, now_ns: u64) -> FeedEpoch {
        let floor = previous.map_or(1, |p| p.0.saturating_add(1));
        let epoch = FeedEpoch(now_ns.max(floor));
        debug_assert!(previous.is_none_or(|p| epoch > p || p.0 == u64::MAX));
        epoch
    }

    pub fn to_payload(self) -> [u8; FEED_EPOCH_PAYLOAD_LEN] {
        let mut payload = [0; FEED_EPOCH_PAYLOAD_LEN];
        payload[..8].copy_from_slice(&self.0.to_le_bytes());
        payload
    }

    pub fn from_payload(payload: &[u8]) -> Result<FeedEpoch, EpochPayloadError> {
        let payload: &[u8; FEED_EPOCH_PAYLOAD_LEN] = payload
            .try_into()
            .map_err(|_| EpochPayloadError::WrongLength)?;
        if payload[8..].iter().any(|&b| b != 0) {
            return Err(EpochPayloadError::NonZeroReserved);
        }
        let mut epoch = [0; 8];
        epoch.copy_from_slice(&payload[..8]);
        match u64::from_le_bytes(epoch) {
            0 => Err(EpochPayloadError::Zero),
            epoch => Ok(FeedEpoch(epoch)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_takes_its_clock_when_the_clock_is_ahead() {
        assert_eq!(
            FeedEpoch::derive(None, 1_700_000_000_000_000_000).0,
            1_700_000_000_000_000_000
        );
        assert_eq!(FeedEpoch::derive(Some(FeedEpoch(5)), 9).0, 9);
    }

    #[test]
    fn epochs_rise_when_the_clock_steps_back() {
        assert_eq!(FeedEpoch::derive(Some(FeedEpoch(100)), 50).0, 101);
        assert_eq!(FeedEpoch::derive(Some(FeedEpoch(100)), 100).0, 101);
        assert_eq!(FeedEpoch::derive(None, 0).0, 1);
    }

    #[test]
    fn payload_round_trips_and_refuses_what_the_writer_never_writes() {
        let epoch = FeedEpoch(0x0102_0304_0506_0708);
        let payload = epoch.to_payload();
        assert_eq!(payload[..8], [8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(FeedEpoch::from_payload(&payload), Ok(epoch));
        assert_eq!(
            FeedEpoch::from_payload(&payload[..8]),
            Err(EpochPayloadError::WrongLength)
        );
        let mut bad = payload;
        bad[15] = 1;
        assert_eq!(
            FeedEpoch::from_payload(&bad),
            Err(EpochPayloadError::NonZeroReserved)
        );
        assert_eq!(
            FeedEpoch::from_payload(&[0; 16]),
            Err(EpochPayloadError::Zero)
        );
    }
}
