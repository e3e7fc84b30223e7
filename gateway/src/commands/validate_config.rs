//! `brygga validate-config FILE` — checks a configuration file exactly as the
//! gateway loads it, but opens no store and no connection, so it can run in CI
//! or in a deployment pipeline before a restart.
//!
//! A good file prints `FILE: ok` and one line per section saying what the file
//! means, with defaults filled in and relative paths resolved (a PostgreSQL
//! password is masked). The first problem is one line on stderr,
//! `FILE:LINE:COLUMN: KEY: REASON`, and the exit code is 2.

use std::io::{self, Write};
use std::path::PathBuf;

use crate::config::Config;
use crate::exit::{Failure, Outcome};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The configuration file to check, e.g. config/brygga.toml.
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

pub fn run(args: Args) -> Result<Outcome, Failure> {
    let config = Config::load(&args.file)?;
    let mut out = io::stdout().lock();
    writeln!(out, "{}: ok", args.file.display())
        .and_then(|()| writeln!(out, "store: {}", config.store))
        .and_then(|()| writeln!(out, "log: {}", config.log))
        .and_then(|()| out.flush())
        .map_err(|e| Failure::io("<stdout>", e))?;
    Ok(Outcome::Clean)
}
