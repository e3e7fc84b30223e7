//! Writing a PMO export: UTF-8, indented, one record element after another
//! under the root, which `finish` closes.
//!
//! Each record is first written to a buffer, so a record refused halfway
//! (a value XML cannot carry, a name the profile would read back as
//! something else) leaves nothing behind in the output.

use std::io::{self, Write};
use std::sync::Arc;

use brygga_mapping::id::Identifier;
use brygga_mapping::model::{
    Attachment, CareOrganisation, Contact, EntryStatus, Immunization, JournalEntry, Measurement,
    MeasurementValue, NoteContent, NoteTypeCode, Organisation, OrganisationKind, Person,
    Practitioner, Record, SecrecyDomain, SecurityMarking, SourceRef,
};
use brygga_mapping::profile::{Profile, UnmappedPolicy};
use brygga_mapping::time::ClinicalTime;

use crate::{EncodeError, Encoder};

use super::names::{FORMAT_VERSION, IdKind, Names, Vocabulary, attr};
use super::{is_base64, is_digits, shown};

const INDENT: &[u8] = b"  ";

pub(super) struct PmoEncoder {
    out: Box<dyn Write + Send>,
    profile: Arc<Profile>,
    names: Names,
    /// Why the profile's element names cannot be written, if they cannot.
    bad_names: Option<String>,
    started: bool,
    buf: Vec<u8>,
}

impl PmoEncoder {
    pub fn new(out: Box<dyn Write + Send>, profile: Arc<Profile>) -> Self {
        let names = Names::from_profile(&profile);
        let bad_names = names
            .check()
            .err()
            .map(|reason| format!("profile {:?}: {reason}", profile.name()));
        PmoEncoder {
            out,
            profile,
            names,
            bad_names,
            started: false,
            buf: Vec::with_capacity(16 * 1024),
        }
    }

    fn check_names(&self) -> io::Result<()> {
        match &self.bad_names {
            Some(reason) => Err(io::Error::new(io::ErrorKind::InvalidInput, reason.clone())),
            None => Ok(()),
        }
    }

    /// Writes the declaration and the root's start tag, once.
    fn start(&mut self) -> io::Result<()> {
        if !self.started {
            self.check_names()?;
            write!(
                self.out,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{} {}=\"{FORMAT_VERSION}\">\n",
                self.names.root,
                attr::FORMAT_VERSION
            )?;
            self.started = true;
        }
        Ok(())
    }
}

impl Encoder for PmoEncoder {
    fn encode(&mut self, record: &Record) -> Result<(), EncodeError> {
        self.start()?;
        self.buf.clear();
        let mut writer = RecordWriter {
            out: &mut self.buf,
            names: &self.names,
            profile: &self.profile,
        };
        writer.record(record)?;
        self.out.write_all(&self.buf)?;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        self.start()?;
        writeln!(self.out, "</{}>", self.names.root)?;
        self.out.flush()
    }
}

type Written = Result<(), EncodeError>;

fn unsupported(reason: String) -> EncodeError {
    EncodeError::Unsupported(reason)
}

/// Writes one record into a buffer.
struct RecordWriter<'a> {
    out: &'a mut Vec<u8>,
    names: &'a Names,
    profile: &'a Profile,
}

/// An attribute: name and value; `None` values are left out.
type Attr<'v> = (&'static str, Option<&'v str>);

