//! The market-data endpoint's tasks on a shard's reactor: the acceptor on
//! the shard's `SO_REUSEPORT` market-data listener, and per connection a
//! reader (the upgrade request, then frames into the hub; or, when the
//! first byte is `{`, raw-TCP control lines; or, upgraded on the
//! order-entry path of a shard, an order-entry connection: `ws_trade.rs`)
//! and a writer
//! (the client's queue out, everything pending in one send, paced by the
//! shard's per-turn budget), and per endpoint the fan-out pump (backlog
//! messages into the clients' queues, a bounded amount a turn). The decisions
//! are the hub's (`shard/md/`); these only move bytes. They run for an
//! order-entry shard and for a follower's relay thread alike ([`MdHost`]:
//! whoever owns the hub), so a relay serves byte for byte what a shard
//! serves.

use std::cell::Cell;
use std::future::Future;
use std::os::fd::{AsRawFd, OwnedFd};
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use super::{discard_pending_input, linger_close, now, Conn};
use crate::config::Config;
use crate::protocol::market_data::DataFormat;
use crate::shard::admission::AcceptBackoff;
use crate::shard::md::send_budget::SEND_PIECE_BYTES;
use crate::shard::md::turn_share::TurnShare;
use crate::shard::md::{ClientId, Handshake, MdHub, NoRoom, Take, Transport};
use crate::shard::notify::LocalNotify;
use crate::shard::reactor::ops::{receive_until, sleep, Acceptor};
use crate::shard::reactor::spawn;
use crate::websocket::handshake::{
    self, Accepted, Format, HandshakeConfig, HandshakeError, MAX_REQUEST_LEN,
};

/// The one path the endpoint serves (`docs/MARKET_DATA.md`, "Connecting").
pub const PATH: &str = "/md";

/// Bytes a reader takes from the socket at once (clients send only small
/// control messages; the decoder keeps a partial frame itself).
const READ_BYTES: usize = 4096;

/// The answer when every client slot of the shard is taken.
const NO_ROOM: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 30\r\nConnection: close\r\n\r\ntoo many market-data clients\r\n";

/// The answer when the peer's address holds its maximum of connections
/// with no subscription on the shard.
const NO_ROOM_FOR_PEER: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\nContent-Length: 61\r\nConnection: close\r\n\r\ntoo many connections with no subscription from this address\r\n";

/// The answer to a connection whose address holds `max_clients_per_ip`
/// connections on the shard.
const NO_ROOM_FOR_PEER_TOTAL: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\nContent-Length: 40\r\nConnection: close\r\n\r\ntoo many connections from this address\r\n";

/// What the market-data tasks need from the thread that runs them: the
/// hub, the config, and the stop and counting cells of its endpoint.
pub(super) trait MdHost: 'static {
    fn hub(&self) -> std::cell::RefMut<'_, MdHub>;
    fn config(&self) -> &Config;
    /// The process is shutting down: readers stop.
    fn shutting_down(&self) -> bool;
    /// Notified once, when the acceptor must stop.
    fn md_stop(&self) -> &LocalNotify;
    /// Connections with a task (a client slot each).
    fn md_connections(&self) -> &Cell<usize>;
    /// Cleared by the acceptor as it exits.
    fn md_acceptor_running(&self) -> &Cell<bool>;
    /// The order-entry WebSocket path ("" where there is none: a relay
    /// has no order entry, so its handshake never upgrades to it).
    fn trade_path(&self) -> &str;
    /// May a market-data writer send `bytes` now? A shard answers from its
    /// per-turn budget (`md/send_budget.rs`: order entry keeps its turns);
    /// a relay, which has no order entry, always says yes.
    fn may_send(&self, bytes: usize) -> bool;
    /// Market data's share of the running turn (`md/turn_share.rs`): a
    /// shard's is small near order-entry input, large when order entry is
    /// quiet; a relay's is always the large one.
    fn turn_share(&self) -> TurnShare;
    /// Serves a connection upgraded on [`MdHost::trade_path`].
    async fn serve_trade(tasks: &Rc<Self>, stream: Rc<Conn>, accepted: &Accepted, early: &[u8]);
}

