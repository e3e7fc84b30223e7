//! Reading a PMO export: one record element at a time from
//! [`XmlRecords`], each checked field by field and turned into one canonical
//! record, or refused with the field and the reason.
//!
//! The record tree is borrowed from the reader's buffers; only the strings
//! the canonical record owns are copied out of it.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use brygga_mapping::id::{HsaId, Identifier, LocalId, PersonId, PersonIdKind};
use brygga_mapping::model::{
    Address, Attachment, CareOrganisation, Contact, ContactKind, EntryStatus, Finding, Guardian,
    GuardianRelation, Immunization, JournalEntry, KeywordSection, Measurement, MeasurementKind,
    MeasurementValue, NoteContent, NoteType, NoteTypeCode, Organisation, OrganisationKind, Person,
    Practitioner, Profession, Record, SecrecyDomain, SecurityMarking, SourceRef, Telecom,
    TelecomKind, VaccinationProgramme, Vaccine, WithheldPart,
};
use brygga_mapping::profile::{Profile, Unmapped};
use brygga_mapping::time::ClinicalTime;

use crate::xml::{El, XmlError, XmlRecords};
use crate::{DecodeError, Decoder, Fatal, Position, Reject};

use super::names::{FORMAT_VERSION, IdKind, Names, Vocabulary, attr};
use super::{is_base64, is_digits, shown};

pub(super) struct PmoDecoder {
    records: XmlRecords<Box<dyn BufRead + Send>>,
    profile: Arc<Profile>,
    names: Names,
    recent: Recent,
    /// Items read from under the root so far (records, and the rare stray
    /// text or oversized record reported in their place).
    count: u64,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The root element has not been checked yet.
    Start,
    Reading,
    Done,
}

impl PmoDecoder {
    pub fn new(input: Box<dyn BufRead + Send>, profile: Arc<Profile>) -> Self {
        PmoDecoder {
            records: XmlRecords::new(input),
            names: Names::from_profile(&profile),
            recent: Recent::default(),
            profile,
            count: 0,
            state: State::Start,
        }
    }

    /// Checks the element names in force and the document's root element.
    fn start(&mut self) -> Result<(), Fatal> {
        let position = Position {
            record: 1,
            line: None,
            offset: None,
        };
        self.names.check().map_err(|reason| Fatal {
            position,
            reason: format!("profile {:?}: {reason}", self.profile.name()),
        })?;
        let root = self.records.root().map_err(|e| xml_fatal(1, &e))?;
        let at = Position {
            line: Some(root.line),
            ..position
        };
        if root.name != *self.names.root {
            return Err(Fatal {
                position: at,
                reason: format!(
                    "the root element is <{}>, expected <{}>: not a PMO export (or set [elements] root in the profile)",
                    shown(&root.name),
                    self.names.root
                ),
            });
        }
        if let Some(version) = root.attr(attr::FORMAT_VERSION)
            && version != FORMAT_VERSION
        {
            return Err(Fatal {
                position: at,
                reason: format!(
                    "format version {:?} is not supported; this adapter reads version {FORMAT_VERSION}",
                    shown(version)
                ),
            });
        }
        Ok(())
    }
}

impl Decoder for PmoDecoder {
    fn next_record(&mut self) -> Option<Result<Record, DecodeError>> {
        match self.state {
            State::Done => return None,
            State::Start => {
                self.state = State::Reading;
                if let Err(fatal) = self.start() {
                    self.state = State::Done;
                    return Some(Err(DecodeError::Fatal(fatal)));
                }
            }
            State::Reading => {}
        }
        let item = self.records.next_tree()?;
        self.count += 1;
        let record = match item {
            Ok(tree) => tree.record(),
            Err(e) if e.is_fatal() => {
                self.state = State::Done;
                return Some(Err(DecodeError::Fatal(xml_fatal(self.count, &e))));
            }
            Err(e) => {
                return Some(Err(DecodeError::Reject(Reject {
                    position: Position {
                        record: self.count,
                        line: Some(e.line),
                        offset: None,
                    },
                    record_kind: None,
                    field: None,
                    reason: xml_reason(&e),
                })));
            }
        };
        let position = Position {
            record: self.count,
            line: Some(record.line()),
            offset: None,
        };
        let reader = RecordReader {
            names: &self.names,
            profile: &self.profile,
            recent: &self.recent,
        };
        Some(reader.record(record).map_err(|(kind, refusal)| {
            DecodeError::Reject(Reject {
                position,
                record_kind: Some(format!("<{kind}>")),
                field: refusal.field,
                reason: refusal.reason,
            })
        }))
    }
}

fn xml_fatal(record: u64, e: &XmlError) -> Fatal {
    Fatal {
        position: Position {
            record,
            line: Some(e.line),
            offset: None,
        },
        reason: xml_reason(e),
    }
}

/// The XML error's text without its `line N: ` prefix, which the position
/// already gives.
fn xml_reason(e: &XmlError) -> String {
    let text = e.to_string();
    let prefix = format!("line {}: ", e.line);
    match text.strip_prefix(&prefix) {
        Some(rest) => rest.to_owned(),
        None => text,
    }
}

/// Why a record was refused.
#[derive(Debug)]
struct Refusal {
    /// Dotted path in the export's own names, e.g. `anteckning.patient`.
    field: Option<String>,
    reason: String,
}

type Read<T> = Result<T, Refusal>;

/// Where a value sits: the record element's name, then up to two elements
/// within it.
#[derive(Debug, Clone, Copy)]
struct At<'a> {
    parts: [&'a str; 3],
    len: usize,
}

impl<'a> At<'a> {
    fn record(record: &'a str) -> Self {
        At {
            parts: [record, "", ""],
            len: 1,
        }
    }

    /// The element `name` within this one.
    fn child(self, name: &'a str) -> Self {
        let mut at = self;
        if at.len < at.parts.len() {
            at.len += 1;
        }
        at.parts[at.len - 1] = name;
        at
    }