impl RecordWriter<'_> {
    fn record(&mut self, record: &Record) -> Written {
        match record {
            Record::Person(person) => self.person(person),
            Record::Organisation(organisation) => self.organisation(organisation),
            Record::Contact(contact) => self.contact(contact),
            Record::JournalEntry(entry) => self.note(entry),
            Record::Measurement(measurement) => self.measurement(measurement),
            Record::Immunization(immunization) => self.vaccination(immunization),
            Record::Placement(_)
            | Record::Grade(_)
            | Record::Absence(_)
            | Record::Attendance(_)
            | Record::Consent(_)
            | Record::SurveyResponse(_) => Err(unsupported(format!(
                "PMO exports hold no {} records (only patients, care providers and units, contacts, notes, measurements and vaccinations)",
                record.type_name()
            ))),
        }
    }

    // --- XML primitives ---------------------------------------------------

    fn indent(&mut self, depth: usize) {
        for _ in 0..depth {
            self.out.extend_from_slice(INDENT);
        }
    }

    /// `<name a="v" …` without the closing `>`.
    fn tag(&mut self, depth: usize, name: &str, attrs: &[Attr<'_>]) -> Written {
        self.indent(depth);
        self.out.push(b'<');
        self.out.extend_from_slice(name.as_bytes());
        for (key, value) in attrs {
            if let Some(value) = value {
                self.out.push(b' ');
                self.out.extend_from_slice(key.as_bytes());
                self.out.extend_from_slice(b"=\"");
                escape(self.out, value, true)
                    .map_err(|c| cannot_carry(c, &format!("{name}.{key}"), true))?;
                self.out.push(b'"');
            }
        }
        Ok(())
    }

    fn open(&mut self, depth: usize, name: &str, attrs: &[Attr<'_>]) -> Written {
        self.tag(depth, name, attrs)?;
        self.out.extend_from_slice(b">\n");
        Ok(())
    }

    fn close(&mut self, depth: usize, name: &str) {
        self.indent(depth);
        self.out.extend_from_slice(b"</");
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b">\n");
    }

    fn empty(&mut self, depth: usize, name: &str, attrs: &[Attr<'_>]) -> Written {
        self.tag(depth, name, attrs)?;
        self.out.extend_from_slice(b"/>\n");
        Ok(())
    }

    /// `<name a="v">text</name>`; the text is written exactly, escaped.
    fn leaf(&mut self, depth: usize, name: &str, attrs: &[Attr<'_>], text: &str) -> Written {
        self.tag(depth, name, attrs)?;
        self.out.push(b'>');
        escape(self.out, text, false).map_err(|c| cannot_carry(c, name, false))?;
        self.out.extend_from_slice(b"</");
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b">\n");
        Ok(())
    }

    fn optional_leaf(&mut self, depth: usize, name: &str, text: Option<&str>) -> Written {
        match text {
            Some(text) => self.leaf(depth, name, &[], text),
            None => Ok(()),
        }
    }

    fn time(&mut self, depth: usize, name: &str, time: &ClinicalTime) -> Written {
        self.leaf(depth, name, &[], &time.to_local_string())
    }

    fn optional_time(&mut self, depth: usize, name: &str, time: Option<&ClinicalTime>) -> Written {
        match time {
            Some(time) => self.time(depth, name, time),
            None => Ok(()),
        }
    }

    // --- shared parts -----------------------------------------------------

    fn source_attrs<'v>(source: &'v SourceRef, version: &'v str) -> [Attr<'v>; 3] {
        [
            (attr::SYSTEM, Some(&source.system)),
            (attr::ID, Some(&source.record_id)),
            (attr::VERSION, Some(version)),
        ]
    }

    fn open_sourced(&mut self, name: &str, source: &SourceRef) -> Written {
        let version = source.version.to_string();
        self.open(1, name, &Self::source_attrs(source, &version))
    }

    /// `<id typ="…">` and the patient reference.
    fn identifier(&mut self, depth: usize, name: &str, id: &Identifier) -> Written {
        match id {
            Identifier::Person(id) => self.leaf(
                depth,
                name,
                &[(attr::KIND, Some(IdKind::Person(id.kind()).word()))],
                id.as_str(),
            ),
            Identifier::Local(local) => self.leaf(
                depth,
                name,
                &[
                    (attr::KIND, Some(IdKind::Local.word())),
                    (attr::NAMESPACE, Some(&local.namespace)),
                ],
                &local.value,
            ),
        }
    }

    /// The journal the record is filed in: the name the profile gives the
    /// secrecy domain, provided the profile reads that name back as the same
    /// domain.
    fn journal(&mut self, domain: SecrecyDomain) -> Written {
        let name = self.profile.secrecy_domain_name(domain);
        if self.profile.secrecy_domain_of(name) != Some(domain) {
            return Err(unsupported(format!(
                "profile {:?} names no journal for secrecy domain {}; add one under [secrecy_domains]",
                self.profile.name(),
                code_name(&domain)
            )));
        }
        let element = &self.names.journal;
        self.leaf(2, element, &[], name)
    }

    fn practitioner(&mut self, name: &str, who: Option<&Practitioner>) -> Written {
        let Some(who) = who else {
            return Ok(());
        };
        let title = match who.profession {
            None => None,
            Some(profession) => {
                let title = self.profile.profession_name(profession);
                if self.profile.profession(title) != Some(profession) {
                    return Err(unsupported(format!(
                        "profile {:?} names no title for profession {}; add one under [professions]",
                        self.profile.name(),
                        code_name(&profession)
                    )));
                }
                Some(title)
            }
        };
        let hsa = who.hsa_id.as_ref().map(|id| id.as_str());
        self.empty(
            2,
            name,
            &[
                (attr::HSA_ID, hsa),
                (attr::NAME, who.name.as_deref()),
                (attr::TITLE, title),
            ],
        )
    }

    fn care_organisation(&mut self, name: &str, org: Option<&CareOrganisation>) -> Written {
        match org {
            Some(org) => self.empty(
                2,
                name,
                &[
                    (attr::HSA_ID, Some(org.hsa_id.as_str())),
                    (attr::NAME, org.name.as_deref()),
                ],
            ),
            None => Ok(()),
        }
    }

    fn status(&mut self, status: &EntryStatus) -> Written {
        match status {
            EntryStatus::Current => Ok(()),
            EntryStatus::Amended { supersedes } => {
                let version = supersedes.version.to_string();
                let element = &self.names.amends;
                self.empty(2, element, &Self::source_attrs(supersedes, &version))
            }
            EntryStatus::Nullified { reason } => {
                let element = &self.names.nullified;
                self.leaf(2, element, &[], reason)
            }
        }
    }

    // --- records ----------------------------------------------------------

    fn person(&mut self, person: &Person) -> Written {
        let n = self.names;
        if person.identifiers.is_empty() {
            return Err(unsupported(
                "a patient without identifiers cannot be written; a PMO patient has at least one"
                    .to_owned(),
            ));
        }
        check_code(person.municipality_code.as_deref(), 4, "municipality_code")?;
        self.open(1, &n.patient, &[])?;
        for id in &person.identifiers {
            self.identifier(2, &n.identifier, id)?;
        }
        self.leaf(2, &n.given_name, &[], &person.given_name)?;
        self.leaf(2, &n.family_name, &[], &person.family_name)?;
        if let Some(birth) = person.birth_date {
            self.time(2, &n.birth_date, &ClinicalTime::from_date(birth))?;
        }
        if let Some(sex) = person.sex {
            self.leaf(2, &n.sex, &[], sex.word())?;
        }
        if person.security_marking != SecurityMarking::None {
            self.leaf(
                2,
                &n.protected_identity,
                &[],
                person.security_marking.word(),
            )?;
        }
        for guardian in &person.guardians {
            self.leaf(
                2,
                &n.guardian,
                &[
                    (
                        attr::KIND,
                        Some(IdKind::Person(guardian.person.kind()).word()),
                    ),
                    (attr::RELATION, Some(guardian.relation.word())),
                ],
                guardian.person.as_str(),
            )?;
        }
        for address in &person.addresses {
            self.open(2, &n.address, &[(attr::KIND, Some(address.kind.word()))])?;
            for line in &address.lines {
                self.leaf(3, &n.address_line, &[], line)?;
            }
            self.optional_leaf(3, &n.postal_code, address.postal_code.as_deref())?;
            self.optional_leaf(3, &n.city, address.city.as_deref())?;
            self.optional_leaf(3, &n.country, address.country.as_deref())?;
            self.close(2, &n.address);
        }
        for telecom in &person.telecom {
            self.leaf(
                2,
                &n.telecom,
                &[(attr::KIND, Some(telecom.kind.word()))],
                &telecom.value,
            )?;
        }
        self.optional_leaf(2, &n.municipality_code, person.municipality_code.as_deref())?;
        self.close(1, &n.patient);
        Ok(())
    }

    fn organisation(&mut self, org: &Organisation) -> Written {
        let n = self.names;
        let element = match org.kind {
            OrganisationKind::CareProvider => &n.care_provider,
            OrganisationKind::CareUnit => &n.care_unit,
            other => {
                return Err(unsupported(format!(
                    "PMO exports hold care providers and care units, not a {} organisation",
                    code_name(&other)
                )));
            }
        };
        if org.school_unit_code.is_some() || org.school_year.is_some() {
            return Err(unsupported(
                "a PMO care provider or unit has no school_unit_code or school_year".to_owned(),
            ));
        }
        check_code(
            org.organisation_number.as_deref(),
            10,
            "organisation_number",
        )?;
        check_code(org.municipality_code.as_deref(), 4, "municipality_code")?;
        self.open(1, element, &[(attr::ID, Some(&org.id))])?;
        self.leaf(2, &n.name, &[], &org.name)?;
        if let Some(hsa) = &org.hsa_id {
            self.leaf(2, &n.hsa_id, &[], hsa.as_str())?;
        }
        self.optional_leaf(
            2,
            &n.organisation_number,
            org.organisation_number.as_deref(),
        )?;
        self.optional_leaf(2, &n.municipality_code, org.municipality_code.as_deref())?;
        self.optional_leaf(2, &n.parent, org.parent.as_deref())?;
        self.close(1, element);
        Ok(())
    }

    fn contact(&mut self, contact: &Contact) -> Written {
        let n = self.names;
        self.open_sourced(&n.contact, &contact.source)?;
        self.identifier(2, &n.patient, &contact.patient)?;
        self.journal(contact.secrecy_domain)?;
        self.leaf(2, &n.contact_kind, &[], contact.kind.word())?;
        self.time(2, &n.start, &contact.start)?;
        self.optional_time(2, &n.end, contact.end.as_ref())?;
        self.practitioner(&n.performer, contact.performer.as_ref())?;
        self.care_organisation(&n.care_unit, contact.care_unit.as_ref())?;
        self.close(1, &n.contact);
        Ok(())
    }

    /// The template to write: the note's own, else the profile's name for
    /// its type; either way one the profile reads back as the same type.
    fn template<'e>(profile: &'e Profile, entry: &'e JournalEntry) -> Result<&'e str, EncodeError> {
        let code = entry.note_type.code;
        let name = match &entry.note_type.original {
            Some(original) => original.as_str(),
            None => profile.note_type_name(code),
        };
        // An unclassified note keeps its unmapped name; looking it up would
        // count it as seen again for the end-of-run warning. (Any other
        // lookup of an unmapped name ends in a refusal, and counting that
        // name is what the warning is for: it is missing from the profile.)
        if code == NoteTypeCode::Unclassified
            && profile.unmapped_policy() == UnmappedPolicy::Unclassified
        {
            return Ok(name);
        }
        match profile.note_type(name) {
            Ok(read_back) if read_back.code == code => Ok(name),
            Ok(read_back) if read_back.code == NoteTypeCode::Unclassified => {
                Err(unsupported(format!(
                    "template {:?} is not mapped by profile {:?}, so it would read back as unclassified, not {}; add it under [note_types]",
                    shown(name),
                    profile.name(),
                    code_name(&code)
                )))
            }
            Ok(read_back) => Err(unsupported(format!(
                "template {:?} reads back as {} under profile {:?}, not as the note's type {}",
                shown(name),
                code_name(&read_back.code),
                profile.name(),
                code_name(&code)
            ))),
            Err(unmapped) => Err(unsupported(unmapped.to_string())),
        }
    }

    fn note(&mut self, entry: &JournalEntry) -> Written {
        let n = self.names;
        let template = Self::template(self.profile, entry)?;
        if let NoteContent::Keywords { sections } = &entry.content
            && sections.is_empty()
        {
            return Err(unsupported(
                "a keyword note without keywords cannot be written; a PMO note holds at least one sökord, a text or an attachment".to_owned(),
            ));
        }
        if let NoteContent::Attachment(attachment) = &entry.content {
            check_attachment(attachment)?;
        }
        self.open_sourced(&n.note, &entry.source)?;
        self.identifier(2, &n.patient, &entry.patient)?;
        self.journal(entry.secrecy_domain)?;
        self.leaf(2, &n.template, &[], template)?;
        self.optional_leaf(2, &n.title, entry.title.as_deref())?;
        self.time(2, &n.event_time, &entry.event_time)?;
        self.optional_time(2, &n.author_time, entry.author_time.as_ref())?;
        self.optional_time(2, &n.signing_time, entry.signing_time.as_ref())?;
        self.optional_time(2, &n.record_time, entry.record_time.as_ref())?;
        self.practitioner(&n.author, entry.author.as_ref())?;
        self.practitioner(&n.signer, entry.signer.as_ref())?;
        self.care_organisation(&n.care_provider, entry.care_provider.as_ref())?;
        self.care_organisation(&n.care_unit, entry.care_unit.as_ref())?;
        self.optional_leaf(2, &n.contact_id, entry.contact.as_deref())?;
        self.status(&entry.status)?;
        if entry.patient_block {
            self.leaf(2, &n.patient_block, &[], "true")?;
        }
        if entry.approved_for_patient {
            self.leaf(2, &n.approved_for_patient, &[], "true")?;
        }
        for part in &entry.withheld {
            self.leaf(
                2,
                &n.withheld,
                &[(attr::PART, Some(&part.part))],
                &part.reason,
            )?;
        }
        match &entry.content {
            NoteContent::Keywords { sections } => {
                for section in sections {
                    self.leaf(
                        2,
                        &n.keyword,
                        &[(attr::NAME, Some(&section.keyword))],
                        &section.text,
                    )?;
                }
            }
            NoteContent::Text { text } => self.leaf(2, &n.text, &[], text)?,
            NoteContent::Attachment(attachment) => self.leaf(
                2,
                &n.attachment,
                &[
                    (attr::MEDIA_TYPE, Some(&attachment.media_type)),
                    (attr::TITLE, attachment.title.as_deref()),
                ],
                &attachment.data,
            )?,
        }
        self.close(1, &n.note);
        Ok(())
    }

    fn measurement(&mut self, measurement: &Measurement) -> Written {
        let n = self.names;
        let kind = measurement.kind;
        let name = match &measurement.original_code {
            Some(original) => original.as_str(),
            None => self.profile.measurement_name(kind),
        };
        let read_back = self.profile.measurement(name);
        if read_back != Some(kind) {
            return Err(unsupported(format!(
                "measurement {:?} is {} by profile {:?}, but the measurement is {}; add it under [measurements]",
                shown(name),
                read_back.map_or("not mapped".to_owned(), |k| format!(
                    "mapped to {}",
                    code_name(&k)
                )),
                self.profile.name(),
                code_name(&kind)
            )));
        }
        if let MeasurementValue::Quantity { value, .. } = measurement.value
            && !value.is_finite()
        {
            return Err(unsupported(format!(
                "measured value {value} is not a finite number"
            )));
        }
        self.open_sourced(&n.measurement, &measurement.source)?;
        self.identifier(2, &n.patient, &measurement.patient)?;
        self.journal(measurement.secrecy_domain)?;
        self.leaf(2, &n.measurement_name, &[], name)?;
        self.time(2, &n.time, &measurement.time)?;
        match &measurement.value {
            MeasurementValue::Quantity { value, unit } => {
                self.leaf(
                    2,
                    &n.quantity,
                    &[(attr::UNIT, Some(unit))],
                    &value.to_string(),
                )?;
            }
            MeasurementValue::Finding { finding } => {
                self.leaf(2, &n.finding, &[], finding.word())?;
            }
        }
        self.practitioner(&n.performer, measurement.performer.as_ref())?;
        self.care_organisation(&n.care_unit, measurement.care_unit.as_ref())?;
        self.optional_leaf(2, &n.contact_id, measurement.contact.as_deref())?;
        self.close(1, &n.measurement);
        Ok(())
    }

    fn vaccination(&mut self, immunization: &Immunization) -> Written {
        let n = self.names;
        self.open_sourced(&n.vaccination, &immunization.source)?;
        self.identifier(2, &n.patient, &immunization.patient)?;
        self.journal(immunization.secrecy_domain)?;
        self.time(2, &n.time, &immunization.time)?;
        let vaccine = &immunization.vaccine;
        self.empty(
            2,
            &n.vaccine,
            &[
                (attr::ATC, Some(&vaccine.atc)),
                (attr::PROGRAMME, Some(vaccine.programme.word())),
                (attr::PRODUCT, vaccine.product.as_deref()),
            ],
        )?;
        if let Some(dose) = immunization.dose_number {
            self.leaf(2, &n.dose, &[], &dose.to_string())?;
        }
        self.optional_leaf(2, &n.lot, immunization.lot.as_deref())?;
        self.practitioner(&n.performer, immunization.given_by.as_ref())?;
        self.care_organisation(&n.care_unit, immunization.care_unit.as_ref())?;
        self.status(&immunization.status)?;
        self.close(1, &n.vaccination);
        Ok(())
    }
}

