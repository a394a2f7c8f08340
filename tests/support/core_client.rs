//! A client of an I/O-free shard core: logs on through `first_message`,
//! sends encoded messages through `on_bytes` with its own sequence, and
//! reads what the core queued for it through `take_output`, decoded. For
//! tests that need exact control over what runs when, without sockets.

#![allow(dead_code)]

use std::rc::Rc;

use tradsys::protocol::*;
use tradsys::shard::core::{FirstMessage, Intake, Now, Output, ShardCore};
use tradsys::shard::mesh::SessionRef;
use tradsys::shard::notify::LocalNotify;

pub const NOW: Now = Now {
    mono_ns: 1,
    wall_ns: 1,
};

/// A message the gateway sent, reduced to what tests compare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Got {
    LogonAccepted,
    LogonRejected {
        reason: u16,
    },
    Accepted {
        client_order_id: u64,
    },
    Rejected {
        client_order_id: u64,
        reason: u16,
    },
    Fill {
        client_order_id: u64,
        qty: u64,
    },
    Canceled {
        client_order_id: u64,
        reason: u8,
    },
    Replaced {
        client_order_id: u64,
    },
    CancelRejected {
        client_order_id: u64,
        reason: u16,
    },
    MassCancelDone {
        request_id: u64,
        reason: u16,
    },
    Status {
        request_id: u64,
        state: u8,
        reason: u16,
    },
    Heartbeat,
    SessionEnd {
        reason: u16,
        expected_seq: u32,
    },
    Position {
        request_id: u64,
        symbol: u32,
        position: i64,
    },
    DoneOrder {
        request_id: u64,
        order_id: u64,
        state: u8,
        filled_qty: u64,
    },
    QueryDone {
        request_id: u64,
        count: u32,
        more: bool,
        reason: u16,
    },
    ReplayStarted {
        stream: u32,
        upto: u64,
    },
    ReplayDone {
        stream: u32,
        reason: u16,
        last: u64,
        count: u64,
    },
}

pub struct CoreClient {
    pub id: SessionRef,
    /// The `seq` of this client's next message.
    pub seq: u32,
}

impl CoreClient {
    /// Logs on `account` (seq 1) and discards LogonAccepted.
    pub fn logon(core: &mut ShardCore, account: u32, token: &[u8]) -> CoreClient {
        match Self::try_logon(core, account, token) {
            Ok(client) => client,
            Err(got) => panic!("logon of {account}: {got:?}"),
        }
    }

    /// Logs on, or returns what the refusal sent.
    pub fn try_logon(
        core: &mut ShardCore,
        account: u32,
        token: &[u8],
    ) -> Result<CoreClient, Vec<Got>> {
        let mut wire = [0u8; 256];
        let logon = LogonMsg::new(account, token, 0, false).unwrap();
        let len = encode(&logon, 1, &mut wire).unwrap();
        match core.first_message(&wire[..len], Rc::new(LocalNotify::default()), NOW) {
            FirstMessage::LoggedOn(id) => {
                let mut client = CoreClient { id, seq: 2 };
                assert_eq!(client.read(core), vec![Got::LogonAccepted]);
                Ok(client)
            }
            FirstMessage::Refused(end) => {
                let mut out = [0u8; tradsys::shard::core::PRE_LOGON_END_BYTES];
                let len = end.encode(&mut out);
                Err(decode_all(&out[..len]))
            }
            FirstMessage::Incomplete { needed } => panic!("logon incomplete: {needed}"),
        }
    }

    /// Sends one message with this client's next `seq`.
    pub fn send<M: WireMessage>(&mut self, core: &mut ShardCore, msg: &M) -> Intake {
        self.send_at(core, msg, NOW)
    }

    pub fn send_at<M: WireMessage>(&mut self, core: &mut ShardCore, msg: &M, now: Now) -> Intake {
        let mut wire = [0u8; 256];
        let len = encode(msg, self.seq, &mut wire).unwrap();
        self.seq = self.seq.wrapping_add(1);
        core.on_bytes(self.id, &wire[..len], now)
    }

    /// Sends raw bytes (framing errors).
    pub fn send_raw(&mut self, core: &mut ShardCore, bytes: &[u8]) -> Intake {
        core.on_bytes(self.id, bytes, NOW)
    }

