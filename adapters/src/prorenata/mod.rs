//! ProRenata: a ProRenata-style school-health journal export in JSON.
//!
//! ProRenata publishes no export format, so Brygga defines one:
//! `docs/adapters/prorenata.md` describes it field by field and
//! `schemas/prorenata/prorenata.schema.json` is its JSON Schema. An export
//! is a run of self-contained JSON objects, one per record — persons,
//! organisations, contacts, journal notes with keyword-structured text
//! (sökord), measurements and vaccinations — each tagged by `objectType`
//! and carrying its patient's identifier and its source system. The records
//! come either as one JSON array or as NDJSON (one object per line); both
//! are read as a stream, one record at a time ([`split`]), and written as an
//! array with one record per line, which is valid JSON and line-oriented at
//! once.
//!
//! Everything a municipality names its own way goes through the mapping
//! profile: templates (note types), measurement names, staff titles and
//! journal names (secrecy domains); `[elements]` may rename the
//! discriminator field and the record types ([`Names`]).

mod decode;
mod encode;
mod split;
mod wire;

use std::io::{BufRead, Write};
use std::sync::Arc;

use brygga_mapping::profile::Profile;

use crate::{Decoder, Encoder, Format};

pub use split::DEFAULT_MAX_RECORD_BYTES;

/// The ProRenata-style JSON export.
#[derive(Debug)]
pub struct ProRenata;

impl Format for ProRenata {
    fn name(&self) -> &'static str {
        "prorenata"
    }

    fn description(&self) -> &'static str {
        "ProRenata-style school-health journal export: JSON objects, as one array or one per line"
    }

    fn extension(&self) -> &'static str {
        "json"
    }

    fn profile_system(&self) -> Option<&'static str> {
        Some("prorenata")
    }

    fn element_keys(&self) -> &'static [&'static str] {
        ELEMENT_KEYS
    }

    fn decoder(&self, input: Box<dyn BufRead + Send>, profile: Arc<Profile>) -> Box<dyn Decoder> {
        Box::new(decode::ProRenataDecoder::new(input, profile))
    }

    fn encoder(&self, output: Box<dyn Write + Send>, profile: Arc<Profile>) -> Box<dyn Encoder> {
        Box::new(encode::ProRenataEncoder::new(output, profile))
    }
}

/// The `[elements]` keys this format reads, in the order the documentation
/// lists them.
const ELEMENT_KEYS: &[&str] = &[
    "type_field",
    "person",
    "organisation",
    "contact",
    "journal_note",
    "measurement",
    "vaccination",
    "max_record_bytes",
];

/// The record kinds of the export, in the order of [`Names::kinds`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Person,
    Organisation,
    Contact,
    JournalNote,
    Measurement,
    Vaccination,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Person,
        Kind::Organisation,
        Kind::Contact,
        Kind::JournalNote,
        Kind::Measurement,
        Kind::Vaccination,
    ];
}

/// The names in force for the discriminator field and the record types:
/// the profile's `[elements]` value for each, else the default. Resolved
/// once, when a decoder or encoder is built.
#[derive(Debug, Clone)]
struct Names {
    /// The field every record starts with, naming its kind.
    type_field: Box<str>,
    /// The value of `type_field` for each [`Kind`], in [`Kind::ALL`] order.
    kinds: [Box<str>; 6],
}

impl Names {
    fn from_profile(profile: &Profile) -> Names {
        let name = |key, default| Box::<str>::from(profile.element(key, default));
        Names {
            type_field: name("type_field", "objectType"),
            kinds: [
                name("person", "person"),
                name("organisation", "organisation"),
                name("contact", "contact"),
                name("journal_note", "journalNote"),
                name("measurement", "measurement"),
                name("vaccination", "vaccination"),
            ],
        }
    }

    fn of(&self, kind: Kind) -> &str {
        &self.kinds[kind as usize]
    }

    /// The kind a `type_field` value names; the first wins if a profile
    /// gives two kinds the same name.
    fn kind(&self, value: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .zip(&self.kinds)
            .find(|(_, name)| &***name == value)
            .map(|(kind, _)| kind)
    }

    /// Every record type name, for messages.
    fn listed(&self) -> String {
        self.kinds.join(", ")
    }
}

/// The record size limit: the profile's `max_record_bytes`, else the
/// default; an unusable value is reported before the first record.
fn max_record_bytes(profile: &Profile) -> Result<usize, String> {
    let text = profile.element("max_record_bytes", "");
    if text.is_empty() {
        return Ok(DEFAULT_MAX_RECORD_BYTES);
    }
    match text.parse::<usize>() {
        Ok(bytes) if (1024..=1 << 30).contains(&bytes) => Ok(bytes),
        _ => Err(format!(
            "the profile's [elements] max_record_bytes {text:?} is not a number of bytes from 1024 to 1073741824"
        )),
    }
}

#[cfg(test)]
mod tests;
