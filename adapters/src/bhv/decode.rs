//! Reading a BHV extract: one record element at a time from the
//! [`ExtractReader`], each turned into one canonical record or one
//! [`Reject`].
//!
//! Elements inside a record may come in any order (the schema fixes one; the
//! encoder writes it); each single-valued element may appear once. An
//! element or attribute this format does not define is refused, so nothing
//! in an extract is dropped unnoticed — except what the guardians withheld:
//! of `<undanhallet>` only its two attributes ever reach this module (the
//! reader never keeps what it wraps), and they become markers.
//!
//! Messages never quote free text, and quote other values only when short
//! and free of anything that could be a personnummer (see [`shown`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::BufRead;
use std::sync::Arc;

use brygga_mapping::id::{HsaId, Identifier, LocalId, PersonId, PersonIdKind};
use brygga_mapping::model::{
    Address, Attachment, CareOrganisation, Consent, ConsentGiver, Contact, EntryStatus, Guardian,
    Immunization, JournalEntry, KeywordSection, Measurement, MeasurementKind, MeasurementValue,
    NoteContent, NoteType, NoteTypeCode, Organisation, OrganisationKind, Person, Practitioner,
    Profession, Record, SecrecyDomain, SecurityMarking, SourceRef, Telecom, Vaccine, WithheldPart,
};
use brygga_mapping::profile::{Profile, Unmapped};
use brygga_mapping::time::ClinicalTime;

use super::reader::{El, ExtractReader};
use super::vocab::{self, GiverRole, Vocab};
use super::{Kind, Names, VERSION, tag};
use crate::xml::{XmlError, XmlErrorKind};
use crate::{DecodeError, Decoder, Fatal, Position, Reject};

pub(super) struct BhvDecoder {
    records: ExtractReader<Box<dyn BufRead + Send>>,
    profile: Arc<Profile>,
    names: Names,
    lookups: RefCell<Lookups>,
    /// Record elements read so far.
    count: u64,
    started: bool,
    done: bool,
}

impl BhvDecoder {
    pub(super) fn new(input: Box<dyn BufRead + Send>, profile: Arc<Profile>) -> Self {
        BhvDecoder {
            records: ExtractReader::new(input),
            names: Names::from_profile(&profile),
            profile,
            lookups: RefCell::default(),
            count: 0,
            started: false,
            done: false,
        }
    }

    #[cfg(test)]
    pub(super) fn with_max_record_bytes(
        input: Box<dyn BufRead + Send>,
        profile: Arc<Profile>,
        max_record_bytes: usize,
    ) -> Self {
        BhvDecoder {
            records: ExtractReader::with_max_record_bytes(input, max_record_bytes),
            ..BhvDecoder::new(Box::new(std::io::empty()), profile)
        }
    }

    fn position(&self, line: Option<u64>) -> Position {
        Position {
            record: self.count + 1,
            line,
            offset: None,
        }
    }

    /// Checks the element names and the root element before the first record.
    fn start(&mut self) -> Result<(), Fatal> {
        if let Some(problem) = self.names.problem() {
            return Err(Fatal {
                position: self.position(None),
                reason: problem,
            });
        }
        let position = self.position(None);
        let root = match self.records.root() {
            Ok(root) => root,
            Err(e) => {
                return Err(xml_fatal(
                    Position {
                        line: Some(e.line),
                        ..position
                    },
                    &e,
                ));
            }
        };
        let reason = if root.name != self.names.root {
            Some(format!(
                "the root element is <{}>; a bhv extract's root is <{}>",
                tag_name(&root.name),
                self.names.root
            ))
        } else {
            match &root.version {
                Some(version) if version.trim() != VERSION => Some(format!(
                    "version {} of the bhv extract is not known; this reader knows version {VERSION}",
                    shown(version)
                )),
                _ => None,
            }
        };
        match reason {
            Some(reason) => Err(Fatal {
                position: Position {
                    line: Some(root.line),
                    ..position
                },
                reason,
            }),
            None => Ok(()),
        }
    }
}

