//! Canonical → FHIR R4: one canonical record becomes its resource (Patient,
//! Organization, Encounter, DocumentReference, Observation, Immunization,
//! Consent), the Provenance of a sourced record, and the resources its
//! references point at (Practitioner, PractitionerRole, an Organization
//! known only from a reference, a guardian's RelatedPerson).
//!
//! The record's own resource carries everything the record holds, in FHIR's
//! elements where FHIR has one and in Brygga's extensions where not, so
//! reading it back gives the same record without any other resource. What
//! FHIR cannot hold is refused with the reason, never dropped — except a
//! protected person's address and contact details, which by law never leave
//! (see [`patient`]).

use std::borrow::Cow;

use brygga_mapping::id::{HsaId, Identifier};
use brygga_mapping::model::{
    self, CareOrganisation, ConsentGiver, EntryStatus, JournalEntry, MeasurementValue, NoteContent,
    Record, SecrecyDomain, SourceRef,
};
use brygga_mapping::time::{ChronologyKey, ClinicalTime};

use super::ids::{self, base64_encode};
use super::types::*;
use super::vocab::{self, *};
use super::{WriteProfile, keywords};

/// Brygga as the transformer in every Provenance.
const SOFTWARE_NAME: &str = concat!("Brygga ", env!("CARGO_PKG_VERSION"));

/// One record mapped: where it goes in its patient's chronology, its own
/// resources (the record's resource first), and the resources its
/// references point at, to be written before it unless already written.
#[derive(Debug, Clone)]
pub struct Mapped {
    pub order: Order,
    pub resources: Vec<Resource>,
    pub referenced: Vec<Resource>,
}

/// A record's place among its patient's records: the person first, then
/// clinical time; on the same time contacts before notes, measurements,
/// vaccinations and consents; notes among themselves in journal chronology
/// ([`ChronologyKey`]), other records by source system, id and version.
#[derive(Debug, Clone)]
pub struct Order {
    rank: u8,
    time: Option<ClinicalTime>,
    type_rank: u8,
    author: Option<ClinicalTime>,
    signing: Option<ClinicalTime>,
    record: Option<ClinicalTime>,
    system: String,
    record_id: String,
    version: u32,
}

impl Order {
    fn first() -> Order {
        Order {
            rank: 0,
            time: None,
            type_rank: 0,
            author: None,
            signing: None,
            record: None,
            system: String::new(),
            record_id: String::new(),
            version: 0,
        }
    }

    fn clinical(type_rank: u8, time: ClinicalTime, source: &SourceRef) -> Order {
        Order {
            rank: 1,
            time: Some(time),
            type_rank,
            system: source.system.clone(),
            record_id: source.record_id.clone(),
            version: source.version,
            ..Order::first()
        }
    }

    fn note(entry: &JournalEntry) -> Order {
        Order {
            author: entry.author_time,
            signing: entry.signing_time,
            record: entry.record_time,
            ..Order::clinical(1, entry.event_time, &entry.source)
        }
    }

    fn key(&self) -> Option<ChronologyKey<'_>> {
        Some(ChronologyKey {
            event: self.time.as_ref()?,
            author: self.author.as_ref(),
            signing: self.signing.as_ref(),
            record: self.record.as_ref(),
            source_system: &self.system,
            source_record_id: &self.record_id,
            source_version: self.version,
        })
    }
}

impl Ord for Order {
    fn cmp(&self, other: &Order) -> std::cmp::Ordering {
        self.rank
            .cmp(&other.rank)
            .then_with(|| self.time.cmp(&other.time))
            .then_with(|| self.type_rank.cmp(&other.type_rank))
            .then_with(|| self.key().cmp(&other.key()))
    }
}

