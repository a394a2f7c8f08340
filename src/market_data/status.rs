//! Trading status on the feed: halts and resumes (the engine's `HaltSet`
//! events) and end of day (the journal's `EndOfDay` command, which emits no
//! public event of its own, so the shard tells the feed). Each is a
//! sequenced message on the symbol's `status` stream.

use crate::engine::wire_enum::wire_enum;

wire_enum! {
    /// The state a symbol trades in after a status message.
    #[derive(Default)]
    pub enum TradingStatus: u8 (from_u8) {
        #[default]
        Trading = 1,
        Halted = 2,
    }
}

impl TradingStatus {
    pub fn name(self) -> &'static str {
        match self {
            TradingStatus::Trading => "trading",
            TradingStatus::Halted => "halted",
        }
    }
}

wire_enum! {
    /// What a status message announces.
    pub enum StatusEvent: u8 (from_u8) {
        /// Trading halted: new orders and replaces are refused; resting orders
        /// stay and may be canceled.
        Halt = 1,
        Resume = 2,
        /// The trading day ended: Day orders expired (their level changes came
        /// just before), the ticker starts a new session.
        EndOfDay = 3,
    }
}

impl StatusEvent {
    pub fn name(self) -> &'static str {
        match self {
            StatusEvent::Halt => "halt",
            StatusEvent::Resume => "resume",
            StatusEvent::EndOfDay => "end_of_day",
        }
    }
}
