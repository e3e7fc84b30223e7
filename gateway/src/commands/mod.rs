//! One module per `brygga` subcommand.

pub mod id;
pub mod synth;
pub mod validate_config;

use crate::cli::Command;
use crate::exit::{Failure, Outcome};

pub fn run(command: Command) -> Result<Outcome, Failure> {
    match command {
        Command::Id(args) => id::run(args),
        Command::Synth(args) => synth::run(args),
        Command::ValidateConfig(args) => validate_config::run(args),
    }
}
