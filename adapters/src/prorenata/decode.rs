//! Reading a ProRenata export: each record's bytes (from [`split`]) are
//! parsed into the [`wire`] types, then checked and classified into a
//! canonical record.
//!
//! Parsing takes the fastest path that reads the record: a plainly written
//! one (no escapes, no exponents, the discriminator first — as Brygga
//! writes it) goes through the quick reader in [`plain`]; anything else
//! through serde_json, without path tracking; and only a record that fails
//! there is parsed again with `serde_path_to_error`, to name the field at
//! fault. Either way the discriminator is read first when it is the first
//! field, and the rest of the object goes straight into the record type's
//! struct; an object that puts it elsewhere is buffered once (by
//! serde_json).
//!
//! Messages never carry a whole person id or note text: serde's messages,
//! which quote the offending value, are rewritten to name only its type,
//! and anything shaped like a personnummer is masked ([`scrub`]).
//!
//! [`split`]: super::split

mod plain;

use std::cell::Cell;
use std::fmt;
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::error::Category;

use brygga_mapping::id::{HsaId, Identifier, LocalId, PersonId};
use brygga_mapping::model::{
    Address, Attachment, CareOrganisation, Contact, EntryStatus, Guardian, Immunization,
    JournalEntry, KeywordSection, Measurement, MeasurementKind, MeasurementValue, NoteContent,
    NoteType, NoteTypeCode, Organisation, Person, Practitioner, Profession, Record, SecrecyDomain,
    SecurityMarking, SourceRef, Telecom, Vaccine, WithheldPart,
};
use brygga_mapping::profile::{Profile, Unmapped};
use brygga_mapping::time::ClinicalTime;

use super::split::{At, Piece, Splitter};
use super::wire::{self, Status, Text};
use super::{Kind, Names};
use crate::{DecodeError, Decoder, Fatal, Position, Reject};

pub(super) struct ProRenataDecoder {
    splitter: Splitter<Box<dyn BufRead + Send>>,
    lookup: Lookup,
    names: Names,
    /// Records and skipped stretches so far.
    count: u64,
    /// A profile setting that stops the decoder before the first record.
    setup_error: Option<String>,
    done: bool,
}

impl ProRenataDecoder {
    pub fn new(input: Box<dyn BufRead + Send>, profile: Arc<Profile>) -> Self {
        let (max_record, setup_error) = match super::max_record_bytes(&profile) {
            Ok(bytes) => (bytes, None),
            Err(reason) => (super::DEFAULT_MAX_RECORD_BYTES, Some(reason)),
        };
        ProRenataDecoder {
            splitter: Splitter::new(input, max_record),
            names: Names::from_profile(&profile),
            lookup: Lookup::new(profile),
            count: 0,
            setup_error,
            done: false,
        }
    }

    fn position(&self, record: u64, at: At) -> Position {
        Position {
            record,
            line: Some(at.line),
            offset: Some(at.offset),
        }
    }

    /// Reads the record the splitter holds; `None` when it was tentative
    /// and is not one record, so the splitter must cut it again.
    fn record(
        &mut self,
        at: At,
        open_at_end: bool,
        tentative: bool,
    ) -> Option<Result<Record, DecodeError>> {
        let position = self.position(self.count, at);
        let bytes = self.splitter.record();
        let tag = Cell::new(Tag::Unread);
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(_) if tentative => return None,
            Err(_) => {
                self.done = true;
                return Some(Err(DecodeError::Fatal(invalid_utf8(bytes, position, at))));
            }
        };
        if let Some(parsed) = parse_plain(text, &self.names, &tag) {
            let outcome = convert(parsed, &mut self.lookup);
            return Some(outcome.map_err(|refusal| self.reject(position, &tag, refusal)));
        }
        tag.set(Tag::Unread);
        let outcome = match parse(text, &self.names, &tag) {
            Ok(parsed) => convert(parsed, &mut self.lookup),
            Err(_) if tentative => return None,
            Err(e) if open_at_end && e.classify() == Category::Eof => {
                self.done = true;
                return Some(Err(DecodeError::Fatal(Fatal {
                    position,
                    reason: "the input ends inside this record: the file is truncated".to_owned(),
                })));
            }
            Err(e) => Err(explain(bytes, &self.names, &tag, e, at)),
        };
        Some(outcome.map_err(|refusal| self.reject(position, &tag, refusal)))
    }

    fn reject(&self, position: Position, tag: &Cell<Tag>, refusal: Refusal) -> DecodeError {
        let record_kind = match tag.take() {
            Tag::Known(kind) => Some(self.names.of(kind)),
            _ => None,
        };
        // The path starts at the record, named as the export names it.
        let field = match (record_kind, refusal.field) {
            (Some(kind), Some(field)) => Some(format!("{kind}.{field}")),
            (_, field) => field,
        };
        DecodeError::Reject(Reject {
            position,
            record_kind: record_kind.map(str::to_owned),
            field: field.map(scrub),
            reason: scrub(refusal.reason),
        })
    }
}

