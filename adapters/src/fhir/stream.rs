//! The two layouts on disk — bulk-data NDJSON and transaction Bundles — and
//! the per-patient ordering both share.
//!
//! **Order.** Encoders receive records grouped by patient (every export and
//! `brygga synth` write them so). The encoder keeps the current patient's
//! records, mapped, until a record about someone else (or an organisation)
//! arrives, then writes them: the Patient first, then the patient's records
//! in chronological order ([`Order`](super::encode::Order)), each preceded by the Practitioner,
//! PractitionerRole and Organization resources it refers to that are not
//! yet written, and followed by its Provenance. Memory is bounded by one
//! patient's records (and at most [`MAX_GROUP_RECORDS`] of them: a longer
//! run is written in parts, each in order). A record FHIR cannot hold is
//! refused when it arrives, so a refusal is always reported for the record
//! that caused it.
//!
//! **NDJSON** (`fhir-ndjson`): one resource per line. As a directory (what
//! `brygga convert --to fhir-ndjson` writes) there is one file per resource
//! type, `Patient.ndjson`, `DocumentReference.ndjson`, …, as FHIR bulk data
//! export does; as one stream (the encoder behind the conformance kit, and
//! what the reader reads) all types share one file. Resources that others
//! refer to are written once per run (up to [`MAX_REMEMBERED`] remembered).
//!
//! **Bundles** (`fhir-bundle`): one transaction Bundle per line, one Bundle
//! per patient, every entry a `PUT Type/id` to its deterministic id, so a
//! rerun updates what the first run wrote. A Bundle carries every
//! Practitioner and PractitionerRole its entries refer to, so each is
//! complete on its own.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{self, BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use brygga_mapping::id::Identifier;
use brygga_mapping::model::Record;

use super::WriteProfile;
use super::decode::{self, Read, UNREAD_TYPE};
use super::encode::{Mapped, map_record};
use super::types::*;
use crate::stream::{Prepare, Prepared};
use crate::{DecodeError, Decoder, EncodeError, Encoder, Fatal, Position, Reject};

/// The most records written as one ordered group.
pub const MAX_GROUP_RECORDS: usize = 100_000;
/// How many ids of written resources an NDJSON encoder remembers to avoid
/// writing a referenced resource twice; past that it starts over (a
/// resource may then appear again, identical).
pub const MAX_REMEMBERED: usize = 1 << 16;
/// The longest line read; a longer one is refused without being held.
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

const BUFFER_BYTES: usize = 256 * 1024;

// ---------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------

/// Whose records a group holds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum GroupKey {
    Subject(Identifier),
    Organisations,
}

fn group_key(record: &Record) -> GroupKey {
    match record.subject() {
        Some(subject) => GroupKey::Subject(subject.clone()),
        None => GroupKey::Organisations,
    }
}

/// The note an item's DocumentReference replaces (`relatesTo` `replaces`),
/// and the item's own note id.
fn note_ids(item: &Mapped) -> (Option<&str>, Option<&str>) {
    item.resources
        .iter()
        .find_map(|r| match r {
            Resource::DocumentReference(d) => Some(d),
            _ => None,
        })
        .map_or((None, None), |d| {
            let replaces = d
                .relates_to
                .iter()
                .filter(|relation| relation.code == "replaces")
                .filter_map(|relation| relation.target.reference.as_deref())
                .find_map(|reference| reference.strip_prefix("DocumentReference/"));
            (replaces, Some(d.id.as_str()))
        })
}

/// Puts each later version of a note right after the version it replaces,
/// so an amendment keeps its first version's place in the journal (the
/// migration's rule, docs/migration.md) instead of standing at its own
/// time. Items are in chronological order; a version whose predecessor is
/// not in the group stays where it is.
fn keep_versions_together(items: &mut Vec<Mapped>) {
    let ids: HashMap<&str, usize> = items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| note_ids(item).1.map(|id| (id, i)))
        .collect();
    let mut successors: Vec<Vec<usize>> = vec![Vec::new(); items.len()];
    let mut is_successor = vec![false; items.len()];
    for (i, item) in items.iter().enumerate() {
        if let Some(&target) = note_ids(item).0.and_then(|t| ids.get(t))
            && target != i
        {
            successors[target].push(i);
            is_successor[i] = true;
        }
    }
    if !is_successor.contains(&true) {
        return;
    }
    let mut order = Vec::with_capacity(items.len());
    let mut placed = vec![false; items.len()];
    for root in (0..items.len()).filter(|&i| !is_successor[i]) {
        let mut stack = vec![root];
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut placed[i], true) {
                continue;
            }
            order.push(i);
            stack.extend(successors[i].iter().rev());
        }
    }
    // A cycle of replacements has no first version: left in time order.
    order.extend((0..items.len()).filter(|&i| !placed[i]));
    let mut slots: Vec<Option<Mapped>> = items.drain(..).map(Some).collect();
    items.extend(order.into_iter().filter_map(|i| slots[i].take()));
}

