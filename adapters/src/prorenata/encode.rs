//! Writing a ProRenata export: one JSON array, one record per line —
//! `[\n{…},\n{…}\n]\n` — which is valid JSON and can still be read (and
//! repaired) line by line. Every record starts with its discriminator.
//!
//! Templates and measurement names are written as the record holds them
//! (`note_type.original`, `original_code`): they are the source's own
//! names, and the profile that reads the export derives the codes from them.
//! A record without one gets the profile's name for its code; journal names
//! and staff titles always come from the profile. Where the profile has no
//! name that reads back as the same code, the record is refused rather than
//! written in a way that would change it.

use std::io::{self, BufWriter, Write};
use std::sync::Arc;

use brygga_mapping::id::Identifier;
use brygga_mapping::model::{
    CareOrganisation, Contact, EntryStatus, Immunization, JournalEntry, Measurement,
    MeasurementValue, NoteContent, Organisation, Person, Practitioner, Profession, Record,
    SecrecyDomain, SourceRef,
};
use brygga_mapping::profile::Profile;
use brygga_mapping::time::ClinicalTime;
use serde::Serialize;

use super::wire::{self, Status, Text};
use super::{Kind, Names};
use crate::{EncodeError, Encoder};

const SECRECY_DOMAINS: [SecrecyDomain; 5] = [
    SecrecyDomain::EmiMedical,
    SecrecyDomain::Psychological,
    SecrecyDomain::Counsellor,
    SecrecyDomain::SpecialEducation,
    SecrecyDomain::SchoolAdministration,
];

const PROFESSIONS: [Profession; 6] = [
    Profession::Nurse,
    Profession::Physician,
    Profession::Psychologist,
    Profession::Counsellor,
    Profession::SpecialEducator,
    Profession::Administrative,
];

pub(super) struct ProRenataEncoder {
    out: BufWriter<Box<dyn Write + Send>>,
    naming: Naming,
    /// The record being written, reused.
    buf: Vec<u8>,
    written: u64,
}

/// How the profile names things in the export, resolved once.
struct Naming {
    profile: Arc<Profile>,
    names: Names,
    /// The journal name written for each secrecy domain, `None` when the
    /// profile has none that reads back as that domain.
    journals: [Option<Box<str>>; 5],
    /// Likewise the title written for each profession.
    titles: [Option<Box<str>>; 6],
}

impl ProRenataEncoder {
    pub fn new(output: Box<dyn Write + Send>, profile: Arc<Profile>) -> Self {
        let journals = SECRECY_DOMAINS.map(|domain| {
            let name = profile.secrecy_domain_name(domain);
            (profile.secrecy_domain_of(name) == Some(domain)).then(|| name.into())
        });
        let titles = PROFESSIONS.map(|profession| {
            let name = profile.profession_name(profession);
            (profile.profession(name) == Some(profession)).then(|| name.into())
        });
        ProRenataEncoder {
            out: BufWriter::with_capacity(64 * 1024, output),
            naming: Naming {
                names: Names::from_profile(&profile),
                profile,
                journals,
                titles,
            },
            buf: Vec::with_capacity(4096),
            written: 0,
        }
    }

    /// Serialises `record` into `buf`.
    fn encode_record(&mut self, record: &Record) -> Result<(), EncodeError> {
        let naming = &self.naming;
        let buf = &mut self.buf;
        buf.clear();
        match record {
            Record::Person(person) => write_tagged(buf, naming, Kind::Person, &person_wire(person)),
            Record::Organisation(organisation) => write_tagged(
                buf,
                naming,
                Kind::Organisation,
                &organisation_wire(organisation),
            ),
            Record::Contact(contact) => {
                write_tagged(buf, naming, Kind::Contact, &naming.contact_wire(contact)?)
            }
            Record::JournalEntry(note) => {
                write_tagged(buf, naming, Kind::JournalNote, &naming.note_wire(note)?)
            }
            Record::Measurement(measurement) => write_tagged(
                buf,
                naming,
                Kind::Measurement,
                &naming.measurement_wire(measurement)?,
            ),
            Record::Immunization(immunization) => write_tagged(
                buf,
                naming,
                Kind::Vaccination,
                &naming.vaccination_wire(immunization)?,
            ),
            Record::Placement(_)
            | Record::Grade(_)
            | Record::Absence(_)
            | Record::Attendance(_)
            | Record::Consent(_)
            | Record::SurveyResponse(_) => Err(EncodeError::Unsupported(format!(
                "a ProRenata export holds no {} records",
                record.type_name()
            ))),
        }
    }
}

