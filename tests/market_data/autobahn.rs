//! The Autobahn|Testsuite fuzzing client (pip package `kosoku`, its 517
//! cases) against the market-data WebSocket endpoint of a running gateway:
//! every case OK, NON-STRICT or INFORMATIONAL, none FAILED (the
//! compression cases, 12.* and 13.*, may be UNIMPLEMENTED: no extension is
//! negotiated). The counts are printed.

use crate::clients::{need_python_module, python};
use crate::live::MdGateway;

#[test]
fn autobahn_fuzzing_client_finds_no_failure() {
    need_python_module("kosoku", "kosoku");
    let md = MdGateway::start();
    let url = format!("ws://{}/md", md.md);
    let output = python("tests/python/autobahn_counts.py", &[&url]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "Autobahn against {url} ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    md.stop();
}