/// Sorts a group into writing order (later versions of a note right after
/// the version they replace) and, under `se-base`, marks a note that a
/// later note of the group replaces as `superseded`.
fn arrange(items: &mut Vec<Mapped>, profile: WriteProfile) {
    items.sort_by(|a, b| a.order.cmp(&b.order));
    keep_versions_together(items);
    if profile != WriteProfile::SeBase {
        return;
    }
    let replaced: HashSet<&str> = items
        .iter()
        .flat_map(|item| &item.resources)
        .filter_map(|r| match r {
            Resource::DocumentReference(d) => Some(d),
            _ => None,
        })
        .flat_map(|d| &d.relates_to)
        .filter(|relation| relation.code == "replaces")
        .filter_map(|relation| relation.target.reference.as_deref())
        .filter_map(|reference| reference.strip_prefix("DocumentReference/"))
        .collect();
    if replaced.is_empty() {
        return;
    }
    let replaced: HashSet<String> = replaced.into_iter().map(str::to_owned).collect();
    for item in items.iter_mut() {
        for resource in &mut item.resources {
            if let Resource::DocumentReference(d) = resource
                && d.status == "current"
                && replaced.contains(&d.id)
            {
                d.status = "superseded".into();
            }
        }
    }
}

/// One patient's resources, as a REST sink or a Bundle needs them.
#[derive(Debug, Default)]
pub struct PatientResources {
    /// In writing order: the Patient first, then each record's referenced
    /// resources (once), its resource and its Provenance, chronologically.
    pub resources: Vec<Resource>,
    /// The records FHIR cannot hold under the profile: (index in the
    /// input, reason).
    pub refused: Vec<(usize, String)>,
}

/// Maps one patient's canonical records to FHIR resources under `profile`,
/// in the order the files are written. The REST sink's entry point.
pub fn patient_resources(records: &[Record], profile: WriteProfile) -> PatientResources {
    let mut items = Vec::with_capacity(records.len());
    let mut refused = Vec::new();
    for (index, record) in records.iter().enumerate() {
        match map_record(record, profile) {
            Ok(mapped) => items.push(mapped),
            Err(reason) => refused.push((index, reason)),
        }
    }
    arrange(&mut items, profile);
    let mut seen = HashSet::new();
    let mut resources = Vec::new();
    for item in items {
        for referenced in item.referenced {
            if seen.insert(resource_key(&referenced)) {
                resources.push(referenced);
            }
        }
        resources.extend(item.resources);
    }
    PatientResources { resources, refused }
}

/// A transaction Bundle that `PUT`s each resource to `Type/id`.
pub fn transaction_bundle(resources: Vec<Resource>) -> Bundle {
    Bundle {
        resource_type: "Bundle".into(),
        type_: "transaction".into(),
        entry: resources.into_iter().map(put_entry).collect(),
    }
}

/// A transaction entry that `PUT`s `resource` to `Type/id`.
fn put_entry(resource: Resource) -> BundleEntry {
    let url = format!("{}/{}", resource.type_name(), resource.id());
    BundleEntry {
        resource: Some(resource),
        request: Some(BundleRequest {
            method: "PUT".into(),
            url,
        }),
    }
}

fn resource_key(resource: &Resource) -> String {
    format!("{}/{}", resource.type_name(), resource.id())
}

/// A set of keys that forgets everything once it holds `MAX_REMEMBERED`.
#[derive(Debug, Default)]
struct Remembered(HashSet<String>);

impl Remembered {
    fn contains(&self, key: &str) -> bool {
        self.0.contains(key)
    }

    /// Adds `key`; false if it was there.
    fn insert(&mut self, key: String) -> bool {
        if self.0.len() >= MAX_REMEMBERED {
            self.0.clear();
        }
        self.0.insert(key)
    }
}

// ---------------------------------------------------------------------------
// Encoder
// ---------------------------------------------------------------------------

/// Where resources go.
enum Output {
    /// NDJSON, every type in one stream.
    Lines(Box<dyn Write + Send>),
    /// NDJSON, one file per type in `dir`.
    Directory {
        dir: PathBuf,
        files: BTreeMap<&'static str, BufWriter<File>>,
    },
    /// One transaction Bundle per line.
    Bundles(Box<dyn Write + Send>),
}

