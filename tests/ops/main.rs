//! Operations tests, one binary (`cargo test --test ops`): config
//! validation, the CLI (`--version`, log formats), `tradsys doctor`, the
//! tuning scripts and the systemd units.

mod cli_version_logs;
mod config_validation;
mod doctor;
mod memlock_start;
mod reactor_doctor;
mod tuning;
mod units;
