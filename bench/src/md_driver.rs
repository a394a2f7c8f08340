//! The `md` bench's source of public events: trades made through order
//! entry. A maker session (account 2) rests large sells at one price; a
//! taker session (account 1) sends IOC buys of 1 lot at that price, each
//! of which trades once: one `Trade` message per order on the `trades`
//! channel (plus a `book` level change nobody in the bench subscribes to).
//!
//! Open loop at a fixed rate for the latency figures (each order leaves at
//! its scheduled time, whatever the answers do), or pipelined as fast as
//! the gateway takes them for the sustained rate.

use std::time::{Duration, Instant};

use tradsys::engine::{NewOrder, OrderKind, Side, StpMode, TimeInForce};
use tradsys::protocol::NewOrderMsg;

use crate::conn::{Conn, Received};

/// Lots of one resting maker order (the bench config's `max_order_qty`).
const MAKER_LOTS: u64 = 1_000_000;

pub struct Driver {
    maker: Conn,
    taker: Conn,
    symbol: u32,
    price: i64,
    next_id: u64,
    /// Taker orders sent and answered (filled or not).
    sent: u64,
    done: u64,
    /// Lots the makers still rest.
    resting: u64,
}

fn order(symbol: u32, id: u64, side: Side, tif: TimeInForce, price: i64, qty: u64) -> NewOrderMsg {
    let account = if side == Side::Sell { 2 } else { 1 };
    NewOrderMsg::from_order(&NewOrder {
        account,
        symbol,
        client_order_id: id,
        side,
        kind: OrderKind::Limit,
        tif,
        post_only: false,
        stp: Some(StpMode::CancelIncoming),
        price,
        qty,
    })
}

impl Driver {
    pub fn new(addr: &str, token: &str, symbol: u32, price: i64) -> Driver {
        let maker = Conn::logon(addr, 2, token).expect("maker logon");
        let taker = Conn::logon(addr, 1, token).expect("taker logon");
        Driver {
            maker,
            taker,
            symbol,
            price,
            next_id: 1,
            sent: 0,
            done: 0,
            resting: 0,
        }
    }

    /// Rests enough sells for `trades` more one-lot trades.
    fn provide(&mut self, trades: u64) {
        while self.resting < trades {
            self.next_id += 1;
            let sell = order(
                self.symbol,
                self.next_id,
                Side::Sell,
                TimeInForce::Gtc,
                self.price,
                MAKER_LOTS,
            );
            self.maker.queue(&sell);
            self.resting += MAKER_LOTS;
        }
        self.maker.flush().expect("maker send");
        self.pump();
    }

    fn take_one(&mut self) {
        self.next_id += 1;
        let buy = order(
            self.symbol,
            self.next_id,
            Side::Buy,
            TimeInForce::Ioc,
            self.price,
            1,
        );
        self.taker.queue(&buy);
        self.sent += 1;
        self.resting -= 1;
    }

    /// Reads both sessions' answers; a taker order is done at its fill or
    /// its cancel.
    fn pump(&mut self) {
        self.taker.flush().expect("taker send");
        self.maker.flush().expect("maker send");
        while let Some(r) = self.taker.poll().expect("taker session") {
            match r {
                Received::Fill(_) | Received::OrderCanceled(_) => self.done += 1,
                Received::OrderRejected(m) => panic!("taker order rejected: {m:?}"),
                _ => {}
            }
        }
        while let Some(r) = self.maker.poll().expect("maker session") {
            if let Received::OrderRejected(m) = r {
                panic!("maker order rejected: {m:?}")
            }
        }
    }

    /// `rate` trades a second for `duration`, each sent at its scheduled
    /// time; returns once all are answered.
    pub fn open_loop(&mut self, rate: f64, duration: Duration) -> u64 {
        assert!(rate > 0.0, "a rate");
        let n = (rate * duration.as_secs_f64()) as u64;
        self.provide(n);
        let start = Instant::now();
        let first = self.sent;
        for i in 0..n {
            let due = start + Duration::from_secs_f64(i as f64 / rate);
            // Sleeps, not spins: the subscribers' readers share this core.
            while let Some(wait) = due.checked_duration_since(Instant::now()) {
                self.pump();
                std::thread::sleep(wait.min(Duration::from_micros(500)));
            }
            self.take_one();
            self.pump();
        }
        self.wait_answered(first + n);
        n
    }

    /// `n` trades, up to `depth` orders in flight; returns once all are
    /// answered.
    pub fn burst(&mut self, n: u64, depth: u64) -> u64 {
        assert!(depth > 0, "orders in flight");
        self.provide(n);
        let target = self.sent + n;
        while self.sent < target {
            while self.sent < target && self.sent - self.done < depth {
                self.take_one();
            }
            let before = self.done;
            self.pump();
            if self.done == before {
                self.wait_for_answers();
            }
        }
        self.wait_answered(target);
        n
    }

    fn wait_answered(&mut self, target: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.done < target {
            assert!(Instant::now() < deadline, "the gateway stopped answering");
            self.pump();
            self.wait_for_answers();
        }
    }

    /// Blocks up to 1 ms for the taker's answers (not spinning: the
    /// subscribers' readers share this core).
    fn wait_for_answers(&self) {
        let mut fd = libc::pollfd {
            fd: self.taker.raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        unsafe { libc::poll(&mut fd, 1, 1) };
    }
}
