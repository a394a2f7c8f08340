//! `tradsys-bench md-peer`: the peer the `md` bench measures the gateway's
//! fan-out against, a WebSocket server written the way most Rust users
//! would write one: tokio, tokio-tungstenite, a `tokio::sync::broadcast`
//! channel, one task per client that awaits the next message and
//! `send`s it (one write per client per message).
//!
//! It is fed the gateway's own event stream: one upstream subscription to
//! the gateway's `/md` (binary, `trades`), each binary message broadcast
//! as it came, so its subscribers get the same bytes as the gateway's own.
//! It runs on one core (a current-thread runtime pinned to `--core`), the
//! same budget as the gateway's one shard. A receiver that falls more than
//! `--capacity` messages behind skips them (`RecvError::Lagged`), as
//! tokio's broadcast does: the bench counts those trades as incomplete.

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::{Bytes, Message};

#[derive(clap::Args)]
pub struct PeerArgs {
    /// The gateway's market-data address to take the events from.
    #[arg(long)]
    pub upstream: String,
    /// Symbols to subscribe to upstream (a JSON array).
    #[arg(long, default_value = "[1]")]
    pub symbols: String,
    /// Core to pin the peer's one thread to.
    #[arg(long, default_value_t = 0)]
    pub core: usize,
    /// Messages the broadcast channel holds for its slowest receiver.
    #[arg(long, default_value_t = 65_536)]
    pub capacity: usize,
}

pub fn run(args: &PeerArgs) {
    assert!(args.capacity > 0, "a broadcast channel holds a message");
    let pinned = crate::report::pin(args.core);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let (tx, _) = broadcast::channel::<Bytes>(args.capacity);
        let upstream = TcpStream::connect(&args.upstream).await.expect("upstream");
        upstream.set_nodelay(true).expect("nodelay");
        let url = format!("ws://{}/md?format=binary", args.upstream);
        let (mut feed, _) = tokio_tungstenite::client_async(url, upstream)
            .await
            .expect("upstream upgrade");
        let subscribe = format!(
            r#"{{"op":"subscribe","symbols":{},"channels":["trades"]}}"#,
            args.symbols
        );
        feed.send(Message::text(subscribe))
            .await
            .expect("subscribe");
        let sender = tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = feed.next().await {
                if let Message::Binary(bytes) = message {
                    // No receiver yet is not an error.
                    let _ = sender.send(bytes);
                }
            }
        });
        println!(
            "md-peer listening on {} (pinned to core {}: {pinned})",
            listener.local_addr().unwrap(),
            args.core
        );
        loop {
            let (stream, _) = listener.accept().await.expect("accept");
            tokio::spawn(serve(stream, tx.clone()));
        }
    });
}

/// One subscriber: the upgrade, its `subscribe` (answered, so the harness
/// knows it is in), then every broadcast message, one `send` each.
async fn serve(stream: TcpStream, tx: broadcast::Sender<Bytes>) {
    let _ = stream.set_nodelay(true);
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    match ws.next().await {
        Some(Ok(Message::Text(_))) => {}
        _ => return,
    }
    let mut rx = tx.subscribe();
    let answer = Message::text(r#"{"type":"subscribed","channel":"trades"}"#);
    if ws.send(answer).await.is_err() {
        return;
    }
    loop {
        match rx.recv().await {
            Ok(bytes) => {
                if ws.send(Message::Binary(bytes)).await.is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