    /// The innermost element's name.
    fn element(&self) -> &'a str {
        self.parts[self.len - 1]
    }

    fn path(&self) -> String {
        self.parts[..self.len].join(".")
    }

    fn fail(&self, reason: impl Into<String>) -> Refusal {
        Refusal {
            field: Some(self.path()),
            reason: reason.into(),
        }
    }

    fn fail_attr(&self, name: &str, reason: impl Into<String>) -> Refusal {
        Refusal {
            field: Some(format!("{}.{name}", self.path())),
            reason: reason.into(),
        }
    }

    fn missing(&self, element: &str) -> Refusal {
        Refusal {
            field: Some(format!("{}.{element}", self.path())),
            reason: format!("required element <{element}> is missing"),
        }
    }
}

/// The deepest a PMO record nests: record, `adress`, `rad`.
const MAX_DEPTH: usize = 3;

/// Whether any element lies deeper than [`MAX_DEPTH`] (the record itself is
/// level 1): no PMO record has such elements.
fn nested_too_deep(record: El<'_>) -> bool {
    record.children().any(|child| {
        child
            .children()
            .any(|grandchild| grandchild.first_child().is_some())
    })
}

/// Puts a child into its slot, refusing a second one.
fn put<'t>(slot: &mut Option<El<'t>>, child: El<'t>, at: At<'_>) -> Read<()> {
    if slot.is_some() {
        return Err(Refusal {
            field: Some(format!("{}.{}", at.path(), child.name())),
            reason: format!("<{}> appears more than once", child.name()),
        });
    }
    *slot = Some(child);
    Ok(())
}

fn unexpected(at: At<'_>, child: El<'_>) -> Refusal {
    at.fail(format!(
        "unexpected element <{}> (line {}); docs/adapters/pmo.md lists what <{}> holds",
        shown(child.name()),
        child.line(),
        at.element()
    ))
}

/// The named attributes of `element`, refusing any other. A carriage
/// return (only a character reference can put one in a value) becomes a
/// line feed, as in text.
fn attributes<'t, const N: usize>(
    element: El<'t>,
    names: [&str; N],
    at: At<'_>,
) -> Read<[Option<Cow<'t, str>>; N]> {
    let mut found = [const { None }; N];
    for (key, value) in element.attributes() {
        let Some(slot) = names
            .iter()
            .position(|name| *name == key)
            .and_then(|i| found.get_mut(i))
        else {
            return Err(at.fail_attr(
                key,
                format!(
                    "unexpected attribute {:?}; <{}> takes {}",
                    shown(key),
                    element.name(),
                    if N == 0 {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                ),
            ));
        };
        *slot = Some(if value.contains('\r') {
            Cow::Owned(value.replace("\r\n", "\n").replace('\r', "\n"))
        } else {
            Cow::Borrowed(value)
        });
    }
    Ok(found)
}

fn required<'t>(value: Option<Cow<'t, str>>, name: &str, at: At<'_>) -> Read<Cow<'t, str>> {
    value.ok_or_else(|| at.fail_attr(name, format!("required attribute {name:?} is missing")))
}

/// A container element holds elements, and no text but whitespace.
fn no_text(element: El<'_>, at: At<'_>) -> Read<()> {
    if element.text().trim().is_empty() && !element.has_stray_text() {
        Ok(())
    } else {
        Err(at.fail(format!(
            "<{}> holds text; it holds elements only",
            element.name()
        )))
    }
}

/// An element with attributes only: no text, no child elements.
fn empty(element: El<'_>, at: At<'_>) -> Read<()> {
    if let Some(child) = element.first_child() {
        return Err(unexpected(at, child));
    }
    if element.text().trim().is_empty() {
        Ok(())
    } else {
        Err(at.fail(format!(
            "<{}> holds text; it holds attributes only",
            element.name()
        )))
    }
}

/// The text of a leaf element (no attributes, no child elements), as written.
fn leaf<'t>(element: El<'t>, at: At<'_>) -> Read<&'t str> {
    attributes(element, [], at)?;
    text_only(element, at)
}

/// The text of an element that may not hold elements, as written.
fn text_only<'t>(element: El<'t>, at: At<'_>) -> Read<&'t str> {
    match element.first_child() {
        Some(child) => Err(unexpected(at, child)),
        None => Ok(element.text()),
    }
}

fn optional_leaf(element: Option<El<'_>>, at: At<'_>, name: &str) -> Read<Option<String>> {
    element
        .map(|e| leaf(e, at.child(name)).map(str::to_owned))
        .transpose()
}

fn coded<V: Vocabulary>(word: &str, at: At<'_>) -> Read<V> {
    V::from_word(word.trim()).ok_or_else(|| {
        at.fail(format!(
            "{:?} is not {}; expected one of {}",
            shown(word),
            V::WHAT,
            V::expected()
        ))
    })
}

fn coded_attr<V: Vocabulary>(word: &str, name: &str, at: At<'_>) -> Read<V> {
    V::from_word(word.trim()).ok_or_else(|| {
        at.fail_attr(
            name,
            format!(
                "{:?} is not {}; expected one of {}",
                shown(word),
                V::WHAT,
                V::expected()
            ),
        )
    })
}

fn clinical_time(element: El<'_>, at: At<'_>) -> Read<ClinicalTime> {
    let text = leaf(element, at)?;
    ClinicalTime::parse(text.trim()).map_err(|e| at.fail(e.to_string()))
}

fn optional_time(element: Option<El<'_>>, at: At<'_>, name: &str) -> Read<Option<ClinicalTime>> {
    element
        .map(|e| clinical_time(e, at.child(name)))
        .transpose()
}

fn digits(element: El<'_>, count: usize, what: &str, at: At<'_>) -> Read<String> {
    let text = leaf(element, at)?;
    let trimmed = text.trim();
    if !is_digits(trimmed, count) {
        return Err(at.fail(format!("{:?} is not {what} ({count} digits)", shown(text))));
    }
    Ok(trimmed.to_owned())
}

fn parse_hsa_id(value: &str, at: At<'_>, attribute: Option<&str>) -> Read<HsaId> {
    HsaId::parse(value.trim()).map_err(|e| match attribute {
        Some(name) => at.fail_attr(name, e.to_string()),
        None => at.fail(e.to_string()),
    })
}

/// A person id written as 12 characters, `YYYYMMDDNNNC` (a hyphen after the
/// date is accepted), of the declared kind.
fn person_id(text: &str, kind: PersonIdKind, at: At<'_>) -> Read<PersonId> {
    let text = text.trim();
    let parsed = match text.as_bytes().get(8) {
        Some(b'-') if text.len() == 13 => {
            let joined = [&text[..8], &text[9..]].concat();
            PersonId::parse_normalized(&joined)
        }
        _ => PersonId::parse_normalized(text),
    };
    let id = parsed.map_err(|e| at.fail(e.to_string()))?;
    match (kind, id.kind()) {
        (declared, found) if declared == found => Ok(id),
        // A reservnummer whose check digit fails still has the shape of a
        // temporary number, which has none.
        (PersonIdKind::Reservnummer, PersonIdKind::Temporary) => Err(at.fail(format!(
            "invalid reservnummer \"{}\": the check digit does not match",
            id.masked()
        ))),
        (declared, found) => Err(at.fail(format!(
            "typ says {}, but {} is a {found}",
            IdKind::Person(declared).word(),
            id.masked()
        ))),
    }
}

/// `<id typ="…" [namnrymd="…"]>value</id>` and the patient reference.
fn identifier(element: El<'_>, at: At<'_>) -> Read<Identifier> {
    let [kind, namespace] = attributes(element, [attr::KIND, attr::NAMESPACE], at)?;
    let kind = required(kind, attr::KIND, at)?;
    let kind: IdKind = coded_attr(&kind, attr::KIND, at)?;
    let value = text_only(element, at)?;
    match kind {
        IdKind::Local => {
            let namespace = required(namespace, attr::NAMESPACE, at)?;
            Ok(Identifier::Local(LocalId {
                namespace: namespace.into_owned(),
                value: value.to_owned(),
            }))
        }
        IdKind::Person(kind) => {
            if namespace.is_some() {
                return Err(at.fail_attr(
                    attr::NAMESPACE,
                    format!("{:?} goes only with typ=\"lokal\"", attr::NAMESPACE),
                ));
            }
            person_id(value, kind, at).map(Identifier::Person)
        }
    }
}

/// The records a PMO export holds, in the order they are most common.
#[derive(Debug, Clone, Copy)]
enum RecordKind {
    Note,
    Measurement,
    Contact,
    Vaccination,
    Patient,
    CareUnit,
    CareProvider,
}

struct RecordReader<'a> {
    names: &'a Names,
    profile: &'a Profile,
    recent: &'a Recent,
}

