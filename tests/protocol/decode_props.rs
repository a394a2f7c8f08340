//! Decoding untrusted bytes: never panics, never reads past the buffer,
//! and every outcome is the one the framing rules of `docs/PROTOCOL.md`
//! (section 3) dictate, checked against an independent model of them.

use proptest::prelude::*;
use tradsys::protocol::*;

/// `(msg_type, length)` of every message, per direction, from the doc's
/// message index (section 6), written out independently of the code.
const CLIENT_TYPES: [(u8, usize); 13] = [
    (0x01, 56),
    (0x02, 8),
    (0x03, 8),
    (0x04, 48),
    (0x05, 32),
    (0x06, 48),
    (0x07, 24),
    (0x08, 32),
    (0x09, 32),
    (0x0A, 32),
    (0x0B, 24),
    (0x0C, 24),
    (0x0D, 32),
];
const GATEWAY_TYPES: [(u8, usize); 17] = [
    (0x81, 24),
    (0x82, 16),
    (0x83, 8),
    (0x84, 72),
    (0x85, 48),
    (0x86, 88),
    (0x87, 64),
    (0x88, 80),
    (0x89, 56),
    (0x8A, 32),
    (0x8B, 72),
    (0x8C, 16),
    (0x8D, 64),
    (0x8E, 40),
    (0x8F, 24),
    (0x90, 32),
    (0x91, 80),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Client,
    Gateway,
}

impl Direction {
    fn types(self) -> &'static [(u8, usize)] {
        match self {
            Direction::Client => &CLIENT_TYPES,
            Direction::Gateway => &GATEWAY_TYPES,
        }
    }

    /// `Ok((msg_type, len))` or the error, as the real decoder reports it.
    fn decode(self, buf: &[u8]) -> Result<(u8, usize), DecodeError> {
        match self {
            Direction::Client => decode_client(buf).map(|d| {
                assert_eq!(d.message.header().length.get() as usize, d.len);
                (d.message.header().msg_type, d.len)
            }),
            Direction::Gateway => decode_gateway(buf).map(|d| {
                assert_eq!(d.message.header().length.get() as usize, d.len);
                (d.message.header().msg_type, d.len)
            }),
        }
    }
}

/// Section 3 of the doc, step by step.
fn model(direction: Direction, buf: &[u8]) -> Result<(u8, usize), DecodeError> {
    if buf.len() < 8 {
        return Err(DecodeError::Incomplete { needed: 8 });
    }
    let length = u16::from_le_bytes([buf[0], buf[1]]);
    let (msg_type, version) = (buf[2], buf[3]);
    if !(8..=256).contains(&length) {
        return Err(DecodeError::BadLength { length });
    }
    if version != 2 {
        return Err(DecodeError::WrongVersion { version });
    }
    let Some(&(_, fixed)) = direction.types().iter().find(|(t, _)| *t == msg_type) else {
        return Err(DecodeError::UnknownType { msg_type });
    };
    if usize::from(length) != fixed {
        return Err(DecodeError::LengthMismatch {
            msg_type,
            expected: fixed as u16,
            got: length,
        });
    }
    if buf.len() < fixed {
        return Err(DecodeError::Incomplete { needed: fixed });
    }
    Ok((msg_type, fixed))
}

fn header(length: u16, msg_type: u8, version: u8, seq: u32) -> [u8; 8] {
    let mut h = [0u8; 8];
    h[..2].copy_from_slice(&length.to_le_bytes());
    h[2] = msg_type;
    h[3] = version;
    h[4..].copy_from_slice(&seq.to_le_bytes());
    h
}

fn any_direction() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(Direction::Client), Just(Direction::Gateway)]
}

/// A well-framed message of `direction` with arbitrary body bytes, and
/// the `(msg_type, length)` it was built for.
fn valid_message(direction: Direction) -> impl Strategy<Value = (Vec<u8>, u8, usize)> {
    (
        0..direction.types().len(),
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 88),
    )
        .prop_map(move |(i, seq, body)| {
            let (msg_type, len) = direction.types()[i];
            let mut bytes = header(len as u16, msg_type, 2, seq).to_vec();
            bytes.extend_from_slice(&body[..len - 8]);
            (bytes, msg_type, len)
        })
}

