//! The floor of `compare`'s ping-pong: two echo servers with the gateway's
//! framing and answers (`echo_bench::answer`), each serving one connection
//! on a pinned thread of this process.
//!
//! - the socket echo: a non-blocking socket spinning on `recv`, answering
//!   with `send`, the least a server can do per message on Linux without
//!   bypassing the kernel (issue 11: 6.5 us p50 on the development VM);
//! - the io_uring echo: the same loop on the gateway's own shard reactor
//!   (`tradsys::shard::reactor`, SINGLE_ISSUER|DEFER_TASKRUN, receives into
//!   its buffer ring, spinning in `io_uring_enter(GETEVENTS, 0)` as a
//!   gateway shard with `idle = "spin"` does): what the reactor costs over
//!   the floor, without the gateway's work.

use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::thread::JoinHandle;

use tradsys::protocol::{HEADER_LEN, MAX_MESSAGE_LEN};
use tradsys::shard::mesh::Doorbell;
use tradsys::shard::reactor::{self, bufring::BufRing, ops, Ring};

use crate::echo_bench::answer;

/// An echo serving one connection; the thread ends when the client closes.
pub struct EchoServer {
    pub addr: SocketAddr,
    pub handle: JoinHandle<()>,
}

/// One connection's framing state: input carried between reads and the
/// answers' sequence numbers.
struct Echo {
    inbuf: Vec<u8>,
    filled: usize,
    outbuf: Vec<u8>,
    next_seq: u32,
    order_id: u64,
}

impl Echo {
    fn new() -> Echo {
        Echo {
            inbuf: vec![0; 64 << 10],
            filled: 0,
            outbuf: vec![0; 256 << 10],
            next_seq: 1,
            order_id: 0,
        }
    }

    /// Takes `bytes`; returns the answers to every whole message so far.
    fn take(&mut self, bytes: &[u8]) -> &[u8] {
        self.inbuf[self.filled..self.filled + bytes.len()].copy_from_slice(bytes);
        self.filled += bytes.len();
        let (mut at, mut out) = (0, 0);
        while self.filled - at >= HEADER_LEN {
            let len = u16::from_le_bytes([self.inbuf[at], self.inbuf[at + 1]]) as usize;
            if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&len) || self.filled - at < len {
                break;
            }
            out += answer(
                &self.inbuf[at..at + len],
                &mut self.next_seq,
                &mut self.order_id,
                &mut self.outbuf[out..],
            );
            at += len;
        }
        self.inbuf.copy_within(at..self.filled, 0);
        self.filled -= at;
        &self.outbuf[..out]
    }
}

fn bind() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an echo");
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

fn pin(core: usize) {
    assert!(
        core_affinity::set_for_current(core_affinity::CoreId { id: core }),
        "pin the echo to core {core}"
    );
}

pub fn spawn_socket_echo(core: usize) -> EchoServer {
    let (listener, addr) = bind();
    let handle = std::thread::spawn(move || {
        pin(core);
        listener.set_nonblocking(true).unwrap();
        let mut stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::hint::spin_loop(),
                Err(e) => panic!("socket echo accept: {e}"),
            }
        };
        stream.set_nonblocking(true).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut echo = Echo::new();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    let out = echo.take(&buf[..n]);
                    if spin_write(&mut stream, out).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::hint::spin_loop(),
                Err(_) => return,
            }
        }
    });
    EchoServer { addr, handle }
}

/// Writes all of `bytes` to a non-blocking socket, spinning while full.
pub fn spin_write(stream: &mut TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::hint::spin_loop(),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub fn spawn_uring_echo(core: usize) -> EchoServer {
    let (listener, addr) = bind();
    let handle = std::thread::spawn(move || {
        pin(core);
        let (_bell, ring) = Doorbell::new().expect("a shard ring");
        let ring = Ring::enable(ring.into_inner(), BufRing::new(64, 16 << 10)).expect("enable");
        reactor::block_on(ring, async move {
            // As a spinning shard's mesh loop: always ready, so the reactor
            // never waits in the kernel.
            let done = Rc::new(Cell::new(false));
            let spinning = Rc::clone(&done);
            reactor::spawn(async move {
                while !spinning.get() {
                    reactor::yield_now().await;
                }
            });
            let mut acceptor = ops::Acceptor::new(listener.as_raw_fd());
            let stream = TcpStream::from(acceptor.next().await.expect("uring echo accept"));
            stream.set_nodelay(true).unwrap();
            let fd = stream.as_raw_fd();
            let mut echo = Echo::new();
            while let Ok(Some(bytes)) = ops::recv_pooled(fd).await {
                let out = echo.take(&bytes);
                drop(bytes);
                if ops::send_all(fd, out).await.is_err() {
                    break;
                }
            }
            done.set(true);
        })
        .expect("the echo's reactor");
    });
    EchoServer { addr, handle }
}