/// The encoder of every FHIR format; see the module documentation.
pub struct FhirEncoder {
    profile: WriteProfile,
    output: Output,
    key: Option<GroupKey>,
    items: Vec<Mapped>,
    /// Referenced resources already written (NDJSON).
    written: Remembered,
    /// Organizations written from organisation records, which a
    /// referenced-only Organization must not overwrite.
    organisations: Remembered,
    line: Vec<u8>,
}

impl std::fmt::Debug for FhirEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FhirEncoder").finish_non_exhaustive()
    }
}

impl FhirEncoder {
    pub fn lines(output: Box<dyn Write + Send>, profile: WriteProfile) -> Self {
        Self::new(Output::Lines(output), profile)
    }

    pub fn bundles(output: Box<dyn Write + Send>, profile: WriteProfile) -> Self {
        Self::new(Output::Bundles(output), profile)
    }

    pub fn directory(dir: &Path, profile: WriteProfile) -> io::Result<Self> {
        if !dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is not a directory", dir.display()),
            ));
        }
        Ok(Self::new(
            Output::Directory {
                dir: dir.to_path_buf(),
                files: BTreeMap::new(),
            },
            profile,
        ))
    }

    fn new(output: Output, profile: WriteProfile) -> Self {
        FhirEncoder {
            profile,
            output,
            key: None,
            items: Vec::new(),
            written: Remembered::default(),
            organisations: Remembered::default(),
            line: Vec::with_capacity(8 * 1024),
        }
    }

    /// Writes the current group, in order.
    fn flush_group(&mut self) -> io::Result<()> {
        if self.items.is_empty() {
            return Ok(());
        }
        let mut items = std::mem::take(&mut self.items);
        arrange(&mut items, self.profile);
        if let Output::Bundles(_) = self.output {
            return self.write_bundle(items);
        }
        for item in items {
            for referenced in item.referenced {
                if self.keep_referenced(&referenced)
                    && self.written.insert(resource_key(&referenced))
                {
                    self.write_line(&referenced)?;
                }
            }
            for resource in item.resources {
                self.note_organisation(&resource);
                self.write_line(&resource)?;
            }
        }
        Ok(())
    }

    /// A referenced-only Organization is not written over one that came
    /// from an organisation record.
    fn keep_referenced(&self, resource: &Resource) -> bool {
        !matches!(resource, Resource::Organization(o) if self.organisations.contains(&o.id))
    }

    fn note_organisation(&mut self, resource: &Resource) {
        if let Resource::Organization(o) = resource {
            self.organisations.insert(o.id.clone());
        }
    }

    fn write_bundle(&mut self, items: Vec<Mapped>) -> io::Result<()> {
        let mut in_bundle = HashSet::new();
        let mut resources = Vec::new();
        for item in items {
            for referenced in item.referenced {
                if self.keep_referenced(&referenced) && in_bundle.insert(resource_key(&referenced))
                {
                    resources.push(referenced);
                }
            }
            for resource in item.resources {
                self.note_organisation(&resource);
                resources.push(resource);
            }
        }
        let bundle = transaction_bundle(resources);
        self.line.clear();
        write_bundle_json(&bundle, &mut self.line);
        self.line.push(b'\n');
        match &mut self.output {
            Output::Bundles(out) => out.write_all(&self.line),
            _ => Ok(()),
        }
    }

    fn write_line(&mut self, resource: &Resource) -> io::Result<()> {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        write_json(resource, &mut line);
        line.push(b'\n');
        let written = self.write_bytes(resource.type_name(), &line);
        self.line = line;
        written
    }

    /// Writes NDJSON lines of resources of type `name`.
    fn write_bytes(&mut self, name: &'static str, lines: &[u8]) -> io::Result<()> {
        match &mut self.output {
            Output::Lines(out) | Output::Bundles(out) => out.write_all(lines),
            Output::Directory { dir, files } => {
                let file = match files.entry(name) {
                    std::collections::btree_map::Entry::Occupied(file) => file.into_mut(),
                    std::collections::btree_map::Entry::Vacant(slot) => {
                        let path = dir.join(format!("{name}.ndjson"));
                        let file = File::create(&path).map_err(|e| {
                            io::Error::new(e.kind(), format!("{}: {e}", path.display()))
                        })?;
                        slot.insert(BufWriter::with_capacity(BUFFER_BYTES, file))
                    }
                };
                file.write_all(lines)
            }
        }
    }

    /// Writes a group [`FhirPreparer`] made: what is left to decide here
    /// is which referenced resources are already written.
    fn write_prepared(&mut self, group: PreparedGroup) -> io::Result<()> {
        let PreparedGroup { bytes, parts, .. } = group;
        let bundles = matches!(self.output, Output::Bundles(_));
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        line.extend_from_slice(BUNDLE_START);
        let mut first = true;
        let mut start = 0;
        let mut written = Ok(());
        for Part {
            type_name,
            referenced,
            organisation,
            end,
        } in parts
        {
            let part = &bytes[start..end];
            start = end;
            match (&referenced, organisation) {
                (Some(_), Some(id)) if self.organisations.contains(&id) => continue,
                (None, Some(id)) => {
                    self.organisations.insert(id);
                }
                _ => {}
            }
            if bundles {
                if !std::mem::take(&mut first) {
                    line.push(b',');
                }
                line.extend_from_slice(part);
                continue;
            }
            if let Some(key) = referenced
                && !self.written.insert(key)
            {
                continue;
            }
            written = self.write_bytes(type_name, part);
            if written.is_err() {
                break;
            }
        }
        if bundles && written.is_ok() {
            line.extend_from_slice(BUNDLE_END);
            if let Output::Bundles(out) = &mut self.output {
                written = out.write_all(&line);
            }
        }
        self.line = line;
        written
    }
}