impl Decoder for ProRenataDecoder {
    fn next_record(&mut self) -> Option<Result<Record, DecodeError>> {
        if self.done {
            return None;
        }
        if let Some(reason) = self.setup_error.take() {
            self.done = true;
            return Some(Err(DecodeError::Fatal(Fatal {
                position: Position {
                    record: 1,
                    ..Position::default()
                },
                reason,
            })));
        }
        loop {
            match self.splitter.next_piece() {
                Piece::End => {
                    self.done = true;
                    return None;
                }
                Piece::Fatal { at, reason } => {
                    self.done = true;
                    let position = self.position(self.count + 1, at);
                    return Some(Err(DecodeError::Fatal(Fatal { position, reason })));
                }
                Piece::Skipped { at, reason } => {
                    self.count += 1;
                    return Some(Err(DecodeError::Reject(Reject {
                        position: self.position(self.count, at),
                        record_kind: None,
                        field: None,
                        reason,
                    })));
                }
                Piece::Record {
                    at,
                    open_at_end,
                    tentative,
                } => {
                    self.count += 1;
                    if let Some(item) = self.record(at, open_at_end, tentative) {
                        return Some(item);
                    }
                    self.count -= 1;
                    self.splitter.retry();
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

/// One record as parsed, before checking.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "one record at a time, on the stack; boxing would cost an allocation per record"
)]
enum Parsed<'a> {
    Person(wire::Person<'a>),
    Organisation(wire::Organisation<'a>),
    Contact(wire::Contact<'a>),
    JournalNote(wire::JournalNote<'a>),
    Measurement(wire::Measurement<'a>),
    Vaccination(wire::Vaccination<'a>),
}

/// What the discriminator said, kept for the reject's record kind and for
/// explaining a missing or unknown one.
#[derive(Debug, Default)]
enum Tag {
    #[default]
    Unread,
    Missing,
    NotText,
    /// An unknown record type, as a message may show it.
    Unknown(String),
    Known(Kind),
}

/// Where the bytes stop being UTF-8, as a fatal error.
fn invalid_utf8(bytes: &[u8], position: Position, at: At) -> Fatal {
    let valid = std::str::from_utf8(bytes)
        .err()
        .map_or(bytes.len(), |e| e.valid_up_to());
    let before = bytes.get(..valid).unwrap_or_default();
    let breaks = before.iter().filter(|&&b| b == b'\n').count() as u64;
    let byte = bytes.get(valid).copied().unwrap_or_default();
    Fatal {
        position: Position {
            line: Some(at.line + breaks),
            offset: Some(at.offset + valid as u64),
            ..position
        },
        reason: format!(
            "invalid UTF-8 (byte 0x{byte:02X}); a ProRenata export must be encoded in UTF-8"
        ),
    }
}

/// The quick way through a plainly written record ([`plain`]); `None`
/// sends the record the careful way, [`parse`].
fn parse_plain<'a>(text: &'a str, names: &Names, tag: &Cell<Tag>) -> Option<Parsed<'a>> {
    let mut de = plain::Plain::new(text);
    let parsed = RecordSeed { names, tag }.deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(parsed)
}

fn parse<'a>(text: &'a str, names: &Names, tag: &Cell<Tag>) -> serde_json::Result<Parsed<'a>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = RecordSeed { names, tag }.deserialize(&mut de)?;
    de.end()?;
    Ok(parsed)
}

/// Reads one record object: the discriminator, then the record type's
/// fields.
struct RecordSeed<'s> {
    names: &'s Names,
    tag: &'s Cell<Tag>,
}

impl RecordSeed<'_> {
    fn kind<E: de::Error>(&self, value: &str) -> Result<Kind, E> {
        match self.names.kind(value) {
            Some(kind) => {
                self.tag.set(Tag::Known(kind));
                Ok(kind)
            }
            None => {
                self.tag.set(Tag::Unknown(shown_name(value)));
                Err(E::custom("unknown record type"))
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = Parsed<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Parsed<'de>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = Parsed<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed<'de>, A::Error> {
        let type_field = &*self.names.type_field;
        let Some(first) = map.next_key::<Text<'de>>()? else {
            self.tag.set(Tag::Missing);
            return Err(de::Error::custom("no record type"));
        };
        if first.as_str() == type_field {
            let value: Text<'de> = map.next_value()?;
            let kind = self.kind(value.as_str())?;
            return body(kind, MapAccessDeserializer::new(map));
        }
        // The discriminator is not first: buffer the object once.
        let mut object = serde_json::Map::new();
        object.insert(first.into_string(), map.next_value()?);
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value()?;
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
            }
            object.insert(key, value);
        }
        let kind = match object.remove(type_field) {
            None => {
                self.tag.set(Tag::Missing);
                return Err(de::Error::custom("no record type"));
            }
            Some(serde_json::Value::String(value)) => self.kind(&value)?,
            Some(_) => {
                self.tag.set(Tag::NotText);
                return Err(de::Error::custom("record type is not a string"));
            }
        };
        body(kind, serde_json::Value::Object(object)).map_err(de::Error::custom)
    }
}

fn body<'de, D: Deserializer<'de>>(kind: Kind, fields: D) -> Result<Parsed<'de>, D::Error> {
    Ok(match kind {
        Kind::Person => Parsed::Person(wire::Person::deserialize(fields)?),
        Kind::Organisation => Parsed::Organisation(wire::Organisation::deserialize(fields)?),
        Kind::Contact => Parsed::Contact(wire::Contact::deserialize(fields)?),
        Kind::JournalNote => Parsed::JournalNote(wire::JournalNote::deserialize(fields)?),
        Kind::Measurement => Parsed::Measurement(wire::Measurement::deserialize(fields)?),
        Kind::Vaccination => Parsed::Vaccination(wire::Vaccination::deserialize(fields)?),
    })
}

/// Why a record was refused: the field (a dotted path in the export's own
/// names) and the reason.
#[derive(Debug)]
struct Refusal {
    field: Option<String>,
    reason: String,
}

impl Refusal {
    fn at(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Refusal {
            field: Some(field.into()),
            reason: reason.into(),
        }
    }
}

/// Turns a parse error into a refusal: parses again with path tracking to
/// name the field, and rewrites serde's message so it never quotes a value.
fn explain(
    bytes: &[u8],
    names: &Names,
    tag: &Cell<Tag>,
    first: serde_json::Error,
    at: At,
) -> Refusal {
    let mut track = serde_path_to_error::Track::new();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let again = RecordSeed { names, tag }
        .deserialize(serde_path_to_error::Deserializer::new(&mut de, &mut track));
    let (error, path) = match again {
        Err(e) => (e, track.path().to_string()),
        Ok(_) => (first, ".".to_owned()),
    };
    let type_field = &names.type_field;
    let tagged = tag.take();
    let outcome = match &tagged {
        Tag::Missing => Some(Refusal::at(
            &**type_field,
            format!(
                "required field is missing; it names the record type, one of {}",
                names.listed()
            ),
        )),
        Tag::NotText => Some(Refusal::at(
            &**type_field,
            format!(
                "not a string; it names the record type, one of {}",
                names.listed()
            ),
        )),
        Tag::Unknown(shown) => Some(Refusal::at(
            &**type_field,
            format!(
                "unknown record type {shown}; expected one of {}",
                names.listed()
            ),
        )),
        Tag::Unread | Tag::Known(_) => None,
    };
    tag.set(tagged);
    if let Some(refusal) = outcome {
        return refusal;
    }
    let full = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full);
    if matches!(error.classify(), Category::Syntax | Category::Eof) {
        let line = at.line + (error.line() as u64).saturating_sub(1);
        let column = if error.line() <= 1 {
            at.column + (error.column() as u64).saturating_sub(1)
        } else {
            error.column() as u64
        };
        return Refusal {
            field: None,
            reason: format!("invalid JSON at line {line}, column {column}: {message}"),
        };
    }
    let within = |name: &str| {
        if path == "." {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    if let Some(name) = quoted_name(message, "missing field `") {
        return Refusal::at(within(name), "required field is missing");
    }
    if let Some(name) = quoted_name(message, "duplicate field `") {
        return Refusal::at(within(name), "the field is given twice");
    }
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((name, expected)) = split_quoted(rest)
    {
        let shown = shown_name(name);
        // The path may or may not end with the unknown name already.
        let parent = match path.strip_suffix(name) {
            Some("") => ".",
            Some(parent) if parent.ends_with('.') => &parent[..parent.len() - 1],
            _ => path.as_str(),
        };
        let field = if shown.starts_with('"') {
            Some(if parent == "." {
                name.to_owned()
            } else {
                format!("{parent}.{name}")
            })
        } else {
            (parent != ".").then(|| parent.to_owned())
        };
        return Refusal {
            field,
            reason: format!("unknown field {shown}; {expected}"),
        };
    }
    Refusal {
        field: (path != ".").then_some(path),
        reason: sanitised(message),
    }
}

/// `value`, expected …` (or `value`, there are no …) split into the value
/// and the rest of the message.
fn split_quoted(rest: &str) -> Option<(&str, String)> {
    for separator in ["`, expected", "`, there are"] {
        if let Some((value, after)) = rest.rsplit_once(separator) {
            return Some((value, format!("{}{after}", &separator[3..])));
        }
    }
    None
}

/// The profile's refusal of an unmapped template, naming the profile file
/// relative to the working directory when it lies below it, as a user would
/// type it (and as golden vectors can record it on any machine).
fn unmapped_reason(mut unmapped: Unmapped) -> String {
    if let Ok(cwd) = std::env::current_dir()
        && let Ok(relative) = Path::new(&unmapped.file).strip_prefix(&cwd)
    {
        unmapped.file = relative.display().to_string();
    }
    unmapped.to_string()
}

/// The name in `` `name` `` after `prefix`, when the message is exactly that.
fn quoted_name<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    message.strip_prefix(prefix)?.strip_suffix('`')
}

/// A name from the input as a message may show it: quoted when it is short
/// and plainly a name, else only its length, so no note text or person id
/// ends up in a log.
fn shown_name(name: &str) -> String {
    let plain = name.chars().count() <= 32
        && name.matches(' ').count() <= 2
        && !name.chars().any(char::is_control)
        && longest_digit_run(name) < 5;
    if plain {
        format!("{name:?}")
    } else {
        format!("(not shown, {} characters)", name.chars().count())
    }
}

fn longest_digit_run(text: &str) -> usize {
    text.split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0)
}

