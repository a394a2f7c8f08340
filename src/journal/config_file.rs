//! The engine configuration a `config_epoch` record names, in a file of its
//! own beside the segments: `engine-config-{digest:016x}.bin`.
//!
//! Replaying a command under another config than the one it first ran
//! under can answer it differently (a limit lowered since rejects an order
//! that was acknowledged), and every later order id and fill shifts. So the
//! journal records which config was in force from where: a `config_epoch`
//! record holds the digest and length of the canonical encoding
//! ([`encode`]), and the encoding itself lives in this file (a config is
//! kilobytes; records are at most 72 bytes). The file is written, fsynced
//! and its directory fsynced before the record that names it is appended,
//! so a record never names a file that a crash can take away; a missing or
//! damaged file is corruption.
//!
//! The encoding is canonical: one config, one byte string. Symbols and
//! accounts are kept in config order (the engine's book order is the config
//! order, and a reordered config is another epoch, harmlessly).
//!
//! The file's layout and the body's are in `FORMAT.md` ("Config file",
//! "Config body"), checked against this module by `tests/journal/codec.rs`.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::engine::{AccountSpec, EngineConfig, RiskLimits, StpMode, SymbolSpec};

use super::layout::{get_u16, get_u32, get_u64, put_u16, put_u32, put_u64};
use super::segment::sync_dir;
use super::{io_error, ConfigEpoch, JournalError};

pub const FILE_MAGIC: [u8; 8] = *b"TRDSECFG";
pub const FILE_VERSION: u16 = 1;
const F_VERSION: usize = 8;
const F_RESERVED: usize = 10;
const F_LEN: usize = 12;
const F_DIGEST: usize = 16;
const F_BODY: usize = 24;
const CRC_BYTES: usize = 4;

const BODY_HEADER: usize = 16;
const SYMBOL_BYTES: usize = 32;
const ACCOUNT_BYTES: usize = 48;

/// `engine-config-{digest:016x}.bin`.
pub fn file_name(digest: u64) -> String {
    let name = format!("engine-config-{digest:016x}.bin");
    debug_assert!(is_file_name(&name), "{name}");
    name
}