/// Mostly-plausible headers so that the deeper checks are reached often;
/// uniformly random bytes would almost always stop at BadLength.
fn plausible_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![0u16..=300, any::<u16>()],
        prop_oneof![0x00u8..=0x0E, 0x80u8..=0x92, any::<u8>()],
        prop_oneof![3 => Just(2u8), 1 => any::<u8>()],
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 0..300),
        0usize..600,
    )
        .prop_map(|(length, msg_type, version, seq, body, cut)| {
            let mut bytes = header(length, msg_type, version, seq).to_vec();
            bytes.extend(body);
            bytes.truncate(cut);
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_decode_exactly_as_the_framing_rules_say(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        direction in any_direction(),
    ) {
        let result = direction.decode(&bytes);
        if let Ok((_, len)) = result {
            prop_assert!(len <= bytes.len());
        }
        prop_assert_eq!(result, model(direction, &bytes));
    }

    #[test]
    fn plausible_bytes_decode_exactly_as_the_framing_rules_say(
        bytes in plausible_bytes(),
        direction in any_direction(),
    ) {
        let result = direction.decode(&bytes);
        if let Ok((_, len)) = result {
            prop_assert!(len <= bytes.len());
        }
        prop_assert_eq!(result, model(direction, &bytes));
    }

    #[test]
    fn a_valid_message_cut_short_anywhere_is_incomplete(
        (direction, (bytes, _, len)) in any_direction()
            .prop_flat_map(|d| (Just(d), valid_message(d)))
    ) {
        prop_assert!(direction.decode(&bytes).is_ok());
        for cut in 0..len {
            let needed = if cut < 8 { 8 } else { len };
            prop_assert_eq!(
                direction.decode(&bytes[..cut]),
                Err(DecodeError::Incomplete { needed }),
                "cut at {}", cut
            );
        }
    }

    #[test]
    fn trailing_bytes_are_left_for_the_next_message(
        (direction, (bytes, msg_type, len)) in any_direction()
            .prop_flat_map(|d| (Just(d), valid_message(d))),
        trailing in prop::collection::vec(any::<u8>(), 0..100),
    ) {
        let mut stream = bytes;
        stream.extend(trailing);
        prop_assert_eq!(direction.decode(&stream), Ok((msg_type, len)));
    }

    #[test]
    fn a_wrong_version_is_reported_as_such(
        (direction, (mut bytes, _, _)) in any_direction()
            .prop_flat_map(|d| (Just(d), valid_message(d))),
        version in any::<u8>().prop_filter("not the version", |v| *v != PROTOCOL_VERSION),
    ) {
        bytes[3] = version;
        prop_assert_eq!(direction.decode(&bytes), Err(DecodeError::WrongVersion { version }));
        // Reported from the header alone, without the body.
        prop_assert_eq!(direction.decode(&bytes[..8]), Err(DecodeError::WrongVersion { version }));
    }

    #[test]
    fn a_type_of_the_other_direction_or_no_direction_is_unknown(
        (direction, (mut bytes, _, _)) in any_direction()
            .prop_flat_map(|d| (Just(d), valid_message(d))),
        msg_type in any::<u8>(),
    ) {
        prop_assume!(direction.types().iter().all(|(t, _)| *t != msg_type));
        bytes[2] = msg_type;
        prop_assert_eq!(direction.decode(&bytes), Err(DecodeError::UnknownType { msg_type }));
        prop_assert_eq!(direction.decode(&bytes[..8]), Err(DecodeError::UnknownType { msg_type }));
    }

    #[test]
    fn a_plausible_but_wrong_length_is_a_mismatch(
        (direction, (mut bytes, msg_type, len)) in any_direction()
            .prop_flat_map(|d| (Just(d), valid_message(d))),
        length in 8u16..=256,
    ) {
        prop_assume!(usize::from(length) != len);
        bytes[..2].copy_from_slice(&length.to_le_bytes());
        bytes.resize(300, 0);
        prop_assert_eq!(
            direction.decode(&bytes),
            Err(DecodeError::LengthMismatch { msg_type, expected: len as u16, got: length })
        );
    }

    #[test]
    fn an_impossible_length_is_bad(
        (direction, (mut bytes, _, _)) in any_direction()
            .prop_flat_map(|d| (Just(d), valid_message(d))),
        length in prop_oneof![0u16..8, 257u16..=u16::MAX],
    ) {
        bytes[..2].copy_from_slice(&length.to_le_bytes());
        prop_assert_eq!(direction.decode(&bytes), Err(DecodeError::BadLength { length }));
        prop_assert_eq!(direction.decode(&bytes[..8]), Err(DecodeError::BadLength { length }));
    }
}

#[test]
fn a_stream_of_back_to_back_messages_decodes_one_by_one() {
    let mut stream = [0u8; 256];
    let mut at = 0;
    at += encode(
        &LogonMsg::new(1, b"t", 0, false).unwrap(),
        1,
        &mut stream[at..],
    )
    .unwrap();
    at += encode(&ClientHeartbeatMsg::new(), 2, &mut stream[at..]).unwrap();
    at += encode(&CancelOrderMsg::new(5, 6, 7), 3, &mut stream[at..]).unwrap();
    let mut seqs = Vec::new();
    let mut rest = &stream[..at];
    while !rest.is_empty() {
        let decoded = decode_client(rest).unwrap();
        seqs.push(decoded.message.header().seq.get());
        rest = &rest[decoded.len..];
    }
    assert_eq!(seqs, [1, 2, 3]);
}

#[test]
fn every_framing_error_ends_the_session_with_its_own_reason() {
    use SessionEndReason::*;
    let cases = [
        (DecodeError::Incomplete { needed: 8 }, None),
        (DecodeError::BadLength { length: 0 }, Some(BadLength)),
        (
            DecodeError::UnknownType { msg_type: 0 },
            Some(UnknownMessageType),
        ),
        (DecodeError::WrongVersion { version: 0 }, Some(WrongVersion)),
        (
            DecodeError::LengthMismatch {
                msg_type: 1,
                expected: 56,
                got: 8,
            },
            Some(LengthMismatch),
        ),
    ];
    for (error, reason) in cases {
        assert_eq!(error.session_end_reason(), reason, "{error}");
    }
}
