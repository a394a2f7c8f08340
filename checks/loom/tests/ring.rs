//! The ring hand-off: one producer shard, one consumer shard, rtrb's
//! protocol (the model in `spsc.rs`). Every message pushed is popped exactly
//! once, in order, through full rings and position wrap-around; a slot is
//! never read before its write is visible nor overwritten before it was
//! read (loom's `UnsafeCell` checks every slot access).

#![cfg(loom)]

use loom::thread;
use tradsys_loom_checks::spsc;

/// Pushes `0..n` through a ring of `capacity`, the producer retrying while
/// full and the consumer while empty. With `promises`, the producer pushes
/// only after `slots()` (`Links::has_room`) said there is room and the
/// consumer pops only after `is_empty()` (`Links::inbound_pending`) said
/// there is a message, and each must then succeed.
fn hand_off(capacity: usize, n: u32, promises: bool) {
    loom::model(move || {
        let (mut tx, mut rx) = spsc::new::<u32>(capacity);
        let producer = thread::spawn(move || {
            for m in 0..n {
                loop {
                    if promises {
                        if tx.slots() > 0 {
                            tx.push(m).expect("slots() promised room");
                            break;
                        }
                    } else if tx.push(m).is_ok() {
                        break;
                    }
                    thread::yield_now();
                }
            }
            tx
        });
        let mut got = Vec::new();
        while got.len() < n as usize {
            if promises {
                if !rx.is_empty() {
                    got.push(rx.pop().expect("is_empty() promised a message"));
                    continue;
                }
            } else if let Some(m) = rx.pop() {
                got.push(m);
                continue;
            }
            thread::yield_now();
        }
        let tx = producer.join().unwrap();
        assert_eq!(got, (0..n).collect::<Vec<_>>(), "each once, in order");
        assert!(rx.pop().is_none(), "nothing left over");
        assert_eq!(tx.slots(), capacity, "every slot free again");
    });
}

/// One slot: the ring is full after every push, and positions wrap
/// (0, 1, 0, ...) while the consumer is still reading.
#[test]
fn three_messages_through_one_slot_arrive_once_in_order() {
    hand_off(1, 3, false);
}

/// Two slots, positions wrap at 4: the cached head and tail go stale and
/// are refreshed only when the cache says full / empty.
#[test]
fn four_messages_through_two_slots_arrive_once_in_order() {
    hand_off(2, 4, false);
}

/// What the mesh relies on: room seen by `slots()` and input seen by
/// `is_empty()` are still there when the same side acts on them.
#[test]
fn room_and_input_once_seen_stay_there() {
    hand_off(2, 3, true);
}