/// Whether `name` is a [`file_name`]: sixteen lowercase hex digits between
/// the prefix and the suffix.
pub fn is_file_name(name: &str) -> bool {
    name.strip_prefix("engine-config-")
        .and_then(|rest| rest.strip_suffix(".bin"))
        .is_some_and(|hex| {
            hex.len() == 16
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// FNV-1a, 64 bits: names a config, it does not protect it (the file's
/// CRC32C does). Two different configs of one shard sharing a digest is a
/// 2^-64 event, and [`write`] refuses rather than overwrite.
pub fn digest(body: &[u8]) -> u64 {
    body.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The canonical encoding of `config` (the file's body).
pub fn encode(config: &EngineConfig) -> Vec<u8> {
    // The counts are stored as u32 words.
    assert!(config.symbols.len() <= u32::MAX as usize);
    assert!(config.accounts.len() <= u32::MAX as usize);
    let len =
        BODY_HEADER + SYMBOL_BYTES * config.symbols.len() + ACCOUNT_BYTES * config.accounts.len();
    let mut out = Vec::with_capacity(len);
    let u32le = |out: &mut Vec<u8>, v: u32| out.extend_from_slice(&v.to_le_bytes());
    let u64le = |out: &mut Vec<u8>, v: u64| out.extend_from_slice(&v.to_le_bytes());
    u32le(&mut out, config.order_capacity);
    u32le(&mut out, config.max_levels_per_side);
    u32le(&mut out, config.symbols.len() as u32);
    u32le(&mut out, config.accounts.len() as u32);
    for s in &config.symbols {
        u32le(&mut out, s.id);
        u32le(&mut out, s.price_band_bps);
        u64le(&mut out, s.tick_size as u64);
        u64le(&mut out, s.lot_size);
        u64le(&mut out, s.reference_price as u64);
    }
    for a in &config.accounts {
        u32le(&mut out, a.id);
        u32le(&mut out, a.limits.max_open_orders);
        u64le(&mut out, a.limits.max_order_qty);
        out.extend_from_slice(&a.limits.max_order_notional.to_le_bytes());
        u64le(&mut out, a.limits.max_position);
        out.push(a.default_stp as u8);
        out.extend_from_slice(&[0; 7]);
    }
    debug_assert_eq!(out.len(), len, "every body byte written");
    out
}

/// Reads a body back. Refuses anything the engine would not be built
/// from (zero tick or lot, duplicate ids, an unknown STP mode), so a file
/// whose CRC holds can still not crash a replay.
pub fn decode(body: &[u8]) -> Result<EngineConfig, ConfigFileProblem> {
    let bad = |field: &'static str, value: u64| ConfigFileProblem::BadField { field, value };
    if body.len() < BODY_HEADER {
        return Err(bad("body length", body.len() as u64));
    }
    let symbols = get_u32(body, 8) as usize;
    let accounts = get_u32(body, 12) as usize;
    let expected = BODY_HEADER as u64
        + SYMBOL_BYTES as u64 * symbols as u64
        + ACCOUNT_BYTES as u64 * accounts as u64;
    if expected != body.len() as u64 {
        return Err(bad("body length", body.len() as u64));
    }
    // Engine::new's limits: a book index is a u16, and (book, account
    // index) packs into a u32 owner word.
    let account_bits = accounts.max(1).next_power_of_two().trailing_zeros();
    if symbols > u16::MAX as usize || (symbols as u64) << account_bits > u32::MAX as u64 {
        return Err(bad("symbol count", symbols as u64));
    }
    let mut config = EngineConfig {
        symbols: Vec::with_capacity(symbols),
        accounts: Vec::with_capacity(accounts),
        order_capacity: get_u32(body, 0),
        max_levels_per_side: get_u32(body, 4),
    };
    let mut at = BODY_HEADER;
    for _ in 0..symbols {
        let spec = SymbolSpec {
            id: get_u32(body, at),
            price_band_bps: get_u32(body, at + 4),
            tick_size: get_u64(body, at + 8) as i64,
            lot_size: get_u64(body, at + 16),
            reference_price: get_u64(body, at + 24) as i64,
        };
        if spec.tick_size <= 0 {
            return Err(bad("tick_size", spec.tick_size as u64));
        }
        if spec.lot_size == 0 {
            return Err(bad("lot_size", 0));
        }
        config.symbols.push(spec);
        at += SYMBOL_BYTES;
    }
    for _ in 0..accounts {
        config
            .accounts
            .push(decode_account(&body[at..at + ACCOUNT_BYTES])?);
        at += ACCOUNT_BYTES;
    }
    let mut ids: Vec<u32> = config.symbols.iter().map(|s| s.id).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(bad("duplicate symbol id", w[0] as u64));
    }
    let mut ids: Vec<u32> = config.accounts.iter().map(|a| a.id).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(bad("duplicate account id", w[0] as u64));
    }
    assert_eq!(at, body.len(), "every body byte read");
    // Canonical: the config decoded encodes to the very bytes it came from
    // (debug builds only: it encodes the whole config again, at each start).
    debug_assert_eq!(encode(&config), body);
    Ok(config)
}

/// One account entry of the body.
fn decode_account(entry: &[u8]) -> Result<AccountSpec, ConfigFileProblem> {
    assert_eq!(entry.len(), ACCOUNT_BYTES);
    let bad = |field: &'static str, value: u64| ConfigFileProblem::BadField { field, value };
    let stp = entry[40];
    let mut notional = [0u8; 16];
    notional.copy_from_slice(&entry[16..32]);
    if let Some(&b) = entry[41..48].iter().find(|&&b| b != 0) {
        return Err(bad("reserved", b as u64));
    }
    Ok(AccountSpec {
        id: get_u32(entry, 0),
        limits: RiskLimits {
            max_order_qty: get_u64(entry, 8),
            max_order_notional: u128::from_le_bytes(notional),
            max_open_orders: get_u32(entry, 4),
            max_position: get_u64(entry, 32),
        },
        default_stp: StpMode::from_u8(stp).ok_or(bad("default_stp", stp as u64))?,
    })
}

/// Why the file a `config_epoch` record names cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigFileProblem {
    Missing,
    /// Any other error opening or reading it (errno).
    Unreadable(i32),
    TooShort(u64),
    BadMagic,
    UnsupportedVersion(u16),
    BadCrc,
    /// The file's intact content disagrees with the record that names it.
    Mismatch {
        field: &'static str,
        record: u64,
        file: u64,
    },
    /// The CRC holds but a value is outside its domain.
    BadField {
        field: &'static str,
        value: u64,
    },
}

impl fmt::Display for ConfigFileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ConfigFileProblem::Missing => write!(f, "the file is missing"),
            ConfigFileProblem::Unreadable(errno) => {
                write!(f, "cannot read it: {}", io::Error::from_raw_os_error(errno))
            }
            ConfigFileProblem::TooShort(n) => write!(f, "the file is only {n} bytes"),
            ConfigFileProblem::BadMagic => write!(f, "not an engine config file (magic)"),
            ConfigFileProblem::UnsupportedVersion(v) => {
                write!(f, "unsupported config file version {v}")
            }
            ConfigFileProblem::BadCrc => write!(f, "config file CRC mismatch"),
            ConfigFileProblem::Mismatch {
                field,
                record,
                file,
            } => write!(
                f,
                "the record says {field} {record:#x}, the file holds {file:#x}"
            ),
            ConfigFileProblem::BadField { field, value } => {
                write!(f, "bad {field} value {value} in the config file")
            }
        }
    }
}

