//! `tradsys-bench`: the benchmarks. Each subcommand prints its figures; the
//! last line of each is the one the README quotes.

mod echo_bench;
mod engine_bench;
mod gateway_bench;
mod journal_bench;
mod orders_bench;
mod rng;

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
    /// Round trip and pipelined throughput against a running gateway.
    Gateway(gateway_bench::GatewayArgs),
    /// The write-ahead journal alone: append latency per sync policy, replay rate.
    Journal(journal_bench::JournalArgs),
    /// Load against a running gateway: open loop at a fixed rate (latency
    /// from the intended send time) or closed loop at a pipeline depth.
    Orders(orders_bench::OrdersArgs),
    /// A bare io_uring server with the gateway's framing: the floor.
    Echo(echo_bench::EchoArgs),
    /// Ping-pong against the echo and against the gateway, and their ratio.
    Compare(echo_bench::CompareArgs),
}

fn main() {
    match Cli::parse().command {
        Command::Engine(args) => engine_bench::run(&args),
        Command::Gateway(args) => gateway_bench::run(&args),
        Command::Journal(args) => journal_bench::run(&args),
        Command::Orders(args) => orders_bench::run(&args),
        Command::Echo(args) => echo_bench::run_echo(&args),
        Command::Compare(args) => echo_bench::run_compare(&args),
    }
}