/// Turns one record element into a canonical record, or says why not.
fn decode(
    names: &Names,
    profile: &Profile,
    lookups: &RefCell<Lookups>,
    record: u64,
    el: El<'_>,
) -> Result<Record, Reject> {
    let position = Position {
        record,
        line: Some(el.line()),
        offset: None,
    };
    let Some(kind) = names.kind(el.name()) else {
        let reason = if el.name() == tag::WITHHELD {
            "a whole record cannot be withheld in a bhv extract: a withheld note keeps its heading and wraps its content in <undanhallet>, and other withheld records are left out; skipped unread".to_owned()
        } else {
            format!(
                "unknown record element; a bhv extract holds {}",
                names
                    .all()
                    .iter()
                    .skip(1)
                    .map(|(_, name)| format!("<{name}>"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return Err(Reject {
            position,
            record_kind: Some(format!("<{}>", tag_name(el.name()))),
            field: None,
            reason,
        });
    };
    let cx = Ctx {
        rec: names.of(kind),
        profile,
        lookups,
    };
    let decoded = match kind {
        Kind::Child => child(&cx, el).map(Record::Person),
        Kind::CareProvider => {
            organisation(&cx, el, OrganisationKind::CareProvider).map(Record::Organisation)
        }
        Kind::CareUnit => {
            organisation(&cx, el, OrganisationKind::CareUnit).map(Record::Organisation)
        }
        Kind::Contact => contact(&cx, el).map(Record::Contact),
        Kind::Note => note(&cx, el).map(Record::JournalEntry),
        Kind::Measurement => measurement(&cx, el).map(Record::Measurement),
        Kind::Vaccination => vaccination(&cx, el).map(Record::Immunization),
        Kind::Consent => consent(&cx, el).map(Record::Consent),
    };
    decoded.map_err(|bad| Reject {
        position,
        record_kind: Some(format!("<{}>", cx.rec)),
        field: Some(bad.field),
        reason: bad.reason,
    })
}

impl Decoder for BhvDecoder {
    fn next_record(&mut self) -> Option<Result<Record, DecodeError>> {
        if self.done {
            return None;
        }
        if !self.started {
            self.started = true;
            if let Err(fatal) = self.start() {
                self.done = true;
                return Some(Err(DecodeError::Fatal(fatal)));
            }
        }
        let Some(item) = self.records.next_record() else {
            self.done = true;
            return None;
        };
        match item {
            Ok(tree) => {
                self.count += 1;
                let decoded = decode(
                    &self.names,
                    &self.profile,
                    &self.lookups,
                    self.count,
                    tree.record(),
                );
                Some(decoded.map_err(DecodeError::Reject))
            }
            Err(e) if e.is_fatal() => {
                self.done = true;
                let fatal = xml_fatal(self.position(Some(e.line)), &e);
                Some(Err(DecodeError::Fatal(fatal)))
            }
            Err(e) => {
                let position = self.position(Some(e.line));
                if matches!(e.kind, XmlErrorKind::RecordTooLarge { .. }) {
                    self.count += 1;
                }
                Some(Err(DecodeError::Reject(Reject {
                    position,
                    record_kind: None,
                    field: None,
                    reason: xml_reason(&e),
                })))
            }
        }
    }
}

fn xml_fatal(position: Position, e: &XmlError) -> Fatal {
    Fatal {
        position,
        reason: xml_reason(e),
    }
}

/// The XML reader's message without its `line N: ` prefix, which the
/// position already gives.
fn xml_reason(e: &XmlError) -> String {
    let text = e.to_string();
    let prefix = format!("line {}: ", e.line);
    match text.strip_prefix(&prefix) {
        Some(reason) => reason.to_owned(),
        None => text,
    }
}

/// What is wrong with one record: the dotted path of the field at fault,
/// and why.
#[derive(Debug)]
struct Bad {
    field: String,
    reason: String,
}

/// The record being read: its element name (the start of every field path)
/// and the profile that classifies its names.
struct Ctx<'a> {
    rec: &'a str,
    profile: &'a Profile,
    lookups: &'a RefCell<Lookups>,
}

/// The profile's answers for names seen before, keyed by the name exactly
/// as written: an extract repeats a few dozen templates, titles and
/// measurement names millions of times, and the profile's own lookup folds
/// case and whitespace (allocating) on every call. Only answers without a
/// side effect are kept — an unclassified template is asked again each time,
/// so the profile counts it — and each table stops growing at
/// [`MAX_CACHED`] names, so memory stays bounded whatever the input.
#[derive(Debug, Default)]
pub(super) struct Lookups {
    professions: HashMap<Box<str>, Option<Profession>>,
    note_types: HashMap<Box<str>, NoteTypeCode>,
    template_domains: HashMap<Box<str>, SecrecyDomain>,
    measurements: HashMap<Box<str>, Option<MeasurementKind>>,
}

const MAX_CACHED: usize = 256;

fn cached<T: Copy>(table: &mut HashMap<Box<str>, T>, name: &str, ask: impl FnOnce() -> T) -> T {
    if let Some(answer) = table.get(name) {
        return *answer;
    }
    let answer = ask();
    if table.len() < MAX_CACHED {
        table.insert(name.into(), answer);
    }
    answer
}

impl Ctx<'_> {
    fn profession(&self, title: &str) -> Option<Profession> {
        let mut lookups = self.lookups.borrow_mut();
        cached(&mut lookups.professions, title, || {
            self.profile.profession(title)
        })
    }

    fn measurement(&self, name: &str) -> Option<MeasurementKind> {
        let mut lookups = self.lookups.borrow_mut();
        cached(&mut lookups.measurements, name, || {
            self.profile.measurement(name)
        })
    }

    fn template_domain(&self, template: &str) -> SecrecyDomain {
        let mut lookups = self.lookups.borrow_mut();
        cached(&mut lookups.template_domains, template, || {
            self.profile.secrecy_domain(template)
        })
    }

    fn note_type(&self, template: &str) -> Result<NoteType, Unmapped> {
        let mut lookups = self.lookups.borrow_mut();
        if let Some(&code) = lookups.note_types.get(template) {
            return Ok(NoteType {
                code,
                original: Some(template.to_owned()),
            });
        }
        let note_type = self.profile.note_type(template)?;
        if note_type.code != NoteTypeCode::Unclassified && lookups.note_types.len() < MAX_CACHED {
            lookups.note_types.insert(template.into(), note_type.code);
        }
        Ok(note_type)
    }
}

impl Ctx<'_> {
    fn bad<'p>(&self, path: impl Into<Path<'p>>, reason: impl Into<String>) -> Bad {
        let path: Path<'_> = path.into();
        let field = if path.is_empty() {
            self.rec.to_owned()
        } else {
            format!("{}.{path}", self.rec)
        };
        Bad {
            field,
            reason: reason.into(),
        }
    }

    fn missing<'p>(&self, path: impl Into<Path<'p>>) -> Bad {
        let path: Path<'_> = path.into();
        let name = path.last();
        self.bad(path, format!("required element <{name}> is missing"))
    }

    fn missing_attribute<'p>(&self, path: impl Into<Path<'p>>, attribute: &str) -> Bad {
        let path: Path<'_> = path.into();
        self.bad(
            path.join(attribute),
            format!("required attribute {attribute} is missing"),
        )
    }

    fn unknown_element<'p>(&self, path: impl Into<Path<'p>>, name: &str) -> Bad {
        let path: Path<'_> = path.into();
        if name == tag::WITHHELD {
            return self.bad(
                path.join(name),
                "only a note's content can be withheld; a withheld record of another kind is left out of the extract (skipped unread)",
            );
        }
        self.bad(path, format!("unknown element <{}>", tag_name(name)))
    }

    fn unknown_attribute<'p>(&self, path: impl Into<Path<'p>>, name: &str) -> Bad {
        let path: Path<'_> = path.into();
        self.bad(path, format!("unknown attribute {}", tag_name(name)))
    }

    fn twice<'p>(&self, path: impl Into<Path<'p>>) -> Bad {
        let path: Path<'_> = path.into();
        self.bad(path, "appears more than once")
    }
}

/// A field's place in the record, below the record element: up to three
/// names, joined with dots only when a message needs it.
#[derive(Debug, Clone, Copy, Default)]
struct Path<'a>([&'a str; 3]);

impl<'a> Path<'a> {
    fn join(self, child: &'a str) -> Path<'a> {
        let mut names = self.0;
        match names.iter_mut().find(|name| name.is_empty()) {
            Some(slot) => *slot = child,
            None => names[2] = child,
        }
        Path(names)
    }

    fn is_empty(&self) -> bool {
        self.0[0].is_empty()
    }

    fn last(&self) -> &'a str {
        self.0
            .iter()
            .rev()
            .find(|name| !name.is_empty())
            .copied()
            .unwrap_or_default()
    }
}

impl<'a> From<&'a str> for Path<'a> {
    fn from(name: &'a str) -> Self {
        Path([name, "", ""])
    }
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, name) in self.0.iter().filter(|name| !name.is_empty()).enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

/// Stores a single-valued field, refusing a second one.
fn once<'p, T>(
    cx: &Ctx<'_>,
    slot: &mut Option<T>,
    path: impl Into<Path<'p>>,
    value: T,
) -> Result<(), Bad> {
    let path: Path<'_> = path.into();
    if slot.is_some() {
        return Err(cx.twice(path));
    }
    *slot = Some(value);
    Ok(())
}

fn required<'p, T>(cx: &Ctx<'_>, slot: Option<T>, path: impl Into<Path<'p>>) -> Result<T, Bad> {
    let path: Path<'_> = path.into();
    slot.ok_or_else(|| cx.missing(path))
}

/// A value as it may appear in a message: cut short and escaped, and not at
/// all when it holds ten or more digits in a row (a personnummer typed into
/// the wrong field must not reach a log).
pub(super) fn shown(value: &str) -> String {
    const MAX_CHARS: usize = 40;
    let mut run = 0;
    for b in value.bytes() {
        run = if b.is_ascii_digit() { run + 1 } else { 0 };
        if run >= 10 {
            return format!("({} characters, not shown)", value.chars().count());
        }
    }
    let mut out = String::with_capacity(value.len().min(MAX_CHARS) + 2);
    out.push('"');
    for (i, c) in value.chars().enumerate() {
        if i == MAX_CHARS {
            out.push('…');
            break;
        }
        out.extend(c.escape_debug());
    }
    out.push('"');
    out
}

