//! PMO: a PMO-style school-health journal export in XML.
//!
//! PMO publishes no export format, so Brygga defines one that an
//! integration engineer can fit to a municipality's real export:
//! `docs/adapters/pmo.md` describes it field by field and
//! `schemas/pmo/pmo.xsd` is its schema. A document is one root element
//! (`<pmo-export version="1">`) holding a flat run of self-contained records
//! — patients, care providers and care units, contacts, journal notes with
//! keyword-structured text (sökord), measurements and vaccinations — each
//! carrying its patient's identifier and its source system, so a file of any
//! size is read one record at a time and one file can hold several
//! installations' records.
//!
//! Everything a municipality names its own way goes through the mapping
//! profile: templates (note types), measurement names, staff titles, journal
//! names (secrecy domains) and the element names themselves (`[elements]`,
//! see [`names`]).

mod decode;
mod encode;
mod names;
#[cfg(test)]
mod tests;

use std::io::{BufRead, Write};
use std::sync::Arc;

use brygga_mapping::profile::Profile;

use crate::{Decoder, Encoder, Format};

/// The PMO export format (`pmo`).
#[derive(Debug)]
pub struct Pmo;

impl Format for Pmo {
    fn name(&self) -> &'static str {
        "pmo"
    }

    fn description(&self) -> &'static str {
        "PMO-style school-health journal export (XML), element names set by the mapping profile"
    }

    fn extension(&self) -> &'static str {
        "xml"
    }

    fn profile_system(&self) -> Option<&'static str> {
        Some("pmo")
    }

    fn element_keys(&self) -> &'static [&'static str] {
        names::ELEMENT_KEYS
    }

    fn decoder(&self, input: Box<dyn BufRead + Send>, profile: Arc<Profile>) -> Box<dyn Decoder> {
        Box::new(decode::PmoDecoder::new(input, profile))
    }

    fn encoder(&self, output: Box<dyn Write + Send>, profile: Arc<Profile>) -> Box<dyn Encoder> {
        Box::new(encode::PmoEncoder::new(output, profile))
    }
}

/// A value from the input as shown in a message: escaped, and cut after a
/// few dozen characters so that a field holding note text cannot put that
/// text in a log line.
fn shown(value: &str) -> String {
    const MAX_SHOWN: usize = 40;
    let mut out = String::with_capacity(value.len().min(MAX_SHOWN) + 3);
    for (i, c) in value.chars().enumerate() {
        if i == MAX_SHOWN {
            out.push('…');
            break;
        }
        out.extend(c.escape_debug());
    }
    out
}

/// Exactly `count` ASCII digits.
fn is_digits(value: &str, count: usize) -> bool {
    value.len() == count && value.bytes().all(|b| b.is_ascii_digit())
}

/// Standard base64, padded: the alphabet `A–Z a–z 0–9 + /`, a length that is
/// a multiple of four, at most two `=` at the end, and no stray bits before
/// the padding (as XML Schema's `base64Binary` requires).
fn is_base64(data: &str) -> bool {
    let bytes = data.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return false;
    }
    let (body, last_allowed): (&[u8], &[u8]) = if let Some(body) = bytes.strip_suffix(b"==") {
        (body, b"AQgw")
    } else if let Some(body) = bytes.strip_suffix(b"=") {
        (body, b"AEIMQUYcgkosw048")
    } else {
        (bytes, b"")
    };
    let in_alphabet = |b: &u8| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/';
    if !body.iter().all(in_alphabet) {
        return false;
    }
    match body.last() {
        Some(last) if !last_allowed.is_empty() => last_allowed.contains(last),
        None => last_allowed.is_empty(),
        Some(_) => true,
    }
}
