//! # brygga-adapters — the edges of Brygga
//!
//! One module per external system or file format. Each turns its bytes into
//! canonical records ([`brygga_mapping::model::Record`]) and back, and talks
//! only to the canonical model: an adapter never imports another adapter.
//!
//! The contract every format implements:
//!
//! - a [`Decoder`] yields records one at a time from a stream (bounded
//!   memory whatever the input size), reports each bad record as a
//!   [`Reject`] naming its position, field and reason and goes on with the
//!   next, and stops only on a [`Fatal`] error (unreadable or truncated
//!   input);
//! - an [`Encoder`] writes records and refuses, per record, what its format
//!   cannot express;
//! - a [`Format`] names the format and builds both; it is registered once in
//!   [`registry`], and nothing else changes when a format is added.
//!
//! `docs/adding-an-adapter.md` walks through adding one.

pub mod bhv;
pub mod canonical;
pub mod fhir;
pub mod pmo;
pub mod prorenata;
pub mod registry;
pub mod stream;
pub mod xml;

use std::fmt;
use std::io::{self, BufRead, Write};
use std::path::Path;

use std::sync::Arc;

use brygga_mapping::model::Record;
use brygga_mapping::profile::{Profile, ProfileError};

/// Where in an input a record starts: its 1-based number among the input's
/// records and, where the format can tell, its line and byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// 1-based record number within the input.
    pub record: u64,
    /// 1-based line, for line-oriented and XML formats.
    pub line: Option<u64>,
    /// Byte offset of the record's start.
    pub offset: Option<u64>,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record {}", self.record)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        Ok(())
    }
}

/// One record that could not be decoded. The rest of the input is still read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub position: Position,
    /// The record's kind in the source's own terms, when known (e.g.
    /// `journal_entry`, `<note>`).
    pub record_kind: Option<String>,
    /// Dotted path of the offending field, when one field is to blame.
    pub field: Option<String>,
    pub reason: String,
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.position)?;
        if let Some(kind) = &self.record_kind {
            write!(f, " {kind}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ", field {field}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// The input cannot be read any further (I/O error, truncated or hostile
/// document). Records already yielded stand.
#[derive(Debug)]
pub struct Fatal {
    pub position: Position,
    pub reason: String,
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.position, self.reason)
    }
}

/// What a decoder yields besides records.
#[derive(Debug)]
pub enum DecodeError {
    Reject(Reject),
    Fatal(Fatal),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Reject(r) => r.fmt(f),
            DecodeError::Fatal(e) => e.fmt(f),
        }
    }
}

/// Reads one input as a stream of canonical records.
pub trait Decoder: Send {
    /// The next record, a rejected record, or `None` at the end of the input.
    /// After a [`DecodeError::Fatal`] the decoder yields `None`.
    fn next_record(&mut self) -> Option<Result<Record, DecodeError>>;
}

/// Why an encoder did not write a record.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The format cannot express this record (a permanent, per-record error).
    #[error("{0}")]
    Unsupported(String),
    /// Writing failed; the output is unusable.
    #[error("write failed: {0}")]
    Io(#[from] io::Error),
}

/// Writes canonical records in one format.
pub trait Encoder: Send {
    fn encode(&mut self, record: &Record) -> Result<(), EncodeError>;
    /// Writes whatever closes the document and flushes.
    fn finish(self: Box<Self>) -> io::Result<()>;
    /// The part of encoding a batch that needs nothing of the encoder's
    /// state, for a job to run on other threads ahead of
    /// [`encode_prepared`](Encoder::encode_prepared); `None` (the default)
    /// when the format has no such part worth splitting off.
    fn preparer(&self) -> Option<Arc<dyn stream::Prepare>> {
        None
    }
    /// Encodes `batch`, which this encoder's [`preparer`](Encoder::preparer)
    /// turned into `prepared`; one answer per record, as
    /// [`encode`](Encoder::encode) would give. The default encodes record by
    /// record.
    fn encode_prepared(
        &mut self,
        batch: &[Record],
        prepared: stream::Prepared,
    ) -> Vec<Result<(), EncodeError>> {
        let _ = prepared;
        batch.iter().map(|record| self.encode(record)).collect()
    }
}

/// A readable and/or writable format, registered in [`registry`].
pub trait Format: Sync {
    /// The name used on the command line (`--from`, `--to`).
    fn name(&self) -> &'static str;
    /// One line for `--help` and error messages.
    fn description(&self) -> &'static str;
    /// File extension of one output file, without the dot.
    fn extension(&self) -> &'static str;
    /// The source system kind whose mapping profiles this format uses
    /// (`pmo`, `prorenata`, `bhv`), or `None` when it needs none.
    fn profile_system(&self) -> Option<&'static str>;
    /// The `[elements]` keys this format reads from a mapping profile (its
    /// configurable element or field names). A profile naming any other key
    /// is refused when the format is set up, naming that key; see
    /// [`check_profile`](Format::check_profile).
    fn element_keys(&self) -> &'static [&'static str] {
        &[]
    }
    /// Checks that `profile` fits this format: written for its system kind,
    /// and naming only [`element_keys`](Format::element_keys). Callers run it
    /// once, before the first record.
    fn check_profile(&self, profile: &Profile) -> Result<(), ProfileError> {
        if let Some(system) = self.profile_system() {
            profile.check_system(system)?;
        }
        profile.check_elements(self.element_keys())
    }
    /// A decoder reading `input`, classifying source codes with `profile`.
    fn decoder(&self, input: Box<dyn BufRead + Send>, profile: Arc<Profile>) -> Box<dyn Decoder>;
    /// An encoder writing to `output`, naming codes as `profile` does.
    fn encoder(&self, output: Box<dyn Write + Send>, profile: Arc<Profile>) -> Box<dyn Encoder>;
    /// Whether this format's natural output is a directory of several files
    /// (FHIR bulk data: one file per resource type) rather than one file.
    /// Such a format implements [`directory_encoder`](Format::directory_encoder);
    /// its [`encoder`](Format::encoder) still writes everything to one stream.
    fn writes_directory(&self) -> bool {
        false
    }
    /// An encoder filling the existing, empty directory `dir`; only for
    /// formats whose [`writes_directory`](Format::writes_directory) is true.
    fn directory_encoder(&self, dir: &Path, profile: Arc<Profile>) -> io::Result<Box<dyn Encoder>> {
        let _ = (dir, profile);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{} writes one file, not a directory", self.name()),
        ))
    }
}

/// `docs/adding-an-adapter.md`, whose example adapter is compiled and run as
/// a doctest so the walkthrough stays true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/adding-an-adapter.md")]
pub struct AddingAnAdapterGuide;