/// serde's message with the offending value left out: `invalid type:
/// string "…", expected …` becomes `invalid type: a string, expected …`,
/// and an unknown variant is shown only when it is plainly a name.
fn sanitised(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            return format!("{prefix}{}", without_value(rest));
        }
    }
    if let Some(rest) = message.strip_prefix("unknown variant `")
        && let Some((value, expected)) = split_quoted(rest)
    {
        return format!("unknown value {}; {expected}", shown_name(value));
    }
    message.to_owned()
}

/// `string "…", expected X` → `a string, expected X`, and likewise for the
/// other kinds of value serde quotes.
fn without_value(rest: &str) -> String {
    if let Some(quoted) = rest.strip_prefix("string \"") {
        let mut chars = quoted.char_indices();
        while let Some((index, c)) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => return format!("a string{}", &quoted[index + 1..]),
                _ => {}
            }
        }
        return "a string".to_owned();
    }
    for (kind, word) in [
        ("integer `", "a number"),
        ("floating point `", "a number"),
        ("boolean `", "a boolean"),
        ("character `", "a character"),
    ] {
        if let Some(value) = rest.strip_prefix(kind) {
            return match value.find('`') {
                Some(end) => format!("{word}{}", &value[end + 1..]),
                None => word.to_owned(),
            };
        }
    }
    rest.to_owned()
}