impl Naming {
    fn journal(&self, domain: SecrecyDomain) -> Result<Text<'_>, EncodeError> {
        let index = SECRECY_DOMAINS
            .iter()
            .position(|d| *d == domain)
            .unwrap_or_default();
        match &self.journals[index] {
            Some(name) => Ok(Text::borrowed(name)),
            None => Err(EncodeError::Unsupported(format!(
                "profile {:?} names no journal for secrecy domain {}; add one under [secrecy_domains]",
                self.profile.name(),
                code_name(&domain)
            ))),
        }
    }

    fn staff<'r>(&'r self, practitioner: &'r Practitioner) -> Result<wire::Staff<'r>, EncodeError> {
        let title = match practitioner.profession {
            None => None,
            Some(profession) => {
                let index = PROFESSIONS
                    .iter()
                    .position(|p| *p == profession)
                    .unwrap_or_default();
                match &self.titles[index] {
                    Some(title) => Some(Text::borrowed(title)),
                    None => {
                        return Err(EncodeError::Unsupported(format!(
                            "profile {:?} names no title for profession {}; add one under [professions]",
                            self.profile.name(),
                            code_name(&profession)
                        )));
                    }
                }
            }
        };
        Ok(wire::Staff {
            hsa_id: practitioner
                .hsa_id
                .as_ref()
                .map(|id| Text::borrowed(id.as_str())),
            name: practitioner.name.as_deref().map(Text::borrowed),
            title,
        })
    }

    fn optional_staff<'r>(
        &'r self,
        practitioner: Option<&'r Practitioner>,
    ) -> Result<Option<wire::Staff<'r>>, EncodeError> {
        practitioner.map(|p| self.staff(p)).transpose()
    }

    fn contact_wire<'r>(&'r self, contact: &'r Contact) -> Result<wire::Contact<'r>, EncodeError> {
        Ok(wire::Contact {
            system: Text::borrowed(&contact.source.system),
            id: Text::borrowed(&contact.source.record_id),
            version: contact.source.version,
            patient: person_ref(&contact.patient),
            journal: Some(self.journal(contact.secrecy_domain)?),
            contact_type: contact.kind.into(),
            start: time(&contact.start),
            end: contact.end.as_ref().map(time),
            performer: self.optional_staff(contact.performer.as_ref())?,
            care_unit: contact.care_unit.as_ref().map(unit),
        })
    }

    fn note_wire<'r>(
        &'r self,
        note: &'r JournalEntry,
    ) -> Result<wire::JournalNote<'r>, EncodeError> {
        let template = match &note.note_type.original {
            Some(original) => original.as_str(),
            None => {
                let code = note.note_type.code;
                let name = self.profile.note_type_name(code);
                if self.profile.note_type(name).map(|t| t.code) != Ok(code) {
                    return Err(EncodeError::Unsupported(format!(
                        "profile {:?} names no template for note type {}; add one under [note_types]",
                        self.profile.name(),
                        code_name(&code)
                    )));
                }
                name
            }
        };
        let (keywords, text, attachment) = match &note.content {
            NoteContent::Keywords { sections } => (
                Some(
                    sections
                        .iter()
                        .map(|section| wire::KeywordWire {
                            keyword: Text::borrowed(&section.keyword),
                            text: Text::borrowed(&section.text),
                        })
                        .collect(),
                ),
                None,
                None,
            ),
            NoteContent::Text { text } => (None, Some(Text::borrowed(text)), None),
            NoteContent::Attachment(attachment) => (
                None,
                None,
                Some(wire::AttachmentWire {
                    content_type: Text::borrowed(&attachment.media_type),
                    title: attachment.title.as_deref().map(Text::borrowed),
                    data: Text::borrowed(&attachment.data),
                }),
            ),
        };
        let (status, supersedes, nullified_reason) = status_wire(&note.status);
        Ok(wire::JournalNote {
            system: Text::borrowed(&note.source.system),
            id: Text::borrowed(&note.source.record_id),
            version: note.source.version,
            patient: person_ref(&note.patient),
            journal: Some(self.journal(note.secrecy_domain)?),
            template: Text::borrowed(template),
            title: note.title.as_deref().map(Text::borrowed),
            event_time: time(&note.event_time),
            author_time: note.author_time.as_ref().map(time),
            signing_time: note.signing_time.as_ref().map(time),
            record_time: note.record_time.as_ref().map(time),
            author: self.optional_staff(note.author.as_ref())?,
            signer: self.optional_staff(note.signer.as_ref())?,
            care_provider: note.care_provider.as_ref().map(unit),
            care_unit: note.care_unit.as_ref().map(unit),
            contact_id: note.contact.as_deref().map(Text::borrowed),
            keywords,
            text,
            attachment,
            status,
            supersedes,
            nullified_reason,
            approved_for_patient: note.approved_for_patient,
            patient_block: note.patient_block,
            withheld: note
                .withheld
                .iter()
                .map(|part| wire::WithheldWire {
                    part: Text::borrowed(&part.part),
                    reason: Text::borrowed(&part.reason),
                })
                .collect(),
        })
    }

    fn measurement_wire<'r>(
        &'r self,
        measurement: &'r Measurement,
    ) -> Result<wire::Measurement<'r>, EncodeError> {
        let name = match &measurement.original_code {
            Some(original) => original.as_str(),
            None => {
                let name = self.profile.measurement_name(measurement.kind);
                if self.profile.measurement(name) != Some(measurement.kind) {
                    return Err(EncodeError::Unsupported(format!(
                        "profile {:?} names no measurement for {}; add one under [measurements]",
                        self.profile.name(),
                        code_name(&measurement.kind)
                    )));
                }
                name
            }
        };
        let (value, unit_text, finding) = match &measurement.value {
            MeasurementValue::Quantity { value, unit } => {
                if !value.is_finite() {
                    return Err(EncodeError::Unsupported(
                        "a measured value that is not a finite number cannot be written in JSON"
                            .to_owned(),
                    ));
                }
                (Some(*value), Some(Text::borrowed(unit)), None)
            }
            MeasurementValue::Finding { finding } => (None, None, Some((*finding).into())),
        };
        Ok(wire::Measurement {
            system: Text::borrowed(&measurement.source.system),
            id: Text::borrowed(&measurement.source.record_id),
            version: measurement.source.version,
            patient: person_ref(&measurement.patient),
            journal: Some(self.journal(measurement.secrecy_domain)?),
            name: Text::borrowed(name),
            time: time(&measurement.time),
            value,
            unit: unit_text,
            finding,
            performer: self.optional_staff(measurement.performer.as_ref())?,
            care_unit: measurement.care_unit.as_ref().map(unit),
            contact_id: measurement.contact.as_deref().map(Text::borrowed),
        })
    }

    fn vaccination_wire<'r>(
        &'r self,
        immunization: &'r Immunization,
    ) -> Result<wire::Vaccination<'r>, EncodeError> {
        let (status, supersedes, nullified_reason) = status_wire(&immunization.status);
        Ok(wire::Vaccination {
            system: Text::borrowed(&immunization.source.system),
            id: Text::borrowed(&immunization.source.record_id),
            version: immunization.source.version,
            patient: person_ref(&immunization.patient),
            journal: Some(self.journal(immunization.secrecy_domain)?),
            time: time(&immunization.time),
            atc_code: Text::borrowed(&immunization.vaccine.atc),
            product: immunization.vaccine.product.as_deref().map(Text::borrowed),
            programme: immunization.vaccine.programme.into(),
            dose_number: immunization.dose_number,
            batch_number: immunization.lot.as_deref().map(Text::borrowed),
            given_by: self.optional_staff(immunization.given_by.as_ref())?,
            care_unit: immunization.care_unit.as_ref().map(unit),
            status,
            supersedes,
            nullified_reason,
        })
    }
}

