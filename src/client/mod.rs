//! A small blocking client for bots, tests and the load generator: one
//! `std::net::TcpStream`, fixed buffers, no allocation per message.
//!
//! ```no_run
//! use tradsys::client::{Client, Received};
//! let mut client = Client::connect("127.0.0.1:7001").unwrap();
//! client.logon(1, b"alice-demo-token", 0, false).unwrap();
//! ```

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::engine::{ClientOrderId, NewOrder, OrderId, Price, Qty, RejectReason, SymbolId};
use crate::protocol::*;

mod merge;
pub use merge::ReportMerge;

/// A gateway message, copied out of the receive buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    LogonAccepted(LogonAcceptedMsg),
    LogonRejected(LogonRejectedMsg),
    Heartbeat(GatewayHeartbeatMsg),
    OrderAccepted(OrderAcceptedMsg),
    OrderRejected(OrderRejectedMsg),
    Fill(FillMsg),
    OrderCanceled(OrderCanceledMsg),
    OrderReplaced(OrderReplacedMsg),
    CancelRejected(CancelRejectedMsg),
    MassCancelDone(MassCancelDoneMsg),
    OrderStatus(OrderStatusMsg),
    SessionEnd(SessionEndMsg),
    Position(PositionMsg),
    QueryDone(QueryDoneMsg),
    ReplayStarted(ReplayStartedMsg),
    ReplayDone(ReplayDoneMsg),
    DoneOrder(DoneOrderMsg),
}

impl Received {
    pub fn from_view(message: &GatewayMessage<'_>) -> Received {
        match *message {
            GatewayMessage::LogonAccepted(m) => Received::LogonAccepted(*m),
            GatewayMessage::LogonRejected(m) => Received::LogonRejected(*m),
            GatewayMessage::Heartbeat(m) => Received::Heartbeat(*m),
            GatewayMessage::OrderAccepted(m) => Received::OrderAccepted(*m),
            GatewayMessage::OrderRejected(m) => Received::OrderRejected(*m),
            GatewayMessage::Fill(m) => Received::Fill(*m),
            GatewayMessage::OrderCanceled(m) => Received::OrderCanceled(*m),
            GatewayMessage::OrderReplaced(m) => Received::OrderReplaced(*m),
            GatewayMessage::CancelRejected(m) => Received::CancelRejected(*m),
            GatewayMessage::MassCancelDone(m) => Received::MassCancelDone(*m),
            GatewayMessage::OrderStatus(m) => Received::OrderStatus(*m),
            GatewayMessage::SessionEnd(m) => Received::SessionEnd(*m),
            GatewayMessage::Position(m) => Received::Position(*m),
            GatewayMessage::QueryDone(m) => Received::QueryDone(*m),
            GatewayMessage::ReplayStarted(m) => Received::ReplayStarted(*m),
            GatewayMessage::ReplayDone(m) => Received::ReplayDone(*m),
            GatewayMessage::DoneOrder(m) => Received::DoneOrder(*m),
        }
    }

    /// Where an order report sits in its account's streams (PROTOCOL.md
    /// 5.9; `report_seq` 0: a gateway refusal, in no stream); `None` for
    /// messages that are not order reports.
    pub fn report_number(&self) -> Option<ReportNumber> {
        let (report_seq, stream) = match self {
            Received::OrderAccepted(m) => (m.report_seq, m.stream),
            Received::OrderRejected(m) => (m.report_seq, m.stream),
            Received::Fill(m) => (m.report_seq, m.stream),
            Received::OrderCanceled(m) => (m.report_seq, m.stream),
            Received::OrderReplaced(m) => (m.report_seq, m.stream),
            Received::CancelRejected(m) => (m.report_seq, m.stream),
            _ => return None,
        };
        Some(ReportNumber {
            stream: stream.get(),
            report_seq: report_seq.get(),
        })
    }

    pub fn seq(&self) -> u32 {
        match self {
            Received::LogonAccepted(m) => m.header.seq.get(),
            Received::LogonRejected(m) => m.header.seq.get(),
            Received::Heartbeat(m) => m.header.seq.get(),
            Received::OrderAccepted(m) => m.header.seq.get(),
            Received::OrderRejected(m) => m.header.seq.get(),
            Received::Fill(m) => m.header.seq.get(),
            Received::OrderCanceled(m) => m.header.seq.get(),
            Received::OrderReplaced(m) => m.header.seq.get(),
            Received::CancelRejected(m) => m.header.seq.get(),
            Received::MassCancelDone(m) => m.header.seq.get(),
            Received::OrderStatus(m) => m.header.seq.get(),
            Received::SessionEnd(m) => m.header.seq.get(),
            Received::Position(m) => m.header.seq.get(),
            Received::QueryDone(m) => m.header.seq.get(),
            Received::ReplayStarted(m) => m.header.seq.get(),
            Received::ReplayDone(m) => m.header.seq.get(),
            Received::DoneOrder(m) => m.header.seq.get(),
        }
    }
}