// ---------------------------------------------------------------------------
// Preparing groups on other threads
// ---------------------------------------------------------------------------

/// What every transaction Bundle line starts and ends with, around its
/// entries: the bytes serde writes for [`Bundle`].
const BUNDLE_START: &[u8] = br#"{"resourceType":"Bundle","type":"transaction","entry":["#;
const BUNDLE_END: &[u8] = b"]}\n";

/// Maps, arranges and serialises a batch that is one whole group (one
/// patient's records, or organisations), on whatever thread a job runs it:
/// the costly part of encoding. See [`FhirEncoder::encode_prepared`].
#[derive(Debug)]
struct FhirPreparer {
    profile: WriteProfile,
    bundles: bool,
    /// The most bytes per record a group has needed so far: a group's
    /// buffer is sized from it, so it is seldom grown (and copied) while
    /// filling.
    bytes_per_record: AtomicUsize,
}

/// A group as [`FhirPreparer`] leaves it.
#[derive(Debug)]
pub(super) struct PreparedGroup {
    key: GroupKey,
    /// Records FHIR cannot hold: (index in the batch, reason).
    refused: Vec<(usize, String)>,
    /// NDJSON lines or Bundle entries, back to back, in writing order.
    bytes: Vec<u8>,
    parts: Vec<Part>,
}

/// One serialised line or Bundle entry of a [`PreparedGroup`], from the
/// previous part's end to `end`.
#[derive(Debug)]
struct Part {
    type_name: &'static str,
    /// `Type/id` of a resource a record refers to: written only if the
    /// encoder has not written it yet (which only the encoder knows).
    referenced: Option<String>,
    /// The id of an Organization: one from an organisation record is
    /// noted, a referenced one left out when such a record wrote it.
    organisation: Option<String>,
    end: usize,
}

impl FhirPreparer {
    fn group(&self, batch: &[Record]) -> Option<PreparedGroup> {
        let key = group_key(batch.first()?);
        if batch.len() > MAX_GROUP_RECORDS || batch[1..].iter().any(|r| group_key(r) != key) {
            return None;
        }
        let mut items = Vec::with_capacity(batch.len());
        let mut refused = Vec::new();
        for (index, record) in batch.iter().enumerate() {
            match map_record(record, self.profile) {
                Ok(mapped) => items.push(mapped),
                Err(reason) => refused.push((index, reason)),
            }
        }
        arrange(&mut items, self.profile);
        let per_record = self.bytes_per_record.load(Ordering::Relaxed);
        let mut group = PreparedGroup {
            key,
            refused,
            bytes: Vec::with_capacity(items.len() * per_record),
            parts: Vec::with_capacity(items.len() * 3),
        };
        // A resource referred to twice in the group is written (or left
        // out) once: the encoder would skip the later ones.
        let mut in_group: HashMap<&'static str, HashSet<String>> = HashMap::new();
        for item in items {
            for referenced in item.referenced {
                let ids = in_group.entry(referenced.type_name()).or_default();
                if !ids.contains(referenced.id()) {
                    ids.insert(referenced.id().to_owned());
                    let resource_key = resource_key(&referenced);
                    group.push(referenced, Some(resource_key), self.bundles);
                }
            }
            for resource in item.resources {
                group.push(resource, None, self.bundles);
            }
        }
        if !batch.is_empty() {
            let needed = group.bytes.len().div_ceil(batch.len());
            self.bytes_per_record.fetch_max(needed, Ordering::Relaxed);
        }
        Some(group)
    }
}