/// An element or attribute name for a message, cut short.
fn tag_name(name: &str) -> String {
    const MAX_CHARS: usize = 40;
    let mut out: String = name
        .chars()
        .take(MAX_CHARS)
        .flat_map(char::escape_debug)
        .collect();
    if name.chars().nth(MAX_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// The first character XML 1.0 cannot carry (C0 controls but tab, line feed
/// and carriage return; U+FFFE, U+FFFF), if any. What is read must be
/// writable again.
pub(super) fn forbidden_char(text: &str) -> Option<char> {
    let bytes = text.as_bytes();
    let suspect = bytes
        .iter()
        .any(|&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0xEF);
    if !suspect {
        return None;
    }
    text.chars().find(|&c| {
        (c < '\u{20}' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{FFFE}' || c == '\u{FFFF}'
    })
}

fn checked_text<'p, 't>(
    cx: &Ctx<'_>,
    text: &'t str,
    path: impl Into<Path<'p>>,
) -> Result<&'t str, Bad> {
    let path: Path<'_> = path.into();
    match forbidden_char(text) {
        None => Ok(text),
        Some(c) => Err(cx.bad(
            path,
            format!(
                "holds the character U+{:04X}, which XML 1.0 does not allow",
                u32::from(c)
            ),
        )),
    }
}

/// Whitespace between child elements is layout; other text directly in a
/// container element is refused (without quoting it: it may be note text).
fn layout_only<'p>(cx: &Ctx<'_>, el: El<'_>, path: impl Into<Path<'p>>) -> Result<(), Bad> {
    let path: Path<'_> = path.into();
    if el.text().bytes().all(|b| b.is_ascii_whitespace()) && !el.has_stray_text() {
        Ok(())
    } else {
        Err(cx.bad(
            path,
            "holds text directly; its content belongs in its child elements",
        ))
    }
}

fn no_children<'p>(cx: &Ctx<'_>, el: El<'_>, path: impl Into<Path<'p>>) -> Result<(), Bad> {
    let path: Path<'_> = path.into();
    match el.first_child() {
        None => Ok(()),
        Some(child) => Err(cx.bad(
            path,
            format!(
                "holds text only, but has an element <{}> inside",
                tag_name(child.name())
            ),
        )),
    }
}

/// The text of an element that has neither attributes nor children.
fn leaf<'p, 't>(cx: &Ctx<'_>, el: El<'t>, path: impl Into<Path<'p>>) -> Result<&'t str, Bad> {
    let path: Path<'_> = path.into();
    if let Some(name) = el.first_attribute() {
        return Err(cx.unknown_attribute(path, name));
    }
    no_children(cx, el, path)?;
    checked_text(cx, el.text(), path)
}

/// The text of a leaf whose value is a code, number, date or identifier:
/// surrounding whitespace is layout, as an XML schema's token types say.
fn token<'p, 't>(cx: &Ctx<'_>, el: El<'t>, path: impl Into<Path<'p>>) -> Result<&'t str, Bad> {
    let path: Path<'_> = path.into();
    leaf(cx, el, path).map(str::trim)
}

/// A presence flag: an empty element.
fn flag<'p>(cx: &Ctx<'_>, el: El<'_>, path: impl Into<Path<'p>>) -> Result<bool, Bad> {
    let path: Path<'_> = path.into();
    if let Some(name) = el.first_attribute() {
        return Err(cx.unknown_attribute(path, name));
    }
    no_children(cx, el, path)?;
    layout_only(cx, el, path)?;
    Ok(true)
}

fn word<'p, T: Copy + PartialEq>(
    cx: &Ctx<'_>,
    vocab: &Vocab<T>,
    word: &str,
    path: impl Into<Path<'p>>,
    what: &str,
) -> Result<T, Bad> {
    let path: Path<'_> = path.into();
    vocab.parse(word.trim()).ok_or_else(|| {
        cx.bad(
            path,
            format!(
                "{} is not a {what}; expected {}",
                shown(word),
                vocab.expected()
            ),
        )
    })
}

fn parse_time<'p>(
    cx: &Ctx<'_>,
    text: &str,
    path: impl Into<Path<'p>>,
) -> Result<ClinicalTime, Bad> {
    let path: Path<'_> = path.into();
    ClinicalTime::parse(text)
        .map_err(|e| cx.bad(path, format!("invalid time {}: {}", shown(text), e.kind())))
}

fn time<'p>(cx: &Ctx<'_>, el: El<'_>, path: impl Into<Path<'p>>) -> Result<ClinicalTime, Bad> {
    let path: Path<'_> = path.into();
    let text = token(cx, el, path)?;
    parse_time(cx, text, path)
}

/// A calendar date, `YYYY-MM-DD`, as a date-only [`ClinicalTime`] (whose
/// `local_date` is the date).
fn date<'p>(cx: &Ctx<'_>, el: El<'_>, path: impl Into<Path<'p>>) -> Result<ClinicalTime, Bad> {
    let path: Path<'_> = path.into();
    let text = token(cx, el, path)?;
    match parse_time(cx, text, path)? {
        date @ ClinicalTime::Date(_) => Ok(date),
        ClinicalTime::DateTime(_) => Err(cx.bad(
            path,
            format!("{} is a date and time; expected a date", shown(text)),
        )),
    }
}

fn hsa_id<'p>(cx: &Ctx<'_>, text: &str, path: impl Into<Path<'p>>) -> Result<HsaId, Bad> {
    let path: Path<'_> = path.into();
    HsaId::parse(text.trim()).map_err(|e| cx.bad(path, e.to_string()))
}

/// A person id of the declared kind. Messages carry the masked form only
/// (the id module's errors are masked).
fn person_id<'p>(
    cx: &Ctx<'_>,
    text: &str,
    kind: PersonIdKind,
    path: impl Into<Path<'p>>,
) -> Result<PersonId, Bad> {
    let path: Path<'_> = path.into();
    let id = PersonId::parse_normalized(text.trim()).map_err(|e| cx.bad(path, e.to_string()))?;
    if id.kind() != kind {
        return Err(cx.bad(
            path,
            format!(
                "invalid {kind} \"{}\": the value is a {}",
                id.masked(),
                id.kind()
            ),
        ));
    }
    Ok(id)
}

/// A version attribute: a whole number, 1 when absent.
fn version<'p>(cx: &Ctx<'_>, value: &str, path: impl Into<Path<'p>>) -> Result<u32, Bad> {
    let path: Path<'_> = path.into();
    value.trim().parse().map_err(|_| {
        cx.bad(
            path,
            format!("{} is not a version number (0–4294967295)", shown(value)),
        )
    })
}