pub(super) async fn accept_loop<H: MdHost>(tasks: Rc<H>, listener: OwnedFd) {
    let mut backoff = AcceptBackoff::default();
    let mut acceptor = Acceptor::new(listener.as_raw_fd());
    loop {
        let accepted = futures_lite::future::or(async { Some(acceptor.next().await) }, async {
            tasks.md_stop().wait().await;
            None
        })
        .await;
        match accepted {
            None => break,
            Some(Ok(fd)) => {
                backoff.after_success();
                admit(&tasks, Conn(fd));
            }
            Some(Err(error)) => {
                let Some(pause) = backoff.after_error(&error) else {
                    continue;
                };
                let stopping = futures_lite::future::or(
                    async {
                        sleep(pause).await;
                        false
                    },
                    async {
                        tasks.md_stop().wait().await;
                        true
                    },
                )
                .await;
                if stopping {
                    break;
                }
            }
        }
    }
    drop(acceptor);
    drop(listener);
    debug_assert!(tasks.md_acceptor_running().get(), "one acceptor per shard");
    tasks.md_acceptor_running().set(false);
}

/// The fan-out pump (`md/fanout.rs`): each turn it copies about the
/// turn's share ([`MdHost::turn_share`]: 64 KiB near order-entry input, 1
/// MiB when order entry is quiet) of backlog messages into the clients'
/// queues and yields, so the order path's tasks run every turn whatever
/// the clients want; with the backlog empty it waits for the next message.
pub(super) async fn pump_loop<H: MdHost>(tasks: Rc<H>) {
    let wake = tasks.hub().pump_waker();
    loop {
        let budget = tasks.turn_share().pump_bytes;
        let more = tasks.hub().pump(budget, now().wall_ns);
        if more {
            crate::shard::reactor::yield_now().await;
        } else {
            wake.wait().await;
        }
        debug_assert!(std::rc::Rc::strong_count(&wake) >= 2, "the hub keeps it");
    }
}

/// A new connection: its handshake, or at once (a non-blocking send to an
/// empty socket buffer) a 503 when the shard has no client slot left or a
/// 429 when its address holds its maximum of unsubscribed connections.
fn admit<H: MdHost>(tasks: &Rc<H>, stream: Conn) {
    // A peer already gone (reset while queued) has no address: drop it.
    let Some(peer) = stream.peer_addr() else {
        return;
    };
    let begun = tasks.hub().begin_handshake(peer.ip(), now().mono_ns);
    let handshake = match begun {
        Ok(handshake) => handshake,
        Err(no_room) => {
            let answer = match no_room {
                NoRoom::Shard => NO_ROOM,
                NoRoom::Peer => NO_ROOM_FOR_PEER,
                NoRoom::PeerTotal => NO_ROOM_FOR_PEER_TOTAL,
            };
            // SAFETY: a non-blocking send from a static buffer of that length.
            unsafe {
                libc::send(
                    stream.fd(),
                    answer.as_ptr() as *const libc::c_void,
                    answer.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            discard_pending_input(stream.fd());
            return;
        }
    };
    let _ = socket2::SockRef::from(&stream.0).set_nodelay(true);
    let sndbuf = tasks.config().market_data.socket_send_buffer_bytes;
    if sndbuf > 0 {
        let _ = socket2::SockRef::from(&stream.0).set_send_buffer_size(sndbuf);
    }
    tasks.md_connections().set(tasks.md_connections().get() + 1);
    debug_assert!(
        tasks.md_connections().get() <= tasks.config().market_data.max_clients_per_shard,
        "a connection's task holds a client slot"
    );
    let tasks = Rc::clone(tasks);
    spawn(async move {
        connection(&tasks, Rc::new(stream), handshake).await;
        tasks.md_connections().set(tasks.md_connections().get() - 1);
    });
}

/// How the upgrade request ended.
enum Upgrade {
    /// A market-data (or echo) upgrade, or a raw-TCP client (`accepted`
    /// is `None`): `buf[used..filled]` is its first input.
    Market {
        accepted: Option<Accepted>,
        used: usize,
        filled: usize,
    },
    Refused(HandshakeError),
    /// Upgraded on the order-entry path: an order-entry connection now
    /// (`runtime/ws_trade.rs`); `buf[used..filled]` is its first frames.
    Trade {
        accepted: Accepted,
        used: usize,
        filled: usize,
    },
    Gone,
}

async fn connection<H: MdHost>(tasks: &Rc<H>, stream: Rc<Conn>, handshake: Handshake) {
    let mut buf = vec![0u8; MAX_REQUEST_LEN];
    let timeout = Duration::from_millis(tasks.config().market_data.subscribe_timeout_ms);
    let upgrade = read_upgrade(tasks, &stream, &mut buf, std::pin::pin!(sleep(timeout))).await;
    let (accepted, used, filled) = match upgrade {
        Upgrade::Market {
            accepted,
            used,
            filled,
        } => (accepted, used, filled),
        Upgrade::Refused(error) => return refuse(tasks, &stream, handshake, error).await,
        Upgrade::Trade {
            accepted,
            used,
            filled,
        } => {
            debug_assert!(!tasks.trade_path().is_empty(), "only a trade path upgrades");
            tasks.hub().hand_off_handshake(handshake);
            return H::serve_trade(tasks, stream, &accepted, &buf[used..filled]).await;
        }
        Upgrade::Gone => return tasks.hub().abandon_handshake(handshake),
    };
    let Some(id) = begin_client(tasks, handshake, accepted.as_ref()) else {
        return;
    };
    debug_assert!(used <= filled && filled <= buf.len());
    let reader_done = Rc::new(Cell::new(false));
    let Some((notify, capacity)) = tasks.hub().writer(id) else {
        return;
    };
    spawn(write_loop(
        Rc::clone(tasks),
        Rc::clone(&stream),
        id,
        notify,
        capacity,
        Rc::clone(&reader_done),
    ));
    // What came after the upgrade request is the client's first frames.
    let mut keep_reading = tasks
        .hub()
        .on_input(id, &buf[used..filled], now().mono_ns)
        .keep_reading;
    buf.truncate(READ_BYTES);
    while keep_reading && !tasks.shutting_down() {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                keep_reading = tasks
                    .hub()
                    .on_input(id, &buf[..n], now().mono_ns)
                    .keep_reading
            }
        }
    }
    tasks.hub().reader_done(id);
    reader_done.set(true);
}

