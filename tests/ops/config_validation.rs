//! The configuration file: the embedded default is valid and equals the
//! code's defaults; every bad value and unknown key is refused with an
//! error that names the field and the rule.

use tradsys::config::{Config, DEFAULT_TOML};

fn refused(text: &str) -> String {
    match Config::parse(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// The default file with one line replaced.
fn default_with(from: &str, to: &str) -> String {
    assert!(DEFAULT_TOML.contains(from), "default config has `{from}`");
    DEFAULT_TOML.replacen(from, to, 1)
}

#[test]
fn embedded_default_is_valid_and_matches_code_defaults() {
    let parsed = Config::parse(DEFAULT_TOML).unwrap();
    let defaults = Config::default();
    assert_eq!(parsed.server, defaults.server);
    assert_eq!(parsed.engine, defaults.engine);
    assert_eq!(parsed.session, defaults.session);
    assert_eq!(parsed.journal, defaults.journal);
    assert_eq!(parsed.market_data, defaults.market_data);
    assert_eq!(parsed.symbols.len(), 3);
    assert_eq!(parsed.accounts.len(), 4);
}

#[test]
fn shipped_example_configs_are_valid() {
    for file in [
        "configs/production.toml",
        "configs/bench.toml",
        "configs/bench-md-shards.toml",
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        Config::load(Some(&path)).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

#[test]
fn unknown_keys_are_refused_with_their_name() {
    let error = refused(&default_with(
        "idle = \"spin\"",
        "idle = \"spin\"\nturbo = true",
    ));
    assert!(error.contains("turbo"), "{error}");
    let error = refused(&default_with("tick_size = 1\n", "tick_sise = 1\n"));
    assert!(error.contains("tick_sise"), "{error}");
}

#[test]
fn bad_values_name_the_field_and_the_rule() {
    let cases = [
        (("cores = [0]", "cores = []"), "server.cores"),
        (("cores = [0]", "cores = [0, 0]"), "server.cores[1]"),
        (("idle = \"spin\"", "idle = \"nap\""), "nap"),
        (
            ("order_capacity = 1048576", "order_capacity = 0"),
            "engine.order_capacity",
        ),
        (
            ("heartbeat_interval_ms = 1000", "heartbeat_interval_ms = 50"),
            "session.heartbeat_interval_ms",
        ),
        (
            ("rate_limit_per_sec = 200000", "rate_limit_per_sec = 0"),
            "session.rate_limit_per_sec",
        ),
        (
            ("send_buffer_bytes = 1048576", "send_buffer_bytes = 10"),
            "session.send_buffer_bytes",
        ),
        (
            (
                "max_prelogon_connections_per_shard = 1024",
                "max_prelogon_connections_per_shard = 0",
            ),
            "session.max_prelogon_connections_per_shard",
        ),
        (
            (
                "max_prelogon_connections_per_ip = 32",
                "max_prelogon_connections_per_ip = 0",
            ),
            "session.max_prelogon_connections_per_ip",
        ),
        (
            (
                "max_prelogon_connections_per_ip = 32",
                "max_prelogon_connections_per_ip = 1025",
            ),
            "session.max_prelogon_connections_per_ip",
        ),
        (("sync = \"none\"", "sync = \"sometimes\""), "sometimes"),
        (
            ("segment_bytes = 67108864", "segment_bytes = 10"),
            "journal.segment_bytes",
        ),
        (
            ("tick_size = 1\n", "tick_size = 0\n"),
            "symbols[0].tick_size",
        ),
        (
            ("reference_price = 5000000", "reference_price = -1"),
            "symbols[0].reference_price",
        ),
        (
            ("price_band_bps = 1000", "price_band_bps = 0"),
            "symbols[0].price_band_bps",
        ),
        (("# shard = 0", "shard = 3"), "symbols[0].shard"),
        (
            ("id = 2\nname = \"ETH-USD\"", "id = 1\nname = \"ETH-USD\""),
            "symbols[1].id",
        ),
        // A name of digits only would read as another symbol's id where a
        // name or an id is taken (admin `symbol=`, found by a hostile pass).
        (
            ("id = 2\nname = \"ETH-USD\"", "id = 2\nname = \"3\""),
            "symbols[1].name",
        ),
        (
            ("token = \"alice-demo-token\"", "token = \"\""),
            "accounts[0].token",
        ),
        (
            (
                "token = \"alice-demo-token\"",
                "token = \"a-token-that-is-much-longer-than-32-bytes\"",
            ),
            "accounts[0].token",
        ),
        (
            ("id = 2\nname = \"bob\"", "id = 1\nname = \"bob\""),
            "accounts[1].id",
        ),
        (("role = \"trader\"", "role = \"god\""), "god"),
        // Found by a hostile pass: accepted, then no client could log on
        // (PROTOCOL.md: a token is printable ASCII, 0x20-0x7E).
        (
            ("token = \"alice-demo-token\"", "token = \"alice\tdemo\""),
            "accounts[0].token",
        ),
        // Accepted: a trader then held the operator's bearer token (the
        // admin endpoint knows an operator by the token alone).
        (
            ("token = \"bob-demo-token\"", "token = \"ops-demo-token\""),
            "accounts[3].token",
        ),
        // Accepted, and a Logon to 127.0.0.1:7002 reached the market-data
        // listener (the more specific address wins): two listeners on one
        // port overlap when either is a wildcard.
        (
            (
                "order_entry = \"127.0.0.1:7001\"",
                "order_entry = \"0.0.0.0:7002\"",
            ),
            "server.order_entry",
        ),
        // Accepted and clamped without a word (2 GiB a shard for 1 TiB):
        // the rule is a power of two of 64 KiB buffers, 8 to 32768.
        (
            (
                "io_memory_bytes = 4194304",
                "io_memory_bytes = 1099511627776",
            ),
            "server.io_memory_bytes",
        ),
        (
            ("io_memory_bytes = 4194304", "io_memory_bytes = 100000"),
            "server.io_memory_bytes",
        ),
        (
            ("io_memory_bytes = 4194304", "io_memory_bytes = 65536"),
            "server.io_memory_bytes",
        ),
    ];
    for ((from, to), field) in cases {
        let error = refused(&default_with(from, to));
        assert!(
            error.contains(field),
            "`{to}`: expected the error to name {field}: {error}"
        );
    }
}

#[test]
fn a_config_without_symbols_or_accounts_is_refused() {
    assert!(refused("").contains("symbols"));
    let symbols_only = DEFAULT_TOML.split("[[accounts]]").next().unwrap();
    assert!(refused(symbols_only).contains("accounts"));
}

#[test]
fn omitted_sections_take_the_defaults() {
    let minimal = r#"
[[symbols]]
id = 1
name = "X"
tick_size = 1
lot_size = 1
reference_price = 100
price_band_bps = 100

[[accounts]]
id = 1
name = "a"
token = "t"
role = "trader"
max_order_qty = 1
max_order_notional = 1
max_open_orders = 1
max_position = 1
"#;
    let config = Config::parse(minimal).unwrap();
    assert_eq!(config.server, Config::default().server);
}

#[test]
fn tokens_never_appear_in_debug_output() {
    let config = Config::parse(DEFAULT_TOML).unwrap();
    let printed = format!("{config:?}");
    assert!(!printed.contains("alice-demo-token"), "{printed}");
    assert!(printed.contains("<redacted>"));
}

/// Subjects and streams of the journal and of the drop copy that overlap
/// (found by a hostile pass: `check-config` said ok, and the follower then
/// retried forever, "NATS unavailable", applying nothing).
#[test]
fn replication_streams_and_subjects_that_overlap_are_refused() {
    let cases = [
        (
            (
                "drop_copy_prefix = \"tradsys.dropcopy\"",
                "drop_copy_prefix = \"tradsys\"",
            ),
            "replication.drop_copy_prefix",
        ),
        (
            (
                "subject_prefix = \"tradsys.journal\"",
                "subject_prefix = \"tradsys.dropcopy.x\"",
            ),
            "replication.drop_copy_prefix",
        ),
        (
            (
                "drop_copy_stream = \"TRADSYS_DROPCOPY\"",
                "drop_copy_stream = \"TRADSYS_JOURNAL\"",
            ),
            "replication.drop_copy_stream",
        ),
    ];
    for ((from, to), field) in cases {
        let error = refused(&default_with(from, to));
        assert!(error.contains(field), "{to}: {error}");
    }
    // Disjoint prefixes that share a first token are fine.
    Config::parse(&default_with(
        "drop_copy_prefix = \"tradsys.dropcopy\"",
        "drop_copy_prefix = \"tradsys.fills\"",
    ))
    .unwrap();
}
