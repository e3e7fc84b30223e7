//! How a `brygga` run ends, and the exit code that says so.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done; every input was accepted |
//! | 1 | done; some input was invalid or rejected (each one was reported) |
//! | 2 | not started: bad command line or configuration |
//! | 3 | failed part-way: an I/O, store or destination error stopped the job |

use std::path::PathBuf;
use std::process::ExitCode;

/// A run that finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was accepted.
    Clean,
    /// The job finished, but some input was invalid and was reported.
    Rejected,
}

impl Outcome {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Clean => ExitCode::SUCCESS,
            Outcome::Rejected => ExitCode::from(1),
        }
    }
}

/// A run that could not finish. The `Display` text is the one line the user sees.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The command line or a configuration file is wrong; nothing was done.
    #[error("{0}")]
    Usage(String),
    /// A configuration file is missing, unreadable or invalid; nothing was done.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A job (a migration) could not go on: its store, its work files or
    /// its target failed. Rerunning the same command resumes it.
    #[error("{0}")]
    Job(String),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Failure {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Failure::Io {
            path: path.into(),
            source,
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Usage(_) | Failure::Config(_) => ExitCode::from(2),
            Failure::Io { .. } | Failure::Job(_) => ExitCode::from(3),
        }
    }
}
