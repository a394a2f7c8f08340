//! The log lines an operator works from (issue 9, defect 8): one per logon
//! (account, peer address, session), one per session end (reason, counts,
//! peer), one per refused logon (the account it claimed, the reason, the
//! peer). The version line at start is in tests/ops/cli_version_logs.rs.

use crate::support::gateway::*;
use tradsys::engine::Side;

#[test]
fn logons_session_ends_and_refusals_are_logged_with_the_peer() {
    let gateway = Gateway::start();
    let mut alice = gateway.logon(ALICE);
    alice
        .new_order(&limit(ALICE, BTC, 1, Side::Buy, 9_500, 1))
        .unwrap();
    accepted(&mut alice);
    alice.logout().unwrap();
    let _ = session_end(&mut alice);
    let mut bob = gateway.connect();
    assert!(bob.logon(BOB, b"wrong-token", 0, false).is_err());
    let (status, log) = gateway.stop();
    assert!(status.success());
    let text = log.join("\n");
    let line = |what: &str, with: &[&str]| {
        log.iter()
            .find(|l| l.contains(what) && with.iter().all(|w| l.contains(w)))
            .unwrap_or_else(|| panic!("no {what:?} line with {with:?} in:\n{text}"))
            .clone()
    };
    line(" logon", &["account=1", "peer=127.0.0.1:", "slot="]);
    line(
        "session ended",
        &[
            "account=1",
            "peer=127.0.0.1:",
            "reason=Logout",
            "messages_in=3",
            "messages_out=3",
        ],
    );
    line("InvalidCredentials", &["account 2", "127.0.0.1:"]);
    assert!(!text.contains("wrong-token"), "a token in the log:\n{text}");
}

/// PROTOCOL.md 5.6: tokens are logged at start only for the embedded demo
/// configuration; a gateway on a configuration file lists its accounts
/// without them.
#[test]
fn a_gateway_on_a_configuration_file_never_logs_a_token() {
    let gateway = Gateway::start();
    let mut lines = gateway.startup_log.clone();
    lines.extend(gateway.log_lines());
    assert!(
        lines
            .iter()
            .any(|l| l.contains("account") && l.contains("alice")),
        "the accounts are listed: {lines:?}"
    );
    for account in [ALICE, BOB, CAROL, VIEWER] {
        let token = std::str::from_utf8(token(account)).unwrap();
        let leaked: Vec<&String> = lines.iter().filter(|l| l.contains(token)).collect();
        assert!(leaked.is_empty(), "token of {account} logged: {leaked:?}");
    }
}

/// A start says a thing once: where the helper threads must share the
/// shards' cores (every core is a shard's, as on a 2-core host with the
/// test config's two shards), one warning, not one per helper thread (a
/// hostile pass counted three). On a host with a spare core there is none.
#[test]
fn a_start_warns_once_that_every_core_is_a_shards() {
    let gateway = Gateway::start();
    let shared_cores = gateway
        .startup_log
        .iter()
        .filter(|l| l.contains("every core is a shard's"))
        .count();
    // The cores this process may use, as the gateway reads them; the test
    // config's shards take cores 0 and 1.
    let usable = core_affinity::get_core_ids().unwrap_or_default();
    let expected = usize::from(usable.iter().all(|c| c.id <= 1));
    assert_eq!(shared_cores, expected, "{:#?}", gateway.startup_log);
}
