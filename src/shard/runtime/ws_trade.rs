//! WebSocket order entry's tasks: a connection upgraded on the market-data
//! listener's order-entry path (`market_data.order_entry_path`) becomes an
//! order-entry connection like an accepted TCP one: the same admission
//! bounds and logon timeout while it waits to log on, the same
//! `ShardCore` session once it has (`enter_session`, `feed_carry`, the
//! core's outbox), and a reader and a writer that only add the WebSocket
//! framing (`shard/ws_session.rs` decides it). Nothing of the order path is
//! forked: the bytes the client's binary messages carry go to the core
//! exactly as TCP bytes do.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use super::{
    enter_session, feed_carry, linger_close, now, sleep, spawn, write_session_bytes, Conn,
    ShardTasks, READ_BUFFER_BYTES,
};
use crate::protocol::{decode_client, DecodeError, MAX_MESSAGE_LEN};
use crate::shard::admission::{Refusal, Ticket};
use crate::shard::core::{Output, PreLogonEnd, PRE_LOGON_END_BYTES};
use crate::shard::mesh::SessionRef;
use crate::shard::notify::LocalNotify;
use crate::shard::ws_session::{
    close_code_for, frame_reports, framed_bound, WsControl, MAX_CONTROL_FRAME,
    MAX_WS_MESSAGE_BYTES, PRE_LOGON_LIMITS, SESSION_LIMITS,
};
use crate::websocket::close::code;
use crate::websocket::handshake::{self, Accepted};
use crate::websocket::{Decoder, Role, WsEvent};

/// Bytes a reader takes from the socket at once.
const READ_BYTES: usize = 16 * 1024;

/// Room for the bytes of a protocol message split across WebSocket
/// messages behind a whole WebSocket message: `feed_carry`'s buffer. Until
/// logon the messages are small, and so is the buffer (a connection that
/// never logs on costs little); it grows at logon.
const CARRY_BYTES: usize = MAX_WS_MESSAGE_BYTES + MAX_MESSAGE_LEN;
const PRE_LOGON_CARRY_BYTES: usize = PRE_LOGON_LIMITS.max_message + MAX_MESSAGE_LEN;
const _: () = assert!(MAX_WS_MESSAGE_BYTES <= READ_BUFFER_BYTES);

/// A connection's input side: the decoder, the protocol bytes not yet
/// handed to the core (`carry[..filled]`, less than one message), and raw
/// socket bytes not yet decoded (`input[start..len]`).
struct Inbound {
    decoder: Decoder,
    carry: Vec<u8>,
    filled: usize,
    input: Vec<u8>,
    start: usize,
    len: usize,
}

/// How waiting for the Logon ended.
enum FirstRead {
    /// `carry[..filled]` starts with a whole message (or enough to know it
    /// is malformed).
    Complete,
    /// The peer closed the socket or the WebSocket (its Close is echoed).
    Closed,
    /// A WebSocket rule was broken: close with this code.
    Broken(u16),
    TimedOut,
    ShuttingDown,
}

