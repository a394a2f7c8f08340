//! The wire protocol tests, one binary (`cargo test --test protocol`): the
//! layout and the docs held together, encode/decode round trips, conversion
//! to and from engine types, and random bytes never panicking the decoder.

#[path = "../support/doc_tables.rs"]
mod doc_tables;

mod convert;
mod decode_props;
mod doc;
mod layout;
mod roundtrip;
