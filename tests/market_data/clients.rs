//! The example clients of `examples/` (issue 13 item 7), written from
//! `docs/MARKET_DATA.md` alone, held to that document: the Python client's
//! decoder, book and recovery rules against the document's own hex dumps
//! and JSON examples (`tests/python/md_doc_check.py`, no gateway needed).

use std::process::Command;

/// Runs a Python script of this repository; fails, saying what to install,
/// when there is no `python3`.
pub fn python(script: &str, args: &[&str]) -> std::process::Output {
    Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/").to_string() + script)
        .args(args)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("python3 {script}: {e} (install python3)"))
}

#[test]
fn python_example_decodes_the_documents_dumps_and_follows_its_recovery_rules() {
    let output = python("tests/python/md_doc_check.py", &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    let last = stdout.lines().last().unwrap_or("");
    assert!(
        output.status.success() && last.ends_with(" 0 failed") && !last.starts_with("0 passed"),
        "md_doc_check.py ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Panics, saying what to install, unless `python3` can import `module`.
pub fn need_python_module(module: &str, package: &str) {
    let output = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .unwrap_or_else(|e| panic!("python3: {e} (install python3)"));
    assert!(
        output.status.success(),
        "this test needs the Python package {package}: `python3 -m pip install {package}` \
         (.ci/run installs it)\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The headless browser: Debian's `chromium`, else a Chrome on PATH;
/// panics, saying what to install, when there is none.
pub fn chromium() -> &'static str {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect(
            "this test needs headless Chromium: `apt-get install chromium` (.ci/run installs it)",
        )
}

/// `tests/python/md_page_check.py` driving Chromium on a page: started
/// with [`Page::open`], it has seen the `ready` texts; [`Page::finish`]
/// lets it go on and waits for the `expect` texts.
pub struct Page {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    /// The page's text when it was ready.
    pub ready_text: String,
}

impl Page {
    pub fn open(url: &str, doc_feed: bool, ready: &[&str], expect: &[&str]) -> Page {
        need_python_module("websockets", "websockets");
        let browser = chromium();
        let mut command = Command::new("python3");
        command
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/python/md_page_check.py"
            ))
            .args(["--browser", browser, "--url", url, "--ready"])
            .args(ready)
            .arg("--expect")
            .args(expect)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        if doc_feed {
            command.args([
                "--doc-feed",
                concat!(env!("CARGO_MANIFEST_DIR"), "/docs/MARKET_DATA.md"),
            ]);
        }
        let mut child = command.spawn().expect("python3 md_page_check.py runs");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut page = Page {
            child,
            lines,
            ready_text: String::new(),
        };
        let (first, text) = page.block();
        assert_eq!(first, "READY", "the page never showed {ready:?}:\n{text}");
        page.ready_text = text;
        page
    }

    /// The next status line and the text block after it.
    fn block(&mut self) -> (String, String) {
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line == "TEXT-END" => break,
                Ok(line) => got.push(line),
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("md_page_check.py stopped early:\n{}", got.join("\n"));
                }
            }
        }
        let status = got.first().cloned().unwrap_or_default();
        let text = got
            .iter()
            .skip_while(|l| *l != "TEXT-BEGIN")
            .skip(1)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n");
        (status, text)
    }

    /// Lets the script go on; the page's text once it showed every
    /// expected text (panics with the text if it never did).
    pub fn finish(mut self) -> String {
        use std::io::Write;
        let mut stdin = self.child.stdin.take().unwrap();
        stdin.write_all(b"go\n").unwrap();
        drop(stdin);
        let (status, text) = self.block();
        let exit = self.child.wait().unwrap();
        assert!(
            status == "DONE" && exit.success(),
            "{status} ({exit}):\n{text}"
        );
        text
    }
}

#[test]
fn html_example_shows_the_documents_worked_example_in_headless_chromium() {
    // The page from disk, fed the JSON examples of docs/MARKET_DATA.md by
    // a stand-in server: the snapshot's book, then the trade and the ask
    // left with 1, both checksums verified.
    let url = format!(
        "file://{}/examples/md.html?ws={{ws}}",
        env!("CARGO_MANIFEST_DIR")
    );
    let page = Page::open(
        &url,
        true,
        &[
            "ask\\t10050\\t3\\t1",
            "bid\\t10040\\t5\\t2",
            "checksums verified 1",
        ],
        &[
            "trade\\t17\\t2\\t10050\\tbuy",
            "ask\\t10050\\t1\\t1",
            "checksums verified 2",
        ],
    );
    assert!(
        page.ready_text.contains("BTC-USD (id 1) seq 2"),
        "{}",
        page.ready_text
    );
    let text = page.finish();
    assert!(text.contains("BTC-USD (id 1) seq 4"), "{text}");
    assert!(text.contains("resyncs 0; errors 0"), "{text}");
}