/// Serves a connection upgraded on the order-entry path; `early` is what
/// the client sent behind its upgrade request (its first frames).
pub(super) async fn serve(
    tasks: &Rc<ShardTasks>,
    stream: Rc<Conn>,
    accepted: &Accepted,
    early: &[u8],
) {
    debug_assert!(accepted.trade, "upgraded on the order-entry path");
    let Some(peer) = stream.peer_addr() else {
        return;
    };
    let mut answer = [0u8; 256];
    let n = handshake::write_accept(accepted, &mut answer).expect("256 bytes hold the answer");
    let admitted = tasks
        .admission
        .borrow_mut()
        .admit(peer, stream.fd(), now().mono_ns);
    let Ok(ticket) = admitted else {
        // As a TCP connection refused at accept: LogonRejected(SessionLimit)
        // and SessionEnd, here behind the 101 and before the Close.
        let mut out = Vec::with_capacity(n + 2 * PRE_LOGON_END_BYTES + MAX_CONTROL_FRAME);
        out.extend_from_slice(&answer[..n]);
        let end = PreLogonEnd::no_room();
        end_before_logon(&mut out, Some(end), close_code_for(end.reason));
        write_then_close(tasks, &stream, &out).await;
        return;
    };
    if !write_bounded(tasks, &stream, &answer[..n]).await {
        tasks.admission.borrow_mut().release(ticket);
        return;
    }
    let mut inbound = Inbound {
        decoder: Decoder::new(Role::Server, PRE_LOGON_LIMITS),
        carry: vec![0; PRE_LOGON_CARRY_BYTES],
        filled: 0,
        input: vec![0; READ_BYTES.max(early.len())],
        start: 0,
        len: early.len(),
    };
    inbound.input[..early.len()].copy_from_slice(early);
    pre_logon(tasks, stream, peer, ticket, inbound).await;
}

/// Waits for the Logon within the logon timeout; a session, or the end
/// a TCP connection would get (in a binary message, then a Close).
async fn pre_logon(
    tasks: &Rc<ShardTasks>,
    stream: Rc<Conn>,
    peer: SocketAddr,
    ticket: Ticket,
    mut inbound: Inbound,
) {
    debug_assert_eq!(
        inbound.filled, 0,
        "no protocol byte before the first message"
    );
    let control = WsControl::default();
    let timeout = Duration::from_millis(tasks.shared.config.session.logon_timeout_ms);
    let deadline = std::pin::pin!(sleep(timeout));
    let read = read_first_message(tasks, &stream, &mut inbound, &control, deadline).await;
    let mut out = Vec::with_capacity(2 * PRE_LOGON_END_BYTES + 2 * MAX_CONTROL_FRAME);
    match read {
        FirstRead::Closed => end_before_logon(&mut out, None, control.close_code(None)),
        FirstRead::ShuttingDown => {
            let reason = tasks.shared.shutdown_end_reason();
            let end = PreLogonEnd::ended(reason, 1);
            end_before_logon(&mut out, Some(end), close_code_for(reason));
        }
        FirstRead::Broken(close) => {
            // Logged as TCP's bad first message is, with the rule's code.
            tasks.admission.borrow_mut().refused(
                Refusal::NotLoggedOn,
                Some(peer),
                &format_args!("WebSocket close {close}: a frame broke the WebSocket rules"),
                now().mono_ns,
            );
            let reason = crate::protocol::SessionEndReason::TransportError;
            end_before_logon(&mut out, Some(PreLogonEnd::ended(reason, 1)), close);
        }
        FirstRead::TimedOut => {
            let timeout = tasks.shared.config.session.logon_timeout_ms;
            tasks.admission.borrow_mut().refused(
                Refusal::LogonTimeout,
                Some(peer),
                &format_args!("{timeout} ms"),
                now().mono_ns,
            );
            let reason = crate::protocol::SessionEndReason::LogonTimeout;
            let end = PreLogonEnd::ended(reason, 1);
            end_before_logon(&mut out, Some(end), close_code_for(reason));
        }
        FirstRead::Complete => match logon(tasks, &stream, peer, &mut inbound) {
            Ok((id, writer)) => {
                tasks.admission.borrow_mut().release(ticket);
                inbound.decoder.raise_limits(SESSION_LIMITS);
                inbound.carry.resize(CARRY_BYTES, 0);
                serve_session(tasks, stream, id, writer, inbound);
                return;
            }
            Err(end) => {
                let close = close_code_for(end.reason);
                end_before_logon(&mut out, Some(end), close);
            }
        },
    }
    write_then_close(tasks, &stream, &out).await;
    // As for TCP: the place is given back with the fd.
    tasks.admission.borrow_mut().release(ticket);
}

