//! The order-entry port at start-up: a second gateway on a port one is
//! listening on is refused (SO_REUSEPORT would otherwise split clients
//! between two books), while connections left in TIME_WAIT by a stopped
//! one, or the listener of one just killed, do not stop a restart.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};

use crate::support::gateway::{config, Gateway, ALICE};

/// The test config with the order-entry port fixed to `addr`.
fn config_on(addr: SocketAddr, dir: &std::path::Path) -> String {
    config("", dir).replace(
        "order_entry = \"127.0.0.1:0\"",
        &format!("order_entry = \"{addr}\""),
    )
}

/// A loopback address with a port nobody listens on right now.
fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Sockets in TIME_WAIT whose local port is `port` (from /proc/net/tcp).
fn time_wait_on(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields[1].rsplit(':').next().unwrap();
            u16::from_str_radix(local_port, 16).unwrap() == port && fields[3] == "06"
        })
        .count()
}

/// On a journal of its own the second gateway cannot tell the first from
/// a dying listener by the journal lock: it waits the bounded 5 s for the
/// port, then refuses.
#[test]
fn a_second_gateway_on_a_port_in_use_is_refused_and_says_why() {
    let first = Gateway::start();
    let dir = Gateway::new_dir();
    let second = Gateway::start_config(&dir, &config_on(first.addr, &dir), None);
    let log = second.err().expect("the second gateway must not start");
    assert!(
        log.iter()
            .any(|l| l.contains("is another gateway running?")),
        "{}",
        log.join("\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn connections_left_in_time_wait_do_not_refuse_a_restart() {
    // A server that closes first leaves its side in TIME_WAIT on its own
    // port, as a gateway does when it ends a session.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut client = TcpStream::connect(addr).unwrap();
    let (server_side, _) = listener.accept().unwrap();
    drop(server_side);
    let mut eof = [0u8; 1];
    assert_eq!(client.read(&mut eof).unwrap(), 0, "the server closed first");
    drop(client);
    drop(listener);
    assert!(
        time_wait_on(addr.port()) > 0,
        "no TIME_WAIT on {addr}: the test proves nothing"
    );

    let dir = Gateway::new_dir();
    let gateway = Gateway::start_config(&dir, &config_on(addr, &dir), None)
        .unwrap_or_else(|log| panic!("refused beside a TIME_WAIT:\n{}", log.join("\n")));
    assert_eq!(gateway.addr, addr);
    let mut alice = gateway.logon(crate::support::gateway::ALICE);
    alice.heartbeat().unwrap();
    drop(alice);
    let (status, _) = gateway.stop();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_restart_right_after_kill_9_gets_the_port_back() {
    // The killed process's listener outlives it briefly (io_uring tears
    // down asynchronously); its journal lock does not.
    let addr = free_addr();
    let dir = Gateway::new_dir();
    let config = config_on(addr, &dir);
    let mut gateway = Gateway::start_config(&dir, &config, None).expect("first start");
    for round in 1..=5 {
        let mut alice = gateway.logon(ALICE);
        alice.heartbeat().unwrap();
        gateway.kill(); // waits for the process: it is gone when this returns
        gateway = Gateway::start_config(&dir, &config, None).unwrap_or_else(|log| {
            panic!(
                "round {round}: restart right after kill -9 refused:\n{}",
                log.join("\n")
            )
        });
        assert_eq!(gateway.addr, addr);
    }
    let mut alice = gateway.logon(ALICE);
    alice.heartbeat().unwrap();
    drop(alice);
    let (status, _) = gateway.stop();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_second_gateway_on_a_live_gateways_journal_is_refused_at_once_naming_it() {
    let addr = free_addr();
    let dir = Gateway::new_dir();
    let config = config_on(addr, &dir);
    let first = Gateway::start_config(&dir, &config, None).expect("first start");
    let second = Gateway::start_config(&dir, &config, None);
    let log = second.err().expect("the second gateway must not start");
    let journal = first.journal_dir().display().to_string();
    assert!(
        log.iter().any(|l| l.contains("another gateway is running")
            && l.contains(&journal)
            && l.contains(&addr.to_string())),
        "no refusal naming the journal {journal}:\n{}",
        log.join("\n")
    );
    // The first one was not disturbed.
    let mut alice = first.logon(ALICE);
    alice.heartbeat().unwrap();
    drop(alice);
    let (status, _) = first.stop();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}
