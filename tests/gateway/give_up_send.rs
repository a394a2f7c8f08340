//! A send blocked on a client that reads nothing, given up after a
//! deadline, is ended by shutting the socket down, never dropped in
//! flight. Dropping the send's future cancels it and then waits, on the
//! shard's thread, until the kernel gives the buffer back; a send that
//! the kernel runs in one of its worker threads (as it does when a retry
//! after its poll still finds no room) was seen not to end on that cancel
//! until the client read: SIGTERM hung in 8 of 56 runs with 300 sessions
//! whose clients read nothing, one shard asleep in `io_uring_enter`
//! inside that wait (`/work/h11`, `/work/h12`). Which sends the kernel
//! hands to a worker is its choice, so this test cannot make one block
//! there; it shows the given-up send ends with its own result, `EPIPE`
//! from the shutdown, which a cancelled and dropped send never returns.
//! A receive given up on is cancelled and awaited instead, which leaves the
//! socket whole for an answer and a linger after it.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

use tradsys::shard::mesh::Doorbell;
use tradsys::shard::reactor::{self, bufring::BufRing, ops, Ring};

/// Only a shard held by its client reaches it.
const DEADLINE: Duration = Duration::from_secs(20);

#[test]
fn a_send_given_up_on_a_client_that_reads_nothing_does_not_hold_the_shard() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    // A client that reads nothing, with a small window from the start.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket
        .connect(&listener.local_addr().unwrap().into())
        .unwrap();
    let client: TcpStream = socket.into();
    let (server, _) = listener.accept().unwrap();
    socket2::SockRef::from(&server)
        .set_send_buffer_size(4096)
        .unwrap();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (_bell, shard_ring) = Doorbell::new().expect("a shard ring");
        let ring = Ring::enable(shard_ring.into_inner(), BufRing::new(8, 4096)).unwrap();
        let ran = reactor::block_on(ring, async move {
            let bytes = vec![7u8; 4 << 20];
            let fd = server.as_raw_fd();
            let sent = ops::give_up_on_socket(
                fd,
                ops::send_all(fd, &bytes),
                ops::sleep(Duration::from_millis(100)),
            )
            .await;
            drop(server);
            // Given up: the send's own result, once the shutdown ended it.
            let _ = done_tx.send(sent.map_err(|given_up| given_up.map_err(|e| e.raw_os_error())));
        });
        ran.expect("the reactor ran");
    });
    let outcome = done_rx
        .recv_timeout(DEADLINE)
        .expect("the shard waited on a client that reads nothing");
    assert_eq!(
        outcome.map(|_| ()),
        Err(Err(Some(libc::EPIPE))),
        "given up, then ended by the shutdown, not dropped in flight"
    );
    // The client never read a byte; it only had to stay connected.
    let mut client = client;
    let _ = client.write(b"x");
}

/// A receive given up on (the logon timeout) is cancelled and awaited, not
/// ended by a shutdown: it ends with `ECANCELED`, and the socket can still
/// answer and read what the client sends after (the linger).
#[test]
fn a_receive_given_up_on_is_cancelled_and_leaves_the_socket_whole() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (_bell, shard_ring) = Doorbell::new().expect("a shard ring");
        let ring = Ring::enable(shard_ring.into_inner(), BufRing::new(8, 4096)).unwrap();
        let ran = reactor::block_on(ring, async move {
            let fd = server.as_raw_fd();
            let mut buf = [0u8; 16];
            let given_up = ops::receive_until(
                fd,
                &mut buf,
                true,
                ops::sleep(Duration::from_millis(50)),
                ops::sleep(DEADLINE),
            )
            .await;
            let given_up = given_up.map_err(|ended| ended.map_err(|e| e.raw_os_error()));
            // The answer still goes out, and what the client sends after
            // it is still read.
            let answered = ops::send_all(fd, b"answer").await.is_ok();
            let late = ops::recv(fd, &mut buf).await.map_err(|e| e.kind());
            let _ = done_tx.send((given_up.map(|_| ()), answered, late));
            drop(server);
        });
        ran.expect("the reactor ran");
    });
    let mut answer = [0u8; 6];
    std::io::Read::read_exact(&mut client, &mut answer).expect("the answer");
    assert_eq!(&answer, b"answer");
    client.write_all(b"late").unwrap();
    let (given_up, answered, late) = done_rx.recv_timeout(DEADLINE).expect("the shard went on");
    assert_eq!(
        given_up,
        Err(Err(Some(libc::ECANCELED))),
        "cancelled, then awaited"
    );
    assert!(answered, "the socket still sends");
    assert_eq!(late, Ok(4), "the socket still reads");
}
