//! The reactor's note of order-entry input (`shard/reactor/mod.rs`
//! `order_entry_input`), on a real ring: a completed order-entry receive
//! (`ops::recv_order_entry`, `ops::recv_pooled`) is noted by the loop before
//! the task it wakes runs, so market data's share of that turn
//! (`shard/md/turn_share.rs`) is already the small one; any other receive
//! (a market-data client's) leaves it unnoted.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use tradsys::shard::md::turn_share::{self, IDLE};
use tradsys::shard::reactor::{self, bufring::BufRing, ops, ring, Ring};

#[test]
fn only_order_entry_receives_are_noted_and_before_their_task_runs() {
    std::thread::spawn(|| {
        let ring = Ring::enable(ring::new_disabled().unwrap(), BufRing::new(8, 4096)).unwrap();
        reactor::block_on(ring, async {
            assert_eq!(reactor::order_entry_input(), None, "a fresh thread");
            assert_eq!(turn_share::share(reactor::order_entry_input()), IDLE);
            let (market_data, mut peer) = UnixStream::pair().unwrap();
            peer.write_all(b"{}").unwrap();
            let mut buf = [0u8; 16];
            let n = ops::recv(market_data.as_raw_fd(), &mut buf).await.unwrap();
            assert_eq!(n, 2);
            assert_eq!(
                reactor::order_entry_input(),
                None,
                "a market-data receive is not order entry's"
            );

            let (order_entry, mut peer) = UnixStream::pair().unwrap();
            peer.write_all(b"logon").unwrap();
            let turn = reactor::turn();
            let n = ops::recv_order_entry(order_entry.as_raw_fd(), &mut buf)
                .await
                .unwrap();
            assert_eq!(n, 5);
            assert!(reactor::turn() > turn, "completed in an enter");
            assert!(
                reactor::order_entry_input().is_some(),
                "noted before this task ran"
            );
        })
        .unwrap();
    })
    .join()
    .unwrap();
}

#[test]
fn a_session_reader_s_pooled_receive_is_noted() {
    std::thread::spawn(|| {
        let ring = Ring::enable(ring::new_disabled().unwrap(), BufRing::new(8, 4096)).unwrap();
        reactor::block_on(ring, async {
            assert_eq!(reactor::order_entry_input(), None, "a fresh thread");
            let (session, mut peer) = UnixStream::pair().unwrap();
            peer.write_all(b"new order").unwrap();
            let received = ops::recv_pooled(session.as_raw_fd()).await.unwrap();
            assert_eq!(received.as_deref(), Some(&b"new order"[..]));
            assert!(reactor::order_entry_input().is_some());
        })
        .unwrap();
    })
    .join()
    .unwrap();
}
