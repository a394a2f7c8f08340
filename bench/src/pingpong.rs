//! A spinning ping-pong client: one IOC in flight on one connection, the
//! socket non-blocking and polled without pause (a blocking client adds
//! about 13 us of wake-up by itself on the development VM, issue 11). It
//! times each order from just before its `send` to the arrival of its
//! OrderAccepted, then waits for its OrderCanceled before the next one.

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tradsys::engine::{NewOrder, OrderKind, Side, TimeInForce};
use tradsys::protocol::*;

use crate::floor_echo::spin_write;
use crate::report::histogram;

pub struct PingPong {
    /// Nanoseconds from send to OrderAccepted, warm-up left out.
    pub latency: Histogram<u64>,
    /// Orders answered with anything but OrderAccepted.
    pub rejected: u64,
}

/// Connects, logs on as `account`, and runs `warmup + count` orders from
/// core `core`.
pub fn run(
    addr: SocketAddr,
    account: u32,
    token: &str,
    warmup: u64,
    count: u64,
    core: usize,
) -> PingPong {
    assert!(
        core_affinity::set_for_current(core_affinity::CoreId { id: core }),
        "pin the ping-pong client to core {core}"
    );
    let mut client = Client::logon(addr, account, token);
    let mut result = PingPong {
        latency: histogram(),
        rejected: 0,
    };
    for i in 0..warmup + count {
        match client.order(account, i) {
            Some(elapsed) if i >= warmup => {
                result.latency.record(elapsed.as_nanos() as u64).unwrap();
            }
            Some(_) => {}
            None => result.rejected += 1,
        }
    }
    result
}

struct Client {
    stream: TcpStream,
    seq: u32,
    wire: [u8; MAX_MESSAGE_LEN],
    rx: Vec<u8>,
    filled: usize,
}

impl Client {
    fn logon(addr: SocketAddr, account: u32, token: &str) -> Client {
        let deadline = Instant::now() + Duration::from_secs(5);
        let stream = loop {
            match TcpStream::connect(addr) {
                Ok(stream) => break stream,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(10)); // server starting
                }
                Err(e) => panic!("connect {addr}: {e}"),
            }
        };
        stream.set_nodelay(true).unwrap();
        stream.set_nonblocking(true).unwrap();
        let mut client = Client {
            stream,
            seq: 1,
            wire: [0; MAX_MESSAGE_LEN],
            rx: vec![0; 64 << 10],
            filled: 0,
        };
        let logon = LogonMsg::new(account, token.as_bytes(), 30_000, false).expect("logon fields");
        client.send(&logon);
        let answer = client.next_message();
        assert_eq!(answer, msg_type::LOGON_ACCEPTED, "logon refused by {addr}");
        client
    }

    fn send<M: WireMessage>(&mut self, msg: &M) {
        let len = encode(msg, self.seq, &mut self.wire).expect("encodes");
        self.seq += 1;
        spin_write(&mut self.stream, &self.wire[..len]).expect("send");
    }

    /// One IOC (buy 1 at the reference price of the bench's symbol 1: no
    /// seller, so OrderAccepted then OrderCanceled). Time to OrderAccepted,
    /// or `None` if it was not accepted.
    fn order(&mut self, account: u32, client_order_id: u64) -> Option<Duration> {
        let order = NewOrder {
            account,
            symbol: 1,
            client_order_id,
            side: Side::Buy,
            kind: OrderKind::Limit,
            tif: TimeInForce::Ioc,
            post_only: false,
            stp: None,
            price: 5_000_000,
            qty: 1,
        };
        let msg = NewOrderMsg::from_order(&order);
        let start = Instant::now();
        self.send(&msg);
        let mut accepted = None;
        loop {
            match self.next_message() {
                msg_type::ORDER_ACCEPTED => accepted = Some(start.elapsed()),
                msg_type::ORDER_CANCELED | msg_type::ORDER_REJECTED | msg_type::FILL => {
                    return accepted
                }
                msg_type::SESSION_END => panic!("the server ended the session"),
                _ => {}
            }
        }
    }

    /// Spins until a whole message is in; returns its type and drops it.
    fn next_message(&mut self) -> u8 {
        loop {
            if self.filled >= HEADER_LEN {
                let len = u16::from_le_bytes([self.rx[0], self.rx[1]]) as usize;
                assert!(
                    (HEADER_LEN..=MAX_MESSAGE_LEN).contains(&len),
                    "bad length {len}"
                );
                if self.filled >= len {
                    let kind = self.rx[2];
                    self.rx.copy_within(len..self.filled, 0);
                    self.filled -= len;
                    return kind;
                }
            }
            match self.stream.read(&mut self.rx[self.filled..]) {
                Ok(0) => panic!("the server closed the connection"),
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::hint::spin_loop(),
                Err(e) => panic!("read: {e}"),
            }
        }
    }
}