#[derive(Debug)]
pub enum ClientError {
    Io(io::Error),
    /// The gateway's bytes failed framing: the stream is unusable.
    Framing(DecodeError),
    /// The gateway closed the connection.
    Closed,
    /// A gateway message arrived out of sequence.
    SequenceGap {
        expected: u32,
        got: u32,
    },
    /// Logon was refused (the reason code) or ended.
    LogonRefused(Received),
    /// A query was refused: the `RejectReason` code of its QueryDone.
    QueryRefused(u16),
}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> ClientError {
        ClientError::Io(e)
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for ClientError {}

pub struct Client {
    stream: TcpStream,
    /// Messages queued by `queue`, written by `flush` in one system call.
    tx: Vec<u8>,
    next_seq: u32,
    expected_seq: u32,
    rx: Box<[u8]>,
    rx_start: usize,
    rx_end: usize,
}

const RX_BYTES: usize = 64 * 1024;
const TX_BYTES: usize = 64 * 1024;

impl Client {
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<Client> {
        Client::from_stream(TcpStream::connect(addr)?)
    }

    /// Wraps a connected stream (to set socket options before connecting).
    pub fn from_stream(stream: TcpStream) -> io::Result<Client> {
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            tx: Vec::with_capacity(TX_BYTES),
            next_seq: 1,
            expected_seq: 1,
            rx: vec![0u8; RX_BYTES].into_boxed_slice(),
            rx_start: 0,
            rx_end: 0,
        })
    }

    /// A second handle on the same connection for a reader thread; it
    /// continues the receive sequence from here. The original should then
    /// only send.
    pub fn try_clone_for_reading(&self) -> Client {
        Client {
            stream: self.stream.try_clone().expect("clone a connected socket"),
            tx: Vec::new(),
            next_seq: self.next_seq,
            expected_seq: self.expected_seq,
            rx: vec![0u8; RX_BYTES].into_boxed_slice(),
            rx_start: 0,
            rx_end: 0,
        }
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// `None` waits forever.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(timeout)
    }

    /// Sequence number the next message will carry.
    pub fn next_seq(&self) -> u32 {
        self.next_seq
    }

    /// Overrides the next sequence number (tests of gap handling).
    pub fn set_next_seq(&mut self, seq: u32) {
        self.next_seq = seq;
    }

    /// Encodes and sends one message with the next sequence number.
    pub fn send<M: WireMessage>(&mut self, msg: &M) -> io::Result<()> {
        let mut out = [0u8; MAX_MESSAGE_LEN];
        let len = encode(msg, self.next_seq, &mut out).expect("every message fits 256 bytes");
        self.next_seq = self.next_seq.wrapping_add(1);
        self.stream.write_all(&out[..len])
    }

    /// Encodes a message into the send queue (no system call); `flush`
    /// writes the queue. Flushes first if the queue is full.
    pub fn queue<M: WireMessage>(&mut self, msg: &M) -> io::Result<()> {
        if self.tx.len() + M::LEN > TX_BYTES {
            self.flush()?;
        }
        let start = self.tx.len();
        self.tx.resize(start + M::LEN, 0);
        encode(msg, self.next_seq, &mut self.tx[start..]).expect("room reserved");
        self.next_seq = self.next_seq.wrapping_add(1);
        Ok(())
    }

    /// Writes everything queued by `queue`.
    pub fn flush(&mut self) -> io::Result<()> {
        let result = self.stream.write_all(&self.tx);
        self.tx.clear();
        result
    }

    /// Writes bytes as they are (malformed-input tests).
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends Logon and waits for the answer.
    pub fn logon(
        &mut self,
        account: u32,
        token: &[u8],
        heartbeat_interval_ms: u32,
        cancel_on_disconnect: bool,
    ) -> Result<LogonAcceptedMsg, ClientError> {
        let logon = LogonMsg::new(account, token, heartbeat_interval_ms, cancel_on_disconnect)
            .ok_or_else(|| {
                ClientError::Io(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "token longer than 32 bytes",
                ))
            })?;
        self.send(&logon)?;
        match self.recv()? {
            Received::LogonAccepted(accepted) => Ok(accepted),
            other => Err(ClientError::LogonRefused(other)),
        }
    }

    pub fn new_order(&mut self, order: &NewOrder) -> io::Result<()> {
        self.send(&NewOrderMsg::from_order(order))
    }

    pub fn cancel(
        &mut self,
        client_order_id: ClientOrderId,
        symbol: SymbolId,
        order_id: OrderId,
    ) -> io::Result<()> {
        self.send(&CancelOrderMsg::new(client_order_id, order_id, symbol))
    }

    pub fn replace(
        &mut self,
        client_order_id: ClientOrderId,
        symbol: SymbolId,
        order_id: OrderId,
        new_price: Price,
        new_qty: Qty,
    ) -> io::Result<()> {
        self.send(&ReplaceOrderMsg::new(
            client_order_id,
            order_id,
            symbol,
            new_price,
            new_qty,
        ))
    }

    /// `symbol: None` cancels on every symbol.
    pub fn mass_cancel(
        &mut self,
        client_order_id: ClientOrderId,
        symbol: Option<SymbolId>,
    ) -> io::Result<()> {
        self.send(&MassCancelMsg::new(client_order_id, symbol))
    }

    pub fn order_status(
        &mut self,
        request_id: ClientOrderId,
        symbol: SymbolId,
        order_id: OrderId,
    ) -> io::Result<()> {
        self.send(&OrderStatusRequestMsg::new(request_id, order_id, symbol))
    }

    /// Asks for the open order of this account on `symbol` that carries
    /// `order_client_order_id` (answered by OrderStatus).
    pub fn order_query(
        &mut self,
        request_id: ClientOrderId,
        symbol: SymbolId,
        order_client_order_id: ClientOrderId,
    ) -> io::Result<()> {
        self.send(&OrderQueryMsg::new(
            request_id,
            order_client_order_id,
            symbol,
        ))
    }

    /// Asks for one page of open orders (`symbol: None`: every symbol).
    pub fn open_orders(
        &mut self,
        request_id: ClientOrderId,
        symbol: Option<SymbolId>,
        cursor: QueryCursor,
    ) -> io::Result<()> {
        self.send(&OpenOrdersRequestMsg::new(request_id, symbol, cursor))
    }

    /// Asks for one page of positions (`symbol: None`: every symbol).
    pub fn positions(
        &mut self,
        request_id: ClientOrderId,
        symbol: Option<SymbolId>,
        cursor: QueryCursor,
    ) -> io::Result<()> {
        self.send(&PositionsRequestMsg::new(request_id, symbol, cursor))
    }

    /// Asks for one page of done orders (`symbol: None`: every symbol).
    pub fn done_orders(
        &mut self,
        request_id: ClientOrderId,
        symbol: Option<SymbolId>,
        cursor: QueryCursor,
    ) -> io::Result<()> {
        self.send(&DoneOrdersRequestMsg::new(request_id, symbol, cursor))
    }

    /// Every done order of the account the gateway still keeps (on
    /// `symbol`, or on every symbol; PROTOCOL.md 5.8), read page by page
    /// as [`Client::all_open_orders`]: symbol by symbol, newest first.
    pub fn all_done_orders(
        &mut self,
        request_id: ClientOrderId,
        symbol: Option<SymbolId>,
        other: impl FnMut(Received),
    ) -> Result<Vec<DoneOrderMsg>, ClientError> {
        self.all_pages(
            request_id,
            |client, cursor| client.done_orders(request_id, symbol, cursor),
            |received| match received {
                Received::DoneOrder(m) if m.client_order_id.get() == request_id => Some(*m),
                _ => None,
            },
            other,
        )
    }

    /// Every open order of the account (on `symbol`, or on every symbol),
    /// read page by page (PROTOCOL.md 5.8). Reports that arrive meanwhile
    /// go to `other`, in order, so none is lost. Allocates the list: meant
    /// for a (re)start, not the order path.
    pub fn all_open_orders(
        &mut self,
        request_id: ClientOrderId,
        symbol: Option<SymbolId>,
        other: impl FnMut(Received),
    ) -> Result<Vec<OrderStatusMsg>, ClientError> {
        self.all_pages(
            request_id,
            |client, cursor| client.open_orders(request_id, symbol, cursor),
            |received| match received {
                Received::OrderStatus(m) if m.client_order_id.get() == request_id => Some(*m),
                _ => None,
            },
            other,
        )
    }

    /// Every position of the account (on `symbol`, or on every symbol),
    /// read page by page, as [`Client::all_open_orders`].
    pub fn all_positions(
        &mut self,
        request_id: ClientOrderId,
        symbol: Option<SymbolId>,
        other: impl FnMut(Received),
    ) -> Result<Vec<PositionMsg>, ClientError> {
        self.all_pages(
            request_id,
            |client, cursor| client.positions(request_id, symbol, cursor),
            |received| match received {
                Received::Position(m) if m.client_order_id.get() == request_id => Some(*m),
                _ => None,
            },
            other,
        )
    }

    fn all_pages<T>(
        &mut self,
        request_id: ClientOrderId,
        ask: impl Fn(&mut Client, QueryCursor) -> io::Result<()>,
        pick: impl Fn(&Received) -> Option<T>,
        mut other: impl FnMut(Received),
    ) -> Result<Vec<T>, ClientError> {
        let mut items = Vec::new();
        let mut cursor = Some(QueryCursor::START);
        while let Some(at) = cursor {
            ask(self, at)?;
            cursor = loop {
                let received = self.recv()?;
                if let Some(item) = pick(&received) {
                    items.push(item);
                    continue;
                }
                match received {
                    Received::QueryDone(done) if done.client_order_id.get() == request_id => {
                        if done.reject_reason.get() != 0 {
                            return Err(ClientError::QueryRefused(done.reject_reason.get()));
                        }
                        break done.next();
                    }
                    Received::SessionEnd(_) => return Err(ClientError::Closed),
                    other_message => other(other_message),
                }
            };
        }
        Ok(items)
    }

    /// Asks for the reports of `stream` numbered above `after_report_seq`
    /// (PROTOCOL.md 5.9).
    pub fn replay(&mut self, stream: u32, after_report_seq: u64) -> io::Result<()> {
        self.send(&ReplayRequestMsg::new(stream, after_report_seq))
    }

    /// Replay on logon for every `(stream, last)` in `cursors`: asks for
    /// each, and feeds everything received through `merge` into `deliver`
    /// until every replay is done, so `deliver` sees each stream's reports
    /// in order with no gap and no duplicate (live ones included). A
    /// stream whose point is not kept (`ReplayBeyondEnd`) is moved to the
    /// gateway's current number (the client then reconciles with the
    /// queries); an unknown one is forgotten. Returns every `ReplayDone`.
    pub fn replay_streams(
        &mut self,
        cursors: &[(u32, u64)],
        merge: &mut ReportMerge,
        mut deliver: impl FnMut(Received),
    ) -> Result<Vec<ReplayDoneMsg>, ClientError> {
        for &(stream, last) in cursors {
            merge.resume(stream, last, &mut deliver);
            self.replay(stream, last)?;
        }
        let mut done = Vec::with_capacity(cursors.len());
        while done.len() < cursors.len() {
            match self.recv()? {
                Received::ReplayDone(m) => {
                    let stream = m.stream.get();
                    match RejectReason::from_u16(m.reject_reason.get()) {
                        Some(RejectReason::UnknownStream) => merge.forget(stream),
                        Some(RejectReason::ReplayBeyondEnd) => {
                            merge.resume(stream, m.last.get(), &mut deliver)
                        }
                        _ => {}
                    }
                    done.push(m);
                }
                Received::ReplayStarted(_) | Received::Heartbeat(_) => {}
                Received::SessionEnd(_) => return Err(ClientError::Closed),
                other => merge.offer(other, &mut deliver),
            }
        }
        Ok(done)
    }

    pub fn heartbeat(&mut self) -> io::Result<()> {
        self.send(&ClientHeartbeatMsg::new())
    }

    pub fn logout(&mut self) -> io::Result<()> {
        self.send(&LogoutMsg::new())
    }

    /// The next gateway message (blocking, subject to the read timeout).
    pub fn recv(&mut self) -> Result<Received, ClientError> {
        loop {
            if let Some(received) = self.try_decode()? {
                return Ok(received);
            }
            if self.rx_start > 0 {
                self.rx.copy_within(self.rx_start..self.rx_end, 0);
                self.rx_end -= self.rx_start;
                self.rx_start = 0;
            }
            let n = self.stream.read(&mut self.rx[self.rx_end..])?;
            if n == 0 {
                return Err(ClientError::Closed);
            }
            self.rx_end += n;
        }
    }

    /// The next message that is not a Heartbeat.
    pub fn recv_skip_heartbeats(&mut self) -> Result<Received, ClientError> {
        loop {
            match self.recv()? {
                Received::Heartbeat(_) => continue,
                other => return Ok(other),
            }
        }
    }

    fn try_decode(&mut self) -> Result<Option<Received>, ClientError> {
        match decode_gateway(&self.rx[self.rx_start..self.rx_end]) {
            Ok(decoded) => {
                let received = Received::from_view(&decoded.message);
                self.rx_start += decoded.len;
                let seq = received.seq();
                if seq != self.expected_seq {
                    return Err(ClientError::SequenceGap {
                        expected: self.expected_seq,
                        got: seq,
                    });
                }
                self.expected_seq = seq.wrapping_add(1);
                Ok(Some(received))
            }
            Err(DecodeError::Incomplete { .. }) => Ok(None),
            Err(e) => Err(ClientError::Framing(e)),
        }
    }
}
