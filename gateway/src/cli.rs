//! The command line, as clap parses it. Each subcommand's arguments live with
//! the subcommand in `commands/`.

use clap::{Parser, Subcommand};

use crate::commands;
use crate::logging::{LogFormat, LogLevel};

/// Brygga: integration and message conversion for Swedish pupil health.
#[derive(Debug, Parser)]
#[command(name = "brygga", version, about, propagate_version = true)]
pub struct Cli {
    /// How much to log on standard error (RUST_LOG overrides).
    #[arg(long, global = true, value_enum, default_value = "warn")]
    pub log_level: LogLevel,
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Convert files between formats through the canonical model; rejected records go to a rejects file.
    Convert(commands::convert::Args),
    /// Check Swedish identifiers: prints kind and normalised form, one line each.
    Id(commands::id::Args),
    /// Mapping profiles: run a profile's golden vectors.
    Mapping(commands::mapping::Args),
    /// Merge every source's history into one chronological journal per pupil, resumably.
    Migrate(commands::migrate::Args),
    /// Write a deterministic synthetic municipality (only synthetic identities).
    Synth(commands::synth::Args),
    /// Check a configuration file and report the first problem with file, line and key.
    ValidateConfig(commands::validate_config::Args),
}