impl PreparedGroup {
    /// Serialises `resource` as the next line, or Bundle entry.
    fn push(&mut self, resource: Resource, referenced: Option<String>, entry: bool) {
        let type_name = resource.type_name();
        let organisation = match &resource {
            Resource::Organization(o) => Some(o.id.clone()),
            _ => None,
        };
        if entry {
            write_bundle_entry_json(&put_entry(resource), &mut self.bytes);
        } else {
            write_json(&resource, &mut self.bytes);
            self.bytes.push(b'\n');
        }
        self.parts.push(Part {
            type_name,
            referenced,
            organisation,
            end: self.bytes.len(),
        });
    }
}

impl Prepare for FhirPreparer {
    fn prepare(&self, batch: &[Record]) -> Prepared {
        match self.group(batch) {
            Some(group) => Prepared::new(group),
            None => Prepared::new(()),
        }
    }
}

impl Encoder for FhirEncoder {
    fn preparer(&self) -> Option<Arc<dyn Prepare>> {
        Some(Arc::new(FhirPreparer {
            profile: self.profile,
            bundles: matches!(self.output, Output::Bundles(_)),
            bytes_per_record: AtomicUsize::new(2048),
        }))
    }

    /// A batch prepared as one group is written as a group of its own —
    /// the Patient, then its records in order — exactly as record-by-record
    /// encoding writes the same group. A batch that is not one group, or
    /// continues the group being collected, is encoded record by record.
    fn encode_prepared(
        &mut self,
        batch: &[Record],
        prepared: Prepared,
    ) -> Vec<Result<(), EncodeError>> {
        let group = match prepared.take::<PreparedGroup>() {
            Some(group) if self.key.as_ref() != Some(&group.key) => group,
            _ => return batch.iter().map(|record| self.encode(record)).collect(),
        };
        let mut answers: Vec<Result<(), EncodeError>> = batch.iter().map(|_| Ok(())).collect();
        for (index, reason) in &group.refused {
            if let Some(answer) = answers.get_mut(*index) {
                *answer = Err(EncodeError::Unsupported(reason.clone()));
            }
        }
        let written = self.flush_group().and_then(|()| {
            self.key = None;
            self.write_prepared(group)
        });
        if let Err(e) = written {
            for answer in answers.iter_mut().filter(|a| a.is_ok()) {
                *answer = Err(EncodeError::Io(io::Error::new(e.kind(), e.to_string())));
            }
        }
        answers
    }