/// Masks anything in `text` shaped like a person id — 10 or more digits,
/// with at most one `-` or `+` among them, not glued to a letter (as the
/// digits of an HSA-id are) — keeping its first six digits.
pub(super) fn scrub(text: String) -> String {
    let bytes = text.as_bytes();
    let mut masked: Option<Vec<u8>> = None;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b.is_ascii_alphabetic() {
            // A token that starts with a letter, digits and all.
            while bytes.get(i).is_some_and(u8::is_ascii_alphanumeric) {
                i += 1;
            }
            continue;
        }
        if !b.is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        let mut digits = 0;
        let mut separators = 0;
        while let Some(&b) = bytes.get(i) {
            match b {
                b'0'..=b'9' => digits += 1,
                b'-' | b'+'
                    if separators == 0 && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) =>
                {
                    separators += 1;
                }
                _ => break,
            }
            i += 1;
        }
        if digits >= 10 {
            let out = masked.get_or_insert_with(|| bytes.to_vec());
            let mut kept = 0;
            for b in &mut out[start..i] {
                if b.is_ascii_digit() {
                    kept += 1;
                    if kept > 6 {
                        *b = b'*';
                    }
                }
            }
        }
    }
    match masked {
        // Only ASCII digits were replaced by ASCII, so this stays UTF-8.
        Some(out) => String::from_utf8(out).unwrap_or_default(),
        None => text,
    }
}

// ---------------------------------------------------------------------------
// Checking and classifying
// ---------------------------------------------------------------------------

type Checked<T> = Result<T, Refusal>;

/// How many distinct names of each kind [`Lookup`] remembers: far more
/// than an export's templates or titles, few enough to search in a row.
const REMEMBERED_NAMES: usize = 64;

/// Names already looked up, with the profile's answer.
#[derive(Debug)]
struct Known<T> {
    entries: Vec<(Box<str>, T)>,
}

impl<T: Copy> Known<T> {
    fn new() -> Self {
        Known {
            entries: Vec::new(),
        }
    }

    /// The answer for `name`, looking it up in the profile the first time;
    /// only found names are remembered, and only so many.
    fn get(&mut self, name: &str, look_up: impl FnOnce(&str) -> Option<T>) -> Option<T> {
        if let Some((_, answer)) = self.entries.iter().find(|(known, _)| **known == *name) {
            return Some(*answer);
        }
        let answer = look_up(name)?;
        if self.entries.len() < REMEMBERED_NAMES {
            self.entries.push((name.into(), answer));
        }
        Some(answer)
    }
}

/// The profile, with its answers for the names an export repeats on every
/// record remembered: each name is normalised and looked up once. A
/// template no table maps is asked about every time, so the profile counts
/// each occurrence for its end-of-run warning.
#[derive(Debug)]
struct Lookup {
    profile: Arc<Profile>,
    journals: Known<SecrecyDomain>,
    template_domains: Known<SecrecyDomain>,
    titles: Known<Profession>,
    measurements: Known<MeasurementKind>,
    note_types: Known<NoteTypeCode>,
    /// Recently read HSA-ids: staff and units repeat from record to record.
    /// Direct-mapped on the last characters, where HSA-ids differ.
    hsa_ids: [Option<(Box<str>, HsaId)>; HSA_SLOTS],
    /// Recently read times: a visit's notes, measurements and contact share
    /// them. Direct-mapped like the HSA-ids, and held inline: most times are
    /// read once, and a slot must not cost an allocation each time.
    times: [Option<(TimeText, ClinicalTime)>; TIME_SLOTS],
    /// The last person id read: a patient's records come together.
    last_person: Option<PersonId>,
}

const HSA_SLOTS: usize = 64;
const TIME_SLOTS: usize = 16;

/// A time as written, up to [`TimeText::MAX`] bytes (an ISO 8601 time with
/// an offset takes 25).
#[derive(Debug, Clone, Copy)]
struct TimeText {
    bytes: [u8; TimeText::MAX],
    len: u8,
}

impl TimeText {
    const MAX: usize = 32;

    fn new(text: &str) -> Option<TimeText> {
        let mut bytes = [0; TimeText::MAX];
        bytes
            .get_mut(..text.len())?
            .copy_from_slice(text.as_bytes());
        Some(TimeText {
            bytes,
            len: u8::try_from(text.len()).ok()?,
        })
    }

    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }
}