/// `<patient typ="personnummer">…</patient>`, `<id typ="lokalt"
/// namnrymd="…">…</id>` and the like.
fn identifier<'p>(cx: &Ctx<'_>, el: El<'_>, path: impl Into<Path<'p>>) -> Result<Identifier, Bad> {
    let path: Path<'_> = path.into();
    let mut kind = None;
    let mut namespace = None;
    for (name, value) in el.attributes() {
        match name {
            tag::TYPE => kind = Some(value),
            tag::NAMESPACE => namespace = Some(checked_text(cx, value, path.join(tag::NAMESPACE))?),
            _ => return Err(cx.unknown_attribute(path, name)),
        }
    }
    no_children(cx, el, path)?;
    let kind = kind.ok_or_else(|| cx.missing_attribute(path, tag::TYPE))?;
    if kind.trim() == vocab::LOCAL_ID {
        let namespace = namespace.ok_or_else(|| cx.missing_attribute(path, tag::NAMESPACE))?;
        let value = checked_text(cx, el.text(), path)?;
        return Ok(Identifier::Local(LocalId {
            namespace: namespace.to_owned(),
            value: value.to_owned(),
        }));
    }
    let kind = vocab::PERSON_ID_KINDS.parse(kind.trim()).ok_or_else(|| {
        cx.bad(
            path.join(tag::TYPE),
            format!(
                "{} is not an identifier type; expected {} or {}",
                shown(kind),
                vocab::PERSON_ID_KINDS.expected(),
                vocab::LOCAL_ID
            ),
        )
    })?;
    if namespace.is_some() {
        return Err(cx.bad(
            path.join(tag::NAMESPACE),
            format!("a {kind} has no namnrymd; only a local id (typ=\"lokalt\") has one"),
        ));
    }
    person_id(cx, el.text(), kind, path).map(Identifier::Person)
}

/// A person id that cannot be a local id (a guardian, a consent giver).
fn person_id_of<'p>(
    cx: &Ctx<'_>,
    kind: Option<&str>,
    text: &str,
    path: impl Into<Path<'p>>,
) -> Result<PersonId, Bad> {
    let path: Path<'_> = path.into();
    let kind = kind.ok_or_else(|| cx.missing_attribute(path, tag::TYPE))?;
    let kind = vocab::PERSON_ID_KINDS.parse(kind.trim()).ok_or_else(|| {
        cx.bad(
            path.join(tag::TYPE),
            format!(
                "{} is not a person id type; expected {}",
                shown(kind),
                vocab::PERSON_ID_KINDS.expected()
            ),
        )
    })?;
    person_id(cx, text, kind, path)
}

/// `id`, `version` and `system` of a sourced record (`path` empty) or of
/// `<ersatter>`.
fn source_ref<'p>(cx: &Ctx<'_>, el: El<'_>, path: impl Into<Path<'p>>) -> Result<SourceRef, Bad> {
    let path: Path<'_> = path.into();
    let mut record_id = None;
    let mut system = None;
    let mut source_version = 1;
    for (name, value) in el.attributes() {
        match name {
            tag::ID => record_id = Some(checked_text(cx, value, path.join(tag::ID))?),
            tag::SYSTEM => system = Some(checked_text(cx, value, path.join(tag::SYSTEM))?),
            tag::VERSION => source_version = version(cx, value, path.join(tag::VERSION))?,
            _ => return Err(cx.unknown_attribute(path, name)),
        }
    }
    Ok(SourceRef {
        system: system
            .ok_or_else(|| cx.missing_attribute(path, tag::SYSTEM))?
            .to_owned(),
        record_id: record_id
            .ok_or_else(|| cx.missing_attribute(path, tag::ID))?
            .to_owned(),
        version: source_version,
    })
}

/// An element that holds attributes only.
fn attributes_only<'p>(cx: &Ctx<'_>, el: El<'_>, path: impl Into<Path<'p>>) -> Result<(), Bad> {
    let path: Path<'_> = path.into();
    if let Some(child) = el.first_child() {
        return Err(cx.unknown_element(path, child.name()));
    }
    layout_only(cx, el, path)
}

/// `<forfattare hsa-id="…" namn="…" titel="…"/>`. A title the profile does not
/// map leaves the profession out.
fn practitioner<'p>(
    cx: &Ctx<'_>,
    el: El<'_>,
    path: impl Into<Path<'p>>,
) -> Result<Practitioner, Bad> {
    let path: Path<'_> = path.into();
    let mut practitioner = Practitioner {
        hsa_id: None,
        name: None,
        profession: None,
    };
    for (name, value) in el.attributes() {
        match name {
            tag::HSA_ID => practitioner.hsa_id = Some(hsa_id(cx, value, path.join(tag::HSA_ID))?),
            tag::NAME => {
                practitioner.name = Some(checked_text(cx, value, path.join(tag::NAME))?.to_owned());
            }
            tag::TITLE => practitioner.profession = cx.profession(value),
            _ => return Err(cx.unknown_attribute(path, name)),
        }
    }
    attributes_only(cx, el, path)?;
    Ok(practitioner)
}

/// `<vardenhet hsa-id="…" namn="…"/>` inside a record.
fn care_organisation<'p>(
    cx: &Ctx<'_>,
    el: El<'_>,
    path: impl Into<Path<'p>>,
) -> Result<CareOrganisation, Bad> {
    let path: Path<'_> = path.into();
    let mut hsa = None;
    let mut name = None;
    for (key, value) in el.attributes() {
        match key {
            tag::HSA_ID => hsa = Some(hsa_id(cx, value, path.join(tag::HSA_ID))?),
            tag::NAME => name = Some(checked_text(cx, value, path.join(tag::NAME))?.to_owned()),
            _ => return Err(cx.unknown_attribute(path, key)),
        }
    }
    attributes_only(cx, el, path)?;
    Ok(CareOrganisation {
        hsa_id: hsa.ok_or_else(|| cx.missing_attribute(path, tag::HSA_ID))?,
        name,
    })
}

/// The secrecy domain of a journal name (`<journal>`), which the profile
/// must map.
fn journal(cx: &Ctx<'_>, el: El<'_>) -> Result<SecrecyDomain, Bad> {
    let name = leaf(cx, el, tag::JOURNAL)?;
    cx.profile.secrecy_domain_of(name).ok_or_else(|| {
        cx.bad(
            tag::JOURNAL,
            format!(
                "journal {} is not mapped by profile {:?}; add it under [secrecy_domains]",
                shown(name),
                cx.profile.name()
            ),
        )
    })
}

/// `<ersatter id=… version=… system=…/>` or `<makulerad>reason</makulerad>`;
/// at most one of them.
fn status(cx: &Ctx<'_>, slot: &mut Option<EntryStatus>, el: El<'_>) -> Result<(), Bad> {
    let status = if el.name() == tag::SUPERSEDES {
        attributes_only(cx, el, tag::SUPERSEDES)?;
        EntryStatus::Amended {
            supersedes: source_ref(cx, el, tag::SUPERSEDES)?,
        }
    } else {
        EntryStatus::Nullified {
            reason: leaf(cx, el, tag::NULLIFIED)?.to_owned(),
        }
    };
    if slot.is_some() {
        return Err(cx.bad(
            el.name(),
            "a second <ersatter> or <makulerad>; a record is amended or nullified once",
        ));
    }
    *slot = Some(status);
    Ok(())
}

/// Attributes are refused on elements that have none.
fn no_attributes<'p>(cx: &Ctx<'_>, el: El<'_>, path: impl Into<Path<'p>>) -> Result<(), Bad> {
    let path: Path<'_> = path.into();
    match el.first_attribute() {
        Some(name) => Err(cx.unknown_attribute(path, name)),
        None => Ok(()),
    }
}