/// The verified body of the file `epoch` names.
pub(crate) fn read_body(dir: &Path, epoch: ConfigEpoch) -> Result<Vec<u8>, ConfigFileProblem> {
    let bytes = fs::read(dir.join(file_name(epoch.digest))).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ConfigFileProblem::Missing,
        _ => ConfigFileProblem::Unreadable(e.raw_os_error().unwrap_or(libc::EIO)),
    })?;
    if bytes.len() < F_BODY + CRC_BYTES {
        return Err(ConfigFileProblem::TooShort(bytes.len() as u64));
    }
    if bytes[..8] != FILE_MAGIC {
        return Err(ConfigFileProblem::BadMagic);
    }
    let len = get_u32(&bytes, F_LEN) as usize;
    let crc_at = F_BODY as u64 + len as u64;
    if bytes.len() as u64 != crc_at + CRC_BYTES as u64 {
        // A length word that does not match the file is damage the CRC
        // would catch too; reported as such.
        return Err(ConfigFileProblem::BadCrc);
    }
    let crc_at = crc_at as usize;
    if crc32c::crc32c(&bytes[..crc_at]) != get_u32(&bytes, crc_at) {
        return Err(ConfigFileProblem::BadCrc);
    }
    let version = get_u16(&bytes, F_VERSION);
    if version != FILE_VERSION {
        return Err(ConfigFileProblem::UnsupportedVersion(version));
    }
    let reserved = get_u16(&bytes, F_RESERVED);
    if reserved != 0 {
        return Err(ConfigFileProblem::BadField {
            field: "reserved",
            value: reserved as u64,
        });
    }
    let body = &bytes[F_BODY..crc_at];
    let mismatch = |field, record: u64, file: u64| {
        (record != file).then_some(ConfigFileProblem::Mismatch {
            field,
            record,
            file,
        })
    };
    if let Some(problem) = mismatch("config_bytes", epoch.config_bytes as u64, len as u64)
        .or_else(|| mismatch("digest", epoch.digest, get_u64(&bytes, F_DIGEST)))
        .or_else(|| mismatch("digest", epoch.digest, digest(body)))
    {
        return Err(problem);
    }
    debug_assert_eq!(body.len(), epoch.config_bytes as usize);
    Ok(body.to_vec())
}

/// The configuration the file named by `epoch` holds, fully checked.
pub fn read(dir: &Path, epoch: ConfigEpoch) -> Result<EngineConfig, ConfigFileProblem> {
    let config = decode(&read_body(dir, epoch)?)?;
    // The epoch a start records for this config is the one that named it
    // (debug builds only: it encodes the config again).
    debug_assert_eq!(ConfigEpoch::of(&config), epoch);
    Ok(config)
}

/// Makes the file for `body` durable in `dir`: written under a temporary
/// name, fsynced, renamed, directory fsynced. A file already there with
/// the same body (a config the journal went back to) is kept.
pub(crate) fn write(dir: &Path, body: &[u8]) -> Result<ConfigEpoch, JournalError> {
    assert!(body.len() >= BODY_HEADER, "a config body has its counts");
    let epoch = ConfigEpoch {
        digest: digest(body),
        config_bytes: u32::try_from(body.len()).expect("a config encoding under 4 GiB"),
    };
    let path = dir.join(file_name(epoch.digest));
    match read_body(dir, epoch) {
        Ok(existing) if existing == body => {
            // Its rename may be visible but not yet durable (a start that
            // died between rename and directory fsync).
            sync_dir(dir).map_err(io_error(dir, "fsync"))?;
            return Ok(epoch);
        }
        Ok(_) => {
            return Err(JournalError::Io {
                path,
                op: "write config file",
                source: io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "an intact file of this digest holds another config",
                ),
            })
        }
        // Absent, or left damaged by something else: replaced whole.
        Err(_) => {}
    }
    let mut bytes = vec![0u8; F_BODY + body.len() + CRC_BYTES];
    bytes[..8].copy_from_slice(&FILE_MAGIC);
    put_u16(&mut bytes, F_VERSION, FILE_VERSION);
    put_u32(&mut bytes, F_LEN, epoch.config_bytes);
    put_u64(&mut bytes, F_DIGEST, epoch.digest);
    bytes[F_BODY..F_BODY + body.len()].copy_from_slice(body);
    let crc_at = F_BODY + body.len();
    let crc = crc32c::crc32c(&bytes[..crc_at]);
    put_u32(&mut bytes, crc_at, crc);
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    let mut file = File::create(&tmp).map_err(io_error(&tmp, "create config file"))?;
    file.write_all(&bytes)
        .map_err(io_error(&tmp, "write config file"))?;
    file.sync_all()
        .map_err(io_error(&tmp, "fsync config file"))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(io_error(&tmp, "rename config file"))?;
    sync_dir(dir).map_err(io_error(dir, "fsync"))?;
    // Written, then read back as replay will read it (debug builds only:
    // a second read of the file, at each start).
    debug_assert_eq!(read_body(dir, epoch).as_deref(), Ok(body));
    Ok(epoch)
}