/// The first message's bytes: a session, or its refusal. What followed
/// the Logon stays in `carry` for the session.
fn logon(
    tasks: &Rc<ShardTasks>,
    stream: &Conn,
    peer: SocketAddr,
    inbound: &mut Inbound,
) -> Result<(SessionRef, Rc<LocalNotify>), PreLogonEnd> {
    let bytes = &inbound.carry[..inbound.filled];
    let len = match decode_client(bytes) {
        Ok(decoded) => decoded.len,
        Err(DecodeError::Incomplete { .. }) => unreachable!("read until complete"),
        Err(_) => bytes.len(),
    };
    let writer = Rc::new(LocalNotify::default());
    let id = enter_session(tasks, stream, peer, &bytes[..len], &writer)?;
    inbound.carry.copy_within(len..inbound.filled, 0);
    inbound.filled -= len;
    debug_assert!(inbound.filled < CARRY_BYTES);
    Ok((id, writer))
}

/// Decodes frames until the protocol bytes hold one whole message, or
/// `deadline` (the logon timeout) passes: a receive still waiting then is
/// cancelled and awaited, never dropped (`ops::receive_until`), and
/// the socket stays whole for the timeout's answer and the linger after it.
/// Pings are answered at once (there is no writer yet), each within its
/// own linger.
async fn read_first_message(
    tasks: &Rc<ShardTasks>,
    stream: &Conn,
    inbound: &mut Inbound,
    control: &WsControl,
    mut deadline: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> FirstRead {
    let mut pong = Vec::with_capacity(MAX_CONTROL_FRAME);
    let linger = Duration::from_millis(tasks.shared.config.server.shutdown_grace_ms);
    loop {
        while inbound.start < inbound.len {
            let Inbound {
                decoder,
                carry,
                filled,
                input,
                start,
                len,
            } = &mut *inbound;
            let step = match decoder.decode(&input[*start..*len]) {
                Ok(step) => step,
                Err(error) => return FirstRead::Broken(error.close_code()),
            };
            *start += step.consumed;
            match step.event {
                None => break,
                Some(WsEvent::Binary(payload)) => {
                    // Before a whole message there is less than one in `carry`.
                    assert!(*filled < MAX_MESSAGE_LEN && *filled + payload.len() <= carry.len());
                    carry[*filled..*filled + payload.len()].copy_from_slice(payload);
                    *filled += payload.len();
                    if !matches!(
                        decode_client(&carry[..*filled]),
                        Err(DecodeError::Incomplete { .. })
                    ) {
                        return FirstRead::Complete;
                    }
                }
                Some(WsEvent::Text(_)) => return FirstRead::Broken(code::UNSUPPORTED_DATA),
                Some(WsEvent::Ping(payload)) => {
                    control.ping(payload);
                    pong.clear();
                    control.take_pong_into(&mut pong);
                    if !write_bounded(tasks, stream, &pong).await {
                        return FirstRead::Closed;
                    }
                }
                Some(WsEvent::Pong(_)) => {}
                Some(WsEvent::Close { code: their, .. }) => {
                    control.peer_closed(their);
                    return FirstRead::Closed;
                }
            }
        }
        inbound.start = 0;
        inbound.len = match crate::shard::reactor::ops::receive_until(
            stream.fd(),
            &mut inbound.input,
            true,
            deadline.as_mut(),
            sleep(linger),
        )
        .await
        {
            Err(_) => return FirstRead::TimedOut,
            Ok(Ok(0) | Err(_)) if tasks.shared.shutting_down() => return FirstRead::ShuttingDown,
            Ok(Ok(0) | Err(_)) => return FirstRead::Closed,
            Ok(Ok(n)) => n,
        };
    }
}

/// Appends the end of a connection that never became a session: its
/// LogonRejected and SessionEnd in one binary message (when it gets
/// them), then the Close frame.
fn end_before_logon(out: &mut Vec<u8>, end: Option<PreLogonEnd>, close: u16) {
    if let Some(end) = end {
        let mut bytes = [0u8; PRE_LOGON_END_BYTES];
        let n = end.encode(&mut bytes);
        frame_reports(&bytes[..n], out);
    }
    WsControl::close_frame_into(close, out);
    debug_assert!(out.len() <= out.capacity(), "sized for the end");
}

/// Writes within one linger period; `false` if it failed or did not finish.
async fn write_bounded(tasks: &Rc<ShardTasks>, stream: &Conn, bytes: &[u8]) -> bool {
    debug_assert!(!bytes.is_empty(), "only bytes to send are written");
    let linger = Duration::from_millis(tasks.shared.config.server.shutdown_grace_ms);
    stream.write_all_within(bytes, linger).await
}

/// Writes `bytes` (ending with a Close frame), then half-closes and
/// lingers as every ending connection does.
async fn write_then_close(tasks: &Rc<ShardTasks>, stream: &Conn, bytes: &[u8]) {
    debug_assert!(bytes.len() >= 4, "at least a Close frame with its code");
    let linger = Duration::from_millis(tasks.shared.config.server.shutdown_grace_ms);
    let _ = write_bounded(tasks, stream, bytes).await;
    // Even after a failed write: the shutdown wakes a reader still waiting.
    linger_close(stream, linger).await;
}

/// Starts a logged-on WebSocket session's reader and writer, registered
/// as a TCP session's are (`runtime::serve`), so a graceful shutdown
/// finds and stops it.
fn serve_session(
    tasks: &Rc<ShardTasks>,
    stream: Rc<Conn>,
    id: SessionRef,
    writer: Rc<LocalNotify>,
    inbound: Inbound,
) {
    debug_assert_eq!(
        id.shard,
        tasks.core.borrow().id,
        "a session on its own shard"
    );
    tasks.connections.borrow_mut().push((id, stream.fd()));
    // The session counters count both transports; these tell WebSocket
    // order entry apart (`/metrics`, docs/OPERATIONS.md).
    tasks.core.borrow_mut().counters.ws_sessions_opened += 1;
    tasks.readers_running.set(tasks.readers_running.get() + 1);
    tasks.writers_running.set(tasks.writers_running.get() + 1);
    let control = Rc::new(WsControl::default());
    spawn(write_loop(
        Rc::clone(tasks),
        Rc::clone(&stream),
        id,
        Rc::clone(&writer),
        Rc::clone(&control),
    ));
    let tasks = Rc::clone(tasks);
    spawn(async move {
        read_loop(&tasks, &stream, id, &writer, &control, inbound).await;
        tasks.connections.borrow_mut().retain(|&(s, _)| s != id);
    });
}

/// Counted in `readers_running`. The payload of each binary message is
/// appended to the session's byte stream and handed to the core as TCP
/// bytes are (`feed_carry`, back-pressure included).
async fn read_loop(
    tasks: &Rc<ShardTasks>,
    stream: &Conn,
    id: SessionRef,
    writer: &LocalNotify,
    control: &WsControl,
    mut inbound: Inbound,
) {
    // What followed the Logon in its message is the session's first input.
    if inbound.filled > 0 {
        let filled = inbound.filled;
        inbound.filled = feed_carry(tasks, id, &mut inbound.carry, filled).await;
    }
    'read: while !tasks.core.borrow().session_ended(id) {
        while inbound.start < inbound.len {
            let step = inbound
                .decoder
                .decode(&inbound.input[inbound.start..inbound.len]);
            let step = match step {
                Ok(step) => step,
                Err(error) => {
                    control.broken(error.close_code());
                    tasks
                        .core
                        .borrow_mut()
                        .end_transport(id, error.close_code(), &error);
                    break 'read;
                }
            };
            inbound.start += step.consumed;
            let filled = inbound.filled;
            match step.event {
                None => break,
                Some(WsEvent::Binary(payload)) => {
                    // The carried tail is shorter than one message, so a
                    // whole WebSocket message fits behind it.
                    let total = filled + payload.len();
                    assert!(filled < MAX_MESSAGE_LEN && total <= inbound.carry.len());
                    inbound.carry[filled..total].copy_from_slice(payload);
                    inbound.filled = feed_carry(tasks, id, &mut inbound.carry, total).await;
                    if tasks.shared.shutting_down() || tasks.core.borrow().session_ended(id) {
                        break 'read;
                    }
                }
                Some(WsEvent::Text(_)) => {
                    control.broken(code::UNSUPPORTED_DATA);
                    let rule = "a text message: order entry is binary";
                    tasks
                        .core
                        .borrow_mut()
                        .end_transport(id, code::UNSUPPORTED_DATA, &rule);
                    break 'read;
                }
                Some(WsEvent::Ping(payload)) => {
                    control.ping(payload);
                    writer.notify();
                }
                Some(WsEvent::Pong(_)) => {}
                Some(WsEvent::Close { code: their, .. }) => {
                    control.peer_closed(their);
                    break 'read;
                }
            }
        }
        inbound.start = 0;
        inbound.len = match stream.read_order_entry(&mut inbound.input).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if tasks.shared.shutting_down() {
            break; // input after shutdown began is not processed
        }
    }
    tasks.readers_running.set(tasks.readers_running.get() - 1);
    // As a TCP reader: a peer that went away (a Close, or the socket) ends
    // the session here, without SessionEnd; an ended session is closed by
    // its writer once SessionEnd and the Close frame are out.
    let ended = tasks.core.borrow().session_ended(id);
    if !ended && !tasks.shared.shutting_down() {
        tasks.core.borrow_mut().close_session(id);
    }
}

