//! `tradsys-bench`: the benchmarks. Each subcommand prints its figures in
//! one shared format (see `report.rs`); `report` runs them all and prints
//! the README's table.

// Code health (ARCHITECTURE.md): every `unsafe` block and impl says why it
// is sound in a `// SAFETY:` comment, and an `unsafe fn` spells out its own
// unsafe operations.
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]
// Functions stay under clippy.toml's too-many-lines-threshold (70); the
// longer ones of today carry an allow and a TODO(issue 10), and
// tests/tidy.rs keeps that list from growing.
#![warn(clippy::too_many_lines)]

mod admin_http;
mod admin_latency;
mod cluster;
mod conn;
mod echo_bench;
mod engine_bench;
mod floor_bench;
mod floor_echo;
mod gateway_bench;
mod gateway_process;
mod hiccup_bench;
mod id_hash;
mod journal_bench;
mod load;
mod md_audience;
mod md_bench;
mod md_client;
mod md_driver;
mod md_orders;
mod md_peer;
mod mix;
mod orders_bench;
mod peers;
mod pingpong;
mod query_bench;
mod readiness;
mod replay_bench;
mod replication_bench;
mod report;
mod report_bench;
mod rng;
mod scaling_bench;
mod schedstat;
mod schedule;
mod shard_placement;
mod soak;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "tradsys-bench", about = "tradsys benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The matching engine alone on one core, realistic order mix.
    Engine(engine_bench::EngineArgs),
    /// What the account queries cost the owner core, beside an order and a
    /// cancel on the same engine.
    Queries(query_bench::QueryArgs),
    /// Replay on logon against a gateway it starts: reports/s of a large
    /// replay, and another session's round trips while it runs.
    Replay(replay_bench::ReplayArgs),
    /// Round trip and pipelined throughput against a running gateway.
    Gateway(gateway_bench::GatewayArgs),
    /// The write-ahead journal alone: append latency per sync policy, replay rate.
    Journal(journal_bench::JournalArgs),
    /// Load against a running gateway: open loop at a fixed rate (latency
    /// from the intended send time) or closed loop at a pipeline depth.
    Orders(orders_bench::OrdersArgs),
    /// A bare io_uring server with the gateway's framing: the floor.
    Echo(echo_bench::EchoArgs),
    /// The same open-loop load against the echo and the gateway, and their
    /// ratio; then a spinning ping-pong against the floor (a spinning socket
    /// echo), the gateway and two io_uring echoes, and gateway/floor.
    Compare(echo_bench::CompareArgs),
    /// Market-data fan-out at 1, 100, 1000 subscribers against a
    /// tokio-tungstenite peer, and order entry with subscribers attached
    /// (starts its own gateway).
    Md(md_bench::MdArgs),
    /// The `md` bench's peer: a tokio-tungstenite broadcast server fed by
    /// a gateway's market data (started by `md`).
    MdPeer(md_peer::PeerArgs),
    /// How long the machine itself stalls a pinned, spinning thread.
    Hiccup(hiccup_bench::HiccupArgs),
    /// The gateway with 1, 2 .. N shards (its own processes): throughput in
    /// all and per shard, and the round trip a cross-shard hop adds.
    Scaling(scaling_bench::ScalingArgs),
    /// Runs every bench (starting its own gateway) and prints the README table.
    Report(report_bench::ReportArgs),
    /// A seeded schedule of faults (kill, pause, full disk, sync failure,
    /// CPU hog, disconnects) against a gateway under load, checked
    /// against a journal-replay oracle. Exits 1 on any violation.
    Soak(soak::SoakArgs),
    /// Replication on this host with a real 3-node JetStream cluster:
    /// follower lag, market-data fan-out through two followers against the
    /// primary alone, order entry with shipping on against off.
    Replication(replication_bench::ReplicationArgs),
}

fn main() {
    // Output piped into `head` ends the run quietly, as other command-line
    // tools do, instead of a panic on the next print. Sockets are
    // unaffected: std sends with MSG_NOSIGNAL.
    // SAFETY: restoring a default signal disposition at start-up.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    match Cli::parse().command {
        Command::Engine(args) => drop(engine_bench::run(&args)),
        Command::Replication(args) => drop(replication_bench::run(&args)),
        Command::Queries(args) => drop(query_bench::run(&args)),
        Command::Replay(args) => drop(replay_bench::run(&args)),
        Command::Gateway(args) => drop(gateway_bench::run(&args)),
        Command::Journal(args) => drop(journal_bench::run(&args)),
        Command::Orders(args) => drop(orders_bench::run(&args)),
        Command::Echo(args) => echo_bench::run_echo(&args),
        Command::Compare(args) => drop(echo_bench::run_compare(&args)),
        Command::Hiccup(args) => drop(hiccup_bench::run(&args)),
        Command::Scaling(args) => drop(scaling_bench::run(&args)),
        Command::Md(args) => drop(md_bench::run(&args)),
        Command::MdPeer(args) => md_peer::run(&args),
        Command::Report(args) => report_bench::run(&args),
        Command::Soak(args) => std::process::exit(soak::run(&args)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn orders_takes_lists_and_a_mix() {
        let cli = Cli::try_parse_from([
            "tradsys-bench",
            "orders",
            "--accounts",
            "1,2,3",
            "--symbols",
            "4",
            "--mix",
            "ioc=1,cancel=2",
            "--rate",
            "0",
        ])
        .unwrap();
        let Command::Orders(args) = cli.command else {
            panic!("parsed as another subcommand")
        };
        assert_eq!(args.accounts, vec![1, 2, 3]);
        assert_eq!(args.symbols, vec![4]);
        assert_eq!(args.mix.to_string(), "ioc=1,cancel=2");
        let bad = Cli::try_parse_from(["tradsys-bench", "orders", "--mix", "buy=1"]);
        assert!(bad.err().unwrap().to_string().contains("unknown op"));
    }

    fn orders(args: &[&str]) -> orders_bench::OrdersArgs {
        let argv = ["tradsys-bench", "orders"].iter().chain(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Orders(args) => args,
            _ => panic!("parsed as another subcommand"),
        }
    }

    #[test]
    fn orders_refuses_a_run_that_cannot_be_made_and_says_which_option() {
        assert!(orders(&[]).check().is_ok());
        assert!(orders(&["--rate", "0", "--depth", "4"]).check().is_ok());
        let refused = |args: &[&str], option: &str| {
            let problem = orders(args).check().unwrap_err();
            assert!(problem.contains(option), "{args:?}: {problem}");
        };
        refused(&["--connections", "0"], "--connections");
        refused(&["--duration", "0"], "--duration");
        refused(&["--warmup=-1"], "--warmup");
        refused(&["--rate", "0", "--depth", "0"], "--depth");
        refused(&["--rate", "0", "--ramp-up", "1"], "--ramp-up");
    }
}
