//! Trading status on the feed: halts and resumes (the engine's `HaltSet`
//! events) and end of day (the journal's `EndOfDay` command, which emits no
//! public event of its own, so the shard tells the feed). Each is a
//! sequenced message on the symbol's `status` stream.

/// The state a symbol trades in after a status message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum TradingStatus {
    #[default]
    Trading = 1,
    Halted = 2,
}

impl TradingStatus {
    pub fn from_u8(v: u8) -> Option<TradingStatus> {
        match v {
            1 => Some(TradingStatus::Trading),
            2 => Some(TradingStatus::Halted),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TradingStatus::Trading => "trading",
            TradingStatus::Halted => "halted",
        }
    }
}

/// What a status message announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum StatusEvent {
    /// Trading halted: new orders and replaces are refused; resting orders
    /// stay and may be canceled.
    Halt = 1,
    Resume = 2,
    /// The trading day ended: Day orders expired (their level changes came
    /// just before), the ticker starts a new session.
    EndOfDay = 3,
}

impl StatusEvent {
    pub fn from_u8(v: u8) -> Option<StatusEvent> {
        match v {
            1 => Some(StatusEvent::Halt),
            2 => Some(StatusEvent::Resume),
            3 => Some(StatusEvent::EndOfDay),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StatusEvent::Halt => "halt",
            StatusEvent::Resume => "resume",
            StatusEvent::EndOfDay => "end_of_day",
        }
    }
}