/// The last few names looked up in the profile's side-effect-free tables,
/// with what they gave. An export repeats the same titles, journals,
/// templates and measurement names record after record, and each profile
/// lookup folds case and whitespace first (allocating for every capitalised
/// name).
#[derive(Debug, Default)]
struct Recent {
    titles: Memo<Profession>,
    journals: Memo<SecrecyDomain>,
    measurements: Memo<MeasurementKind>,
    /// Only templates the profile maps: an unmapped one is asked again each
    /// time, so the profile counts or refuses it.
    templates: Memo<NoteTypeCode>,
}

#[derive(Debug)]
struct Memo<T> {
    entries: RefCell<Vec<(String, Option<T>)>>,
    /// The entry to replace next once the memo is full.
    next: Cell<usize>,
}

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Memo {
            entries: RefCell::new(Vec::with_capacity(MEMO_ENTRIES)),
            next: Cell::new(0),
        }
    }
}

const MEMO_ENTRIES: usize = 8;

impl<T: Copy> Memo<T> {
    fn get(&self, name: &str, look_up: impl FnOnce(&str) -> Option<T>) -> Option<T> {
        if let Some(value) = self.known(name) {
            return value;
        }
        let value = look_up(name);
        self.remember(name, value);
        value
    }

    /// What `name` gave, if it is remembered.
    fn known(&self, name: &str) -> Option<Option<T>> {
        let entries = self.entries.borrow();
        entries
            .iter()
            .find(|(known, _)| known == name)
            .map(|(_, value)| *value)
    }

    fn remember(&self, name: &str, value: Option<T>) {
        let mut entries = self.entries.borrow_mut();
        if entries.len() < MEMO_ENTRIES {
            entries.push((name.to_owned(), value));
        } else {
            let slot = self.next.get() % MEMO_ENTRIES;
            self.next.set(slot + 1);
            if let Some(entry) = entries.get_mut(slot) {
                entry.0.clear();
                entry.0.push_str(name);
                entry.1 = value;
            }
        }
    }
}