/// A value from a closed list, in a leaf.
fn word_leaf<'p, T: Copy + PartialEq>(
    cx: &Ctx<'_>,
    el: El<'_>,
    vocab: &Vocab<T>,
    path: impl Into<Path<'p>>,
    what: &str,
) -> Result<T, Bad> {
    let path: Path<'_> = path.into();
    let text = token(cx, el, path)?;
    word(cx, vocab, text, path, what)
}

// ---------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------

fn child(cx: &Ctx<'_>, el: El<'_>) -> Result<Person, Bad> {
    no_attributes(cx, el, "")?;
    layout_only(cx, el, "")?;
    let mut identifiers = Vec::with_capacity(1);
    let mut given_name = None;
    let mut family_name = None;
    let mut birth_date = None;
    let mut sex = None;
    let mut security_marking = None;
    let mut guardians = Vec::new();
    let mut addresses = Vec::new();
    let mut telecom = Vec::new();
    let mut municipality_code = None;
    for field in el.children() {
        let name = field.name();
        match name {
            tag::ID => identifiers.push(identifier(cx, field, name)?),
            tag::GIVEN_NAME => once(cx, &mut given_name, name, leaf(cx, field, name)?)?,
            tag::FAMILY_NAME => once(cx, &mut family_name, name, leaf(cx, field, name)?)?,
            tag::BIRTH_DATE => {
                let value = date(cx, field, name)?.local_date();
                once(cx, &mut birth_date, name, value)?;
            }
            tag::SEX => {
                let value = word_leaf(cx, field, &vocab::SEXES, name, "sex")?;
                once(cx, &mut sex, name, value)?;
            }
            tag::PROTECTION => {
                let value = word_leaf(
                    cx,
                    field,
                    &vocab::SECURITY_MARKINGS,
                    name,
                    "protected-identity marking",
                )?;
                once(cx, &mut security_marking, name, value)?;
            }
            tag::GUARDIAN => guardians.push(guardian(cx, field)?),
            tag::ADDRESS => addresses.push(address(cx, field)?),
            tag::TELECOM => telecom.push(telecom_entry(cx, field)?),
            tag::MUNICIPALITY => once(cx, &mut municipality_code, name, token(cx, field, name)?)?,
            other => return Err(cx.unknown_element("", other)),
        }
    }
    if identifiers.is_empty() {
        return Err(cx.missing(tag::ID));
    }
    Ok(Person {
        identifiers,
        given_name: required(cx, given_name, tag::GIVEN_NAME)?.to_owned(),
        family_name: required(cx, family_name, tag::FAMILY_NAME)?.to_owned(),
        birth_date,
        sex,
        security_marking: security_marking.unwrap_or(SecurityMarking::None),
        guardians,
        addresses,
        telecom,
        municipality_code: municipality_code.map(str::to_owned),
    })
}

/// `<vardnadshavare typ="personnummer" relation="vardnadshavare">…</vardnadshavare>`
fn guardian(cx: &Ctx<'_>, el: El<'_>) -> Result<Guardian, Bad> {
    let path = Path::from(tag::GUARDIAN);
    let mut kind = None;
    let mut relation = None;
    for (name, value) in el.attributes() {
        match name {
            tag::TYPE => kind = Some(value),
            tag::RELATION => {
                relation = Some(word(
                    cx,
                    &vocab::GUARDIAN_RELATIONS,
                    value,
                    path.join(tag::RELATION),
                    "guardian relation",
                )?);
            }
            _ => return Err(cx.unknown_attribute(path, name)),
        }
    }
    no_children(cx, el, path)?;
    Ok(Guardian {
        person: person_id_of(cx, kind, el.text(), path)?,
        relation: relation.ok_or_else(|| cx.missing_attribute(path, tag::RELATION))?,
    })
}

/// `<adress typ="…"><rad>…</rad><postnummer>…</postnummer><ort>…</ort><land>…</land></adress>`
fn address(cx: &Ctx<'_>, el: El<'_>) -> Result<Address, Bad> {
    let path = Path::from(tag::ADDRESS);
    let mut kind = None;
    for (name, value) in el.attributes() {
        match name {
            tag::TYPE => {
                kind = Some(word(
                    cx,
                    &vocab::ADDRESS_KINDS,
                    value,
                    path.join(tag::TYPE),
                    "kind of address",
                )?);
            }
            _ => return Err(cx.unknown_attribute(path, name)),
        }
    }
    layout_only(cx, el, path)?;
    let mut lines = Vec::new();
    let mut postal_code = None;
    let mut city = None;
    let mut country = None;
    for field in el.children() {
        let name = field.name();
        let slot = match name {
            tag::LINE => {
                lines.push(leaf(cx, field, path.join(name))?.to_owned());
                continue;
            }
            tag::POSTAL_CODE => &mut postal_code,
            tag::CITY => &mut city,
            tag::COUNTRY => &mut country,
            other => return Err(cx.unknown_element(path, other)),
        };
        let field_path = path.join(name);
        once(cx, slot, field_path, leaf(cx, field, field_path)?)?;
    }
    Ok(Address {
        kind: kind.ok_or_else(|| cx.missing_attribute(path, tag::TYPE))?,
        lines,
        postal_code: postal_code.map(str::to_owned),
        city: city.map(str::to_owned),
        country: country.map(str::to_owned),
    })
}

/// `<kontaktuppgift typ="mobil">…</kontaktuppgift>`
fn telecom_entry(cx: &Ctx<'_>, el: El<'_>) -> Result<Telecom, Bad> {
    let path = Path::from(tag::TELECOM);
    let mut kind = None;
    for (name, value) in el.attributes() {
        match name {
            tag::TYPE => {
                kind = Some(word(
                    cx,
                    &vocab::TELECOM_KINDS,
                    value,
                    path.join(tag::TYPE),
                    "kind of contact detail",
                )?);
            }
            _ => return Err(cx.unknown_attribute(path, name)),
        }
    }
    no_children(cx, el, path)?;
    Ok(Telecom {
        kind: kind.ok_or_else(|| cx.missing_attribute(path, tag::TYPE))?,
        value: checked_text(cx, el.text(), path)?.to_owned(),
    })
}

fn organisation(cx: &Ctx<'_>, el: El<'_>, kind: OrganisationKind) -> Result<Organisation, Bad> {
    let mut id = None;
    for (name, value) in el.attributes() {
        match name {
            tag::ID => id = Some(checked_text(cx, value, tag::ID)?),
            _ => return Err(cx.unknown_attribute("", name)),
        }
    }
    layout_only(cx, el, "")?;
    let mut hsa = None;
    let mut org_name = None;
    let mut organisation_number = None;
    let mut municipality_code = None;
    let mut parent = None;
    for field in el.children() {
        let name = field.name();
        match name {
            tag::HSA_ID => {
                let value = hsa_id(cx, token(cx, field, name)?, name)?;
                once(cx, &mut hsa, name, value)?;
            }
            tag::NAME => once(cx, &mut org_name, name, leaf(cx, field, name)?)?,
            tag::ORGANISATION_NUMBER => {
                once(cx, &mut organisation_number, name, token(cx, field, name)?)?;
            }
            tag::MUNICIPALITY => once(cx, &mut municipality_code, name, token(cx, field, name)?)?,
            tag::PARENT => once(cx, &mut parent, name, token(cx, field, name)?)?,
            other => return Err(cx.unknown_element("", other)),
        }
    }
    let id = match (id, &hsa) {
        (Some(id), _) => id.to_owned(),
        (None, Some(hsa)) => format!("hsa:{hsa}"),
        (None, None) => {
            return Err(cx.bad(
                "",
                "has neither an id attribute nor an <hsa-id> to take it from",
            ));
        }
    };
    Ok(Organisation {
        id,
        kind,
        name: required(cx, org_name, tag::NAME)?.to_owned(),
        hsa_id: hsa,
        school_unit_code: None,
        organisation_number: organisation_number.map(str::to_owned),
        municipality_code: municipality_code.map(str::to_owned),
        parent: parent.map(str::to_owned),
        school_year: None,
    })
}