    fn encode(&mut self, record: &Record) -> Result<(), EncodeError> {
        let mapped = map_record(record, self.profile).map_err(EncodeError::Unsupported)?;
        let key = group_key(record);
        if self.key.as_ref() != Some(&key) || self.items.len() >= MAX_GROUP_RECORDS {
            self.flush_group()?;
            self.key = Some(key);
        }
        self.items.push(mapped);
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        self.flush_group()?;
        match &mut self.output {
            Output::Lines(out) | Output::Bundles(out) => out.flush(),
            Output::Directory { files, .. } => {
                for file in files.values_mut() {
                    file.flush()?;
                }
                Ok(())
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Decoders
// ---------------------------------------------------------------------------

/// Lines of an input, one at a time, in a reused buffer.
struct Lines {
    input: Box<dyn BufRead + Send>,
    buf: Vec<u8>,
    line: u64,
    offset: u64,
}

enum Line {
    End,
    /// A line, and whether it ended with a newline.
    Text {
        complete: bool,
    },
    TooLong,
}

impl Lines {
    fn next(&mut self) -> io::Result<Line> {
        self.buf.clear();
        let read = io::Read::take(&mut self.input, MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut self.buf)?;
        if read == 0 {
            return Ok(Line::End);
        }
        self.line += 1;
        self.offset += read as u64;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
            return Ok(Line::Text { complete: true });
        }
        if read > MAX_LINE_BYTES {
            loop {
                let chunk = self.input.fill_buf()?;
                if chunk.is_empty() {
                    break;
                }
                let (used, done) = match chunk.iter().position(|&b| b == b'\n') {
                    Some(i) => (i + 1, true),
                    None => (chunk.len(), false),
                };
                self.input.consume(used);
                self.offset += used as u64;
                if done {
                    break;
                }
            }
            self.buf.clear();
            return Ok(Line::TooLong);
        }
        Ok(Line::Text { complete: false })
    }
}

/// What reading one line found.
enum Parsed<T> {
    Value(T),
    Reject(String),
    Truncated,
}

/// Parses the current line as `T`, with the checks every line gets.
fn parse_line<T>(
    lines: &Lines,
    complete: bool,
    parse: impl FnOnce(&[u8]) -> serde_json::Result<T>,
) -> Parsed<T> {
    if let Err(e) = std::str::from_utf8(&lines.buf) {
        return Parsed::Reject(format!(
            "the line is not UTF-8 (invalid byte at column {})",
            e.valid_up_to() + 1
        ));
    }
    match parse(&lines.buf) {
        Ok(value) => Parsed::Value(value),
        Err(e) if !complete && e.is_eof() => Parsed::Truncated,
        Err(e) => Parsed::Reject(scrub(&e.to_string())),
    }
}

/// A serde message without the values it quotes (a quoted value could be a
/// personnummer or note text).
fn scrub(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        if c == '"' {
            if quoted {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

/// The `resourceType` a line declares, for messages about a type Brygga
/// does not read.
fn declared_type(line: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Declared {
        #[serde(rename = "resourceType")]
        resource_type: Option<String>,
    }
    serde_json::from_slice::<Declared>(line)
        .ok()
        .and_then(|d| d.resource_type)
        .filter(|t| t.len() <= 64 && t.bytes().all(|b| b.is_ascii_alphabetic()))
        .unwrap_or_else(|| "(no resourceType)".to_owned())
}

/// The `resourceType` at the start of a line as Brygga writes it.
fn leading_type(line: &[u8]) -> Option<&[u8]> {
    const PREFIX: &[u8] = br#"{"resourceType":""#;
    let rest = line.strip_prefix(PREFIX)?;
    rest.iter().position(|&b| b == b'"').map(|end| &rest[..end])
}

/// Whether a line is a resource the reader passes over (it repeats what
/// records hold), known from its start without parsing it.
fn is_passed_over(line: &[u8]) -> bool {
    matches!(
        leading_type(line),
        Some(b"Provenance" | b"Practitioner" | b"PractitionerRole" | b"RelatedPerson")
    )
}

/// A resource from one NDJSON line: straight into its struct when the line
/// begins with `{"resourceType":"…"` (as Brygga writes it), else through the
/// tagged enum.
fn parse_resource(line: &[u8]) -> serde_json::Result<Resource> {
    Ok(match leading_type(line) {
        Some(b"Patient") => Resource::Patient(serde_json::from_slice(line)?),
        Some(b"Organization") => Resource::Organization(serde_json::from_slice(line)?),
        Some(b"Encounter") => Resource::Encounter(serde_json::from_slice(line)?),
        Some(b"DocumentReference") => Resource::DocumentReference(serde_json::from_slice(line)?),
        Some(b"Observation") => Resource::Observation(serde_json::from_slice(line)?),
        Some(b"Immunization") => Resource::Immunization(serde_json::from_slice(line)?),
        Some(b"Consent") => Resource::Consent(serde_json::from_slice(line)?),
        _ => serde_json::from_slice(line)?,
    })
}

/// Reads NDJSON resources (one stream of any types, or one type's file).
pub struct NdjsonDecoder {
    lines: Lines,
    items: u64,
    done: bool,
}

impl std::fmt::Debug for NdjsonDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NdjsonDecoder").finish_non_exhaustive()
    }
}

impl NdjsonDecoder {
    pub fn new(input: Box<dyn BufRead + Send>) -> Self {
        NdjsonDecoder {
            lines: Lines {
                input,
                buf: Vec::with_capacity(8 * 1024),
                line: 0,
                offset: 0,
            },
            items: 0,
            done: false,
        }
    }

    fn position(&self, start: u64) -> Position {
        Position {
            record: self.items,
            line: Some(self.lines.line),
            offset: Some(start),
        }
    }
}

impl Decoder for NdjsonDecoder {
    fn next_record(&mut self) -> Option<Result<Record, DecodeError>> {
        loop {
            if self.done {
                return None;
            }
            let start = self.lines.offset;
            let complete = match self.lines.next() {
                Ok(Line::End) => {
                    self.done = true;
                    return None;
                }
                Ok(Line::Text { complete }) => complete,
                Ok(Line::TooLong) => {
                    self.items += 1;
                    return Some(Err(reject(
                        self.position(start),
                        None,
                        None,
                        format!("line longer than {MAX_LINE_BYTES} bytes"),
                    )));
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(DecodeError::Fatal(Fatal {
                        position: Position {
                            record: self.items + 1,
                            ..self.position(start)
                        },
                        reason: format!("read failed: {e}"),
                    })));
                }
            };
            if self.lines.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if complete && is_passed_over(&self.lines.buf) {
                continue;
            }
            let resource = match parse_line(&self.lines, complete, parse_resource) {
                Parsed::Value(resource) => resource,
                Parsed::Reject(reason) => {
                    self.items += 1;
                    return Some(Err(reject(self.position(start), None, None, reason)));
                }
                Parsed::Truncated => {
                    self.done = true;
                    return Some(Err(truncated(Position {
                        record: self.items + 1,
                        ..self.position(start)
                    })));
                }
            };
            let kind = match resource {
                Resource::Unknown => declared_type(&self.lines.buf),
                _ => resource.type_name().to_owned(),
            };
            match decode::read(resource) {
                Ok(Read::PassedOver) => continue,
                Ok(Read::Record(record)) => {
                    self.items += 1;
                    return Some(Ok(*record));
                }
                Err(refusal) => {
                    self.items += 1;
                    return Some(Err(reject(
                        self.position(start),
                        Some(&kind),
                        Some(refusal.field),
                        refusal.reason,
                    )));
                }
            }
        }
    }
}

fn reject(
    position: Position,
    kind: Option<&str>,
    field: Option<String>,
    reason: String,
) -> DecodeError {
    DecodeError::Reject(Reject {
        position,
        record_kind: kind.map(str::to_owned),
        field,
        reason,
    })
}

fn truncated(position: Position) -> DecodeError {
    DecodeError::Fatal(Fatal {
        position,
        reason: "the input ends in the middle of a line: it is truncated".to_owned(),
    })
}

/// A Bundle as read: only what the reader needs of it.
#[derive(serde::Deserialize)]
struct ReadBundle {
    #[serde(rename = "resourceType", default)]
    resource_type: String,
    #[serde(default)]
    entry: Vec<ReadEntry>,
}

#[derive(serde::Deserialize)]
struct ReadEntry {
    #[serde(default)]
    resource: Option<EntryResource>,
}

/// An entry's resource: read straight into its struct when `resourceType`
/// comes first (as Brygga writes it), skipped unparsed when the reader
/// passes it over, else read through the tagged enum.
enum EntryResource {
    Read(Box<Resource>),
    PassedOver,
    /// A type Brygga does not read, by its name.
    Unread(String),
}

impl<'de> serde::Deserialize<'de> for EntryResource {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> serde::de::Visitor<'de> for EntryVisitor {
    type Value = EntryResource;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a FHIR resource")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> Result<EntryResource, A::Error> {
        use serde::Deserialize as _;
        use serde::de::IgnoredAny;
        use serde::de::value::MapAccessDeserializer;

        let Some(first) = map.next_key::<String>()? else {
            return Ok(EntryResource::Unread("(no resourceType)".to_owned()));
        };
        if first == "resourceType" {
            let resource_type: String = map.next_value()?;
            let rest = MapAccessDeserializer::new(map);
            return Ok(EntryResource::Read(Box::new(
                match resource_type.as_str() {
                    "Patient" => Resource::Patient(Patient::deserialize(rest)?),
                    "Organization" => Resource::Organization(Organization::deserialize(rest)?),
                    "Encounter" => Resource::Encounter(Encounter::deserialize(rest)?),
                    "DocumentReference" => {
                        Resource::DocumentReference(DocumentReference::deserialize(rest)?)
                    }
                    "Observation" => Resource::Observation(Observation::deserialize(rest)?),
                    "Immunization" => Resource::Immunization(Immunization::deserialize(rest)?),
                    "Consent" => Resource::Consent(Consent::deserialize(rest)?),
                    "Provenance" | "Practitioner" | "PractitionerRole" | "RelatedPerson" => {
                        IgnoredAny::deserialize(rest)?;
                        return Ok(EntryResource::PassedOver);
                    }
                    _ => {
                        IgnoredAny::deserialize(rest)?;
                        return Ok(EntryResource::Unread(resource_type));
                    }
                },
            )));
        }
        let mut object = serde_json::Map::new();
        object.insert(first, map.next_value()?);
        while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
            object.insert(key, value);
        }
        let declared = object
            .get("resourceType")
            .and_then(|t| t.as_str())
            .unwrap_or("(no resourceType)")
            .to_owned();
        match Resource::deserialize(serde_json::Value::Object(object))
            .map_err(serde::de::Error::custom)?
        {
            Resource::Unknown => Ok(EntryResource::Unread(declared)),
            Resource::Provenance(_)
            | Resource::Practitioner(_)
            | Resource::PractitionerRole(_)
            | Resource::RelatedPerson(_) => Ok(EntryResource::PassedOver),
            resource => Ok(EntryResource::Read(Box::new(resource))),
        }
    }
}

/// Reads one transaction Bundle per line, yielding the records of its
/// entries in order.
pub struct BundleDecoder {
    lines: Lines,
    entries: VecDeque<(usize, Option<EntryResource>)>,
    bundle_start: u64,
    items: u64,
    done: bool,
}

impl std::fmt::Debug for BundleDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleDecoder").finish_non_exhaustive()
    }
}

