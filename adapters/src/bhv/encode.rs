//! Writing a BHV extract with [`quick_xml::Writer`]: UTF-8, indented by two
//! spaces, elements in the schema's order.
//!
//! Each record is first written to a buffer and reaches the output only when
//! the whole of it could be written, so a record refused half-way
//! ([`EncodeError::Unsupported`]) leaves nothing behind. The root element is
//! opened before the first record and closed in `finish`; with no records
//! the document is an empty root.
//!
//! Names the profile classifies are written so that the same profile reads
//! them back to the same codes: a note's own template (else the profile's
//! name for its note type), a measurement's own name (else the profile's
//! name for its kind), the profile's title for a profession, and the
//! profile's journal name for a secrecy domain — written only when it
//! differs from what the decoder would assume without one. Whatever the
//! profile would read back differently is refused, not altered.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};
use std::sync::Arc;

use brygga_mapping::id::{Identifier, PersonId};
use brygga_mapping::model::{
    Attachment, CareOrganisation, Consent, ConsentGiver, Contact, EntryStatus, Immunization,
    JournalEntry, Measurement, MeasurementValue, NoteContent, NoteTypeCode, Organisation,
    OrganisationKind, Person, Practitioner, Record, SecrecyDomain, SecurityMarking, SourceRef,
};
use brygga_mapping::profile::Profile;
use quick_xml::Writer;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::QName;

use serde::Serialize;

use super::decode::{forbidden_char, is_base64, shown};
use super::vocab::{self, GiverRole, Vocab};
use super::{Names, VERSION, tag};
use crate::{EncodeError, Encoder};

const INDENT: usize = 2;

pub(super) struct BhvEncoder {
    out: BufWriter<Box<dyn Write + Send>>,
    /// Holds the record being written; its indentation is one level in.
    xml: Writer<Vec<u8>>,
    profile: Arc<Profile>,
    names: Names,
    started: bool,
}

impl BhvEncoder {
    pub(super) fn new(output: Box<dyn Write + Send>, profile: Arc<Profile>) -> Self {
        let names = Names::from_profile(&profile);
        BhvEncoder {
            out: BufWriter::with_capacity(64 * 1024, output),
            xml: record_writer(&names.root),
            profile,
            names,
            started: false,
        }
    }

    fn start(&mut self) -> io::Result<()> {
        if let Some(problem) = self.names.problem() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, problem));
        }
        self.started = true;
        write!(
            self.out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{} version=\"{VERSION}\">",
            self.names.root
        )
    }

    fn write_record(&mut self, record: &Record) -> Result<(), EncodeError> {
        let names = &self.names;
        let mut w = RecordWriter {
            xml: &mut self.xml,
            profile: &self.profile,
            rec: "",
        };
        match record {
            Record::Person(person) => {
                w.rec = &names.child;
                w.child(person)
            }
            Record::Organisation(organisation) => {
                w.rec = match organisation.kind {
                    OrganisationKind::CareProvider => &names.care_provider,
                    OrganisationKind::CareUnit => &names.care_unit,
                    OrganisationKind::SchoolOwner
                    | OrganisationKind::SchoolUnit
                    | OrganisationKind::Group => {
                        return Err(unsupported(
                            "a bhv extract holds care providers and care units, not school organisations or groups".to_owned(),
                        ));
                    }
                };
                w.organisation(organisation)
            }
            Record::Contact(contact) => {
                w.rec = &names.contact;
                w.contact(contact)
            }
            Record::JournalEntry(entry) => {
                w.rec = &names.note;
                w.note(entry)
            }
            Record::Measurement(measurement) => {
                w.rec = &names.measurement;
                w.measurement(measurement)
            }
            Record::Immunization(immunization) => {
                w.rec = &names.vaccination;
                w.vaccination(immunization)
            }
            Record::Consent(consent) => {
                w.rec = &names.consent;
                w.consent(consent)
            }
            Record::Placement(_)
            | Record::Grade(_)
            | Record::Absence(_)
            | Record::Attendance(_)
            | Record::SurveyResponse(_) => Err(unsupported(format!(
                "a bhv extract holds no {} records (only the child, care providers and units, contacts, notes, measurements, vaccinations and consent)",
                record.type_name()
            ))),
        }
    }
}

