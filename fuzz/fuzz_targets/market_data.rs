//! Arbitrary bytes to the market-data readers: as a stream of binary
//! messages (what a client decodes) and as a JSON control message (what
//! the gateway parses). Never a panic; a decoded message re-encodes its
//! framing consistently (length = block + entries), a parsed request stays
//! within its bounds, and every refusal renders as an error answer.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tradsys::protocol::market_data::*;

fn binary(mut data: &[u8]) {
    loop {
        match decode_md(data) {
            Ok(decoded) => {
                assert!(decoded.len >= MD_HEADER_LEN && decoded.len <= data.len());
                let header = decoded.message.header();
                assert_eq!(header.length.get() as usize, decoded.len);
                assert!(header.entry_count.get() as usize <= MAX_ENTRIES_PER_MESSAGE);
                data = &data[decoded.len..];
            }
            Err(MdDecodeError::Incomplete { needed }) => {
                assert!(needed > data.len());
                return;
            }
            Err(_) => return,
        }
    }
}

fn control(data: &[u8]) {
    let mut out = [0u8; 1024];
    match parse_control(data) {
        Ok(request) => {
            assert!(!request.symbols().is_empty());
            assert!(request.symbols().len() <= MAX_SYMBOLS_PER_REQUEST);
            assert!(!request.channels.is_empty());
            assert!(request.req_id.is_none_or(|id| id <= MAX_REQ_ID));
        }
        Err(error) => {
            render_error(&error, None, None, &mut out).expect("an error answer fits 1 KiB");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    binary(data);
    control(data);
});