impl RecordReader<'_> {
    /// Reads one record element; a refusal comes with the record's kind.
    fn record(&self, element: El<'_>) -> Result<Record, (String, Refusal)> {
        if nested_too_deep(element) {
            let kind = shown(element.name());
            return Err((
                kind,
                Refusal {
                    field: None,
                    reason: format!(
                        "elements nested more than {MAX_DEPTH} levels deep; no PMO record has such elements"
                    ),
                },
            ));
        }
        let n = self.names;
        let name = element.name();
        let kinds: [(&str, RecordKind); 7] = [
            (&n.note, RecordKind::Note),
            (&n.measurement, RecordKind::Measurement),
            (&n.contact, RecordKind::Contact),
            (&n.vaccination, RecordKind::Vaccination),
            (&n.patient, RecordKind::Patient),
            (&n.care_unit, RecordKind::CareUnit),
            (&n.care_provider, RecordKind::CareProvider),
        ];
        let Some(&(kind, which)) = kinds.iter().find(|(record, _)| *record == name) else {
            let kind = shown(name);
            let reason = format!(
                "unknown record <{kind}>; a PMO export holds <{}>, <{}>, <{}>, <{}>, <{}>, <{}> and <{}>",
                n.patient,
                n.care_provider,
                n.care_unit,
                n.contact,
                n.note,
                n.measurement,
                n.vaccination
            );
            return Err((
                kind,
                Refusal {
                    field: None,
                    reason,
                },
            ));
        };
        let read = match which {
            RecordKind::Note => self.note(element),
            RecordKind::Measurement => self.measurement(element),
            RecordKind::Contact => self.contact(element),
            RecordKind::Vaccination => self.vaccination(element),
            RecordKind::Patient => self.person(element),
            RecordKind::CareUnit => self.organisation(element, OrganisationKind::CareUnit),
            RecordKind::CareProvider => self.organisation(element, OrganisationKind::CareProvider),
        };
        read.map_err(|refusal| (kind.to_owned(), refusal))
    }

    /// The profile's note type for a template.
    fn note_type(&self, template: &str) -> Result<NoteType, Unmapped> {
        let templates = &self.recent.templates;
        if let Some(Some(code)) = templates.known(template) {
            return Ok(NoteType {
                code,
                original: Some(template.to_owned()),
            });
        }
        let note_type = self.profile.note_type(template)?;
        if note_type.code != NoteTypeCode::Unclassified {
            templates.remember(template, Some(note_type.code));
        }
        Ok(note_type)
    }

    /// The source reference from a record's `system`, `id` and `version`.
    fn source(&self, element: El<'_>, at: At<'_>) -> Read<SourceRef> {
        let [system, record_id, version] =
            attributes(element, [attr::SYSTEM, attr::ID, attr::VERSION], at)?;
        source_ref(system, record_id, version, at)
    }

    fn patient_ref(&self, element: Option<El<'_>>, at: At<'_>) -> Read<Identifier> {
        let name = &*self.names.patient;
        let element = element.ok_or_else(|| at.missing(name))?;
        identifier(element, at.child(name))
    }

    /// The secrecy domain from the journal the record is filed in; without
    /// one, from the note's template, else the profile's default.
    fn secrecy_domain(
        &self,
        journal: Option<El<'_>>,
        template: Option<&str>,
        at: At<'_>,
    ) -> Read<SecrecyDomain> {
        let Some(journal) = journal else {
            return Ok(match template {
                Some(template) => self.profile.secrecy_domain(template),
                None => self.profile.default_secrecy_domain(),
            });
        };
        let at = at.child(&self.names.journal);
        let name = leaf(journal, at)?;
        let profile = self.profile;
        let found = self
            .recent
            .journals
            .get(name, |name| profile.secrecy_domain_of(name));
        found.ok_or_else(|| {
            at.fail(format!(
                "journal {:?} is not mapped by profile {:?}; add it under [secrecy_domains]",
                shown(name),
                self.profile.name()
            ))
        })
    }

    fn practitioner(&self, element: El<'_>, at: At<'_>) -> Read<Practitioner> {
        let [hsa, name, title] = attributes(element, [attr::HSA_ID, attr::NAME, attr::TITLE], at)?;
        empty(element, at)?;
        let hsa_id = hsa
            .map(|v| parse_hsa_id(&v, at, Some(attr::HSA_ID)))
            .transpose()?;
        let profession = match title {
            None => None,
            Some(title) => Some(
                self.recent
                    .titles
                    .get(&title, |title| self.profile.profession(title))
                    .ok_or_else(|| {
                        at.fail_attr(
                    attr::TITLE,
                    format!(
                        "title {:?} is not mapped by profile {:?}; add it under [professions]",
                        shown(&title),
                        self.profile.name()
                    ),
                )
                    })?,
            ),
        };
        Ok(Practitioner {
            hsa_id,
            name: name.map(Cow::into_owned),
            profession,
        })
    }

    fn optional_practitioner(
        &self,
        element: Option<El<'_>>,
        at: At<'_>,
        name: &str,
    ) -> Read<Option<Practitioner>> {
        element
            .map(|e| self.practitioner(e, at.child(name)))
            .transpose()
    }

    fn optional_care_organisation(
        &self,
        element: Option<El<'_>>,
        at: At<'_>,
        name: &str,
    ) -> Read<Option<CareOrganisation>> {
        let Some(element) = element else {
            return Ok(None);
        };
        let at = at.child(name);
        let [hsa, name] = attributes(element, [attr::HSA_ID, attr::NAME], at)?;
        empty(element, at)?;
        let hsa = required(hsa, attr::HSA_ID, at)?;
        Ok(Some(CareOrganisation {
            hsa_id: parse_hsa_id(&hsa, at, Some(attr::HSA_ID))?,
            name: name.map(Cow::into_owned),
        }))
    }

    /// `<ersatter …/>` (amended) or `<makulerad>reason</makulerad>`, not both.
    fn status(
        &self,
        amends: Option<El<'_>>,
        nullified: Option<El<'_>>,
        at: At<'_>,
    ) -> Read<EntryStatus> {
        let n = self.names;
        match (amends, nullified) {
            (None, None) => Ok(EntryStatus::Current),
            (Some(amends), None) => {
                let at = at.child(&n.amends);
                let [system, record_id, version] =
                    attributes(amends, [attr::SYSTEM, attr::ID, attr::VERSION], at)?;
                empty(amends, at)?;
                Ok(EntryStatus::Amended {
                    supersedes: source_ref(system, record_id, version, at)?,
                })
            }
            (None, Some(nullified)) => Ok(EntryStatus::Nullified {
                reason: leaf(nullified, at.child(&n.nullified))?.to_owned(),
            }),
            (Some(_), Some(_)) => Err(at.child(&n.nullified).fail(format!(
                "a record is either amended (<{}>) or nullified (<{}>), not both",
                n.amends, n.nullified
            ))),
        }
    }

    fn flag(&self, element: Option<El<'_>>, at: At<'_>, name: &str) -> Read<bool> {
        let Some(element) = element else {
            return Ok(false);
        };
        let at = at.child(name);
        let text = leaf(element, at)?;
        match text.trim() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            other => Err(at.fail(format!(
                "{:?} is not a boolean; expected true or false",
                shown(other)
            ))),
        }
    }

    fn person(&self, element: El<'_>) -> Read<Record> {
        let n = self.names;
        let at = At::record(&n.patient);
        attributes(element, [], at)?;
        no_text(element, at)?;
        let mut identifiers = Vec::with_capacity(1);
        let mut guardians = Vec::new();
        let mut addresses = Vec::new();
        let mut telecom = Vec::new();
        let (mut given, mut family, mut birth, mut sex, mut marking, mut municipality) =
            (None, None, None, None, None, None);
        for child in element.children() {
            let name = child.name();
            if name == &*n.identifier {
                identifiers.push(identifier(child, at.child(&n.identifier))?);
            } else if name == &*n.given_name {
                put(&mut given, child, at)?;
            } else if name == &*n.family_name {
                put(&mut family, child, at)?;
            } else if name == &*n.birth_date {
                put(&mut birth, child, at)?;
            } else if name == &*n.sex {
                put(&mut sex, child, at)?;
            } else if name == &*n.protected_identity {
                put(&mut marking, child, at)?;
            } else if name == &*n.guardian {
                guardians.push(self.guardian(child, at.child(&n.guardian))?);
            } else if name == &*n.address {
                addresses.push(self.address(child, at.child(&n.address))?);
            } else if name == &*n.telecom {
                telecom.push(self.telecom(child, at.child(&n.telecom))?);
            } else if name == &*n.municipality_code {
                put(&mut municipality, child, at)?;
            } else {
                return Err(unexpected(at, child));
            }
        }
        if identifiers.is_empty() {
            return Err(at.missing(&n.identifier));
        }
        let given_name = leaf(
            given.ok_or_else(|| at.missing(&n.given_name))?,
            at.child(&n.given_name),
        )?;
        let family_name = leaf(
            family.ok_or_else(|| at.missing(&n.family_name))?,
            at.child(&n.family_name),
        )?;
        let birth_date = match birth {
            None => None,
            Some(birth) => {
                let at = at.child(&n.birth_date);
                match clinical_time(birth, at)? {
                    ClinicalTime::Date(date) => Some(date),
                    ClinicalTime::DateTime(_) => {
                        return Err(at.fail("expected a date (YYYY-MM-DD), found a date and time"));
                    }
                }
            }
        };
        let sex = match sex {
            None => None,
            Some(sex) => {
                let at = at.child(&n.sex);
                Some(coded(leaf(sex, at)?, at)?)
            }
        };
        let security_marking = match marking {
            None => SecurityMarking::None,
            Some(marking) => {
                let at = at.child(&n.protected_identity);
                coded(leaf(marking, at)?, at)?
            }
        };
        let municipality_code = municipality
            .map(|m| {
                let at = at.child(&n.municipality_code);
                digits(m, 4, "a kommunkod", at)
            })
            .transpose()?;
        Ok(Record::Person(Person {
            identifiers,
            given_name: given_name.to_owned(),
            family_name: family_name.to_owned(),
            birth_date,
            sex,
            security_marking,
            guardians,
            addresses,
            telecom,
            municipality_code,
        }))
    }

    fn guardian(&self, element: El<'_>, at: At<'_>) -> Read<Guardian> {
        let [kind, relation] = attributes(element, [attr::KIND, attr::RELATION], at)?;
        let kind: IdKind = coded_attr(&required(kind, attr::KIND, at)?, attr::KIND, at)?;
        let relation: GuardianRelation =
            coded_attr(&required(relation, attr::RELATION, at)?, attr::RELATION, at)?;
        let IdKind::Person(kind) = kind else {
            return Err(at.fail_attr(
                attr::KIND,
                "a guardian is identified by a person id, not a local id",
            ));
        };
        let value = text_only(element, at)?;
        Ok(Guardian {
            person: person_id(value, kind, at)?,
            relation,
        })
    }

    fn address(&self, element: El<'_>, at: At<'_>) -> Read<Address> {
        let n = self.names;
        let [kind] = attributes(element, [attr::KIND], at)?;
        let kind = coded_attr(&required(kind, attr::KIND, at)?, attr::KIND, at)?;
        no_text(element, at)?;
        let mut lines = Vec::new();
        let (mut postal, mut city, mut country) = (None, None, None);
        for child in element.children() {
            let name = child.name();
            if name == &*n.address_line {
                lines.push(leaf(child, at.child(&n.address_line))?.to_owned());
            } else if name == &*n.postal_code {
                put(&mut postal, child, at)?;
            } else if name == &*n.city {
                put(&mut city, child, at)?;
            } else if name == &*n.country {
                put(&mut country, child, at)?;
            } else {
                return Err(unexpected(at, child));
            }
        }
        Ok(Address {
            kind,
            lines,
            postal_code: optional_leaf(postal, at, &n.postal_code)?,
            city: optional_leaf(city, at, &n.city)?,
            country: optional_leaf(country, at, &n.country)?,
        })
    }

    fn telecom(&self, element: El<'_>, at: At<'_>) -> Read<Telecom> {
        let [kind] = attributes(element, [attr::KIND], at)?;
        let kind: TelecomKind = coded_attr(&required(kind, attr::KIND, at)?, attr::KIND, at)?;
        Ok(Telecom {
            kind,
            value: text_only(element, at)?.to_owned(),
        })
    }

    fn organisation(&self, element: El<'_>, kind: OrganisationKind) -> Read<Record> {
        let n = self.names;
        let at = At::record(match kind {
            OrganisationKind::CareProvider => &n.care_provider,
            _ => &n.care_unit,
        });
        let [id] = attributes(element, [attr::ID], at)?;
        let id = required(id, attr::ID, at)?;
        no_text(element, at)?;
        let (mut name, mut hsa, mut number, mut municipality, mut parent) =
            (None, None, None, None, None);
        for child in element.children() {
            let child_name = child.name();
            if child_name == &*n.name {
                put(&mut name, child, at)?;
            } else if child_name == &*n.hsa_id {
                put(&mut hsa, child, at)?;
            } else if child_name == &*n.organisation_number {
                put(&mut number, child, at)?;
            } else if child_name == &*n.municipality_code {
                put(&mut municipality, child, at)?;
            } else if child_name == &*n.parent {
                put(&mut parent, child, at)?;
            } else {
                return Err(unexpected(at, child));
            }
        }
        let name = leaf(name.ok_or_else(|| at.missing(&n.name))?, at.child(&n.name))?;
        let hsa_id = match hsa {
            None => None,
            Some(hsa) => {
                let at = at.child(&n.hsa_id);
                Some(parse_hsa_id(leaf(hsa, at)?, at, None)?)
            }
        };
        let organisation_number = number
            .map(|e| {
                digits(
                    e,
                    10,
                    "an organisationsnummer",
                    at.child(&n.organisation_number),
                )
            })
            .transpose()?;
        let municipality_code = municipality
            .map(|e| digits(e, 4, "a kommunkod", at.child(&n.municipality_code)))
            .transpose()?;
        Ok(Record::Organisation(Organisation {
            id: id.into_owned(),
            kind,
            name: name.to_owned(),
            hsa_id,
            school_unit_code: None,
            organisation_number,
            municipality_code,
            parent: optional_leaf(parent, at, &n.parent)?,
            school_year: None,
        }))
    }

    fn contact(&self, element: El<'_>) -> Read<Record> {
        let n = self.names;
        let at = At::record(&n.contact);
        let source = self.source(element, at)?;
        no_text(element, at)?;
        let (mut patient, mut journal, mut kind, mut start, mut end, mut performer, mut unit) =
            (None, None, None, None, None, None, None);
        for child in element.children() {
            let name = child.name();
            if name == &*n.patient {
                put(&mut patient, child, at)?;
            } else if name == &*n.journal {
                put(&mut journal, child, at)?;
            } else if name == &*n.contact_kind {
                put(&mut kind, child, at)?;
            } else if name == &*n.start {
                put(&mut start, child, at)?;
            } else if name == &*n.end {
                put(&mut end, child, at)?;
            } else if name == &*n.performer {
                put(&mut performer, child, at)?;
            } else if name == &*n.care_unit {
                put(&mut unit, child, at)?;
            } else {
                return Err(unexpected(at, child));
            }
        }
        let patient = self.patient_ref(patient, at)?;
        let kind: ContactKind = {
            let at = at.child(&n.contact_kind);
            let kind = kind.ok_or_else(|| At::record(&n.contact).missing(&n.contact_kind))?;
            let word = leaf(kind, at)?;
            coded(word, at)?
        };
        let start = clinical_time(
            start.ok_or_else(|| at.missing(&n.start))?,
            at.child(&n.start),
        )?;
        Ok(Record::Contact(Contact {
            source,
            patient,
            kind,
            start,
            end: optional_time(end, at, &n.end)?,
            performer: self.optional_practitioner(performer, at, &n.performer)?,
            care_unit: self.optional_care_organisation(unit, at, &n.care_unit)?,
            secrecy_domain: self.secrecy_domain(journal, None, at)?,
        }))
    }

    fn note(&self, element: El<'_>) -> Read<Record> {
        let n = self.names;
        let at = At::record(&n.note);
        let source = self.source(element, at)?;
        no_text(element, at)?;
        let mut patient = None;
        let mut journal = None;
        let mut template = None;
        let mut title = None;
        let (mut event, mut authored, mut signed, mut recorded) = (None, None, None, None);
        let (mut author, mut signer, mut provider, mut unit) = (None, None, None, None);
        let (mut contact, mut amends, mut nullified) = (None, None, None);
        let (mut block, mut approved) = (None, None);
        let mut withheld = Vec::new();
        let mut sections = Vec::new();
        let (mut text, mut attachment) = (None, None);
        for child in element.children() {
            let name = child.name();
            if name == &*n.keyword {
                sections.push(keyword(child, at.child(&n.keyword))?);
            } else if name == &*n.patient {
                put(&mut patient, child, at)?;
            } else if name == &*n.journal {
                put(&mut journal, child, at)?;
            } else if name == &*n.template {
                put(&mut template, child, at)?;
            } else if name == &*n.title {
                put(&mut title, child, at)?;
            } else if name == &*n.event_time {
                put(&mut event, child, at)?;
            } else if name == &*n.author_time {
                put(&mut authored, child, at)?;
            } else if name == &*n.signing_time {
                put(&mut signed, child, at)?;
            } else if name == &*n.record_time {
                put(&mut recorded, child, at)?;
            } else if name == &*n.author {
                put(&mut author, child, at)?;
            } else if name == &*n.signer {
                put(&mut signer, child, at)?;
            } else if name == &*n.care_provider {
                put(&mut provider, child, at)?;
            } else if name == &*n.care_unit {
                put(&mut unit, child, at)?;
            } else if name == &*n.contact_id {
                put(&mut contact, child, at)?;
            } else if name == &*n.amends {
                put(&mut amends, child, at)?;
            } else if name == &*n.nullified {
                put(&mut nullified, child, at)?;
            } else if name == &*n.patient_block {
                put(&mut block, child, at)?;
            } else if name == &*n.approved_for_patient {
                put(&mut approved, child, at)?;
            } else if name == &*n.withheld {
                withheld.push(withheld_part(child, at.child(&n.withheld))?);
            } else if name == &*n.text {
                put(&mut text, child, at)?;
            } else if name == &*n.attachment {
                put(&mut attachment, child, at)?;
            } else {
                return Err(unexpected(at, child));
            }
        }
        let patient = self.patient_ref(patient, at)?;
        let template = leaf(
            template.ok_or_else(|| at.missing(&n.template))?,
            at.child(&n.template),
        )?;
        let note_type = self
            .note_type(template)
            .map_err(|e| at.child(&n.template).fail(unmapped_reason(e)))?;
        let event_time = clinical_time(
            event.ok_or_else(|| at.missing(&n.event_time))?,
            at.child(&n.event_time),
        )?;
        let content = match (sections.is_empty(), text, attachment) {
            (false, None, None) => NoteContent::Keywords { sections },
            (true, Some(text), None) => NoteContent::Text {
                text: leaf(text, at.child(&n.text))?.to_owned(),
            },
            (true, None, Some(attachment)) => {
                NoteContent::Attachment(self.attachment(attachment, at.child(&n.attachment))?)
            }
            (true, None, None) => {
                return Err(at.fail(format!(
                    "the note has no content: expected <{}> elements, a <{}> or a <{}>",
                    n.keyword, n.text, n.attachment
                )));
            }
            _ => {
                return Err(at.fail(format!(
                    "a note holds <{}> elements, a <{}> or a <{}>, only one of them",
                    n.keyword, n.text, n.attachment
                )));
            }
        };
        Ok(Record::JournalEntry(JournalEntry {
            source,
            patient,
            event_time,
            author_time: optional_time(authored, at, &n.author_time)?,
            signing_time: optional_time(signed, at, &n.signing_time)?,
            record_time: optional_time(recorded, at, &n.record_time)?,
            author: self.optional_practitioner(author, at, &n.author)?,
            signer: self.optional_practitioner(signer, at, &n.signer)?,
            care_provider: self.optional_care_organisation(provider, at, &n.care_provider)?,
            care_unit: self.optional_care_organisation(unit, at, &n.care_unit)?,
            contact: optional_leaf(contact, at, &n.contact_id)?,
            title: optional_leaf(title, at, &n.title)?,
            status: self.status(amends, nullified, at)?,
            secrecy_domain: self.secrecy_domain(journal, Some(template), at)?,
            approved_for_patient: self.flag(approved, at, &n.approved_for_patient)?,
            patient_block: self.flag(block, at, &n.patient_block)?,
            withheld,
            note_type,
            content,
        }))
    }

    fn attachment(&self, element: El<'_>, at: At<'_>) -> Read<Attachment> {
        let [media_type, title] = attributes(element, [attr::MEDIA_TYPE, attr::TITLE], at)?;
        let media_type = required(media_type, attr::MEDIA_TYPE, at)?;
        // Exports wrap base64 in lines; the canonical form has none.
        let mut data = text_only(element, at)?.to_owned();
        data.retain(|c| !c.is_ascii_whitespace());
        if !is_base64(&data) {
            return Err(at.fail(
                "the attachment is not base64 (standard alphabet, padded to a multiple of 4)",
            ));
        }
        Ok(Attachment {
            media_type: media_type.into_owned(),
            title: title.map(Cow::into_owned),
            data,
        })
    }

    fn measurement(&self, element: El<'_>) -> Read<Record> {
        let n = self.names;
        let at = At::record(&n.measurement);
        let source = self.source(element, at)?;
        no_text(element, at)?;
        let (mut patient, mut journal, mut name_el, mut when) = (None, None, None, None);
        let (mut quantity, mut finding, mut performer, mut unit, mut contact) =
            (None, None, None, None, None);
        for child in element.children() {
            let name = child.name();
            if name == &*n.patient {
                put(&mut patient, child, at)?;
            } else if name == &*n.journal {
                put(&mut journal, child, at)?;
            } else if name == &*n.measurement_name {
                put(&mut name_el, child, at)?;
            } else if name == &*n.time {
                put(&mut when, child, at)?;
            } else if name == &*n.quantity {
                put(&mut quantity, child, at)?;
            } else if name == &*n.finding {
                put(&mut finding, child, at)?;
            } else if name == &*n.performer {
                put(&mut performer, child, at)?;
            } else if name == &*n.care_unit {
                put(&mut unit, child, at)?;
            } else if name == &*n.contact_id {
                put(&mut contact, child, at)?;
            } else {
                return Err(unexpected(at, child));
            }
        }
        let patient = self.patient_ref(patient, at)?;
        let original = {
            let at = at.child(&n.measurement_name);
            leaf(
                name_el.ok_or_else(|| At::record(&n.measurement).missing(&n.measurement_name))?,
                at,
            )?
        };
        let kind = self
            .recent
            .measurements
            .get(original, |name| self.profile.measurement(name))
            .ok_or_else(|| {
                at.child(&n.measurement_name).fail(format!(
                    "measurement {:?} is not mapped by profile {:?}; add it under [measurements]",
                    shown(original),
                    self.profile.name()
                ))
            })?;
        let time = clinical_time(when.ok_or_else(|| at.missing(&n.time))?, at.child(&n.time))?;
        let value = match (quantity, finding) {
            (Some(quantity), None) => quantity_value(quantity, at.child(&n.quantity))?,
            (None, Some(finding)) => {
                let at = at.child(&n.finding);
                let word = leaf(finding, at)?;
                MeasurementValue::Finding {
                    finding: coded::<Finding>(word, at)?,
                }
            }
            (None, None) => {
                return Err(at.fail(format!(
                    "the measurement has no value: expected <{}> or <{}>",
                    n.quantity, n.finding
                )));
            }
            (Some(_), Some(_)) => {
                return Err(at.fail(format!(
                    "a measurement holds <{}> or <{}>, not both",
                    n.quantity, n.finding
                )));
            }
        };
        Ok(Record::Measurement(Measurement {
            source,
            patient,
            kind,
            time,
            value,
            performer: self.optional_practitioner(performer, at, &n.performer)?,
            care_unit: self.optional_care_organisation(unit, at, &n.care_unit)?,
            contact: optional_leaf(contact, at, &n.contact_id)?,
            secrecy_domain: self.secrecy_domain(journal, None, at)?,
            original_code: Some(original.to_owned()),
        }))
    }

    fn vaccination(&self, element: El<'_>) -> Read<Record> {
        let n = self.names;
        let at = At::record(&n.vaccination);
        let source = self.source(element, at)?;
        no_text(element, at)?;
        let (mut patient, mut journal, mut when, mut vaccine, mut dose) =
            (None, None, None, None, None);
        let (mut lot, mut performer, mut unit, mut amends, mut nullified) =
            (None, None, None, None, None);
        for child in element.children() {
            let name = child.name();
            if name == &*n.patient {
                put(&mut patient, child, at)?;
            } else if name == &*n.journal {
                put(&mut journal, child, at)?;
            } else if name == &*n.time {
                put(&mut when, child, at)?;
            } else if name == &*n.vaccine {
                put(&mut vaccine, child, at)?;
            } else if name == &*n.dose {
                put(&mut dose, child, at)?;
            } else if name == &*n.lot {
                put(&mut lot, child, at)?;
            } else if name == &*n.performer {
                put(&mut performer, child, at)?;
            } else if name == &*n.care_unit {
                put(&mut unit, child, at)?;
            } else if name == &*n.amends {
                put(&mut amends, child, at)?;
            } else if name == &*n.nullified {
                put(&mut nullified, child, at)?;
            } else {
                return Err(unexpected(at, child));
            }
        }
        let patient = self.patient_ref(patient, at)?;
        let time = clinical_time(when.ok_or_else(|| at.missing(&n.time))?, at.child(&n.time))?;
        let vaccine = vaccine_of(
            vaccine.ok_or_else(|| at.missing(&n.vaccine))?,
            at.child(&n.vaccine),
        )?;
        let dose_number = match dose {
            None => None,
            Some(dose) => {
                let at = at.child(&n.dose);
                let text = leaf(dose, at)?;
                Some(text.trim().parse::<u8>().map_err(|_| {
                    at.fail(format!("{:?} is not a dose number (0–255)", shown(text)))
                })?)
            }
        };
        Ok(Record::Immunization(Immunization {
            source,
            patient,
            time,
            vaccine,
            dose_number,
            lot: optional_leaf(lot, at, &n.lot)?,
            given_by: self.optional_practitioner(performer, at, &n.performer)?,
            care_unit: self.optional_care_organisation(unit, at, &n.care_unit)?,
            secrecy_domain: self.secrecy_domain(journal, None, at)?,
            status: self.status(amends, nullified, at)?,
        }))
    }
}

