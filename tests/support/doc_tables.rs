//! Reading the byte-exact documents (`docs/PROTOCOL.md`,
//! `docs/MARKET_DATA.md`) the way their doc-vs-code tests do: the rows of
//! the table under a heading, and the bytes of every hex dump. One copy for
//! both documents, so both are read by the same rules.

#![allow(dead_code)]

/// A row of a markdown table, cells trimmed, backticks removed.
pub fn cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(|c| c.trim().replace('`', ""))
        .collect()
}

/// The data rows of the first table after the line `heading` in `doc`.
pub fn table_after(doc: &str, heading: &str) -> Vec<Vec<String>> {
    let mut lines = doc.lines().skip_while(|l| *l != heading);
    assert!(
        lines.next().is_some(),
        "heading {heading:?} not in the document"
    );
    lines
        .take_while(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with('|'))
        .skip(2) // column names, alignment row
        .map(cells)
        .collect()
}

/// The bytes of every ```` ```hex ```` block of `doc`, in order. Each line
/// is `OOOO  xx xx xx xx xx xx xx xx   note`; the offset must run on.
pub fn hex_blocks(doc: &str) -> Vec<Vec<u8>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    for line in doc.lines() {
        match (&mut current, line) {
            (None, "```hex") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some(bytes), line) => {
                let offset = usize::from_str_radix(&line[..4], 16).unwrap();
                assert_eq!(offset, bytes.len(), "hex dump offset in {line:?}");
                for b in line[6..29].split_whitespace() {
                    bytes.push(u8::from_str_radix(b, 16).unwrap());
                }
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "unterminated hex block");
    blocks
}