/// A slot for `text` among `slots`, from its length and last characters,
/// where ids and times differ.
fn slot_of(text: &str, slots: usize) -> usize {
    let bytes = text.as_bytes();
    let hash = bytes.iter().rev().take(4).fold(bytes.len(), |hash, &b| {
        hash.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    hash % slots
}

impl Lookup {
    fn new(profile: Arc<Profile>) -> Self {
        Lookup {
            profile,
            journals: Known::new(),
            template_domains: Known::new(),
            titles: Known::new(),
            measurements: Known::new(),
            note_types: Known::new(),
            hsa_ids: [const { None }; HSA_SLOTS],
            times: [const { None }; TIME_SLOTS],
            last_person: None,
        }
    }

    fn time(&mut self, value: &Text<'_>, field: &str) -> Checked<ClinicalTime> {
        let text = value.as_str();
        let slot = &mut self.times[slot_of(text, TIME_SLOTS)];
        if let Some((known, time)) = slot
            && known.as_bytes() == text.as_bytes()
        {
            return Ok(*time);
        }
        let time = ClinicalTime::parse(text).map_err(|e| Refusal::at(field, e.to_string()))?;
        *slot = TimeText::new(text).map(|key| (key, time));
        Ok(time)
    }

    fn optional_time(
        &mut self,
        value: Option<&Text<'_>>,
        field: &str,
    ) -> Checked<Option<ClinicalTime>> {
        value.map(|value| self.time(value, field)).transpose()
    }

    fn person_id(&mut self, value: &Text<'_>, field: impl FnOnce() -> String) -> Checked<PersonId> {
        let text = value.as_str();
        if let Some(id) = self.last_person
            && id.as_str() == text
        {
            return Ok(id);
        }
        let id =
            PersonId::parse_normalized(text).map_err(|e| Refusal::at(field(), e.to_string()))?;
        self.last_person = Some(id);
        Ok(id)
    }

    fn hsa_id(&mut self, text: &str, field: impl FnOnce() -> String) -> Checked<HsaId> {
        let slot = &mut self.hsa_ids[slot_of(text, HSA_SLOTS)];
        if let Some((known, id)) = slot
            && **known == *text
        {
            return Ok(*id);
        }
        let id = HsaId::parse(text).map_err(|e| Refusal::at(field(), e.to_string()))?;
        *slot = Some((text.into(), id));
        Ok(id)
    }

    fn name(&self) -> &str {
        self.profile.name()
    }

    fn journal(&mut self, name: &str) -> Option<SecrecyDomain> {
        let profile = &self.profile;
        self.journals.get(name, |n| profile.secrecy_domain_of(n))
    }

    fn template_domain(&mut self, template: &str) -> SecrecyDomain {
        let profile = &self.profile;
        self.template_domains
            .get(template, |t| Some(profile.secrecy_domain(t)))
            .unwrap_or_else(|| profile.default_secrecy_domain())
    }

    fn profession(&mut self, title: &str) -> Option<Profession> {
        let profile = &self.profile;
        self.titles.get(title, |t| profile.profession(t))
    }

    fn measurement(&mut self, name: &str) -> Option<MeasurementKind> {
        let profile = &self.profile;
        self.measurements.get(name, |n| profile.measurement(n))
    }

    fn note_type(&mut self, template: &str) -> Result<NoteType, Unmapped> {
        let profile = &self.profile;
        let mut unmapped = None;
        let code = self
            .note_types
            .get(template, |t| match profile.note_type(t) {
                Ok(NoteType {
                    code: NoteTypeCode::Unclassified,
                    ..
                }) => None,
                Ok(note_type) => Some(note_type.code),
                Err(e) => {
                    unmapped = Some(e);
                    None
                }
            });
        match (code, unmapped) {
            (Some(code), _) => Ok(NoteType {
                code,
                original: Some(template.to_owned()),
            }),
            (None, Some(e)) => Err(e),
            (None, None) => Ok(NoteType {
                code: NoteTypeCode::Unclassified,
                original: Some(template.to_owned()),
            }),
        }
    }

    fn default_secrecy_domain(&self) -> SecrecyDomain {
        self.profile.default_secrecy_domain()
    }
}

fn convert(parsed: Parsed<'_>, lookup: &mut Lookup) -> Checked<Record> {
    Ok(match parsed {
        Parsed::Person(w) => Record::Person(person(w, lookup)?),
        Parsed::Organisation(w) => Record::Organisation(organisation(w)?),
        Parsed::Contact(w) => Record::Contact(contact(w, lookup)?),
        Parsed::JournalNote(w) => Record::JournalEntry(journal_note(w, lookup)?),
        Parsed::Measurement(w) => Record::Measurement(measurement(w, lookup)?),
        Parsed::Vaccination(w) => Record::Immunization(vaccination(w, lookup)?),
    })
}

fn text(value: Option<Text<'_>>) -> Option<String> {
    value.map(Text::into_string)
}

fn source(system: Text<'_>, id: Text<'_>, version: u32) -> SourceRef {
    SourceRef {
        system: system.into_string(),
        record_id: id.into_string(),
        version,
    }
}

fn identifier(id: wire::PersonRef<'_>, field: &str, lookup: &mut Lookup) -> Checked<Identifier> {
    match (id.civic_no, id.local_id, id.namespace) {
        (Some(civic), None, None) => lookup
            .person_id(&civic, || format!("{field}.civicNo"))
            .map(Identifier::Person),
        (None, Some(value), Some(namespace)) => Ok(Identifier::Local(LocalId {
            namespace: namespace.into_string(),
            value: value.into_string(),
        })),
        (None, Some(_), None) => Err(Refusal::at(
            format!("{field}.namespace"),
            "required field is missing; a localId is read in its namespace",
        )),
        (None, None, Some(_)) => Err(Refusal::at(
            format!("{field}.localId"),
            "required field is missing; a namespace goes with a localId",
        )),
        (None, None, None) => Err(Refusal::at(
            field,
            "no identifier; give civicNo, or localId with namespace",
        )),
        (Some(_), _, _) => Err(Refusal::at(
            field,
            "give either civicNo or localId with namespace, not both",
        )),
    }
}

/// A name from the export in a message: names are not secret, but a long
/// one is cut.
fn quoted(name: &str) -> String {
    const MAX: usize = 64;
    match name.char_indices().nth(MAX) {
        Some((end, _)) => format!("{:?}…", &name[..end]),
        None => format!("{name:?}"),
    }
}

fn staff(staff: wire::Staff<'_>, field: &str, lookup: &mut Lookup) -> Checked<Practitioner> {
    let hsa_id = staff
        .hsa_id
        .map(|id| lookup.hsa_id(id.as_str(), || format!("{field}.hsaId")))
        .transpose()?;
    let profession = match staff.title {
        None => None,
        Some(title) => Some(lookup.profession(title.as_str()).ok_or_else(|| {
            Refusal::at(
                format!("{field}.title"),
                format!(
                    "title {} is not mapped by profile {:?}; add it under [professions]",
                    quoted(title.as_str()),
                    lookup.name()
                ),
            )
        })?),
    };
    Ok(Practitioner {
        hsa_id,
        name: text(staff.name),
        profession,
    })
}

fn optional_staff(
    value: Option<wire::Staff<'_>>,
    field: &str,
    lookup: &mut Lookup,
) -> Checked<Option<Practitioner>> {
    value.map(|s| staff(s, field, lookup)).transpose()
}

fn unit(
    value: Option<wire::Unit<'_>>,
    field: &str,
    lookup: &mut Lookup,
) -> Checked<Option<CareOrganisation>> {
    value
        .map(|unit| {
            Ok(CareOrganisation {
                hsa_id: lookup.hsa_id(unit.hsa_id.as_str(), || format!("{field}.hsaId"))?,
                name: text(unit.name),
            })
        })
        .transpose()
}

/// The secrecy domain of the journal a record is filed in, when it names
/// one.
fn journal(value: Option<&Text<'_>>, lookup: &mut Lookup) -> Checked<Option<SecrecyDomain>> {
    value
        .map(|name| {
            lookup.journal(name.as_str()).ok_or_else(|| {
                Refusal::at(
                    "journal",
                    format!(
                        "journal {} is not mapped by profile {:?}; add it under [secrecy_domains]",
                        quoted(name.as_str()),
                        lookup.name()
                    ),
                )
            })
        })
        .transpose()
}

fn status(
    status: Option<Status>,
    supersedes: Option<wire::VersionRef<'_>>,
    reason: Option<Text<'_>>,
) -> Checked<EntryStatus> {
    let status = status.unwrap_or(Status::Current);
    if status != Status::Amended && supersedes.is_some() {
        return Err(Refusal::at(
            "supersedes",
            "only a record with status \"amended\" supersedes another",
        ));
    }
    if status != Status::Nullified && reason.is_some() {
        return Err(Refusal::at(
            "nullifiedReason",
            "only a record with status \"nullified\" has a nullifiedReason",
        ));
    }
    match status {
        Status::Current => Ok(EntryStatus::Current),
        Status::Amended => {
            let supersedes = supersedes.ok_or_else(|| {
                Refusal::at(
                    "supersedes",
                    "required field is missing; status \"amended\" names the version it replaces",
                )
            })?;
            Ok(EntryStatus::Amended {
                supersedes: source(supersedes.system, supersedes.id, supersedes.version),
            })
        }
        Status::Nullified => {
            let reason = reason.ok_or_else(|| {
                Refusal::at(
                    "nullifiedReason",
                    "required field is missing; status \"nullified\" says why",
                )
            })?;
            Ok(EntryStatus::Nullified {
                reason: reason.into_string(),
            })
        }
    }
}

fn person(w: wire::Person<'_>, lookup: &mut Lookup) -> Checked<Person> {
    let identifiers = w
        .identifiers
        .into_iter()
        .enumerate()
        .map(|(i, id)| identifier(id, &format!("identifiers[{i}]"), lookup))
        .collect::<Checked<Vec<_>>>()?;
    let birth_date = match w.birth_date {
        None => None,
        Some(value) => match lookup.time(&value, "birthDate")? {
            ClinicalTime::Date(date) => Some(date),
            ClinicalTime::DateTime(_) => {
                return Err(Refusal::at(
                    "birthDate",
                    "expected a date (YYYY-MM-DD) without a time of day",
                ));
            }
        },
    };
    let guardians = w
        .guardians
        .into_iter()
        .enumerate()
        .map(|(i, guardian)| {
            Ok(Guardian {
                person: lookup
                    .person_id(&guardian.civic_no, || format!("guardians[{i}].civicNo"))?,
                relation: guardian.relation.into(),
            })
        })
        .collect::<Checked<Vec<_>>>()?;
    Ok(Person {
        identifiers,
        given_name: w.first_name.into_string(),
        family_name: w.last_name.into_string(),
        birth_date,
        sex: w.sex.map(Into::into),
        security_marking: w.security_marking.map_or(SecurityMarking::None, Into::into),
        guardians,
        addresses: w
            .addresses
            .into_iter()
            .map(|address| Address {
                kind: address.kind.into(),
                lines: address.lines.into_iter().map(Text::into_string).collect(),
                postal_code: text(address.postal_code),
                city: text(address.city),
                country: text(address.country),
            })
            .collect(),
        telecom: w
            .telecom
            .into_iter()
            .map(|telecom| Telecom {
                kind: telecom.kind.into(),
                value: telecom.value.into_string(),
            })
            .collect(),
        municipality_code: text(w.municipality_code),
    })
}

fn organisation(w: wire::Organisation<'_>) -> Checked<Organisation> {
    Ok(Organisation {
        hsa_id: w
            .hsa_id
            .map(|id| HsaId::parse(id.as_str()).map_err(|e| Refusal::at("hsaId", e.to_string())))
            .transpose()?,
        id: w.id.into_string(),
        kind: w.kind.into(),
        name: w.name.into_string(),
        school_unit_code: text(w.school_unit_code),
        organisation_number: text(w.organisation_number),
        municipality_code: text(w.municipality_code),
        parent: text(w.parent),
        school_year: w.school_year,
    })
}

fn contact(w: wire::Contact<'_>, lookup: &mut Lookup) -> Checked<Contact> {
    let patient = identifier(w.patient, "patient", lookup)?;
    let start = lookup.time(&w.start, "start")?;
    let end = lookup.optional_time(w.end.as_ref(), "end")?;
    let performer = optional_staff(w.performer, "performer", lookup)?;
    let care_unit = unit(w.care_unit, "careUnit", lookup)?;
    let secrecy_domain =
        journal(w.journal.as_ref(), lookup)?.unwrap_or_else(|| lookup.default_secrecy_domain());
    Ok(Contact {
        source: source(w.system, w.id, w.version),
        patient,
        kind: w.contact_type.into(),
        start,
        end,
        performer,
        care_unit,
        secrecy_domain,
    })
}

fn content(
    keywords: Option<Vec<wire::KeywordWire<'_>>>,
    text: Option<Text<'_>>,
    attachment: Option<wire::AttachmentWire<'_>>,
) -> Checked<NoteContent> {
    const ONE: &str = "a note holds exactly one of keywords, text and attachment";
    match (keywords, text, attachment) {
        (Some(sections), None, None) => Ok(NoteContent::Keywords {
            sections: sections
                .into_iter()
                .map(|section| KeywordSection {
                    keyword: section.keyword.into_string(),
                    text: section.text.into_string(),
                })
                .collect(),
        }),
        (None, Some(text), None) => Ok(NoteContent::Text {
            text: text.into_string(),
        }),
        (None, None, Some(attachment)) => Ok(NoteContent::Attachment(Attachment {
            media_type: attachment.content_type.into_string(),
            title: attachment.title.map(Text::into_string),
            data: attachment.data.into_string(),
        })),
        (None, None, None) => Err(Refusal::at(
            "keywords",
            format!("required field is missing; {ONE}"),
        )),
        (_, Some(_), None) => Err(Refusal::at("text", ONE)),
        (_, _, Some(_)) => Err(Refusal::at("attachment", ONE)),
    }
}

fn journal_note(w: wire::JournalNote<'_>, lookup: &mut Lookup) -> Checked<JournalEntry> {
    let patient = identifier(w.patient, "patient", lookup)?;
    let event_time = lookup.time(&w.event_time, "eventTime")?;
    let author_time = lookup.optional_time(w.author_time.as_ref(), "authorTime")?;
    let signing_time = lookup.optional_time(w.signing_time.as_ref(), "signingTime")?;
    let record_time = lookup.optional_time(w.record_time.as_ref(), "recordTime")?;
    let author = optional_staff(w.author, "author", lookup)?;
    let signer = optional_staff(w.signer, "signer", lookup)?;
    let care_provider = unit(w.care_provider, "careProvider", lookup)?;
    let care_unit = unit(w.care_unit, "careUnit", lookup)?;
    let content = content(w.keywords, w.text, w.attachment)?;
    let status = status(w.status, w.supersedes, w.nullified_reason)?;
    let filed_in = journal(w.journal.as_ref(), lookup)?;
    // Classified last, so a record refused for another reason does not
    // count towards the unmapped-template warning.
    let template = w.template.as_str();
    let note_type = lookup
        .note_type(template)
        .map_err(|e| Refusal::at("template", unmapped_reason(e)))?;
    let secrecy_domain = match filed_in {
        Some(domain) => domain,
        None => lookup.template_domain(template),
    };
    Ok(JournalEntry {
        source: source(w.system, w.id, w.version),
        patient,
        event_time,
        author_time,
        signing_time,
        record_time,
        author,
        signer,
        care_provider,
        care_unit,
        contact: text(w.contact_id),
        note_type,
        title: text(w.title),
        content,
        status,
        secrecy_domain,
        approved_for_patient: w.approved_for_patient,
        patient_block: w.patient_block,
        withheld: w
            .withheld
            .into_iter()
            .map(|part| WithheldPart {
                part: part.part.into_string(),
                reason: part.reason.into_string(),
            })
            .collect(),
    })
}

fn measurement(w: wire::Measurement<'_>, lookup: &mut Lookup) -> Checked<Measurement> {
    let patient = identifier(w.patient, "patient", lookup)?;
    let time = lookup.time(&w.time, "time")?;
    let value = match (w.value, w.unit, w.finding) {
        (Some(value), Some(unit), None) => MeasurementValue::Quantity {
            value,
            unit: unit.into_string(),
        },
        (None, None, Some(finding)) => MeasurementValue::Finding {
            finding: finding.into(),
        },
        (Some(_), None, None) => {
            return Err(Refusal::at(
                "unit",
                "required field is missing; a value is given with its unit",
            ));
        }
        (None, Some(_), None) => {
            return Err(Refusal::at(
                "value",
                "required field is missing; a unit is given with its value",
            ));
        }
        (None, None, None) => {
            return Err(Refusal::at(
                "value",
                "required field is missing; a measurement has a value with its unit, or a finding",
            ));
        }
        (_, _, Some(_)) => {
            return Err(Refusal::at(
                "finding",
                "a measurement has either a value with its unit or a finding, not both",
            ));
        }
    };
    let performer = optional_staff(w.performer, "performer", lookup)?;
    let care_unit = unit(w.care_unit, "careUnit", lookup)?;
    let secrecy_domain =
        journal(w.journal.as_ref(), lookup)?.unwrap_or_else(|| lookup.default_secrecy_domain());
    let kind = lookup.measurement(w.name.as_str()).ok_or_else(|| {
        Refusal::at(
            "name",
            format!(
                "measurement {} is not mapped by profile {:?}; add it under [measurements]",
                quoted(w.name.as_str()),
                lookup.name()
            ),
        )
    })?;
    Ok(Measurement {
        source: source(w.system, w.id, w.version),
        patient,
        kind,
        time,
        value,
        performer,
        care_unit,
        contact: text(w.contact_id),
        secrecy_domain,
        original_code: Some(w.name.into_string()),
    })
}

fn vaccination(w: wire::Vaccination<'_>, lookup: &mut Lookup) -> Checked<Immunization> {
    let patient = identifier(w.patient, "patient", lookup)?;
    let time = lookup.time(&w.time, "time")?;
    let given_by = optional_staff(w.given_by, "givenBy", lookup)?;
    let care_unit = unit(w.care_unit, "careUnit", lookup)?;
    let status = status(w.status, w.supersedes, w.nullified_reason)?;
    let secrecy_domain =
        journal(w.journal.as_ref(), lookup)?.unwrap_or_else(|| lookup.default_secrecy_domain());
    Ok(Immunization {
        source: source(w.system, w.id, w.version),
        patient,
        time,
        vaccine: Vaccine {
            atc: w.atc_code.into_string(),
            product: text(w.product),
            programme: w.programme.into(),
        },
        dose_number: w.dose_number,
        lot: text(w.batch_number),
        given_by,
        care_unit,
        secrecy_domain,
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_masks_person_ids_but_not_hsa_ids_or_times() {
        assert_eq!(
            scrub("invalid value 196408233234 here".to_owned()),
            "invalid value 196408****** here"
        );
        assert_eq!(scrub("x 19640823-3234.".to_owned()), "x 196408**-****.");
        assert_eq!(scrub("x 640823+3234".to_owned()), "x 640823+****");
        let untouched = "SE2321000131-E000000000001 at 2019-05-14T08:30:00+02:00, 12345";
        assert_eq!(scrub(untouched.to_owned()), untouched);
        // A compact timestamp looks like a person id, and is masked too.
        assert_eq!(scrub("201405141030".to_owned()), "201405******");
    }

    #[test]
    fn serde_messages_lose_the_offending_value() {
        assert_eq!(
            sanitised(
                r#"invalid type: string "Eleven säger \"nej\", mår dåligt", expected a sequence"#
            ),
            "invalid type: a string, expected a sequence"
        );
        assert_eq!(
            sanitised("invalid type: integer `196408233234`, expected a string"),
            "invalid type: a number, expected a string"
        );
        assert_eq!(
            sanitised("invalid value: integer `300`, expected u8"),
            "invalid value: a number, expected u8"
        );
        assert_eq!(
            sanitised("unknown variant `healthvisit`, expected one of `healthVisit`, `visit`"),
            "unknown value \"healthvisit\"; expected one of `healthVisit`, `visit`"
        );
        assert_eq!(
            sanitised(
                "unknown variant `Eleven har ont i magen sedan en vecka`, expected `a` or `b`"
            ),
            "unknown value (not shown, 37 characters); expected `a` or `b`"
        );
        assert_eq!(sanitised("invalid length 3"), "invalid length 3");
    }

    #[test]
    fn names_are_shown_only_when_plainly_names() {
        assert_eq!(shown_name("journalnote"), "\"journalnote\"");
        assert_eq!(shown_name("196408233234"), "(not shown, 12 characters)");
        assert_eq!(
            shown_name("Eleven mår dåligt och vill inte"),
            "(not shown, 31 characters)"
        );
    }
}