/// The profile's refusal of an unmapped template, naming the profile file
/// relative to the working directory when it lies below it, as a user
/// would type it (and as golden vectors can record it on any machine).
fn unmapped_reason(mut unmapped: Unmapped) -> String {
    if let Ok(cwd) = std::env::current_dir()
        && let Ok(relative) = Path::new(&unmapped.file).strip_prefix(&cwd)
    {
        unmapped.file = relative.display().to_string();
    }
    unmapped.to_string()
}

fn source_ref(
    system: Option<Cow<'_, str>>,
    record_id: Option<Cow<'_, str>>,
    version: Option<Cow<'_, str>>,
    at: At<'_>,
) -> Read<SourceRef> {
    let system = required(system, attr::SYSTEM, at)?;
    let record_id = required(record_id, attr::ID, at)?;
    let version = match version {
        None => 1,
        Some(v) => v.trim().parse::<u32>().map_err(|_| {
            at.fail_attr(
                attr::VERSION,
                format!("{:?} is not a version number", shown(&v)),
            )
        })?,
    };
    Ok(SourceRef {
        system: system.into_owned(),
        record_id: record_id.into_owned(),
        version,
    })
}

fn keyword(element: El<'_>, at: At<'_>) -> Read<KeywordSection> {
    let [name] = attributes(element, [attr::NAME], at)?;
    let keyword = required(name, attr::NAME, at)?;
    Ok(KeywordSection {
        keyword: keyword.into_owned(),
        text: text_only(element, at)?.to_owned(),
    })
}