impl Encoder for ProRenataEncoder {
    fn encode(&mut self, record: &Record) -> Result<(), EncodeError> {
        self.encode_record(record)?;
        let separator: &[u8] = if self.written == 0 { b"[\n" } else { b",\n" };
        self.out.write_all(separator)?;
        self.out.write_all(&self.buf)?;
        self.written += 1;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        let end: &[u8] = if self.written == 0 {
            b"[\n]\n"
        } else {
            b"\n]\n"
        };
        self.out.write_all(end)?;
        self.out.flush()
    }
}

/// Writes the record into the empty `buf`: `{"objectType":"…",` and the
/// body's fields.
fn write_tagged(
    buf: &mut Vec<u8>,
    naming: &Naming,
    kind: Kind,
    body: &impl Serialize,
) -> Result<(), EncodeError> {
    let failed = |e: serde_json::Error| EncodeError::Io(io::Error::other(e));
    buf.push(b'{');
    serde_json::to_writer(&mut *buf, &*naming.names.type_field).map_err(failed)?;
    buf.push(b':');
    serde_json::to_writer(&mut *buf, naming.names.of(kind)).map_err(failed)?;
    let body_start = buf.len();
    serde_json::to_writer(&mut *buf, body).map_err(failed)?;
    // The body is an object of its own: its `{` becomes the `,` after the
    // discriminator, or goes when the body has no fields.
    if buf.get(body_start + 1) == Some(&b'}') {
        buf.truncate(body_start);
        buf.push(b'}');
    } else if let Some(open) = buf.get_mut(body_start) {
        *open = b',';
    }
    Ok(())
}