impl PartialOrd for Order {
    fn partial_cmp(&self, other: &Order) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Order {
    fn eq(&self, other: &Order) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Order {}

/// Maps one record, or says why FHIR (under `profile`) cannot hold it.
pub fn map_record(record: &Record, profile: WriteProfile) -> Result<Mapped, String> {
    match record {
        Record::Person(p) => patient(p),
        Record::Organisation(o) => organization(o),
        Record::Contact(c) => encounter(c),
        Record::JournalEntry(e) => document_reference(e, profile),
        Record::Measurement(m) => observation(m),
        Record::Immunization(i) => immunization(i),
        Record::Consent(c) => consent(c),
        Record::Placement(_)
        | Record::Grade(_)
        | Record::Absence(_)
        | Record::Attendance(_)
        | Record::SurveyResponse(_) => Err(format!(
            "a {} is a school record (Skollagen/OSL), not health information: the shared health record's FHIR output does not carry it",
            record.type_name()
        )),
    }
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

/// A FHIR `string`: not empty, and no whitespace other than space, tab, CR
/// and LF, no control characters (R4's `[ \r\n\t\S]+`).
pub fn text(field: &str, value: &str) -> Result<String, String> {
    check_text(field, value)?;
    Ok(value.to_owned())
}

pub fn check_text(field: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{field} is empty, and FHIR has no empty strings"));
    }
    // Printable ASCII is always fine; only the rest needs the char tables.
    let unusual = |b: &u8| !(b' '..0x7f).contains(b) && !matches!(b, b'\t' | b'\r' | b'\n');
    let Some(from) = value.as_bytes().iter().position(unusual) else {
        return Ok(());
    };
    // `from` is at an ASCII byte or the first byte of a character.
    if let Some(c) = value[from..]
        .chars()
        .find(|&c| !matches!(c, ' ' | '\t' | '\r' | '\n') && (c.is_whitespace() || c.is_control()))
    {
        return Err(format!(
            "{field} holds the character U+{:04X}, which a FHIR string cannot hold",
            u32::from(c)
        ));
    }
    Ok(())
}

fn opt_text(field: &str, value: Option<&String>) -> Result<Option<String>, String> {
    value.map(|v| text(field, v)).transpose()
}

/// A FHIR `code`: no leading, trailing or repeated whitespace.
fn code(field: &str, value: &str) -> Result<String, String> {
    let ok = !value.is_empty()
        && !value.starts_with(' ')
        && !value.ends_with(' ')
        && !value.contains("  ")
        && !value.chars().any(|c| c != ' ' && c.is_whitespace());
    if ok {
        check_text(field, value)?;
        Ok(value.to_owned())
    } else {
        Err(format!(
            "{field} {value:?} is not a FHIR code (no leading, trailing or repeated spaces)"
        ))
    }
}

/// A FHIR `dateTime`: a date alone stays a date; a time has the Stockholm
/// offset.
pub fn date_time(field: &str, time: &ClinicalTime) -> Result<String, String> {
    if let Some(text) = time.common_text(&mut [0; 25])
        && !text.starts_with("0000")
    {
        return Ok(text.to_owned());
    }
    let year = match time {
        ClinicalTime::Date(date) => date.year(),
        ClinicalTime::DateTime(local) => local.civil().year(),
    };
    if !(1..=9999).contains(&year) {
        return Err(format!("{field}: year {year} is outside FHIR's 0001–9999"));
    }
    // Within FHIR's years only an offset with seconds is left out.
    Err(format!(
        "{field}: the offset of {time} has seconds, which FHIR cannot write"
    ))
}

/// A FHIR `instant`, for a time known to the second; `None` for a date.
fn instant(field: &str, time: &ClinicalTime) -> Result<Option<String>, String> {
    match time {
        ClinicalTime::Date(_) => Ok(None),
        ClinicalTime::DateTime(_) => date_time(field, time).map(Some),
    }
}

fn borrowed(value: &'static str) -> Option<Str> {
    Some(Cow::Borrowed(value))
}

fn extension_str(url: &'static str, value: String) -> Extension {
    Extension {
        value_string: Some(value),
        ..Extension::new(url)
    }
}

fn extension_time(url: &'static str, value: String) -> Extension {
    Extension {
        value_date_time: Some(value),
        ..Extension::new(url)
    }
}

fn extension_code(url: &'static str, value: String) -> Extension {
    Extension {
        value_code: Some(Cow::Owned(value)),
        ..Extension::new(url)
    }
}

// ---------------------------------------------------------------------------
// Identifiers and references
// ---------------------------------------------------------------------------

/// A person or local identifier.
pub fn identifier(field: &str, id: &Identifier) -> Result<super::types::Identifier, String> {
    Ok(match id {
        Identifier::Person(person) => super::types::Identifier {
            system: borrowed(vocab::person_id_system(person.kind())),
            value: Some(person.as_str().to_owned()),
            ..Default::default()
        },
        Identifier::Local(local) => super::types::Identifier {
            system: Some(Cow::Owned(ids::local_system(&local.namespace))),
            value: Some(text(field, &local.value)?),
            ..Default::default()
        },
    })
}

/// `urn:brygga:source:<system>` and the record id; the version, from 2 on,
/// as an extension.
pub fn source_identifier(
    field: &str,
    source: &SourceRef,
) -> Result<super::types::Identifier, String> {
    let mut identifier = super::types::Identifier {
        system: Some(Cow::Owned(ids::source_system(&source.system))),
        value: Some(text(&format!("{field}.record_id"), &source.record_id)?),
        ..Default::default()
    };
    if source.version != 1 {
        identifier.extension.push(Extension {
            value_unsigned_int: Some(source.version),
            ..Extension::new(EXT_SOURCE_VERSION)
        });
    }
    Ok(identifier)
}

fn hsa_identifier(hsa: &HsaId) -> super::types::Identifier {
    super::types::Identifier {
        system: borrowed(HsaId::FHIR_SYSTEM),
        value: Some(hsa.as_str().to_owned()),
        ..Default::default()
    }
}

pub fn patient_reference(field: &str, patient: &Identifier) -> Result<Reference, String> {
    Ok(Reference {
        identifier: Some(identifier(field, patient)?),
        ..Reference::to("Patient", &ids::patient_id(patient))
    })
}

/// A reference to a record of the same source system by its id there.
fn sourced_reference(
    resource_type: &str,
    field: &str,
    source: &SourceRef,
) -> Result<Reference, String> {
    Ok(Reference {
        identifier: Some(source_identifier(field, source)?),
        ..Reference::to(resource_type, &ids::source_id(resource_type, source))
    })
}

/// A practitioner as a reference that holds all Brygga knows of them (HSA-id,
/// name, profession), pointing at their PractitionerRole (or Practitioner)
/// when they have an HSA-id; those resources go to `referenced`.
fn practitioner(
    field: &str,
    who: &model::Practitioner,
    referenced: &mut Vec<Resource>,
) -> Result<Reference, String> {
    if who.hsa_id.is_none() && who.name.is_none() && who.profession.is_none() {
        return Err(format!(
            "{field} names no HSA-id, name or profession: FHIR has nothing to refer to"
        ));
    }
    let name = opt_text(&format!("{field}.name"), who.name.as_ref())?;
    let mut reference = Reference {
        display: name.clone(),
        ..Reference::default()
    };
    if let Some(profession) = who.profession {
        reference.extension.push(Extension {
            value_coding: Some(Coding::new(
                CS_PROFESSION,
                vocab::profession::code(profession),
            )),
            ..Extension::new(EXT_PROFESSION)
        });
    }
    if let Some(hsa) = &who.hsa_id {
        reference.identifier = Some(hsa_identifier(hsa));
        let practitioner_id = ids::recurring_id("Practitioner", &[hsa.as_str()]);
        referenced.push(Resource::Practitioner(Practitioner {
            id: practitioner_id.clone(),
            identifier: vec![hsa_identifier(hsa)],
            name: name
                .map(|text| {
                    vec![HumanName {
                        text: Some(text),
                        ..HumanName::default()
                    }]
                })
                .unwrap_or_default(),
        }));
        match who.profession {
            Some(profession) => {
                let code = vocab::profession::code(profession);
                let role_id = ids::recurring_id("PractitionerRole", &[hsa.as_str(), code]);
                reference.reference = Some(format!("PractitionerRole/{role_id}"));
                referenced.push(Resource::PractitionerRole(PractitionerRole {
                    id: role_id,
                    practitioner: Some(Reference::to("Practitioner", &practitioner_id)),
                    code: vec![CodeableConcept::of(Coding::new(CS_PROFESSION, code))],
                }));
            }
            None => reference.reference = Some(format!("Practitioner/{practitioner_id}")),
        }
    }
    Ok(reference)
}

/// The id of the Organization for a canonical `Organisation.id`.
pub fn organization_id(key: &str) -> String {
    ids::recurring_id("Organization", &[key])
}

/// A care provider or unit, by HSA-id; an Organization with what is known
/// goes to `referenced` (written only if no organisation record wrote it).
fn care_organisation(
    field: &str,
    org: &CareOrganisation,
    referenced: &mut Vec<Resource>,
) -> Result<Reference, String> {
    let key = format!("hsa:{}", org.hsa_id.as_str());
    let id = organization_id(&key);
    let name = opt_text(&format!("{field}.name"), org.name.as_ref())?;
    referenced.push(Resource::Organization(Organization {
        id: id.clone(),
        meta: Meta {
            tag: vec![Coding::new(CS_RESOURCE_TAG, TAG_REFERENCED_ONLY)],
            ..Meta::default()
        },
        identifier: vec![
            super::types::Identifier {
                system: borrowed(ORGANISATION_KEY),
                value: Some(key),
                ..Default::default()
            },
            hsa_identifier(&org.hsa_id),
        ],
        name: name.clone(),
        ..Organization::default()
    }));
    Ok(Reference {
        identifier: Some(hsa_identifier(&org.hsa_id)),
        display: name,
        ..Reference::to("Organization", &id)
    })
}

/// `meta.security` of a clinical resource: its secrecy domain, and v3
/// Confidentiality `R` when the patient has blocked it.
fn clinical_meta(domain: SecrecyDomain, blocked: bool) -> Meta {
    let mut security = vec![Coding::new(
        CS_SECRECY_DOMAIN,
        vocab::secrecy_domain::code(domain),
    )];
    if blocked {
        security.push(restricted());
    }
    Meta {
        security,
        ..Meta::default()
    }
}

fn restricted() -> Coding {
    Coding::displayed(V3_CONFIDENTIALITY, "R", "restricted")
}

/// Status extensions shared by records that have [`EntryStatus`] but no
/// FHIR element for it.
fn status_extensions(
    field: &str,
    status: &EntryStatus,
    resource_type: &str,
    extensions: &mut Vec<Extension>,
) -> Result<(), String> {
    match status {
        EntryStatus::Current => {}
        EntryStatus::Amended { supersedes } => extensions.push(Extension {
            value_reference: Some(sourced_reference(
                resource_type,
                &format!("{field}.supersedes"),
                supersedes,
            )?),
            ..Extension::new(EXT_REPLACES)
        }),
        EntryStatus::Nullified { reason } => extensions.push(extension_str(
            EXT_NULLIFIED_REASON,
            text(&format!("{field}.reason"), reason)?,
        )),
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Provenance
// ---------------------------------------------------------------------------

/// What a sourced record's Provenance says: the record (target) came from
/// its source system's record (entity `source`), by these agents, with
/// Brygga as the assembler.
struct ProvenanceFacts<'a> {
    resource_type: &'static str,
    source: &'a SourceRef,
    meta: Meta,
    occurred: Option<&'a ClinicalTime>,
    /// Candidates for `recorded`, most fitting first; the first known to the
    /// second is used.
    recorded: [Option<&'a ClinicalTime>; 4],
    status: &'a EntryStatus,
    agents: Vec<ProvenanceAgent>,
    signature: Option<Signature>,
}

/// A reference as Provenance repeats it: the literal reference and the
/// name when there is one (the record's own resource holds the rest),
/// else the identifier and name.
fn brief(reference: Reference) -> Reference {
    match reference.reference {
        Some(_) => Reference {
            extension: Vec::new(),
            identifier: None,
            ..reference
        },
        None => Reference {
            extension: Vec::new(),
            ..reference
        },
    }
}

fn participant(code: &'static str) -> Option<CodeableConcept> {
    Some(CodeableConcept::of(Coding::new(
        PROVENANCE_PARTICIPANT_TYPE,
        code,
    )))
}

fn provenance(facts: ProvenanceFacts<'_>) -> Result<Resource, String> {
    let target = sourced_reference(facts.resource_type, "source", facts.source)?;
    let mut recorded = None;
    for time in facts.recorded.into_iter().flatten() {
        if let Some(value) = instant("recorded", time)? {
            recorded = Some(value);
            break;
        }
    }
    let recorded_element = recorded.is_none().then(|| PrimitiveExtensions {
        extension: vec![Extension {
            value_code: borrowed("unknown"),
            ..Extension::new(DATA_ABSENT_REASON_EXTENSION)
        }],
    });
    let (activity, reason) = match facts.status {
        EntryStatus::Current => ("CREATE", None),
        EntryStatus::Amended { .. } => ("UPDATE", None),
        EntryStatus::Nullified { reason } => ("NULLIFY", Some(text("status.reason", reason)?)),
    };
    let mut entity = vec![ProvenanceEntity {
        role: Cow::Borrowed("source"),
        what: Reference {
            identifier: target.identifier.clone(),
            display: Some(text("source.system", &facts.source.system)?),
            ..Reference::default()
        },
    }];
    if let EntryStatus::Amended { supersedes } = facts.status {
        entity.push(ProvenanceEntity {
            role: Cow::Borrowed("revision"),
            what: sourced_reference(facts.resource_type, "status.supersedes", supersedes)?,
        });
    }
    let mut agent: Vec<ProvenanceAgent> = facts
        .agents
        .into_iter()
        .map(|a| ProvenanceAgent {
            type_: a.type_,
            who: brief(a.who),
            on_behalf_of: a.on_behalf_of.map(brief),
        })
        .collect();
    agent.push(ProvenanceAgent {
        type_: participant("assembler"),
        who: Reference {
            identifier: Some(super::types::Identifier {
                system: borrowed(SOFTWARE),
                value: Some("brygga".to_owned()),
                ..Default::default()
            }),
            display: Some(SOFTWARE_NAME.to_owned()),
            ..Reference::default()
        },
        on_behalf_of: None,
    });
    Ok(Resource::Provenance(Provenance {
        id: ids::source_id("Provenance", facts.source),
        meta: facts.meta,
        target: vec![Reference {
            identifier: None,
            ..target
        }],
        occurred_date_time: facts
            .occurred
            .map(|t| date_time("occurred", t))
            .transpose()?,
        recorded,
        recorded_element,
        reason: reason
            .map(|text| {
                vec![CodeableConcept {
                    coding: Vec::new(),
                    text: Some(text),
                }]
            })
            .unwrap_or_default(),
        activity: Some(CodeableConcept::of(Coding::new(
            V3_DATA_OPERATION,
            activity,
        ))),
        agent,
        entity,
        signature: facts
            .signature
            .into_iter()
            .map(|s| Signature {
                who: brief(s.who),
                ..s
            })
            .collect(),
    }))
}

// ---------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------

/// Person → Patient (+ a RelatedPerson per guardian).
///
/// A protected person (sekretessmarkering, skyddad folkbokföring) gets the
/// `meta.security` labels, and **no address or telecom at all**: those never
/// leave the system that holds them. It is the one place the FHIR output
/// holds less than the record, on purpose.
pub fn patient(person: &model::Person) -> Result<Mapped, String> {
    let Some(primary) = person.identifiers.first() else {
        return Err("a person with no identifier cannot become a Patient".to_owned());
    };
    let id = ids::patient_id(primary);
    let protected = person.security_marking.is_protected();
    let mut meta = Meta::default();
    if protected {
        meta.security.push(restricted());
        meta.security.push(Coding::new(
            CS_SECURITY_MARKING,
            vocab::security_marking::code(person.security_marking),
        ));
    }
    let identifiers = person
        .identifiers
        .iter()
        .map(|i| identifier("identifiers", i))
        .collect::<Result<Vec<_>, _>>()?;
    let mut name = HumanName::default();
    if !person.family_name.is_empty() {
        name.family = Some(text("family_name", &person.family_name)?);
    }
    if !person.given_name.is_empty() {
        name.given.push(text("given_name", &person.given_name)?);
    }
    let mut extension = Vec::new();
    if let Some(municipality) = &person.municipality_code {
        extension.push(extension_code(
            EXT_MUNICIPALITY_CODE,
            code("municipality_code", municipality)?,
        ));
    }
    let mut resources = Vec::with_capacity(1 + person.guardians.len());
    let mut related = Vec::with_capacity(person.guardians.len());
    for guardian in &person.guardians {
        let relation = vocab::guardian_relation::code(guardian.relation);
        let guardian_id = Identifier::Person(guardian.person);
        let guardian_identifier = identifier("guardians.person", &guardian_id)?;
        extension.push(Extension {
            extension: vec![
                Extension {
                    value_identifier: Some(guardian_identifier.clone()),
                    ..Extension::new("identifier")
                },
                Extension {
                    value_code: borrowed(relation),
                    ..Extension::new("relation")
                },
            ],
            ..Extension::new(EXT_GUARDIAN)
        });
        let mut relationship = Vec::with_capacity(2);
        if guardian.relation == model::GuardianRelation::Guardian {
            relationship.push(Coding::displayed(V3_ROLE_CODE, "GUARD", "guardian"));
        }
        relationship.push(Coding::new(CS_GUARDIAN_RELATION, relation));
        related.push(Resource::RelatedPerson(RelatedPerson {
            id: related_person_id(primary, &guardian_id),
            meta: meta.clone(),
            identifier: vec![guardian_identifier],
            patient: Reference::to("Patient", &id),
            relationship: vec![CodeableConcept {
                coding: relationship,
                text: None,
            }],
        }));
    }
    let (address, telecom) = if protected {
        (Vec::new(), Vec::new())
    } else {
        (
            person
                .addresses
                .iter()
                .map(address)
                .collect::<Result<_, _>>()?,
            person
                .telecom
                .iter()
                .map(|t| {
                    let (system, use_) = vocab::telecom_system(t.kind);
                    Ok(ContactPoint {
                        system: borrowed(system),
                        value: Some(text("telecom.value", &t.value)?),
                        use_: use_.and_then(borrowed),
                    })
                })
                .collect::<Result<_, String>>()?,
        )
    };
    resources.push(Resource::Patient(Patient {
        id,
        meta,
        extension,
        identifier: identifiers,
        name: if name == HumanName::default() {
            Vec::new()
        } else {
            vec![name]
        },
        telecom,
        gender: person.sex.map(|sex| {
            Cow::Borrowed(match sex {
                brygga_mapping::id::Sex::Female => "female",
                brygga_mapping::id::Sex::Male => "male",
            })
        }),
        birth_date: person
            .birth_date
            .map(|d| date_time("birth_date", &ClinicalTime::from_date(d)))
            .transpose()?,
        address,
        ..Patient::default()
    }));
    resources.extend(related);
    Ok(Mapped {
        order: Order::first(),
        resources,
        referenced: Vec::new(),
    })
}

/// The RelatedPerson of `guardian` for the patient `patient`.
pub fn related_person_id(patient: &Identifier, guardian: &Identifier) -> String {
    let (patient_system, patient_value) = ids::identifier_key(patient);
    let (guardian_system, guardian_value) = ids::identifier_key(guardian);
    ids::resource_id(
        "RelatedPerson",
        &[
            &patient_system,
            patient_value,
            &guardian_system,
            guardian_value,
        ],
    )
}

fn address(address: &model::Address) -> Result<Address, String> {
    let (use_, type_) = vocab::address_use(address.kind);
    Ok(Address {
        use_: borrowed(use_),
        type_: type_.and_then(borrowed),
        line: address
            .lines
            .iter()
            .map(|l| text("addresses.lines", l))
            .collect::<Result<_, _>>()?,
        city: opt_text("addresses.city", address.city.as_ref())?,
        postal_code: opt_text("addresses.postal_code", address.postal_code.as_ref())?,
        country: opt_text("addresses.country", address.country.as_ref())?,
    })
}

/// Organisation → Organization.
pub fn organization(org: &model::Organisation) -> Result<Mapped, String> {
    let mut identifier = vec![super::types::Identifier {
        system: borrowed(ORGANISATION_KEY),
        value: Some(text("id", &org.id)?),
        ..Default::default()
    }];
    if let Some(hsa) = &org.hsa_id {
        identifier.push(hsa_identifier(hsa));
    }
    for (system, field, value) in [
        (SKOLENHETSKOD, "school_unit_code", &org.school_unit_code),
        (
            ORGANISATIONSNUMMER,
            "organisation_number",
            &org.organisation_number,
        ),
    ] {
        if let Some(value) = value {
            identifier.push(super::types::Identifier {
                system: borrowed(system),
                value: Some(text(field, value)?),
                ..Default::default()
            });
        }
    }
    let mut extension = Vec::new();
    if let Some(municipality) = &org.municipality_code {
        extension.push(extension_code(
            EXT_MUNICIPALITY_CODE,
            code("municipality_code", municipality)?,
        ));
    }
    if let Some(year) = org.school_year {
        extension.push(Extension {
            value_unsigned_int: Some(u32::from(year)),
            ..Extension::new(EXT_SCHOOL_YEAR)
        });
    }
    let part_of = org
        .parent
        .as_ref()
        .map(|parent| {
            Ok::<_, String>(Reference {
                identifier: Some(super::types::Identifier {
                    system: borrowed(ORGANISATION_KEY),
                    value: Some(text("parent", parent)?),
                    ..Default::default()
                }),
                ..Reference::to("Organization", &organization_id(parent))
            })
        })
        .transpose()?;
    Ok(Mapped {
        order: Order::first(),
        resources: vec![Resource::Organization(Organization {
            id: organization_id(&org.id),
            meta: Meta::default(),
            extension,
            identifier,
            type_: vec![CodeableConcept::of(Coding::new(
                CS_ORGANISATION_KIND,
                vocab::organisation_kind::code(org.kind),
            ))],
            name: (!org.name.is_empty())
                .then(|| text("name", &org.name))
                .transpose()?,
            part_of,
            ..Organization::default()
        })],
        referenced: Vec::new(),
    })
}

/// Contact → Encounter.
pub fn encounter(contact: &model::Contact) -> Result<Mapped, String> {
    let mut referenced = Vec::new();
    let meta = clinical_meta(contact.secrecy_domain, false);
    let (class_code, class_display) = vocab::encounter_class(contact.kind);
    let performer = contact
        .performer
        .as_ref()
        .map(|p| practitioner("performer", p, &mut referenced))
        .transpose()?;
    let service_provider = contact
        .care_unit
        .as_ref()
        .map(|u| care_organisation("care_unit", u, &mut referenced))
        .transpose()?;
    let encounter = Encounter {
        id: ids::source_id("Encounter", &contact.source),
        meta: meta.clone(),
        identifier: vec![source_identifier("source", &contact.source)?],
        status: Cow::Borrowed("finished"),
        class: Coding::displayed(V3_ACT_CODE, class_code, class_display),
        type_: vec![CodeableConcept::of(Coding::new(
            CS_CONTACT_KIND,
            vocab::contact_kind::code(contact.kind),
        ))],
        subject: Some(patient_reference("patient", &contact.patient)?),
        participant: performer
            .iter()
            .map(|p| EncounterParticipant {
                individual: Some(p.clone()),
            })
            .collect(),
        period: Some(Period {
            start: Some(date_time("start", &contact.start)?),
            end: contact
                .end
                .as_ref()
                .map(|e| date_time("end", e))
                .transpose()?,
        }),
        service_provider: service_provider.clone(),
        ..Encounter::default()
    };
    let provenance = provenance(ProvenanceFacts {
        resource_type: "Encounter",
        source: &contact.source,
        meta,
        occurred: Some(&contact.start),
        recorded: [Some(&contact.start), None, None, None],
        status: &EntryStatus::Current,
        agents: performer
            .into_iter()
            .map(|who| ProvenanceAgent {
                type_: participant("performer"),
                who,
                on_behalf_of: service_provider.clone(),
            })
            .collect(),
        signature: None,
    })?;
    Ok(Mapped {
        order: Order::clinical(0, contact.start, &contact.source),
        resources: vec![Resource::Encounter(encounter), provenance],
        referenced,
    })
}

/// JournalEntry → DocumentReference.
pub fn document_reference(entry: &JournalEntry, profile: WriteProfile) -> Result<Mapped, String> {
    let strict = profile == WriteProfile::EhrStrict;
    if strict {
        ehr_strict_check(entry)?;
    }
    let mut referenced = Vec::new();
    let meta = clinical_meta(entry.secrecy_domain, entry.patient_block);
    let author = entry
        .author
        .as_ref()
        .map(|a| practitioner("author", a, &mut referenced))
        .transpose()?;
    let signer = entry
        .signer
        .as_ref()
        .map(|s| practitioner("signer", s, &mut referenced))
        .transpose()?;
    let care_unit = entry
        .care_unit
        .as_ref()
        .map(|u| care_organisation("care_unit", u, &mut referenced))
        .transpose()?;
    let custodian = entry
        .care_provider
        .as_ref()
        .map(|p| care_organisation("care_provider", p, &mut referenced))
        .transpose()?;

    let mut extension = Vec::new();
    let author_time = entry
        .author_time
        .as_ref()
        .map(|t| date_time("author_time", t))
        .transpose()?;
    if strict && let Some(time) = &author_time {
        extension.push(extension_time(EXT_AUTHOR_TIME, time.clone()));
    }
    if let Some(time) = &entry.signing_time {
        extension.push(extension_time(
            EXT_SIGNING_TIME,
            date_time("signing_time", time)?,
        ));
    }
    if let Some(time) = &entry.record_time {
        extension.push(extension_time(
            EXT_RECORD_TIME,
            date_time("record_time", time)?,
        ));
    }
    if entry.approved_for_patient {
        extension.push(Extension {
            value_boolean: Some(true),
            ..Extension::new(EXT_APPROVED_FOR_PATIENT)
        });
    }
    for withheld in &entry.withheld {
        extension.push(Extension {
            extension: vec![
                extension_str("part", text("withheld.part", &withheld.part)?),
                extension_str("reason", text("withheld.reason", &withheld.reason)?),
            ],
            ..Extension::new(EXT_WITHHELD)
        });
    }
    let (status, relates_to) = match &entry.status {
        EntryStatus::Current => ("current", Vec::new()),
        EntryStatus::Amended { supersedes } => (
            "current",
            vec![RelatesTo {
                code: Cow::Borrowed("replaces"),
                target: sourced_reference("DocumentReference", "status.supersedes", supersedes)?,
            }],
        ),
        EntryStatus::Nullified { reason } => {
            extension.push(extension_str(
                EXT_NULLIFIED_REASON,
                text("status.reason", reason)?,
            ));
            ("entered-in-error", Vec::new())
        }
    };

    let encoded = |text: &str| (!text.is_empty()).then(|| base64_encode(text.as_bytes()));
    let (content_type, data, title, format) = match &entry.content {
        NoteContent::Text { text } => (
            Cow::Borrowed("text/plain; charset=utf-8"),
            encoded(text),
            None,
            Some(FORMAT_TEXT),
        ),
        NoteContent::Keywords { sections } => (
            Cow::Borrowed("text/markdown; charset=utf-8"),
            encoded(&keywords::render(sections)?),
            None,
            Some(FORMAT_KEYWORD_SECTIONS),
        ),
        NoteContent::Attachment(attachment) => {
            if !attachment.data.is_empty() && !ids::is_base64(&attachment.data) {
                return Err(
                    "content.data is not standard padded base64, which FHIR's base64Binary needs"
                        .to_owned(),
                );
            }
            (
                Cow::Owned(code("content.media_type", &attachment.media_type)?),
                (!attachment.data.is_empty()).then(|| attachment.data.clone()),
                opt_text("content.title", attachment.title.as_ref())?,
                None,
            )
        }
    };
    let attachment = Attachment {
        content_type: Some(content_type),
        data,
        title,
        creation: if strict { None } else { author_time },
    };

    let event = date_time("event_time", &entry.event_time)?;
    let note_type = entry
        .note_type
        .original
        .as_ref()
        .map(|o| text("note_type.original", o))
        .transpose()?;
    let mut author_list: Vec<Reference> = author.iter().cloned().collect();
    author_list.extend(care_unit.clone());

    let document = DocumentReference {
        id: ids::source_id("DocumentReference", &entry.source),
        meta: meta.clone(),
        extension,
        identifier: vec![source_identifier("source", &entry.source)?],
        status: Cow::Borrowed(status),
        doc_status: Some(Cow::Borrowed(if entry.signing_time.is_some() {
            "final"
        } else {
            "preliminary"
        })),
        type_: Some(CodeableConcept {
            coding: vec![Coding::new(
                CS_NOTE_TYPE,
                vocab::note_type::code(entry.note_type.code),
            )],
            text: note_type,
        }),
        subject: Some(patient_reference("patient", &entry.patient)?),
        author: author_list,
        authenticator: signer.clone(),
        custodian,
        relates_to,
        description: opt_text("title", entry.title.as_ref())?,
        security_label: if entry.patient_block {
            vec![CodeableConcept::of(restricted())]
        } else {
            Vec::new()
        },
        content: vec![DocumentContent {
            attachment,
            format: format.map(|f| Coding::new(CS_NOTE_FORMAT, f)),
        }],
        context: Some(DocumentContext {
            encounter: entry
                .contact
                .as_ref()
                .map(|contact| {
                    let source = SourceRef {
                        system: entry.source.system.clone(),
                        record_id: contact.clone(),
                        version: 1,
                    };
                    sourced_reference("Encounter", "contact", &source)
                })
                .transpose()?
                .into_iter()
                .collect(),
            period: Some(Period {
                start: Some(event.clone()),
                end: strict.then_some(event),
            }),
        }),
        ..DocumentReference::default()
    };

    let mut agents = Vec::new();
    if let Some(who) = author {
        agents.push(ProvenanceAgent {
            type_: participant("author"),
            who,
            on_behalf_of: care_unit.clone(),
        });
    }
    let mut signature = None;
    if let Some(who) = signer {
        if let Some(when) = entry
            .signing_time
            .as_ref()
            .map(|t| instant("signing_time", t))
            .transpose()?
            .flatten()
        {
            let own = entry.author.is_some() && entry.author == entry.signer;
            signature = Some(Signature {
                type_: vec![if own {
                    Coding::displayed(
                        SIGNATURE_TYPE,
                        "1.2.840.10065.1.12.1.1",
                        "Author's Signature",
                    )
                } else {
                    Coding::displayed(
                        SIGNATURE_TYPE,
                        "1.2.840.10065.1.12.1.5",
                        "Verification Signature",
                    )
                }],
                when,
                who: who.clone(),
            });
        }
        agents.push(ProvenanceAgent {
            type_: participant("attester"),
            who,
            on_behalf_of: care_unit,
        });
    }
    let provenance = provenance(ProvenanceFacts {
        resource_type: "DocumentReference",
        source: &entry.source,
        meta,
        occurred: Some(entry.author_time.as_ref().unwrap_or(&entry.event_time)),
        recorded: [
            entry.record_time.as_ref(),
            entry.author_time.as_ref(),
            entry.signing_time.as_ref(),
            Some(&entry.event_time),
        ],
        status: &entry.status,
        agents,
        signature,
    })?;
    Ok(Mapped {
        order: Order::note(entry),
        resources: vec![Resource::DocumentReference(document), provenance],
        referenced,
    })
}

/// The regional EHR's write rules for a note (`ehr-strict`).
fn ehr_strict_check(entry: &JournalEntry) -> Result<(), String> {
    const WHY: &str = "ehr-strict:";
    if let EntryStatus::Nullified { .. } = entry.status {
        return Err(format!(
            "{WHY} the regional EHR accepts only current documents (status=current), and this note is nullified (entered-in-error)"
        ));
    }
    if entry.signing_time.is_none() {
        return Err(format!(
            "{WHY} the regional EHR accepts only final documents (docStatus=final), and this note is not signed"
        ));
    }
    if let NoteContent::Attachment(attachment) = &entry.content
        && !attachment
            .media_type
            .to_ascii_lowercase()
            .contains("charset=")
    {
        return Err(format!(
            "{WHY} the regional EHR needs a charset in the attachment's content type, and {:?} has none",
            attachment.media_type
        ));
    }
    if entry.event_time.instant().is_none() {
        return Err(format!(
            "{WHY} the regional EHR needs context.period with times, and the note's event time is a date only ({})",
            entry.event_time
        ));
    }
    Ok(())
}

/// Measurement → Observation.
pub fn observation(m: &model::Measurement) -> Result<Mapped, String> {
    let mut referenced = Vec::new();
    let meta = clinical_meta(m.secrecy_domain, false);
    let loinc = vocab::loinc(m.kind);
    let mut coding = Vec::with_capacity(2);
    if let Some((code, display)) = loinc {
        coding.push(Coding::displayed(LOINC, code, display));
    }
    coding.push(Coding::new(
        CS_MEASUREMENT,
        vocab::measurement::code(m.kind),
    ));
    let category = if loinc.is_some() {
        Coding::displayed(OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")
    } else {
        Coding::displayed(OBSERVATION_CATEGORY, "exam", "Exam")
    };
    let performer = m
        .performer
        .as_ref()
        .map(|p| practitioner("performer", p, &mut referenced))
        .transpose()?;
    let care_unit = m
        .care_unit
        .as_ref()
        .map(|u| care_organisation("care_unit", u, &mut referenced))
        .transpose()?;
    let (value_quantity, value_codeable_concept, data_absent_reason) = match &m.value {
        MeasurementValue::Quantity { value, unit } => {
            if !value.is_finite() {
                return Err("value is not a finite number".to_owned());
            }
            let unit = code("value.unit", unit)?;
            (
                Some(Quantity {
                    value: Some(*value),
                    unit: Some(unit.clone()),
                    system: borrowed(UCUM),
                    code: Some(unit),
                }),
                None,
                None,
            )
        }
        MeasurementValue::Finding {
            finding: model::Finding::NotAssessed,
        } => (
            None,
            None,
            Some(CodeableConcept {
                coding: vec![
                    Coding::displayed(DATA_ABSENT_REASON, "not-performed", "Not Performed"),
                    Coding::new(
                        CS_FINDING,
                        vocab::finding::code(model::Finding::NotAssessed),
                    ),
                ],
                text: None,
            }),
        ),
        MeasurementValue::Finding { finding } => (
            None,
            Some(CodeableConcept::of(Coding::new(
                CS_FINDING,
                vocab::finding::code(*finding),
            ))),
            None,
        ),
    };
    let encounter = m
        .contact
        .as_ref()
        .map(|contact| {
            let source = SourceRef {
                system: m.source.system.clone(),
                record_id: contact.clone(),
                version: 1,
            };
            sourced_reference("Encounter", "contact", &source)
        })
        .transpose()?;
    let mut performers: Vec<Reference> = performer.iter().cloned().collect();
    performers.extend(care_unit.clone());
    let observation = Observation {
        id: ids::source_id("Observation", &m.source),
        meta: meta.clone(),
        identifier: vec![source_identifier("source", &m.source)?],
        status: Cow::Borrowed("final"),
        category: vec![CodeableConcept::of(category)],
        code: CodeableConcept {
            coding,
            text: opt_text("original_code", m.original_code.as_ref())?,
        },
        subject: Some(patient_reference("patient", &m.patient)?),
        encounter,
        effective_date_time: Some(date_time("time", &m.time)?),
        performer: performers,
        value_quantity,
        value_codeable_concept,
        data_absent_reason,
        ..Observation::default()
    };
    let provenance = provenance(ProvenanceFacts {
        resource_type: "Observation",
        source: &m.source,
        meta,
        occurred: Some(&m.time),
        recorded: [Some(&m.time), None, None, None],
        status: &EntryStatus::Current,
        agents: performer
            .into_iter()
            .map(|who| ProvenanceAgent {
                type_: participant("performer"),
                who,
                on_behalf_of: care_unit.clone(),
            })
            .collect(),
        signature: None,
    })?;
    Ok(Mapped {
        order: Order::clinical(2, m.time, &m.source),
        resources: vec![Resource::Observation(observation), provenance],
        referenced,
    })
}

/// Immunization → Immunization.
pub fn immunization(i: &model::Immunization) -> Result<Mapped, String> {
    let mut referenced = Vec::new();
    let meta = clinical_meta(i.secrecy_domain, false);
    let given_by = i
        .given_by
        .as_ref()
        .map(|p| practitioner("given_by", p, &mut referenced))
        .transpose()?;
    let care_unit = i
        .care_unit
        .as_ref()
        .map(|u| care_organisation("care_unit", u, &mut referenced))
        .transpose()?;
    let mut extension = vec![Extension {
        value_coding: Some(Coding::new(
            CS_VACCINATION_PROGRAMME,
            vocab::vaccination_programme::code(i.vaccine.programme),
        )),
        ..Extension::new(EXT_VACCINATION_PROGRAMME)
    }];
    status_extensions("status", &i.status, "Immunization", &mut extension)?;
    let mut performer = Vec::new();
    if let Some(actor) = &given_by {
        performer.push(ImmunizationPerformer {
            function: Some(CodeableConcept::of(Coding::displayed(
                V2_0443,
                "AP",
                "Administering Provider",
            ))),
            actor: actor.clone(),
        });
    }
    if let Some(actor) = &care_unit {
        performer.push(ImmunizationPerformer {
            function: None,
            actor: actor.clone(),
        });
    }
    let immunization = Immunization {
        id: ids::source_id("Immunization", &i.source),
        meta: meta.clone(),
        extension,
        identifier: vec![source_identifier("source", &i.source)?],
        status: Cow::Borrowed(match i.status {
            EntryStatus::Nullified { .. } => "entered-in-error",
            _ => "completed",
        }),
        vaccine_code: CodeableConcept {
            coding: vec![Coding {
                system: borrowed(ATC),
                code: Some(Cow::Owned(code("vaccine.atc", &i.vaccine.atc)?)),
                display: None,
            }],
            text: opt_text("vaccine.product", i.vaccine.product.as_ref())?,
        },
        patient: patient_reference("patient", &i.patient)?,
        occurrence_date_time: Some(date_time("time", &i.time)?),
        lot_number: opt_text("lot", i.lot.as_ref())?,
        performer,
        protocol_applied: i
            .dose_number
            .map(|dose| ProtocolApplied {
                dose_number_positive_int: (dose > 0).then_some(u32::from(dose)),
                dose_number_string: (dose == 0).then(|| "0".to_owned()),
            })
            .into_iter()
            .collect(),
        ..Immunization::default()
    };
    let provenance = provenance(ProvenanceFacts {
        resource_type: "Immunization",
        source: &i.source,
        meta,
        occurred: Some(&i.time),
        recorded: [Some(&i.time), None, None, None],
        status: &i.status,
        agents: given_by
            .into_iter()
            .map(|who| ProvenanceAgent {
                type_: participant("performer"),
                who,
                on_behalf_of: care_unit.clone(),
            })
            .collect(),
        signature: None,
    })?;
    Ok(Mapped {
        order: Order::clinical(3, i.time, &i.source),
        resources: vec![Resource::Immunization(immunization), provenance],
        referenced,
    })
}

/// Consent → Consent.
pub fn consent(c: &model::Consent) -> Result<Mapped, String> {
    if c.decision == model::ConsentDecision::Partial && c.withheld_parts.is_empty() {
        return Err(
            "a partial consent names no withheld parts: FHIR would read it back as given"
                .to_owned(),
        );
    }
    let (status, provision_type) = vocab::consent_status(c.decision);
    let performer = match &c.given_by {
        ConsentGiver::Patient => patient_reference("patient", &c.patient)?,
        ConsentGiver::Guardian { person } => {
            let guardian = Identifier::Person(*person);
            Reference {
                identifier: Some(identifier("given_by.person", &guardian)?),
                ..Reference::to("RelatedPerson", &related_person_id(&c.patient, &guardian))
            }
        }
    };
    let consent = Consent {
        id: ids::source_id("Consent", &c.source),
        meta: Meta::default(),
        identifier: vec![source_identifier("source", &c.source)?],
        status: Cow::Borrowed(status),
        scope: CodeableConcept::of(Coding::displayed(
            CONSENT_SCOPE,
            "patient-privacy",
            "Privacy Consent",
        )),
        category: vec![CodeableConcept::of(Coding::displayed(
            LOINC,
            "59284-0",
            "Patient Consent",
        ))],
        patient: Some(patient_reference("patient", &c.patient)?),
        date_time: Some(date_time("recorded", &c.recorded)?),
        performer: vec![performer.clone()],
        policy_rule: Some(CodeableConcept::of(Coding::displayed(
            V3_ACT_CODE,
            "OPTIN",
            "opt-in",
        ))),
        provision: Some(ConsentProvision {
            type_: borrowed(provision_type),
            period: Some(Period {
                start: Some(date_time(
                    "valid_from",
                    &ClinicalTime::from_date(c.valid_from),
                )?),
                end: c
                    .valid_to
                    .map(|d| date_time("valid_to", &ClinicalTime::from_date(d)))
                    .transpose()?,
            }),
            purpose: vec![Coding::new(
                CS_CONSENT_PURPOSE,
                vocab::consent_purpose::code(c.purpose),
            )],
            code: Vec::new(),
            provision: c
                .withheld_parts
                .iter()
                .map(|part| {
                    Ok(ConsentProvision {
                        type_: borrowed("deny"),
                        code: vec![CodeableConcept {
                            coding: Vec::new(),
                            text: Some(text("withheld_parts", part)?),
                        }],
                        ..ConsentProvision::default()
                    })
                })
                .collect::<Result<_, String>>()?,
        }),
        ..Consent::default()
    };
    let provenance = provenance(ProvenanceFacts {
        resource_type: "Consent",
        source: &c.source,
        meta: Meta::default(),
        occurred: Some(&c.recorded),
        recorded: [Some(&c.recorded), None, None, None],
        status: &EntryStatus::Current,
        agents: vec![ProvenanceAgent {
            type_: participant("informant"),
            who: performer,
            on_behalf_of: None,
        }],
        signature: None,
    })?;
    Ok(Mapped {
        order: Order::clinical(4, c.recorded, &c.source),
        resources: vec![Resource::Consent(consent), provenance],
        referenced: Vec::new(),
    })
}