fn contact(cx: &Ctx<'_>, el: El<'_>) -> Result<Contact, Bad> {
    let source = source_ref(cx, el, "")?;
    layout_only(cx, el, "")?;
    let mut patient = None;
    let mut kind = None;
    let mut start = None;
    let mut end = None;
    let mut performer = None;
    let mut care_unit = None;
    let mut secrecy_domain = None;
    for field in el.children() {
        let name = field.name();
        match name {
            tag::PATIENT => once(cx, &mut patient, name, identifier(cx, field, name)?)?,
            tag::TYPE => {
                let value = word_leaf(cx, field, &vocab::CONTACT_KINDS, name, "kind of contact")?;
                once(cx, &mut kind, name, value)?;
            }
            tag::START => once(cx, &mut start, name, time(cx, field, name)?)?,
            tag::END => once(cx, &mut end, name, time(cx, field, name)?)?,
            tag::PERFORMER => once(cx, &mut performer, name, practitioner(cx, field, name)?)?,
            tag::CARE_UNIT => once(
                cx,
                &mut care_unit,
                name,
                care_organisation(cx, field, name)?,
            )?,
            tag::JOURNAL => once(cx, &mut secrecy_domain, name, journal(cx, field)?)?,
            other => return Err(cx.unknown_element("", other)),
        }
    }
    Ok(Contact {
        source,
        patient: required(cx, patient, tag::PATIENT)?,
        kind: required(cx, kind, tag::TYPE)?,
        start: required(cx, start, tag::START)?,
        end,
        performer,
        care_unit,
        secrecy_domain: secrecy_domain.unwrap_or_else(|| cx.profile.default_secrecy_domain()),
    })
}

/// What a note's content elements gave so far.
enum Content {
    None,
    Text(String),
    Keywords(Vec<KeywordSection>),
    Attachment(Attachment),
}

const ONE_KIND_OF_CONTENT: &str =
    "a note holds free text, keyword sections or one attachment, not a mix or two of them";

fn note(cx: &Ctx<'_>, el: El<'_>) -> Result<JournalEntry, Bad> {
    let source = source_ref(cx, el, "")?;
    layout_only(cx, el, "")?;
    let mut patient = None;
    let mut template = None;
    let mut title = None;
    let mut event_time = None;
    let mut author_time = None;
    let mut signing_time = None;
    let mut record_time = None;
    let mut author = None;
    let mut signer = None;
    let mut care_provider = None;
    let mut care_unit = None;
    let mut contact = None;
    let mut secrecy_domain = None;
    let mut status_slot = None;
    let mut approved_for_patient = None;
    let mut patient_block = None;
    let mut content = Content::None;
    let mut withheld = Vec::new();
    for field in el.children() {
        let name = field.name();
        match name {
            tag::KEYWORD => {
                let section = keyword(cx, field)?;
                match &mut content {
                    Content::None => content = Content::Keywords(vec![section]),
                    Content::Keywords(sections) => sections.push(section),
                    _ => return Err(cx.bad(name, ONE_KIND_OF_CONTENT)),
                }
            }
            tag::WITHHELD => withheld.push(withheld_part(cx, field)?),
            tag::PATIENT => once(cx, &mut patient, name, identifier(cx, field, name)?)?,
            tag::TEMPLATE => once(cx, &mut template, name, leaf(cx, field, name)?)?,
            tag::HEADING => once(cx, &mut title, name, leaf(cx, field, name)?)?,
            tag::EVENT_TIME => once(cx, &mut event_time, name, time(cx, field, name)?)?,
            tag::AUTHOR_TIME => once(cx, &mut author_time, name, time(cx, field, name)?)?,
            tag::SIGNING_TIME => once(cx, &mut signing_time, name, time(cx, field, name)?)?,
            tag::RECORD_TIME => once(cx, &mut record_time, name, time(cx, field, name)?)?,
            tag::AUTHOR => once(cx, &mut author, name, practitioner(cx, field, name)?)?,
            tag::SIGNER => once(cx, &mut signer, name, practitioner(cx, field, name)?)?,
            tag::CARE_PROVIDER => {
                once(
                    cx,
                    &mut care_provider,
                    name,
                    care_organisation(cx, field, name)?,
                )?;
            }
            tag::CARE_UNIT => once(
                cx,
                &mut care_unit,
                name,
                care_organisation(cx, field, name)?,
            )?,
            tag::CONTACT_ID => once(cx, &mut contact, name, token(cx, field, name)?)?,
            tag::JOURNAL => once(cx, &mut secrecy_domain, name, journal(cx, field)?)?,
            tag::SUPERSEDES | tag::NULLIFIED => status(cx, &mut status_slot, field)?,
            tag::APPROVED_FOR_PATIENT => {
                once(cx, &mut approved_for_patient, name, flag(cx, field, name)?)?;
            }
            tag::PATIENT_BLOCK => once(cx, &mut patient_block, name, flag(cx, field, name)?)?,
            tag::TEXT => {
                let text = leaf(cx, field, name)?;
                match content {
                    Content::None => content = Content::Text(text.to_owned()),
                    _ => return Err(cx.bad(name, ONE_KIND_OF_CONTENT)),
                }
            }
            tag::ATTACHMENT => {
                let attachment = attachment(cx, field)?;
                match content {
                    Content::None => content = Content::Attachment(attachment),
                    _ => return Err(cx.bad(name, ONE_KIND_OF_CONTENT)),
                }
            }
            other => return Err(cx.unknown_element("", other)),
        }
    }
    let patient = required(cx, patient, tag::PATIENT)?;
    let template = required(cx, template, tag::TEMPLATE)?;
    let event_time = required(cx, event_time, tag::EVENT_TIME)?;
    let note_type = cx
        .note_type(template)
        .map_err(|unmapped| cx.bad(tag::TEMPLATE, unmapped_reason(unmapped)))?;
    let secrecy_domain = secrecy_domain.unwrap_or_else(|| cx.template_domain(template));
    Ok(JournalEntry {
        source,
        patient,
        event_time,
        author_time,
        signing_time,
        record_time,
        author,
        signer,
        care_provider,
        care_unit,
        contact: contact.map(str::to_owned),
        note_type,
        title: title.map(str::to_owned),
        content: match content {
            Content::None => NoteContent::Keywords {
                sections: Vec::new(),
            },
            Content::Text(text) => NoteContent::Text { text },
            Content::Keywords(sections) => NoteContent::Keywords { sections },
            Content::Attachment(attachment) => NoteContent::Attachment(attachment),
        },
        status: status_slot.unwrap_or_default(),
        secrecy_domain,
        approved_for_patient: approved_for_patient.unwrap_or(false),
        patient_block: patient_block.unwrap_or(false),
        withheld,
    })
}