/// A code as canonical NDJSON writes it, for messages.
fn code_name(code: &impl Serialize) -> String {
    serde_json::to_string(code)
        .map(|quoted| quoted.trim_matches('"').to_owned())
        .unwrap_or_default()
}

fn time(time: &ClinicalTime) -> Text<'static> {
    Text::owned(time.to_string())
}

fn person_ref(identifier: &Identifier) -> wire::PersonRef<'_> {
    match identifier {
        Identifier::Person(id) => wire::PersonRef {
            civic_no: Some(Text::borrowed(id.as_str())),
            local_id: None,
            namespace: None,
        },
        Identifier::Local(local) => wire::PersonRef {
            civic_no: None,
            local_id: Some(Text::borrowed(&local.value)),
            namespace: Some(Text::borrowed(&local.namespace)),
        },
    }
}

fn unit(unit: &CareOrganisation) -> wire::Unit<'_> {
    wire::Unit {
        hsa_id: Text::borrowed(unit.hsa_id.as_str()),
        name: unit.name.as_deref().map(Text::borrowed),
    }
}

fn version_ref(source: &SourceRef) -> wire::VersionRef<'_> {
    wire::VersionRef {
        system: Text::borrowed(&source.system),
        id: Text::borrowed(&source.record_id),
        version: source.version,
    }
}

fn status_wire(
    status: &EntryStatus,
) -> (
    Option<Status>,
    Option<wire::VersionRef<'_>>,
    Option<Text<'_>>,
) {
    match status {
        EntryStatus::Current => (None, None, None),
        EntryStatus::Amended { supersedes } => {
            (Some(Status::Amended), Some(version_ref(supersedes)), None)
        }
        EntryStatus::Nullified { reason } => {
            (Some(Status::Nullified), None, Some(Text::borrowed(reason)))
        }
    }
}

fn person_wire(person: &Person) -> wire::Person<'_> {
    wire::Person {
        identifiers: person.identifiers.iter().map(person_ref).collect(),
        first_name: Text::borrowed(&person.given_name),
        last_name: Text::borrowed(&person.family_name),
        birth_date: person.birth_date.map(|date| Text::owned(date.to_string())),
        sex: person.sex.map(Into::into),
        security_marking: person
            .security_marking
            .is_protected()
            .then(|| person.security_marking.into()),
        guardians: person
            .guardians
            .iter()
            .map(|guardian| wire::GuardianWire {
                civic_no: Text::borrowed(guardian.person.as_str()),
                relation: guardian.relation.into(),
            })
            .collect(),
        addresses: person
            .addresses
            .iter()
            .map(|address| wire::AddressWire {
                kind: address.kind.into(),
                lines: address.lines.iter().map(|l| Text::borrowed(l)).collect(),
                postal_code: address.postal_code.as_deref().map(Text::borrowed),
                city: address.city.as_deref().map(Text::borrowed),
                country: address.country.as_deref().map(Text::borrowed),
            })
            .collect(),
        telecom: person
            .telecom
            .iter()
            .map(|telecom| wire::TelecomWire {
                kind: telecom.kind.into(),
                value: Text::borrowed(&telecom.value),
            })
            .collect(),
        municipality_code: person.municipality_code.as_deref().map(Text::borrowed),
    }
}

fn organisation_wire(organisation: &Organisation) -> wire::Organisation<'_> {
    wire::Organisation {
        id: Text::borrowed(&organisation.id),
        kind: organisation.kind.into(),
        name: Text::borrowed(&organisation.name),
        hsa_id: organisation
            .hsa_id
            .as_ref()
            .map(|id| Text::borrowed(id.as_str())),
        school_unit_code: organisation.school_unit_code.as_deref().map(Text::borrowed),
        organisation_number: organisation
            .organisation_number
            .as_deref()
            .map(Text::borrowed),
        municipality_code: organisation
            .municipality_code
            .as_deref()
            .map(Text::borrowed),
        parent: organisation.parent.as_deref().map(Text::borrowed),
        school_year: organisation.school_year,
    }
}