impl BundleDecoder {
    pub fn new(input: Box<dyn BufRead + Send>) -> Self {
        BundleDecoder {
            lines: Lines {
                input,
                buf: Vec::with_capacity(64 * 1024),
                line: 0,
                offset: 0,
            },
            entries: VecDeque::new(),
            bundle_start: 0,
            items: 0,
            done: false,
        }
    }

    fn position(&self) -> Position {
        Position {
            record: self.items,
            line: Some(self.lines.line),
            offset: Some(self.bundle_start),
        }
    }

    /// Reads the next Bundle into `entries`; `Some` for what to report
    /// instead (a bad line, the end, a fatal error).
    fn next_bundle(&mut self) -> Option<Option<Result<Record, DecodeError>>> {
        let start = self.lines.offset;
        self.bundle_start = start;
        let complete = match self.lines.next() {
            Ok(Line::End) => {
                self.done = true;
                return Some(None);
            }
            Ok(Line::Text { complete }) => complete,
            Ok(Line::TooLong) => {
                self.items += 1;
                return Some(Some(Err(reject(
                    self.position(),
                    Some("Bundle"),
                    None,
                    format!("line longer than {MAX_LINE_BYTES} bytes"),
                ))));
            }
            Err(e) => {
                self.done = true;
                return Some(Some(Err(DecodeError::Fatal(Fatal {
                    position: Position {
                        record: self.items + 1,
                        ..self.position()
                    },
                    reason: format!("read failed: {e}"),
                }))));
            }
        };
        if self.lines.buf.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        let bundle = match parse_line(&self.lines, complete, |line| {
            serde_json::from_slice::<ReadBundle>(line)
        }) {
            Parsed::Value(bundle) => bundle,
            Parsed::Reject(reason) => {
                self.items += 1;
                return Some(Some(Err(reject(
                    self.position(),
                    Some("Bundle"),
                    None,
                    reason,
                ))));
            }
            Parsed::Truncated => {
                self.done = true;
                return Some(Some(Err(truncated(Position {
                    record: self.items + 1,
                    ..self.position()
                }))));
            }
        };
        if bundle.resource_type != "Bundle" {
            self.items += 1;
            return Some(Some(Err(reject(
                self.position(),
                Some("Bundle"),
                Some("resourceType".to_owned()),
                "each line must be a Bundle".to_owned(),
            ))));
        }
        self.entries.extend(
            bundle
                .entry
                .into_iter()
                .enumerate()
                .map(|(index, entry)| (index, entry.resource)),
        );
        None
    }
}