/// The profile's refusal of an unmapped template, naming the profile file
/// relative to the working directory when it lies below it — as a user
/// would type it, and as golden vectors can record it on any machine.
fn unmapped_reason(mut unmapped: Unmapped) -> String {
    if let Ok(cwd) = std::env::current_dir()
        && let Ok(relative) = std::path::Path::new(&unmapped.file).strip_prefix(&cwd)
    {
        unmapped.file = relative.display().to_string();
    }
    unmapped.to_string()
}

/// `<sokord namn="…">text</sokord>`
fn keyword(cx: &Ctx<'_>, el: El<'_>) -> Result<KeywordSection, Bad> {
    let path = Path::from(tag::KEYWORD);
    let mut keyword = None;
    for (name, value) in el.attributes() {
        match name {
            tag::NAME => keyword = Some(checked_text(cx, value, path.join(tag::NAME))?),
            _ => return Err(cx.unknown_attribute(path, name)),
        }
    }
    if let Some(child) = el.first_child() {
        let reason = if child.name() == tag::WITHHELD {
            "holds an <undanhallet>: a keyword section is withheld whole, by wrapping the <sokord> in <undanhallet>".to_owned()
        } else {
            format!(
                "holds text only, but has an element <{}> inside",
                tag_name(child.name())
            )
        };
        return Err(cx.bad(path, reason));
    }
    Ok(KeywordSection {
        keyword: keyword
            .ok_or_else(|| cx.missing_attribute(path, tag::NAME))?
            .to_owned(),
        text: checked_text(cx, el.text(), path)?.to_owned(),
    })
}

/// `<bilaga mediatyp="…" titel="…">base64</bilaga>`. Whitespace in the
/// base64 is layout and dropped.
fn attachment(cx: &Ctx<'_>, el: El<'_>) -> Result<Attachment, Bad> {
    let path = Path::from(tag::ATTACHMENT);
    let mut media_type = None;
    let mut title = None;
    for (name, value) in el.attributes() {
        match name {
            tag::MEDIA_TYPE => media_type = Some(checked_text(cx, value, path.join(name))?),
            tag::TITLE => title = Some(checked_text(cx, value, path.join(name))?),
            _ => return Err(cx.unknown_attribute(path, name)),
        }
    }
    no_children(cx, el, path)?;
    let mut data = el.text().to_owned();
    data.retain(|c| !c.is_ascii_whitespace());
    if !is_base64(&data) {
        return Err(cx.bad(path, "is not base64 (standard alphabet, padded)"));
    }
    Ok(Attachment {
        media_type: media_type
            .ok_or_else(|| cx.missing_attribute(path, tag::MEDIA_TYPE))?
            .to_owned(),
        title: title.map(str::to_owned),
        data,
    })
}

/// Standard-alphabet, padded base64.
pub(super) fn is_base64(data: &str) -> bool {
    let bytes = data.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return false;
    }
    let body = bytes
        .strip_suffix(b"==")
        .or_else(|| bytes.strip_suffix(b"="))
        .unwrap_or(bytes);
    body.iter()
        .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// `<undanhallet del="…" orsak="…">…</undanhallet>`: the marker. What the
/// element wrapped never reached the tree (see [`super::reader`]).
fn withheld_part(cx: &Ctx<'_>, el: El<'_>) -> Result<WithheldPart, Bad> {
    let path = Path::from(tag::WITHHELD);
    let mut part = None;
    let mut reason = None;
    for (name, value) in el.attributes() {
        match name {
            tag::PART => part = Some(checked_text(cx, value, path.join(name))?),
            tag::REASON => reason = Some(checked_text(cx, value, path.join(name))?),
            _ => return Err(cx.unknown_attribute(path, name)),
        }
    }
    let part = part.ok_or_else(|| cx.missing_attribute(path, tag::PART))?;
    if part.trim().is_empty() {
        return Err(cx.bad(path.join(tag::PART), "is empty; name what was withheld"));
    }
    Ok(WithheldPart {
        part: part.to_owned(),
        reason: reason
            .ok_or_else(|| cx.missing_attribute(path, tag::REASON))?
            .to_owned(),
    })
}

fn measurement(cx: &Ctx<'_>, el: El<'_>) -> Result<Measurement, Bad> {
    let source = source_ref(cx, el, "")?;
    layout_only(cx, el, "")?;
    let mut patient = None;
    let mut measurement_name = None;
    let mut time_taken = None;
    let mut value = None;
    let mut performer = None;
    let mut care_unit = None;
    let mut contact = None;
    let mut secrecy_domain = None;
    for field in el.children() {
        let name = field.name();
        match name {
            tag::PATIENT => once(cx, &mut patient, name, identifier(cx, field, name)?)?,
            tag::NAME => once(cx, &mut measurement_name, name, leaf(cx, field, name)?)?,
            tag::TIME => once(cx, &mut time_taken, name, time(cx, field, name)?)?,
            tag::VALUE | tag::FINDING => {
                let read = if name == tag::VALUE {
                    quantity(cx, field)?
                } else {
                    let finding = word_leaf(cx, field, &vocab::FINDINGS, name, "finding")?;
                    MeasurementValue::Finding { finding }
                };
                if value.is_some() {
                    return Err(cx.bad(name, "a measurement has one <varde> or one <fynd>"));
                }
                value = Some(read);
            }
            tag::PERFORMER => once(cx, &mut performer, name, practitioner(cx, field, name)?)?,
            tag::CARE_UNIT => once(
                cx,
                &mut care_unit,
                name,
                care_organisation(cx, field, name)?,
            )?,
            tag::CONTACT_ID => once(cx, &mut contact, name, token(cx, field, name)?)?,
            tag::JOURNAL => once(cx, &mut secrecy_domain, name, journal(cx, field)?)?,
            other => return Err(cx.unknown_element("", other)),
        }
    }
    let patient = required(cx, patient, tag::PATIENT)?;
    let measurement_name = required(cx, measurement_name, tag::NAME)?;
    let kind = cx.measurement(measurement_name).ok_or_else(|| {
        cx.bad(
            tag::NAME,
            format!(
                "measurement {} is not mapped by profile {:?}; add it under [measurements]",
                shown(measurement_name),
                cx.profile.name()
            ),
        )
    })?;
    Ok(Measurement {
        source,
        patient,
        kind,
        time: required(cx, time_taken, tag::TIME)?,
        value: value
            .ok_or_else(|| cx.bad(tag::VALUE, "required element <varde> or <fynd> is missing"))?,
        performer,
        care_unit,
        contact: contact.map(str::to_owned),
        secrecy_domain: secrecy_domain.unwrap_or_else(|| cx.profile.default_secrecy_domain()),
        original_code: Some(measurement_name.to_owned()),
    })
}

