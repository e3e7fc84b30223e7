//! Swedish identifiers, typed: person ids (personnummer, samordningsnummer,
//! VGR reservnummer, SS 12000 temporary civic numbers), HSA-ids, and source
//! systems' own local ids. Every identifier entering Brygga is parsed here
//! once, into a value that is valid by construction, and every refusal says
//! which kind was tried, at which character, and why. Person ids never show
//! in full through Display, Debug or an error: only `YYYYMMDD-****`.
//!
//! Canonical NDJSON writes an identifier as
//! `{"system":"personnummer","value":"196408233234"}` or
//! `{"system":"local","namespace":"pmo:gotene","value":"123"}`, and reading
//! one validates it.

mod canonical;
mod error;
mod hsa;
mod person;

pub use error::{DatePart, IdError, IdErrorReason, TriedKind};
pub use hsa::HsaId;
pub use person::{Masked, PersonId, PersonIdKind, Sex};

/// A source system's own id for something, meaningful only within
/// `namespace` (e.g. `pmo:gotene` for one municipality's PMO installation).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalId {
    pub namespace: String,
    pub value: String,
}

/// Who a record is about, as the source knew them: a person id when it had
/// one, else its local id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identifier {
    Person(PersonId),
    Local(LocalId),
}