impl Decoder for BundleDecoder {
    fn next_record(&mut self) -> Option<Result<Record, DecodeError>> {
        loop {
            if let Some((index, resource)) = self.entries.pop_front() {
                let resource = match resource {
                    Some(EntryResource::Read(resource)) => *resource,
                    Some(EntryResource::PassedOver) => continue,
                    Some(EntryResource::Unread(declared)) => {
                        self.items += 1;
                        return Some(Err(reject(
                            self.position(),
                            Some(&declared),
                            Some(format!("entry[{index}].resource.resourceType")),
                            UNREAD_TYPE.to_owned(),
                        )));
                    }
                    None => {
                        self.items += 1;
                        return Some(Err(reject(
                            self.position(),
                            Some("Bundle"),
                            Some(format!("entry[{index}].resource")),
                            "missing".to_owned(),
                        )));
                    }
                };
                let kind = resource.type_name();
                match decode::read(resource) {
                    Ok(Read::PassedOver) => continue,
                    Ok(Read::Record(record)) => {
                        self.items += 1;
                        return Some(Ok(*record));
                    }
                    Err(refusal) => {
                        self.items += 1;
                        return Some(Err(reject(
                            self.position(),
                            Some(kind),
                            Some(format!(
                                "entry[{index}].resource.{}",
                                refusal
                                    .field
                                    .strip_prefix(kind)
                                    .and_then(|f| f.strip_prefix('.'))
                                    .unwrap_or(&refusal.field)
                            )),
                            refusal.reason,
                        )));
                    }
                }
            }
            if self.done {
                return None;
            }
            if let Some(report) = self.next_bundle() {
                return report;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_scrubbed_from_messages() {
        assert_eq!(
            scrub(r#"invalid type: string "196408233234", expected u32 at line 1"#),
            r#"invalid type: string "…", expected u32 at line 1"#
        );
        assert_eq!(scrub("missing field `id`"), "missing field `id`");
    }
}