/// A writer whose indentation stands one level inside the root element.
fn record_writer(root: &str) -> Writer<Vec<u8>> {
    let mut xml = Writer::new_with_indent(Vec::with_capacity(8 * 1024), b' ', INDENT);
    // Writing to a Vec cannot fail; the bytes only set the indentation and
    // are cleared.
    let _ = xml.write_event(Event::Start(BytesStart::new(root)));
    xml.get_mut().clear();
    xml
}

impl Encoder for BhvEncoder {
    fn encode(&mut self, record: &Record) -> Result<(), EncodeError> {
        if !self.started {
            self.start()?;
        }
        match self.write_record(record) {
            Ok(()) => {
                self.out.write_all(self.xml.get_ref())?;
                self.xml.get_mut().clear();
                Ok(())
            }
            Err(e) => {
                // A half-written record also left the indentation half-way.
                self.xml = record_writer(&self.names.root);
                Err(e)
            }
        }
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        if !self.started {
            self.start()?;
        }
        self.xml.get_mut().clear();
        self.xml
            .write_event(Event::End(BytesEnd::new(self.names.root.as_str())))?;
        self.out.write_all(self.xml.get_ref())?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

fn unsupported(reason: String) -> EncodeError {
    EncodeError::Unsupported(reason)
}

/// A canonical code as canonical NDJSON writes it (`health_visit`).
fn code<T: Serialize>(value: T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => "(unnamed code)".to_owned(),
    }
}

/// Writes one record into the buffer.
struct RecordWriter<'a> {
    xml: &'a mut Writer<Vec<u8>>,
    profile: &'a Profile,
    /// The record element's name, for messages.
    rec: &'a str,
}