/// An upgrade request refused: its HTTP answer, then close.
async fn refuse<H: MdHost>(
    tasks: &Rc<H>,
    stream: &Conn,
    handshake: Handshake,
    error: HandshakeError,
) {
    debug_assert_ne!(
        error,
        HandshakeError::Incomplete,
        "only a whole request is refused"
    );
    end_refused(tasks, handshake);
    let mut out = [0u8; 512];
    let n = handshake::write_refusal(error, &mut out).expect("512 bytes hold a refusal");
    let linger = Duration::from_millis(tasks.config().server.shutdown_grace_ms);
    let _ = stream.write_all_within(&out[..n], linger).await;
    linger_close(stream, linger).await;
}

/// A handshake refused (its request was bad).
fn end_refused<H: MdHost>(tasks: &Rc<H>, handshake: Handshake) {
    let id = tasks
        .hub()
        .end_handshake(handshake, None, Transport::WebSocket, now().mono_ns);
    debug_assert!(id.is_none(), "a refused handshake makes no client");
}

/// The client of an accepted upgrade (`None`: a raw-TCP client), its
/// queue starting with the `101` answer; `None` if it could not be made.
fn begin_client<H: MdHost>(
    tasks: &Rc<H>,
    handshake: Handshake,
    accepted: Option<&Accepted>,
) -> Option<ClientId> {
    let mut hub = tasks.hub();
    let now_ns = now().mono_ns;
    let Some(accepted) = accepted else {
        // Raw TCP: control lines in, binary messages out (`md/raw.rs`).
        return hub.end_handshake(
            handshake,
            Some(DataFormat::Binary),
            Transport::RawTcp,
            now_ns,
        );
    };
    let format = match accepted.format {
        Format::Binary => DataFormat::Binary,
        Format::Json => DataFormat::Json,
    };
    let transport = if accepted.echo {
        Transport::Echo
    } else {
        Transport::WebSocket
    };
    let id = hub.end_handshake(handshake, Some(format), transport, now_ns)?;
    let mut answer = [0u8; 256];
    let n = handshake::write_accept(accepted, &mut answer).expect("256 bytes hold the answer");
    let queued = hub.push_framed(id, &answer[..n]);
    debug_assert!(queued, "an empty queue takes the answer");
    Some(id)
}

