//! The market-data tests, one binary (`cargo test --test market_data`):
//! the feed model against the engine under random order flow (`feed`), a
//! connection's subscriptions (`subscriptions`), the control-message parser
//! (`control`), `docs/MARKET_DATA.md` held to the code (`protocol_doc`), and
//! RFC 6455 framing and handshake (`websocket`), the endpoint of the real
//! binary on loopback (`endpoint`), and third-party clients against it:
//! Python `websockets` (`python_feed`) and Node `ws` (`node_feed`). `flow` is the random order
//! flow, `replica` a client's book written from the document; the
//! zero-allocation test is in the `alloc` binary (`alloc/market_data.rs`).
//! `clients` holds the example clients of `examples/` (Python, the HTML
//! page) to the document, `live` to a running gateway (with a second Node
//! `ws` client beside them). `echo` is the echo path
//! (`market_data.echo_path`), and `autobahn` the Autobahn|Testsuite
//! fuzzing client (`kosoku`) against it. `admin_api` holds the admin
//! thread's order book, trades and tickers queries to the same model.
//! `fanout_pump` drives a shard's fan-out backlog and pump by hand, and
//! `heartbeats` its heartbeat and subscribe-timeout timers;
//! `order_priority` holds order entry to its pace while many subscribers
//! of the traded symbol stop reading (issue 13). `placement` puts the
//! market-data listener on one shard and order entry on the other.

#[path = "../support/doc_tables.rs"]
mod doc_tables;
#[path = "../support/mod.rs"]
mod support;

mod admin_api;
mod autobahn;
mod clients;
mod control;
mod echo;
mod endpoint;
mod fanout_pump;
mod feed;
mod flow;
mod heartbeats;
mod live;
mod node_feed;
mod order_priority;
mod peer_limit;
mod placement;
mod protocol_doc;
mod python_feed;
mod replica;
mod subscriptions;
mod websocket;