/// The session's outbox out, in binary messages of whole protocol
/// messages, pongs ahead of them; at the end the Close frame whose code
/// says why (`WsControl::close_code`).
async fn write_loop(
    tasks: Rc<ShardTasks>,
    stream: Rc<Conn>,
    id: SessionRef,
    writer: Rc<LocalNotify>,
    control: Rc<WsControl>,
) {
    let capacity = tasks.shared.config.session.send_buffer_bytes + MAX_MESSAGE_LEN;
    let mut spare: Vec<u8> = Vec::with_capacity(capacity);
    let mut framed: Vec<u8> = Vec::with_capacity(framed_bound(capacity) + 2 * MAX_CONTROL_FRAME);
    debug_assert!(
        spare.capacity() >= capacity,
        "a whole outbox fits the spare"
    );
    let mut open = true;
    while open {
        let output = tasks.core.borrow_mut().take_output(id, &mut spare);
        framed.clear();
        control.take_pong_into(&mut framed);
        match output {
            Output::Data => {
                frame_reports(&spare, &mut framed);
                spare.clear();
            }
            Output::Idle if framed.is_empty() => {
                writer.wait().await;
                continue;
            }
            Output::Idle => {}
            Output::Finished => break,
        }
        open = write_session_bytes(&tasks, &stream, id, &framed).await;
    }
    // The Close code comes from the session; then its slot is free, for
    // the next logon, while the socket lingers (as for TCP).
    let reason = tasks.core.borrow().session_end_reason(id);
    tasks.core.borrow_mut().close_session(id);
    tasks.core.borrow_mut().counters.ws_sessions_ended += 1;
    if open {
        framed.clear();
        WsControl::close_frame_into(control.close_code(reason), &mut framed);
        write_then_close(&tasks, &stream, &framed).await;
    } else {
        // The client stopped reading (or the socket broke): no Close frame
        // can reach it; one linger period, as for TCP.
        let linger = Duration::from_millis(tasks.shared.config.server.shutdown_grace_ms);
        linger_close(&stream, linger).await;
    }
    tasks.writers_running.set(tasks.writers_running.get() - 1);
}
