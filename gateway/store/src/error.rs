//! What can go wrong in the store, said in one line: which store, what it was
//! doing, and why — `postgres store db.kommun.example:5432/brygga: open: …`.
//!
//! Messages never carry a password (a PostgreSQL URL is never repeated, only
//! its hosts and database), nor a stored value: PostgreSQL's `DETAIL` lines,
//! which can quote a row, are left out, and a conflicting report row is named
//! by its place in the batch, not by its key (which may hold a pupil's id).

use std::fmt;
use std::sync::Arc;

use crate::JobId;

/// Which kind of database a store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// The embedded store: one SQLite file.
    Sqlite,
    /// A PostgreSQL database, possibly shared by several instances.
    Postgres,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Sqlite => "sqlite",
            BackendKind::Postgres => "postgres",
        })
    }
}

/// A failed store operation. `Display` is one line:
/// `BACKEND store WHERE: OPERATION: CAUSE`.
#[derive(Debug)]
pub struct StoreError {
    backend: BackendKind,
    location: Arc<str>,
    operation: &'static str,
    kind: ErrorKind,
}

impl StoreError {
    pub(crate) fn new(
        backend: BackendKind,
        location: Arc<str>,
        operation: &'static str,
        kind: ErrorKind,
    ) -> Self {
        StoreError {
            backend,
            location,
            operation,
            kind,
        }
    }

    /// The backend that failed.
    pub fn backend(&self) -> BackendKind {
        self.backend
    }

    /// What the store was doing, e.g. `open` or `commit`.
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// Why it failed, for callers that act on the reason.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} store", self.backend)?;
        if !self.location.is_empty() {
            write!(f, " {}", self.location)?;
        }
        write!(f, ": {}: {}", self.operation, self.kind)
    }
}

impl std::error::Error for StoreError {}

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The database was written by a newer Brygga. A store is never
    /// downgraded: run the newer version (or restore a backup of the old).
    #[error(
        "the database has schema version {found}, newer than version {known} that this brygga knows; use the brygga that wrote it"
    )]
    SchemaTooNew { found: i64, known: u32 },
    /// A numbered schema migration could not be applied; nothing of it was.
    #[error("schema migration {version} ({name}) failed: {cause}")]
    Migration {
        version: u32,
        name: &'static str,
        cause: String,
    },
    /// SQLite refused write-ahead logging, which the store's durability and
    /// concurrent reading rely on; usually a network filesystem.
    #[error(
        "the database cannot use write-ahead logging (journal mode stays {mode:?}); keep the file on a local filesystem"
    )]
    NoWriteAheadLog { mode: String },
    /// The file's directory could not be created or the file not prepared.
    #[error("{0}")]
    Filesystem(String),
    /// The PostgreSQL URL could not be used (its text is not repeated).
    #[error("{0}")]
    Url(String),
    /// The database could not be reached.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The database refused or failed a statement.
    #[error("{0}")]
    Database(String),
    /// A job with this key exists, but for another kind of job or another
    /// plan: the key is meant to be a hash of the plan, so a caller bug.
    #[error("a job with this key already exists with a different kind or plan")]
    JobMismatch,
    /// No job has this id in this store.
    #[error("no job {0} in this store")]
    JobNotFound(JobId),
    /// A report row's key is already stored with different content. A
    /// resumed job must append exactly what it appended before; anything else
    /// means its output is not deterministic. The whole batch was refused.
    #[error(
        "report row {index} of the batch has the key of a stored row but different content; nothing of the batch was written"
    )]
    ReportRowConflict { index: usize },
    /// The caller passed something the store does not keep (an empty name,
    /// a NUL character); nothing was written.
    #[error("{0}")]
    Invalid(String),
    /// Something in the database could not be read back as written.
    #[error("unreadable stored data: {0}")]
    Corrupt(String),
    /// The worker running the operation stopped (a panic or shutdown).
    #[error("the operation was interrupted: {0}")]
    Interrupted(String),
}

/// Joins a multi-line message (SQLite and PostgreSQL both write some) into
/// the one line every store message is.
pub(crate) fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_backend_location_operation_and_cause() {
        let error = StoreError::new(
            BackendKind::Sqlite,
            Arc::from("/var/lib/brygga/brygga.sqlite"),
            "open",
            ErrorKind::SchemaTooNew { found: 9, known: 1 },
        );
        assert_eq!(
            error.to_string(),
            "sqlite store /var/lib/brygga/brygga.sqlite: open: the database has schema version 9, newer than version 1 that this brygga knows; use the brygga that wrote it"
        );
        assert_eq!(error.backend(), BackendKind::Sqlite);
        assert_eq!(error.operation(), "open");
    }

    #[test]
    fn a_location_may_be_unknown() {
        let error = StoreError::new(
            BackendKind::Postgres,
            Arc::from(""),
            "open",
            ErrorKind::Url("not a PostgreSQL URL".to_owned()),
        );
        assert_eq!(
            error.to_string(),
            "postgres store: open: not a PostgreSQL URL"
        );
    }

    #[test]
    fn messages_are_joined_into_one_line() {
        assert_eq!(one_line("a\n  b\r\nc "), "a b c");
    }
}