/// A kommunkod or organisationsnummer the decoder would read back.
fn check_code(value: Option<&str>, count: usize, field: &str) -> Written {
    match value {
        Some(value) if !is_digits(value, count) => Err(unsupported(format!(
            "{field} {:?} is not {count} digits",
            shown(value)
        ))),
        _ => Ok(()),
    }
}

fn check_attachment(attachment: &Attachment) -> Written {
    if is_base64(&attachment.data) {
        Ok(())
    } else {
        Err(unsupported(
            "the attachment's data is not base64 (standard alphabet, padded)".to_owned(),
        ))
    }
}

/// A canonical code as canonical NDJSON spells it (`health_visit`).
fn code_name<T: serde::Serialize>(code: &T) -> String {
    match serde_json::to_value(code) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::from("?"),
    }
}

fn cannot_carry(c: char, field: &str, in_attribute: bool) -> EncodeError {
    let what = if c == '\r' && in_attribute {
        "a carriage return, which an XML attribute cannot carry".to_owned()
    } else {
        format!("U+{:04X}, which XML 1.0 cannot carry", u32::from(c))
    };
    unsupported(format!("{field} holds {what}"))
}

/// Appends `value` escaped for element text (`in_attribute` false) or a
/// double-quoted attribute. In text a carriage return is written as a
/// character reference, which a reader keeps (a literal one becomes a line
/// feed); in an attribute tabs and line feeds are, for the same reason, and
/// a carriage return cannot be kept at all. Characters XML 1.0 does not
/// allow are refused.
fn escape(out: &mut Vec<u8>, value: &str, in_attribute: bool) -> Result<(), char> {
    let bytes = value.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let replacement: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'"' if in_attribute => b"&quot;",
            b'\t' if in_attribute => b"&#9;",
            b'\n' if in_attribute => b"&#10;",
            b'\r' if !in_attribute => b"&#13;",
            b'\t' | b'\n' => continue,
            0x00..=0x1F => return Err(char::from(b)),
            // U+FFFE and U+FFFF (EF BF BE, EF BF BF) are not XML characters.
            0xEF if bytes.get(i + 1) == Some(&0xBF)
                && matches!(bytes.get(i + 2), Some(0xBE | 0xBF)) =>
            {
                let last = bytes.get(i + 2).copied().unwrap_or_default();
                return Err(if last == 0xBE { '\u{FFFE}' } else { '\u{FFFF}' });
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(replacement);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    Ok(())
}