    /// Everything queued for this client since the last read.
    pub fn read(&mut self, core: &mut ShardCore) -> Vec<Got> {
        decode_all(&self.read_bytes(core))
    }

    /// Everything queued for this client since the last read, whole.
    pub fn read_received(&mut self, core: &mut ShardCore) -> Vec<tradsys::client::Received> {
        let bytes = self.read_bytes(core);
        let mut rest = &bytes[..];
        let mut got = Vec::new();
        while !rest.is_empty() {
            let decoded = decode_gateway(rest).expect("the gateway sends whole messages");
            got.push(tradsys::client::Received::from_view(&decoded.message));
            rest = &rest[decoded.len..];
        }
        got
    }

    fn read_bytes(&mut self, core: &mut ShardCore) -> Vec<u8> {
        let mut spare = Vec::with_capacity(1 << 16);
        let mut bytes = Vec::new();
        while core.take_output(self.id, &mut spare) == Output::Data {
            bytes.extend_from_slice(&spare);
            spare.clear();
        }
        bytes
    }
}

pub fn decode_all(mut bytes: &[u8]) -> Vec<Got> {
    let mut got = Vec::new();
    while !bytes.is_empty() {
        let decoded = decode_gateway(bytes).expect("the gateway sends whole messages");
        got.push(reduce(&decoded.message));
        bytes = &bytes[decoded.len..];
    }
    got
}

fn reduce(message: &GatewayMessage<'_>) -> Got {
    match message {
        GatewayMessage::LogonAccepted(_) => Got::LogonAccepted,
        GatewayMessage::LogonRejected(m) => Got::LogonRejected {
            reason: m.reason.get(),
        },
        GatewayMessage::OrderAccepted(m) => Got::Accepted {
            client_order_id: m.client_order_id.get(),
        },
        GatewayMessage::OrderRejected(m) => Got::Rejected {
            client_order_id: m.client_order_id.get(),
            reason: m.reason.get(),
        },
        GatewayMessage::Fill(m) => Got::Fill {
            client_order_id: m.client_order_id.get(),
            qty: m.qty.get(),
        },
        GatewayMessage::OrderCanceled(m) => Got::Canceled {
            client_order_id: m.client_order_id.get(),
            reason: m.reason,
        },
        GatewayMessage::OrderReplaced(m) => Got::Replaced {
            client_order_id: m.client_order_id.get(),
        },
        GatewayMessage::CancelRejected(m) => Got::CancelRejected {
            client_order_id: m.client_order_id.get(),
            reason: m.reason.get(),
        },
        GatewayMessage::MassCancelDone(m) => Got::MassCancelDone {
            request_id: m.client_order_id.get(),
            reason: m.reject_reason.get(),
        },
        GatewayMessage::OrderStatus(m) => Got::Status {
            request_id: m.client_order_id.get(),
            state: m.state,
            reason: m.reject_reason.get(),
        },
        GatewayMessage::Heartbeat(_) => Got::Heartbeat,
        GatewayMessage::SessionEnd(m) => Got::SessionEnd {
            reason: m.reason.get(),
            expected_seq: m.expected_seq.get(),
        },
        GatewayMessage::Position(m) => Got::Position {
            request_id: m.client_order_id.get(),
            symbol: m.symbol.get(),
            position: m.position.get(),
        },
        GatewayMessage::DoneOrder(m) => Got::DoneOrder {
            request_id: m.client_order_id.get(),
            order_id: m.order_id.get(),
            state: m.state,
            filled_qty: m.filled_qty.get(),
        },
        GatewayMessage::QueryDone(m) => Got::QueryDone {
            request_id: m.client_order_id.get(),
            count: m.count.get(),
            more: m.more != 0,
            reason: m.reject_reason.get(),
        },
        GatewayMessage::ReplayStarted(m) => Got::ReplayStarted {
            stream: m.stream.get(),
            upto: m.upto.get(),
        },
        GatewayMessage::ReplayDone(m) => Got::ReplayDone {
            stream: m.stream.get(),
            reason: m.reject_reason.get(),
            last: m.last.get(),
            count: m.count.get(),
        },
    }
}
