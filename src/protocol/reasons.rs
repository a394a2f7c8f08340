//! Reason and state codes that belong to the protocol rather than the
//! engine. Order-level reasons (`RejectReason`, `CancelReason`) are the
//! engine's and travel with the engine's numbers; these are about the
//! session itself. Like the engine's codes, a published number never
//! changes meaning.

use crate::engine::wire_enum::wire_enum;

wire_enum! {
    /// Why the gateway ended a session. Sent in `SessionEnd`, the last message
    /// the gateway writes before closing the connection.
    pub enum SessionEndReason: u16 (from_u16) {
        /// The client sent Logout.
        Logout = 1,
        /// Nothing received for three heartbeat intervals.
        IdleTimeout = 2,
        /// A header's `length` was below 8 or above the maximum message length.
        BadLength = 3,
        /// A header's `msg_type` is not a client-to-gateway type.
        UnknownMessageType = 4,
        /// A header's `version` is not the one this gateway speaks.
        WrongVersion = 5,
        /// A header's `length` is not the fixed length of its `msg_type`.
        LengthMismatch = 6,
        /// The first message on the connection was not Logon.
        NotLoggedOn = 7,
        /// A client `seq` was not exactly the expected one (a gap or a repeat).
        SequenceGap = 8,
        /// The gateway is shutting down.
        Shutdown = 9,
        /// Follows a LogonRejected message.
        LogonRejected = 10,
        /// The client did not read fast enough: its bounded send buffer filled.
        SlowConsumer = 11,
        /// A second Logon on a session that is already logged on.
        DuplicateLogon = 12,
        /// No Logon arrived within the gateway's logon timeout after connect.
        LogonTimeout = 13,
        /// The gateway stopped because its journal could not make a record
        /// durable (an msync/fsync error): nothing after the last acknowledged
        /// command was executed, and the gateway exits non-zero.
        JournalFailure = 14,
        /// WebSocket order entry only: the client broke a rule of the
        /// WebSocket transport (a malformed frame, a text message, a message
        /// over the size limit); the Close frame that follows says which.
        TransportError = 15,
    }
}

wire_enum! {
    /// Why a Logon was refused. Sent in `LogonRejected`, followed by
    /// `SessionEnd(LogonRejected)` and close.
    pub enum LogonRejectReason: u16 (from_u16) {
        /// Unknown account or wrong token. Deliberately one code for both, so
        /// a client cannot probe which accounts exist.
        InvalidCredentials = 1,
        /// The Logon `flags` had a bit set that this version does not define.
        UnsupportedFlags = 2,
        /// The gateway already serves its configured maximum number of sessions.
        SessionLimit = 3,
        /// The gateway is shutting down and takes no new sessions.
        ShuttingDown = 4,
    }
}

wire_enum! {
    /// An order's state as reported by `OrderStatus`.
    pub enum OrderState: u8 (from_u8) {
        /// No such order of this account is known: never existed, belongs to
        /// another account, or is no longer retained. One code for all three
        /// so that nothing about other accounts leaks.
        Unknown = 0,
        /// Resting on the book, possibly partially filled.
        Open = 1,
        /// Completely filled.
        Filled = 2,
        /// Left the book without filling completely (any `CancelReason`).
        Canceled = 3,
    }
}