impl RecordWriter<'_> {
    fn refuse(&self, field: &str, reason: impl std::fmt::Display) -> EncodeError {
        unsupported(format!("<{}> {field}: {reason}", self.rec))
    }

    fn event(&mut self, event: Event<'_>) -> Result<(), EncodeError> {
        Ok(self.xml.write_event(event)?)
    }

    fn start_tag<'n>(
        &self,
        name: &'n str,
        attributes: &[(&str, Option<&str>)],
    ) -> Result<BytesStart<'n>, EncodeError> {
        let mut start = BytesStart::new(name);
        for (key, value) in attributes {
            let Some(value) = value else { continue };
            let escaped =
                escape(value, true).map_err(|c| self.forbidden(&format!("{name}.{key}"), c))?;
            start.push_attribute(Attribute {
                key: QName(key),
                value: escaped,
            });
        }
        Ok(start)
    }

    fn forbidden(&self, field: &str, c: char) -> EncodeError {
        self.refuse(
            field,
            format_args!(
                "holds the character U+{:04X}, which XML 1.0 cannot carry",
                u32::from(c)
            ),
        )
    }

    fn open(&mut self, name: &str, attributes: &[(&str, Option<&str>)]) -> Result<(), EncodeError> {
        let start = self.start_tag(name, attributes)?;
        self.event(Event::Start(start))
    }

    fn close(&mut self, name: &str) -> Result<(), EncodeError> {
        self.event(Event::End(BytesEnd::new(name)))
    }

    fn empty(
        &mut self,
        name: &str,
        attributes: &[(&str, Option<&str>)],
    ) -> Result<(), EncodeError> {
        let start = self.start_tag(name, attributes)?;
        self.event(Event::Empty(start))
    }

    /// `<name attributes…>text</name>`, or an empty element for empty text
    /// (an indented start and end tag would put layout into the text).
    fn leaf_with(
        &mut self,
        name: &str,
        attributes: &[(&str, Option<&str>)],
        text: &str,
    ) -> Result<(), EncodeError> {
        if text.is_empty() {
            return self.empty(name, attributes);
        }
        let escaped = escape(text, false).map_err(|c| self.forbidden(name, c))?;
        let start = self.start_tag(name, attributes)?;
        self.event(Event::Start(start))?;
        self.event(Event::Text(BytesText::from_escaped(escaped)))?;
        self.close(name)
    }

    fn leaf(&mut self, name: &str, text: &str) -> Result<(), EncodeError> {
        self.leaf_with(name, &[], text)
    }

    /// A code, number, date or identifier: the reader takes whitespace around
    /// it as layout, so a value that has some cannot be written unchanged.
    fn token(&mut self, name: &str, text: &str) -> Result<(), EncodeError> {
        if text.trim() != text {
            return Err(self.refuse(
                name,
                "has leading or trailing whitespace, which the format reads as layout",
            ));
        }
        self.leaf(name, text)
    }

    fn word<T: Copy + PartialEq + Serialize>(
        &self,
        vocab: &Vocab<T>,
        value: T,
        field: &str,
    ) -> Result<&'static str, EncodeError> {
        vocab.word(value).ok_or_else(|| {
            self.refuse(
                field,
                format_args!("{} has no word in the format", code(value)),
            )
        })
    }

    fn source_attributes<'s>(
        source: &'s SourceRef,
        version: &'s str,
    ) -> [(&'static str, Option<&'s str>); 3] {
        [
            (tag::ID, Some(source.record_id.as_str())),
            (tag::VERSION, (source.version != 1).then_some(version)),
            (tag::SYSTEM, Some(source.system.as_str())),
        ]
    }

    fn open_sourced(&mut self, rec: &str, source: &SourceRef) -> Result<(), EncodeError> {
        let version = source.version.to_string();
        self.open(rec, &Self::source_attributes(source, &version))
    }

    fn identifier(&mut self, name: &str, id: &Identifier) -> Result<(), EncodeError> {
        match id {
            Identifier::Person(person) => self.person_id(name, &[], person),
            Identifier::Local(local) => {
                if local.value.is_empty() {
                    return Err(self.refuse(name, "a local id with an empty value"));
                }
                self.leaf_with(
                    name,
                    &[
                        (tag::TYPE, Some(vocab::LOCAL_ID)),
                        (tag::NAMESPACE, Some(local.namespace.as_str())),
                    ],
                    &local.value,
                )
            }
        }
    }

    fn person_id(
        &mut self,
        name: &str,
        extra: &[(&str, Option<&str>)],
        id: &PersonId,
    ) -> Result<(), EncodeError> {
        let kind = self.word(&vocab::PERSON_ID_KINDS, id.kind(), name)?;
        let mut attributes = Vec::with_capacity(extra.len() + 1);
        attributes.push((tag::TYPE, Some(kind)));
        attributes.extend_from_slice(extra);
        self.leaf_with(name, &attributes, id.as_str())
    }

    fn time(
        &mut self,
        name: &str,
        time: &brygga_mapping::time::ClinicalTime,
    ) -> Result<(), EncodeError> {
        self.leaf(name, &time.to_local_string())
    }

    fn practitioner(&mut self, name: &str, practitioner: &Practitioner) -> Result<(), EncodeError> {
        let title = match practitioner.profession {
            None => None,
            Some(profession) => {
                let title = self.profile.profession_name(profession);
                if self.profile.profession(title) != Some(profession) {
                    return Err(self.refuse(
                        &format!("{name}.{}", tag::TITLE),
                        format_args!(
                            "profile {:?} names no title for the profession {}; add one under [professions]",
                            self.profile.name(),
                            code(profession)
                        ),
                    ));
                }
                Some(title)
            }
        };
        let hsa = practitioner.hsa_id.as_ref().map(|id| id.as_str());
        self.empty(
            name,
            &[
                (tag::HSA_ID, hsa),
                (tag::NAME, practitioner.name.as_deref()),
                (tag::TITLE, title),
            ],
        )
    }

    fn care_organisation(
        &mut self,
        name: &str,
        organisation: &CareOrganisation,
    ) -> Result<(), EncodeError> {
        self.empty(
            name,
            &[
                (tag::HSA_ID, Some(organisation.hsa_id.as_str())),
                (tag::NAME, organisation.name.as_deref()),
            ],
        )
    }

    /// `<journal>` when the domain is not what the reader assumes without
    /// one (`implied`).
    fn journal(
        &mut self,
        domain: SecrecyDomain,
        implied: SecrecyDomain,
    ) -> Result<(), EncodeError> {
        if domain == implied {
            return Ok(());
        }
        let name = self.profile.secrecy_domain_name(domain);
        if self.profile.secrecy_domain_of(name) != Some(domain) {
            return Err(self.refuse(
                tag::JOURNAL,
                format_args!(
                    "profile {:?} names no journal for the secrecy domain {}; add one under [secrecy_domains]",
                    self.profile.name(),
                    code(domain)
                ),
            ));
        }
        self.leaf(tag::JOURNAL, name)
    }

    fn status(&mut self, status: &EntryStatus) -> Result<(), EncodeError> {
        match status {
            EntryStatus::Current => Ok(()),
            EntryStatus::Amended { supersedes } => {
                let version = supersedes.version.to_string();
                let attributes = Self::source_attributes(supersedes, &version);
                self.empty(tag::SUPERSEDES, &attributes)
            }
            EntryStatus::Nullified { reason } => self.leaf(tag::NULLIFIED, reason),
        }
    }

    // -----------------------------------------------------------------------
    // Records
    // -----------------------------------------------------------------------

    fn child(&mut self, person: &Person) -> Result<(), EncodeError> {
        let rec = self.rec;
        if person.identifiers.is_empty() {
            return Err(self.refuse(
                tag::ID,
                "a child without an identifier; every record of a bhv extract names the child",
            ));
        }
        self.open(rec, &[])?;
        for id in &person.identifiers {
            self.identifier(tag::ID, id)?;
        }
        self.leaf(tag::GIVEN_NAME, &person.given_name)?;
        self.leaf(tag::FAMILY_NAME, &person.family_name)?;
        if let Some(birth) = person.birth_date {
            self.leaf(tag::BIRTH_DATE, &birth.to_string())?;
        }
        if let Some(sex) = person.sex {
            let word = self.word(&vocab::SEXES, sex, tag::SEX)?;
            self.leaf(tag::SEX, word)?;
        }
        if person.security_marking != SecurityMarking::None {
            let word = self.word(
                &vocab::SECURITY_MARKINGS,
                person.security_marking,
                tag::PROTECTION,
            )?;
            self.leaf(tag::PROTECTION, word)?;
        }
        for guardian in &person.guardians {
            let relation =
                self.word(&vocab::GUARDIAN_RELATIONS, guardian.relation, tag::GUARDIAN)?;
            self.person_id(
                tag::GUARDIAN,
                &[(tag::RELATION, Some(relation))],
                &guardian.person,
            )?;
        }
        for address in &person.addresses {
            let kind = self.word(&vocab::ADDRESS_KINDS, address.kind, tag::ADDRESS)?;
            self.open(tag::ADDRESS, &[(tag::TYPE, Some(kind))])?;
            for line in &address.lines {
                self.leaf(tag::LINE, line)?;
            }
            for (name, value) in [
                (tag::POSTAL_CODE, &address.postal_code),
                (tag::CITY, &address.city),
                (tag::COUNTRY, &address.country),
            ] {
                if let Some(value) = value {
                    self.leaf(name, value)?;
                }
            }
            self.close(tag::ADDRESS)?;
        }
        for telecom in &person.telecom {
            let kind = self.word(&vocab::TELECOM_KINDS, telecom.kind, tag::TELECOM)?;
            self.leaf_with(tag::TELECOM, &[(tag::TYPE, Some(kind))], &telecom.value)?;
        }
        if let Some(code) = &person.municipality_code {
            self.token(tag::MUNICIPALITY, code)?;
        }
        self.close(rec)
    }

    fn organisation(&mut self, organisation: &Organisation) -> Result<(), EncodeError> {
        let rec = self.rec;
        if organisation.school_unit_code.is_some() {
            return Err(self.refuse("", "a care organisation with a school unit code"));
        }
        if organisation.school_year.is_some() {
            return Err(self.refuse("", "a care organisation with a school year"));
        }
        let hsa = organisation.hsa_id.as_ref().map(|id| id.as_str());
        let implied_id = hsa.is_some_and(|hsa| {
            organisation
                .id
                .strip_prefix("hsa:")
                .is_some_and(|rest| rest == hsa)
        });
        self.open(
            rec,
            &[(tag::ID, (!implied_id).then_some(organisation.id.as_str()))],
        )?;
        if let Some(hsa) = hsa {
            self.leaf(tag::HSA_ID, hsa)?;
        }
        self.leaf(tag::NAME, &organisation.name)?;
        if let Some(number) = &organisation.organisation_number {
            self.token(tag::ORGANISATION_NUMBER, number)?;
        }
        if let Some(code) = &organisation.municipality_code {
            self.token(tag::MUNICIPALITY, code)?;
        }
        if let Some(parent) = &organisation.parent {
            self.token(tag::PARENT, parent)?;
        }
        self.close(rec)
    }

    fn contact(&mut self, contact: &Contact) -> Result<(), EncodeError> {
        let rec = self.rec;
        self.open_sourced(rec, &contact.source)?;
        self.identifier(tag::PATIENT, &contact.patient)?;
        let kind = self.word(&vocab::CONTACT_KINDS, contact.kind, tag::TYPE)?;
        self.leaf(tag::TYPE, kind)?;
        self.time(tag::START, &contact.start)?;
        if let Some(end) = &contact.end {
            self.time(tag::END, end)?;
        }
        if let Some(performer) = &contact.performer {
            self.practitioner(tag::PERFORMER, performer)?;
        }
        if let Some(unit) = &contact.care_unit {
            self.care_organisation(tag::CARE_UNIT, unit)?;
        }
        let implied = self.profile.default_secrecy_domain();
        self.journal(contact.secrecy_domain, implied)?;
        self.close(rec)
    }

    /// The template to write: the note's own, else the profile's name for
    /// its type; refused when the profile would read it as another type.
    fn template<'e>(&self, entry: &'e JournalEntry) -> Result<Cow<'e, str>, EncodeError> {
        let code_value = entry.note_type.code;
        let template: Cow<'e, str> = match &entry.note_type.original {
            Some(original) => Cow::Borrowed(original.as_str()),
            None => Cow::Owned(self.profile.note_type_name(code_value).to_owned()),
        };
        // An unclassified note stays what the profile makes of its name.
        if code_value != NoteTypeCode::Unclassified {
            let read_back = self.profile.note_type(&template).map(|t| t.code);
            if read_back != Ok(code_value) {
                return Err(self.refuse(
                    tag::TEMPLATE,
                    format_args!(
                        "profile {:?} does not read the template {} back as note type {}",
                        self.profile.name(),
                        shown(&template),
                        code(code_value)
                    ),
                ));
            }
        }
        Ok(template)
    }

    fn note(&mut self, entry: &JournalEntry) -> Result<(), EncodeError> {
        let rec = self.rec;
        let template = self.template(entry)?;
        self.open_sourced(rec, &entry.source)?;
        self.identifier(tag::PATIENT, &entry.patient)?;
        self.leaf(tag::TEMPLATE, &template)?;
        if let Some(title) = &entry.title {
            self.leaf(tag::HEADING, title)?;
        }
        self.time(tag::EVENT_TIME, &entry.event_time)?;
        for (name, time) in [
            (tag::AUTHOR_TIME, &entry.author_time),
            (tag::SIGNING_TIME, &entry.signing_time),
            (tag::RECORD_TIME, &entry.record_time),
        ] {
            if let Some(time) = time {
                self.time(name, time)?;
            }
        }
        if let Some(author) = &entry.author {
            self.practitioner(tag::AUTHOR, author)?;
        }
        if let Some(signer) = &entry.signer {
            self.practitioner(tag::SIGNER, signer)?;
        }
        if let Some(provider) = &entry.care_provider {
            self.care_organisation(tag::CARE_PROVIDER, provider)?;
        }
        if let Some(unit) = &entry.care_unit {
            self.care_organisation(tag::CARE_UNIT, unit)?;
        }
        if let Some(contact) = &entry.contact {
            self.token(tag::CONTACT_ID, contact)?;
        }
        let implied = self.profile.secrecy_domain(&template);
        self.journal(entry.secrecy_domain, implied)?;
        self.status(&entry.status)?;
        if entry.approved_for_patient {
            self.empty(tag::APPROVED_FOR_PATIENT, &[])?;
        }
        if entry.patient_block {
            self.empty(tag::PATIENT_BLOCK, &[])?;
        }
        match &entry.content {
            NoteContent::Text { text } => self.leaf(tag::TEXT, text)?,
            NoteContent::Keywords { sections } => {
                for section in sections {
                    self.leaf_with(
                        tag::KEYWORD,
                        &[(tag::NAME, Some(section.keyword.as_str()))],
                        &section.text,
                    )?;
                }
            }
            NoteContent::Attachment(attachment) => self.attachment(attachment)?,
        }
        for part in &entry.withheld {
            if part.part.trim().is_empty() {
                return Err(self.refuse(tag::WITHHELD, "a withheld part without a name"));
            }
            self.empty(
                tag::WITHHELD,
                &[
                    (tag::PART, Some(part.part.as_str())),
                    (tag::REASON, Some(part.reason.as_str())),
                ],
            )?;
        }
        self.close(rec)
    }

    fn attachment(&mut self, attachment: &Attachment) -> Result<(), EncodeError> {
        if !is_base64(&attachment.data) {
            return Err(self.refuse(
                tag::ATTACHMENT,
                "the data is not base64 (standard alphabet, padded)",
            ));
        }
        self.leaf_with(
            tag::ATTACHMENT,
            &[
                (tag::MEDIA_TYPE, Some(attachment.media_type.as_str())),
                (tag::TITLE, attachment.title.as_deref()),
            ],
            &attachment.data,
        )
    }

    fn measurement(&mut self, measurement: &Measurement) -> Result<(), EncodeError> {
        let rec = self.rec;
        let kind = measurement.kind;
        let name = match &measurement.original_code {
            Some(code) => code.as_str(),
            None => self.profile.measurement_name(kind),
        };
        if self.profile.measurement(name) != Some(kind) {
            return Err(self.refuse(
                tag::NAME,
                format_args!(
                    "profile {:?} does not read the measurement name {} back as {}",
                    self.profile.name(),
                    shown(name),
                    code(kind)
                ),
            ));
        }
        self.open_sourced(rec, &measurement.source)?;
        self.identifier(tag::PATIENT, &measurement.patient)?;
        self.leaf(tag::NAME, name)?;
        self.time(tag::TIME, &measurement.time)?;
        match &measurement.value {
            MeasurementValue::Quantity { value, unit } => {
                if !value.is_finite() {
                    return Err(self.refuse(tag::VALUE, "not a finite number"));
                }
                let mut number = String::with_capacity(16);
                let _ = write!(number, "{value}");
                self.leaf_with(tag::VALUE, &[(tag::UNIT, Some(unit.as_str()))], &number)?;
            }
            MeasurementValue::Finding { finding } => {
                let word = self.word(&vocab::FINDINGS, *finding, tag::FINDING)?;
                self.leaf(tag::FINDING, word)?;
            }
        }
        if let Some(performer) = &measurement.performer {
            self.practitioner(tag::PERFORMER, performer)?;
        }
        if let Some(unit) = &measurement.care_unit {
            self.care_organisation(tag::CARE_UNIT, unit)?;
        }
        if let Some(contact) = &measurement.contact {
            self.token(tag::CONTACT_ID, contact)?;
        }
        let implied = self.profile.default_secrecy_domain();
        self.journal(measurement.secrecy_domain, implied)?;
        self.close(rec)
    }

    fn vaccination(&mut self, immunization: &Immunization) -> Result<(), EncodeError> {
        let rec = self.rec;
        self.open_sourced(rec, &immunization.source)?;
        self.identifier(tag::PATIENT, &immunization.patient)?;
        self.time(tag::TIME, &immunization.time)?;
        let vaccine = &immunization.vaccine;
        self.token(tag::ATC, &vaccine.atc)?;
        if let Some(product) = &vaccine.product {
            self.leaf(tag::PRODUCT, product)?;
        }
        let programme = self.word(&vocab::PROGRAMMES, vaccine.programme, tag::PROGRAMME)?;
        self.leaf(tag::PROGRAMME, programme)?;
        if let Some(dose) = immunization.dose_number {
            self.leaf(tag::DOSE, &dose.to_string())?;
        }
        if let Some(lot) = &immunization.lot {
            self.token(tag::LOT, lot)?;
        }
        if let Some(given_by) = &immunization.given_by {
            self.practitioner(tag::VACCINATOR, given_by)?;
        }
        if let Some(unit) = &immunization.care_unit {
            self.care_organisation(tag::CARE_UNIT, unit)?;
        }
        let implied = self.profile.default_secrecy_domain();
        self.journal(immunization.secrecy_domain, implied)?;
        self.status(&immunization.status)?;
        self.close(rec)
    }

    fn consent(&mut self, consent: &Consent) -> Result<(), EncodeError> {
        let rec = self.rec;
        self.open_sourced(rec, &consent.source)?;
        self.identifier(tag::PATIENT, &consent.patient)?;
        match &consent.given_by {
            ConsentGiver::Patient => {
                let role = self.word(&vocab::GIVER_ROLES, GiverRole::Patient, tag::GIVEN_BY)?;
                self.empty(tag::GIVEN_BY, &[(tag::ROLE, Some(role))])?;
            }
            ConsentGiver::Guardian { person } => {
                let role = self.word(&vocab::GIVER_ROLES, GiverRole::Guardian, tag::GIVEN_BY)?;
                self.person_id(tag::GIVEN_BY, &[(tag::ROLE, Some(role))], person)?;
            }
        }
        let purpose = self.word(&vocab::PURPOSES, consent.purpose, tag::PURPOSE)?;
        self.leaf(tag::PURPOSE, purpose)?;
        let decision = self.word(&vocab::DECISIONS, consent.decision, tag::DECISION)?;
        self.leaf(tag::DECISION, decision)?;
        for part in &consent.withheld_parts {
            self.leaf(tag::WITHHELD_PART, part)?;
        }
        self.time(tag::RECORDED, &consent.recorded)?;
        self.leaf(tag::VALID_FROM, &consent.valid_from.to_string())?;
        if let Some(valid_to) = consent.valid_to {
            self.leaf(tag::VALID_TO, &valid_to.to_string())?;
        }
        self.close(rec)
    }
}

/// Escapes text for element content (`attribute == false`) or a
/// double-quoted attribute value. Carriage returns — and in attributes also
/// line feeds and tabs — become character references, because an XML reader
/// would otherwise normalise them away. Fails on a character XML 1.0 cannot
/// carry at all.
fn escape(text: &str, attribute: bool) -> Result<Cow<'_, str>, char> {
    if let Some(c) = forbidden_char(text) {
        return Err(c);
    }
    let needs = |b: u8| match b {
        b'&' | b'<' | b'>' | b'\r' => true,
        b'"' | b'\n' | b'\t' => attribute,
        _ => false,
    };
    if !text.bytes().any(needs) {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            '"' if attribute => out.push_str("&quot;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            other => out.push(other),
        }
    }
    Ok(Cow::Owned(out))
}
