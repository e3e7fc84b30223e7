//! # brygga-mapping — the canonical model
//!
//! Every Brygga adapter translates its system's format to and from the types in
//! this crate, and nothing else: an adapter never imports another adapter. The
//! crate holds
//!
//! - [`id`]: Swedish identifiers — personnummer, samordningsnummer, reservnummer,
//!   SS 12000 temporary civic numbers and HSA-ids — parsed with precise errors
//!   and masked whenever they are displayed;
//! - [`time`]: clinical time in Europe/Stockholm, with date-only precision kept
//!   as such and both daylight-saving transitions resolved by one documented
//!   rule, plus the one chronological order of journal entries;
//! - [`model`]: the canonical records (persons, organisations, placements,
//!   grades, absence, journal entries, measurements, immunizations, consent,
//!   survey responses) and their code tables;
//! - [`ndjson`]: the canonical NDJSON form of those records, one per line,
//!   tagged by `type`.
//!
//! - [`profile`]: mapping profiles, the data files that fit each municipality's
//!   own templates and keywords onto canonical codes.
//!
//! The crate does no I/O beyond reading profile files and the streams it is
//! handed.

pub mod id;
pub mod model;
pub mod ndjson;
pub mod profile;
pub mod time;
