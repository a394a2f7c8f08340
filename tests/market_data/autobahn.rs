//! The Autobahn|Testsuite fuzzing client (pip package `kosoku`, its 517
//! cases) against the market-data endpoint's echo path
//! (`market_data.echo_path`: Autobahn's cases expect an echo server, and
//! `/md` answers control messages): every case OK, NON-STRICT or
//! INFORMATIONAL, none FAILED (the compression cases, 12.* and 13.*, may
//! be UNIMPLEMENTED: no extension is negotiated). The counts are printed.
//! A missing `kosoku` fails the test (`.ci/run` installs it).

use crate::clients::{need_python_module, python};
use crate::live::MdGateway;

/// Cases kosoku runs at once: modest, for a 2-core CI machine.
const PARALLELISM: &str = "4";

#[test]
fn autobahn_fuzzing_client_finds_no_failure() {
    need_python_module("kosoku", "kosoku");
    let md = MdGateway::start_with("[journal]\n[market_data]\necho_path = \"/echo\"\n");
    let url = format!("ws://{}/echo", md.md);
    let output = python(
        "tests/python/autobahn_counts.py",
        &[&url, "--parallelism", PARALLELISM],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success() && stdout.contains("FAILED=0 ERROR=0"),
        "Autobahn against {url} ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    md.stop();
}
