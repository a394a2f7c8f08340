//! A drop-copy consumer: what a risk, clearing or surveillance system runs
//! against the executions `tradsys follow` publishes (docs/OPERATIONS.md,
//! "Drop copy"). A durable JetStream consumer, so it resumes where it
//! stopped after a restart and NATS keeps what it has not acknowledged;
//! each fill is printed, then acknowledged.
//!
//! ```text
//! cargo run --example drop_copy -- nats://127.0.0.1:4222 risk-desk          # every account
//! cargo run --example drop_copy -- nats://127.0.0.1:4222 risk-desk-1 tradsys.dropcopy.1
//! ```

use async_nats::jetstream::{self, consumer};
use futures_lite::StreamExt;

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let durable = args.next().unwrap_or_else(|| "drop-copy-example".into());
    let subjects = args.next().unwrap_or_else(|| "tradsys.dropcopy.>".into());
    let runtime = tradsys::replication::nats::runtime().expect("tokio runtime");
    if let Err(error) = runtime.block_on(consume(&url, &durable, &subjects)) {
        eprintln!("drop_copy: {error}");
        std::process::exit(1);
    }
}

async fn consume(url: &str, durable: &str, subjects: &str) -> Result<(), async_nats::Error> {
    let client = async_nats::connect(url).await?;
    let js = jetstream::new(client);
    let stream = js.get_stream("TRADSYS_DROPCOPY").await?;
    let consumer = stream
        .get_or_create_consumer(
            durable,
            consumer::pull::Config {
                durable_name: Some(durable.to_string()),
                filter_subject: subjects.to_string(),
                ack_policy: consumer::AckPolicy::Explicit,
                ..Default::default()
            },
        )
        .await?;
    let mut messages = consumer.messages().await?;
    while let Some(message) = messages.next().await {
        let message = message?;
        // One fill: {"shard","seq","exec_id","account","symbol","order_id",
        // "client_order_id","side","price","qty","leaves_qty","liquidity"}.
        let fill: serde_json::Value = serde_json::from_slice(&message.payload)?;
        println!(
            "{} account {} {} {} @ {} (exec {}:{}, order {})",
            message.subject,
            fill["account"],
            fill["side"].as_str().unwrap_or("?"),
            fill["qty"],
            fill["price"],
            fill["shard"],
            fill["exec_id"],
            fill["order_id"],
        );
        message.ack().await?;
    }
    Ok(())
}