fn withheld_part(element: El<'_>, at: At<'_>) -> Read<WithheldPart> {
    let [part] = attributes(element, [attr::PART], at)?;
    let part = required(part, attr::PART, at)?;
    Ok(WithheldPart {
        part: part.into_owned(),
        reason: text_only(element, at)?.to_owned(),
    })
}

fn quantity_value(element: El<'_>, at: At<'_>) -> Read<MeasurementValue> {
    let [unit] = attributes(element, [attr::UNIT], at)?;
    let unit = required(unit, attr::UNIT, at)?;
    let text = text_only(element, at)?;
    let trimmed = text.trim();
    // Swedish exports write a decimal comma as often as a point.
    let parsed = if trimmed.contains(',') {
        trimmed.replace(',', ".").parse::<f64>()
    } else {
        trimmed.parse::<f64>()
    };
    match parsed {
        Ok(value) if value.is_finite() && is_decimal(trimmed) => Ok(MeasurementValue::Quantity {
            value,
            unit: unit.into_owned(),
        }),
        _ => Err(at.fail(format!("{:?} is not a decimal number", shown(text)))),
    }
}

/// Digits with an optional sign and one decimal point or comma; no
/// exponent, `inf` or `NaN`, which `f64::from_str` would also take.
fn is_decimal(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let mut seen_digit = false;
    let mut seen_point = false;
    for b in digits.bytes() {
        match b {
            b'0'..=b'9' => seen_digit = true,
            b'.' | b',' if !seen_point => seen_point = true,
            _ => return false,
        }
    }
    seen_digit
}

fn vaccine_of(element: El<'_>, at: At<'_>) -> Read<Vaccine> {
    let [atc, programme, product] =
        attributes(element, [attr::ATC, attr::PROGRAMME, attr::PRODUCT], at)?;
    empty(element, at)?;
    let atc = required(atc, attr::ATC, at)?;
    let programme: VaccinationProgramme = coded_attr(
        &required(programme, attr::PROGRAMME, at)?,
        attr::PROGRAMME,
        at,
    )?;
    Ok(Vaccine {
        atc: atc.into_owned(),
        product: product.map(Cow::into_owned),
        programme,
    })
}