/// Reads the upgrade request (or a raw-TCP client's first bytes) until
/// `deadline` (the subscribe timeout): `Gone` after it.
async fn read_upgrade<H: MdHost>(
    tasks: &Rc<H>,
    stream: &Conn,
    buf: &mut [u8],
    mut deadline: Pin<&mut impl Future<Output = ()>>,
) -> Upgrade {
    let grace = Duration::from_millis(tasks.config().server.shutdown_grace_ms);
    let mut filled = 0;
    loop {
        // At the deadline the receive is cancelled and awaited, never
        // dropped in flight.
        let read = &mut buf[filled..];
        let given_up = receive_until(stream.fd(), read, false, deadline.as_mut(), sleep(grace));
        match given_up.await {
            Ok(Ok(0) | Err(_)) | Err(_) => return Upgrade::Gone,
            Ok(Ok(n)) => filled += n,
        }
        debug_assert!(filled <= buf.len(), "a read fills at most the buffer");
        if buf[0] == b'{' {
            return Upgrade::Market {
                accepted: None,
                used: 0,
                filled,
            };
        }
        let config = HandshakeConfig {
            path: PATH,
            echo_path: &tasks.config().market_data.echo_path,
            trade_path: tasks.trade_path(),
            allowed_origins: tasks.hub().origins,
            default_format: Format::Binary,
        };
        let accepted = match handshake::accept(&buf[..filled], &config) {
            Err(HandshakeError::Incomplete) => continue,
            Err(error) => return Upgrade::Refused(error),
            Ok(accepted) => accepted,
        };
        let used = accepted.request_len;
        return if accepted.trade {
            Upgrade::Trade {
                accepted,
                used,
                filled,
            }
        } else {
            Upgrade::Market {
                accepted: Some(accepted),
                used,
                filled,
            }
        };
    }
}

/// Sends `bytes` in pieces of at most [`SEND_PIECE_BYTES`], each once the
/// host's market-data budget of the turn allows it (else it waits for the
/// next turn); false if the socket failed.
async fn send_paced<H: MdHost>(tasks: &H, stream: &Conn, bytes: &[u8]) -> bool {
    debug_assert!(!bytes.is_empty(), "only queued bytes are sent");
    for piece in bytes.chunks(SEND_PIECE_BYTES) {
        while !tasks.may_send(piece.len()) {
            crate::shard::reactor::yield_now().await;
        }
        if stream.write_all(piece).await.is_err() {
            return false;
        }
    }
    true
}

/// Sends everything the client's queue collected since the last send, in
/// one send (pieces of it paced by the turn's budget); closes the socket once the client is closing and all is out.
async fn write_loop<H: MdHost>(
    tasks: Rc<H>,
    stream: Rc<Conn>,
    id: ClientId,
    notify: Rc<crate::shard::notify::LocalNotify>,
    capacity: usize,
    reader_done: Rc<Cell<bool>>,
) {
    let linger = Duration::from_millis(tasks.config().server.shutdown_grace_ms);
    let mut spare: Vec<u8> = Vec::with_capacity(capacity);
    debug_assert!(spare.capacity() >= capacity);
    loop {
        let take = tasks.hub().take(id, &mut spare);
        match take {
            Take::Data => {
                // A client that does not read holds only this task; once it
                // is closed (slow consumer, shutdown) it gets one linger
                // period more, then the socket is closed. The close is
                // seen through the client's notify (every close rings it),
                // not a timer per send: a timer armed and cancelled with
                // every send tripled the ring operations of a fan-out.
                // Given up: the socket is shut down, which ends the send
                // (`give_up_on_socket`).
                let closing = async {
                    while !tasks.hub().is_closing(id) {
                        notify.wait().await;
                    }
                    sleep(linger).await;
                };
                let sent = crate::shard::reactor::ops::give_up_on_socket(
                    stream.fd(),
                    send_paced(&*tasks, &stream, &spare),
                    closing,
                )
                .await
                .unwrap_or(false);
                spare.clear();
                if !sent {
                    break;
                }
            }
            Take::Idle => notify.wait().await,
            Take::Done => break,
        }
    }
    tasks.hub().reader_done(id);
    linger_close(&stream, linger).await;
    while !reader_done.get() {
        sleep(Duration::from_millis(1)).await;
    }
    tasks.hub().remove(id);
}
