//! One module per `brygga` subcommand.

pub mod convert;
pub mod id;
pub mod mapping;
pub mod migrate;
pub mod synth;
pub mod validate_config;

use crate::cli::Command;
use crate::exit::{Failure, Outcome};

pub fn run(command: Command) -> Result<Outcome, Failure> {
    match command {
        Command::Convert(args) => convert::run(args),
        Command::Id(args) => id::run(args),
        Command::Mapping(args) => mapping::run(args),
        Command::Migrate(args) => migrate::run(args),
        Command::Synth(args) => synth::run(args),
        Command::ValidateConfig(args) => validate_config::run(args),
    }
}