/// `<varde enhet="kg">3.61</varde>`
fn quantity(cx: &Ctx<'_>, el: El<'_>) -> Result<MeasurementValue, Bad> {
    let path = Path::from(tag::VALUE);
    let mut unit = None;
    for (name, value) in el.attributes() {
        match name {
            tag::UNIT => unit = Some(checked_text(cx, value, path.join(name))?),
            _ => return Err(cx.unknown_attribute(path, name)),
        }
    }
    no_children(cx, el, path)?;
    let text = el.text().trim();
    let value = decimal(text).ok_or_else(|| {
        cx.bad(
            path,
            format!("{} is not a decimal number (e.g. 3.61)", shown(text)),
        )
    })?;
    Ok(MeasurementValue::Quantity {
        value,
        unit: unit
            .ok_or_else(|| cx.missing_attribute(path, tag::UNIT))?
            .to_owned(),
    })
}

/// A finite number in XML Schema's decimal form: an optional sign, digits,
/// an optional fraction; no exponent, no `NaN` or `INF`.
pub(super) fn decimal(text: &str) -> Option<f64> {
    let unsigned = text
        .strip_prefix('-')
        .or_else(|| text.strip_prefix('+'))
        .unwrap_or(text);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.len() + fraction.len() == 0 || !digits(whole) || !digits(fraction) {
        return None;
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn vaccination(cx: &Ctx<'_>, el: El<'_>) -> Result<Immunization, Bad> {
    let source = source_ref(cx, el, "")?;
    layout_only(cx, el, "")?;
    let mut patient = None;
    let mut time_given = None;
    let mut atc = None;
    let mut product = None;
    let mut programme = None;
    let mut dose_number = None;
    let mut lot = None;
    let mut given_by = None;
    let mut care_unit = None;
    let mut secrecy_domain = None;
    let mut status_slot = None;
    for field in el.children() {
        let name = field.name();
        match name {
            tag::PATIENT => once(cx, &mut patient, name, identifier(cx, field, name)?)?,
            tag::TIME => once(cx, &mut time_given, name, time(cx, field, name)?)?,
            tag::ATC => once(cx, &mut atc, name, token(cx, field, name)?)?,
            tag::PRODUCT => once(cx, &mut product, name, leaf(cx, field, name)?)?,
            tag::PROGRAMME => {
                let value =
                    word_leaf(cx, field, &vocab::PROGRAMMES, name, "vaccination programme")?;
                once(cx, &mut programme, name, value)?;
            }
            tag::DOSE => {
                let text = token(cx, field, name)?;
                let dose = text.parse::<u8>().map_err(|_| {
                    cx.bad(
                        name,
                        format!("{} is not a dose number (0–255)", shown(text)),
                    )
                })?;
                once(cx, &mut dose_number, name, dose)?;
            }
            tag::LOT => once(cx, &mut lot, name, token(cx, field, name)?)?,
            tag::VACCINATOR => once(cx, &mut given_by, name, practitioner(cx, field, name)?)?,
            tag::CARE_UNIT => once(
                cx,
                &mut care_unit,
                name,
                care_organisation(cx, field, name)?,
            )?,
            tag::JOURNAL => once(cx, &mut secrecy_domain, name, journal(cx, field)?)?,
            tag::SUPERSEDES | tag::NULLIFIED => status(cx, &mut status_slot, field)?,
            other => return Err(cx.unknown_element("", other)),
        }
    }
    Ok(Immunization {
        source,
        patient: required(cx, patient, tag::PATIENT)?,
        time: required(cx, time_given, tag::TIME)?,
        vaccine: Vaccine {
            atc: required(cx, atc, tag::ATC)?.to_owned(),
            product: product.map(str::to_owned),
            programme: required(cx, programme, tag::PROGRAMME)?,
        },
        dose_number,
        lot: lot.map(str::to_owned),
        given_by,
        care_unit,
        secrecy_domain: secrecy_domain.unwrap_or_else(|| cx.profile.default_secrecy_domain()),
        status: status_slot.unwrap_or_default(),
    })
}

fn consent(cx: &Ctx<'_>, el: El<'_>) -> Result<Consent, Bad> {
    let source = source_ref(cx, el, "")?;
    layout_only(cx, el, "")?;
    let mut patient = None;
    let mut given_by = None;
    let mut purpose = None;
    let mut decision = None;
    let mut withheld_parts = Vec::new();
    let mut recorded = None;
    let mut valid_from = None;
    let mut valid_to = None;
    for field in el.children() {
        let name = field.name();
        match name {
            tag::PATIENT => once(cx, &mut patient, name, identifier(cx, field, name)?)?,
            tag::GIVEN_BY => once(cx, &mut given_by, name, giver(cx, field)?)?,
            tag::PURPOSE => {
                let value = word_leaf(cx, field, &vocab::PURPOSES, name, "consent purpose")?;
                once(cx, &mut purpose, name, value)?;
            }
            tag::DECISION => {
                let value = word_leaf(cx, field, &vocab::DECISIONS, name, "consent decision")?;
                once(cx, &mut decision, name, value)?;
            }
            tag::WITHHELD_PART => withheld_parts.push(leaf(cx, field, name)?.to_owned()),
            tag::RECORDED => once(cx, &mut recorded, name, time(cx, field, name)?)?,
            tag::VALID_FROM => once(cx, &mut valid_from, name, date(cx, field, name)?)?,
            tag::VALID_TO => once(cx, &mut valid_to, name, date(cx, field, name)?)?,
            other => return Err(cx.unknown_element("", other)),
        }
    }
    Ok(Consent {
        source,
        patient: required(cx, patient, tag::PATIENT)?,
        given_by: required(cx, given_by, tag::GIVEN_BY)?,
        purpose: required(cx, purpose, tag::PURPOSE)?,
        decision: required(cx, decision, tag::DECISION)?,
        withheld_parts,
        recorded: required(cx, recorded, tag::RECORDED)?,
        valid_from: required(cx, valid_from, tag::VALID_FROM)?.local_date(),
        valid_to: valid_to.map(|date| date.local_date()),
    })
}

/// `<givet-av roll="patient"/>` or `<givet-av roll="vardnadshavare"
/// typ="personnummer">…</givet-av>`
fn giver(cx: &Ctx<'_>, el: El<'_>) -> Result<ConsentGiver, Bad> {
    let path = Path::from(tag::GIVEN_BY);
    let mut role = None;
    let mut kind = None;
    for (name, value) in el.attributes() {
        match name {
            tag::ROLE => {
                role = Some(word(
                    cx,
                    &vocab::GIVER_ROLES,
                    value,
                    path.join(name),
                    "role",
                )?);
            }
            tag::TYPE => kind = Some(value),
            _ => return Err(cx.unknown_attribute(path, name)),
        }
    }
    no_children(cx, el, path)?;
    match role.ok_or_else(|| cx.missing_attribute(path, tag::ROLE))? {
        GiverRole::Patient => {
            if kind.is_some() || !el.text().trim().is_empty() {
                return Err(cx.bad(
                    path,
                    "a consent the patient gave names no person id; the patient is in <patient>",
                ));
            }
            Ok(ConsentGiver::Patient)
        }
        GiverRole::Guardian => Ok(ConsentGiver::Guardian {
            person: person_id_of(cx, kind, el.text(), path)?,
        }),
    }
}
