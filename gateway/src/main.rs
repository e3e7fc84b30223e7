//! `brygga` — the command municipal IT, integration engineers and migration teams run.
//!
//! This file only parses the command line, sets up logging and turns the outcome
//! of a subcommand into an exit code; each subcommand lives in `commands/`.
//! Exit codes are part of the interface (scripts depend on them) and are listed
//! in [`exit::Outcome`] and [`exit::Failure`] and in `docs/cli.md`.

mod cli;
mod commands;
mod config;
mod exit;
mod logging;
mod migrate;
mod synth;
mod target;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the system allocator: the migration allocates on
/// several threads and frees across them, which glibc's malloc does
/// slowly (it was a third of the merge's CPU time; docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    logging::init(cli.log_level, cli.log_format);
    match commands::run(cli.command) {
        Ok(outcome) => outcome.exit_code(),
        Err(failure) => {
            eprintln!("brygga: {failure}");
            failure.exit_code()
        }
    }
}
