//! FHIR R4 → canonical: each record's resource (Patient, Organization,
//! Encounter, DocumentReference, Observation, Immunization, Consent) gives
//! back the record it was written from, from that resource alone. The
//! resources written for references and provenance (Practitioner,
//! PractitionerRole, RelatedPerson, Provenance, and Organizations tagged
//! `referenced-only`) repeat what the record's resource already holds and
//! are passed over.
//!
//! A resource that cannot be read is refused naming the element (a FHIRPath
//! such as `DocumentReference.context.period.start`) and why; values are
//! never quoted in full (person ids come masked from the id module, note text
//! never appears).

use brygga_mapping::id::{HsaId, Identifier, LocalId, PersonId};
use brygga_mapping::model::{
    self, Attachment, CareOrganisation, ConsentGiver, EntryStatus, Guardian, JournalEntry,
    MeasurementValue, NoteContent, NoteType, Record, SourceRef, WithheldPart,
};
use brygga_mapping::time::ClinicalTime;

use super::ids;
use super::keywords;
use super::types::{self, *};
use super::vocab::{self, *};

/// Why a resource could not be read: the element to blame and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub field: String,
    pub reason: String,
}

type Result<T> = std::result::Result<T, Refusal>;

fn refuse<T>(field: impl Into<String>, reason: impl Into<String>) -> Result<T> {
    Err(Refusal {
        field: field.into(),
        reason: reason.into(),
    })
}

/// Why a resource of another type is refused.
pub const UNREAD_TYPE: &str = "Brygga reads Patient, Organization, Encounter, DocumentReference, Observation, Immunization and Consent (and passes over Practitioner, PractitionerRole, RelatedPerson and Provenance), not this type";

/// What one resource is to the reader.
#[derive(Debug)]
pub enum Read {
    Record(Box<Record>),
    /// A resource that only repeats what records hold.
    PassedOver,
}

/// Reads one resource.
pub fn read(resource: Resource) -> Result<Read> {
    let record = match resource {
        Resource::Patient(r) => Record::Person(person(r)?),
        Resource::Organization(r) => {
            if r.meta
                .tag
                .iter()
                .any(|t| t.is(CS_RESOURCE_TAG, TAG_REFERENCED_ONLY))
            {
                return Ok(Read::PassedOver);
            }
            Record::Organisation(organisation(r)?)
        }
        Resource::Encounter(r) => Record::Contact(contact(r)?),
        Resource::DocumentReference(r) => Record::JournalEntry(journal_entry(r)?),
        Resource::Observation(r) => Record::Measurement(measurement(r)?),
        Resource::Immunization(r) => Record::Immunization(immunization(r)?),
        Resource::Consent(r) => Record::Consent(consent(r)?),
        Resource::Practitioner(_)
        | Resource::PractitionerRole(_)
        | Resource::RelatedPerson(_)
        | Resource::Provenance(_) => return Ok(Read::PassedOver),
        Resource::Unknown => {
            return refuse("resourceType", UNREAD_TYPE);
        }
    };
    Ok(Read::Record(Box::new(record)))
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

fn time(field: &str, value: &str) -> Result<ClinicalTime> {
    ClinicalTime::parse(value).or_else(|e| refuse(field, e.to_string()))
}

fn opt_time(field: &str, value: Option<&String>) -> Result<Option<ClinicalTime>> {
    value.map(|v| time(field, v)).transpose()
}

fn required<'a, T>(field: &str, value: Option<&'a T>) -> Result<&'a T> {
    value.map_or_else(|| refuse(field, "missing"), Ok)
}

/// A `date` (birth date, consent period): a calendar date, nothing more.
fn date(field: &str, value: &str) -> Result<ClinicalTime> {
    match time(field, value)? {
        t @ ClinicalTime::Date(_) => Ok(t),
        ClinicalTime::DateTime(_) => refuse(field, "expected a date without a time"),
    }
}

fn extension<'a>(extensions: &'a [Extension], url: &str) -> Option<&'a Extension> {
    extensions.iter().find(|e| e.url == url)
}

fn check_modifiers(resource: &str, count: usize) -> Result<()> {
    if count > 0 {
        return refuse(
            format!("{resource}.modifierExtension"),
            "holds a modifier extension Brygga does not understand, so the resource cannot be read safely",
        );
    }
    Ok(())
}

/// A person or local identifier.
fn identifier(field: &str, id: &types::Identifier) -> Result<Identifier> {
    let system = required(&format!("{field}.system"), id.system.as_ref())?;
    let value = required(&format!("{field}.value"), id.value.as_ref())?;
    if let Some(kind) = vocab::person_id_kind(system) {
        let person = PersonId::parse_normalized(value)
            .or_else(|e| refuse(format!("{field}.value"), e.to_string()))?;
        if person.kind() != kind {
            return refuse(
                format!("{field}.value"),
                format!(
                    "{} is a {}, but the system says {kind}",
                    person.masked(),
                    person.kind()
                ),
            );
        }
        return Ok(Identifier::Person(person));
    }
    if let Some(namespace) = system.strip_prefix(LOCAL_PREFIX) {
        let namespace = ids::unescape(namespace).map_or_else(
            || {
                refuse(
                    format!("{field}.system"),
                    "broken %-escape in the namespace",
                )
            },
            Ok,
        )?;
        return Ok(Identifier::Local(LocalId {
            namespace,
            value: value.clone(),
        }));
    }
    refuse(
        format!("{field}.system"),
        format!(
            "{system:?} is neither a person id system (personnummer, samordningsnummer, reservnummer, temporary) nor urn:brygga:local:…"
        ),
    )
}

fn person_id(field: &str, id: &types::Identifier) -> Result<PersonId> {
    match identifier(field, id)? {
        Identifier::Person(person) => Ok(person),
        Identifier::Local(_) => refuse(field, "expected a person id, found a local id"),
    }
}

/// The record's source: its `urn:brygga:source:` identifier, else (a
/// resource Brygga did not write) `fhir` and the resource's id.
fn source(resource: &str, identifiers: &[types::Identifier], id: &str) -> Result<SourceRef> {
    for (index, identifier) in identifiers.iter().enumerate() {
        if identifier
            .system
            .as_deref()
            .is_some_and(|s| s.starts_with(SOURCE_PREFIX))
        {
            return source_ref(&format!("{resource}.identifier[{index}]"), identifier);
        }
    }
    if id.is_empty() {
        return refuse(
            format!("{resource}.identifier"),
            "no urn:brygga:source: identifier and no id: the record's source is unknown",
        );
    }
    Ok(SourceRef {
        system: "fhir".to_owned(),
        record_id: id.to_owned(),
        version: 1,
    })
}

fn source_ref(field: &str, identifier: &types::Identifier) -> Result<SourceRef> {
    let system = required(&format!("{field}.system"), identifier.system.as_ref())?;
    let Some(escaped) = system.strip_prefix(SOURCE_PREFIX) else {
        return refuse(
            format!("{field}.system"),
            "expected a urn:brygga:source: system",
        );
    };
    let system = ids::unescape(escaped).map_or_else(
        || {
            refuse(
                format!("{field}.system"),
                "broken %-escape in the source system",
            )
        },
        Ok,
    )?;
    let record_id = required(&format!("{field}.value"), identifier.value.as_ref())?.clone();
    let version = match extension(&identifier.extension, EXT_SOURCE_VERSION) {
        Some(e) => *required(
            &format!("{field}.extension(source-version).valueUnsignedInt"),
            e.value_unsigned_int.as_ref(),
        )?,
        None => 1,
    };
    Ok(SourceRef {
        system,
        record_id,
        version,
    })
}

/// The patient a reference names, by its identifier.
fn patient(field: &str, reference: Option<&Reference>) -> Result<Identifier> {
    let reference = required(field, reference)?;
    match &reference.identifier {
        Some(id) => identifier(&format!("{field}.identifier"), id),
        None => refuse(
            format!("{field}.identifier"),
            "missing: Brygga needs the patient's personnummer (or other identifier), not only a reference",
        ),
    }
}

fn practitioner(field: &str, reference: &Reference) -> Result<model::Practitioner> {
    let hsa_id = reference
        .identifier
        .as_ref()
        .filter(|i| i.system.as_deref().is_some_and(HsaId::is_system))
        .map(|i| {
            let value = required(&format!("{field}.identifier.value"), i.value.as_ref())?;
            HsaId::parse(value)
                .or_else(|e| refuse(format!("{field}.identifier.value"), e.to_string()))
        })
        .transpose()?;
    let profession = match extension(&reference.extension, EXT_PROFESSION) {
        Some(e) => {
            let code = e
                .value_coding
                .as_ref()
                .and_then(|c| c.code_in(CS_PROFESSION));
            Some(code.and_then(vocab::profession::parse).map_or_else(
                || {
                    refuse(
                        format!("{field}.extension(practitioner-profession)"),
                        "not a profession code of Brygga's code system",
                    )
                },
                Ok,
            )?)
        }
        None => None,
    };
    if hsa_id.is_none() && reference.display.is_none() && profession.is_none() {
        return refuse(
            field,
            "the reference gives no HSA-id, name (display) or profession",
        );
    }
    Ok(model::Practitioner {
        hsa_id,
        name: reference.display.clone(),
        profession,
    })
}

fn care_organisation(field: &str, reference: &Reference) -> Result<CareOrganisation> {
    let identifier = reference
        .identifier
        .as_ref()
        .filter(|i| i.system.as_deref().is_some_and(HsaId::is_system));
    let Some(identifier) = identifier else {
        return refuse(
            format!("{field}.identifier"),
            "missing: a care provider or unit is known by its HSA-id",
        );
    };
    let value = required(
        &format!("{field}.identifier.value"),
        identifier.value.as_ref(),
    )?;
    Ok(CareOrganisation {
        hsa_id: HsaId::parse(value)
            .or_else(|e| refuse(format!("{field}.identifier.value"), e.to_string()))?,
        name: reference.display.clone(),
    })
}

/// Practitioner references and one Organization (care unit) reference, in
/// any order, as `author` and `performer` hold them.
fn people_and_unit(
    field: &str,
    references: &[Reference],
) -> Result<(Option<model::Practitioner>, Option<CareOrganisation>)> {
    let mut who = None;
    let mut unit = None;
    for (index, reference) in references.iter().enumerate() {
        let field = format!("{field}[{index}]");
        if reference.is_to("Organization") {
            if unit.is_some() {
                return refuse(field, "a second organization; Brygga keeps one care unit");
            }
            unit = Some(care_organisation(&field, reference)?);
        } else {
            if who.is_some() {
                return refuse(field, "a second person; Brygga keeps one");
            }
            who = Some(practitioner(&field, reference)?);
        }
    }
    Ok((who, unit))
}

fn secrecy_domain(resource: &str, meta: &Meta) -> Result<model::SecrecyDomain> {
    let code = meta
        .security
        .iter()
        .find_map(|c| c.code_in(CS_SECRECY_DOMAIN));
    match code {
        Some(code) => vocab::secrecy_domain::parse(code).map_or_else(
            || {
                refuse(
                    format!("{resource}.meta.security"),
                    format!("{code:?} is not a secrecy domain"),
                )
            },
            Ok,
        ),
        None => refuse(
            format!("{resource}.meta.security"),
            "no secrecy-domain label: which journal the information belongs to is unknown",
        ),
    }
}

fn is_restricted(meta: &Meta) -> bool {
    meta.security.iter().any(|c| c.is(V3_CONFIDENTIALITY, "R"))
}

/// A record's status from the `replaces` / `nullified-reason` extensions.
fn status_from_extensions(
    resource: &str,
    extensions: &[Extension],
    nullified: bool,
) -> Result<EntryStatus> {
    if nullified {
        let reason = extension(extensions, EXT_NULLIFIED_REASON)
            .and_then(|e| e.value_string.clone())
            .map_or_else(
                || {
                    refuse(
                        format!("{resource}.extension(nullified-reason)"),
                        "an entered-in-error record needs the reason it was nullified",
                    )
                },
                Ok,
            )?;
        return Ok(EntryStatus::Nullified { reason });
    }
    if let Some(e) = extension(extensions, EXT_REPLACES) {
        let field = format!("{resource}.extension(replaces).valueReference.identifier");
        let identifier = required(
            &field,
            e.value_reference
                .as_ref()
                .and_then(|r| r.identifier.as_ref()),
        )?;
        return Ok(EntryStatus::Amended {
            supersedes: source_ref(&field, identifier)?,
        });
    }
    Ok(EntryStatus::Current)
}

fn code_of<T>(
    field: &str,
    concept: Option<&CodeableConcept>,
    system: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T> {
    let code = concept.and_then(|c| c.code_in(system));
    match code {
        Some(code) => parse(code).map_or_else(
            || refuse(field, format!("{code:?} is not a code of {system}")),
            Ok,
        ),
        None => refuse(field, format!("no code from {system}")),
    }
}

/// The contact id of an encounter reference.
fn contact_id(field: &str, reference: &Reference) -> Result<String> {
    let identifier = required(
        &format!("{field}.identifier"),
        reference.identifier.as_ref(),
    )?;
    Ok(source_ref(&format!("{field}.identifier"), identifier)?.record_id)
}

// ---------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------

fn person(p: Patient) -> Result<model::Person> {
    check_modifiers("Patient", p.modifier_extension.len())?;
    let identifiers = p
        .identifier
        .iter()
        .enumerate()
        .map(|(i, id)| identifier(&format!("Patient.identifier[{i}]"), id))
        .collect::<Result<Vec<_>>>()?;
    if identifiers.is_empty() {
        return refuse(
            "Patient.identifier",
            "missing: a person needs an identifier",
        );
    }
    let security_marking = match p
        .meta
        .security
        .iter()
        .find_map(|c| c.code_in(CS_SECURITY_MARKING))
    {
        Some(code) => vocab::security_marking::parse(code).map_or_else(
            || {
                refuse(
                    "Patient.meta.security",
                    format!("{code:?} is not a security marking"),
                )
            },
            Ok,
        )?,
        // Restricted without saying why: the stricter reading.
        None if is_restricted(&p.meta) => model::SecurityMarking::Sekretessmarkering,
        None => model::SecurityMarking::None,
    };
    let name = p.name.first();
    if p.name.len() > 1 {
        return refuse("Patient.name", "more than one name; Brygga keeps one");
    }
    let given_name = match name.map(|n| n.given.as_slice()) {
        None | Some([]) => String::new(),
        Some([given]) => given.clone(),
        Some(many) => many.join(" "),
    };
    let mut guardians = Vec::new();
    let mut municipality_code = None;
    for (index, e) in p.extension.iter().enumerate() {
        let field = format!("Patient.extension[{index}]");
        if e.url == EXT_GUARDIAN {
            let id =
                extension(&e.extension, "identifier").and_then(|e| e.value_identifier.as_ref());
            let relation = extension(&e.extension, "relation")
                .and_then(|e| e.value_code.as_deref())
                .and_then(vocab::guardian_relation::parse);
            let (Some(id), Some(relation)) = (id, relation) else {
                return refuse(field, "a guardian needs an identifier and a relation");
            };
            guardians.push(Guardian {
                person: person_id(&format!("{field}.identifier"), id)?,
                relation,
            });
        } else if e.url == EXT_MUNICIPALITY_CODE {
            municipality_code = e.value_code.as_ref().map(|c| c.to_string());
        }
    }
    let addresses = p
        .address
        .iter()
        .enumerate()
        .map(|(index, a)| {
            let kind = vocab::address_kind(a.use_.as_deref(), a.type_.as_deref()).map_or_else(
                || {
                    refuse(
                        format!("Patient.address[{index}].use"),
                        "a work, billing or old address has no place in Brygga's model",
                    )
                },
                Ok,
            )?;
            Ok(model::Address {
                kind,
                lines: a.line.clone(),
                postal_code: a.postal_code.clone(),
                city: a.city.clone(),
                country: a.country.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let telecom = p
        .telecom
        .iter()
        .enumerate()
        .map(|(index, t)| {
            let field = format!("Patient.telecom[{index}]");
            let kind = vocab::telecom_kind(t.system.as_deref(), t.use_.as_deref()).map_or_else(
                || refuse(format!("{field}.system"), "only phone and email are kept"),
                Ok,
            )?;
            Ok(model::Telecom {
                kind,
                value: required(&format!("{field}.value"), t.value.as_ref())?.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let sex = match p.gender.as_deref() {
        None | Some("unknown") => None,
        Some("female") => Some(brygga_mapping::id::Sex::Female),
        Some("male") => Some(brygga_mapping::id::Sex::Male),
        Some(_) => {
            return refuse(
                "Patient.gender",
                "Brygga's model holds female, male or nothing",
            );
        }
    };
    let birth_date = p
        .birth_date
        .as_ref()
        .map(|d| date("Patient.birthDate", d).map(|t| t.local_date()))
        .transpose()?;
    Ok(model::Person {
        identifiers,
        given_name,
        family_name: name.and_then(|n| n.family.clone()).unwrap_or_default(),
        birth_date,
        sex,
        security_marking,
        guardians,
        addresses,
        telecom,
        municipality_code,
    })
}

fn organisation(o: Organization) -> Result<model::Organisation> {
    check_modifiers("Organization", o.modifier_extension.len())?;
    let mut id = None;
    let mut hsa_id = None;
    let mut school_unit_code = None;
    let mut organisation_number = None;
    for (index, identifier) in o.identifier.iter().enumerate() {
        let field = format!("Organization.identifier[{index}]");
        let system = identifier.system.as_deref().unwrap_or_default();
        let value = identifier.value.clone();
        if system == ORGANISATION_KEY {
            id = value;
        } else if HsaId::is_system(system) {
            let value = required(&format!("{field}.value"), value.as_ref())?;
            hsa_id = Some(
                HsaId::parse(value).or_else(|e| refuse(format!("{field}.value"), e.to_string()))?,
            );
        } else if system == SKOLENHETSKOD {
            school_unit_code = value;
        } else if system == ORGANISATIONSNUMMER {
            organisation_number = value;
        }
    }
    let id = match (id, &hsa_id) {
        (Some(id), _) => id,
        (None, Some(hsa)) => format!("hsa:{}", hsa.as_str()),
        (None, None) => {
            return refuse(
                "Organization.identifier",
                "neither urn:brygga:organisation nor an HSA-id: the organisation has no key",
            );
        }
    };
    let kind = code_of(
        "Organization.type",
        o.type_.first(),
        CS_ORGANISATION_KIND,
        vocab::organisation_kind::parse,
    )?;
    let parent = o
        .part_of
        .as_ref()
        .map(|r| {
            r.identifier
                .as_ref()
                .filter(|i| i.system.as_deref() == Some(ORGANISATION_KEY))
                .and_then(|i| i.value.clone())
                .map_or_else(
                    || {
                        refuse(
                            "Organization.partOf.identifier",
                            "missing: the parent is known by its urn:brygga:organisation identifier",
                        )
                    },
                    Ok,
                )
        })
        .transpose()?;
    Ok(model::Organisation {
        id,
        kind,
        name: o.name.unwrap_or_default(),
        hsa_id,
        school_unit_code,
        organisation_number,
        municipality_code: extension(&o.extension, EXT_MUNICIPALITY_CODE)
            .and_then(|e| e.value_code.as_ref().map(|c| c.to_string())),
        parent,
        school_year: match extension(&o.extension, EXT_SCHOOL_YEAR) {
            Some(e) => Some(
                e.value_unsigned_int
                    .and_then(|y| u8::try_from(y).ok())
                    .map_or_else(
                        || {
                            refuse(
                                "Organization.extension(school-year)",
                                "expected a school year 0–255",
                            )
                        },
                        Ok,
                    )?,
            ),
            None => None,
        },
    })
}

fn contact(e: Encounter) -> Result<model::Contact> {
    check_modifiers("Encounter", e.modifier_extension.len())?;
    let kind = code_of(
        "Encounter.type",
        e.type_.first(),
        CS_CONTACT_KIND,
        vocab::contact_kind::parse,
    )?;
    let period = required("Encounter.period", e.period.as_ref())?;
    let performer = match e.participant.as_slice() {
        [] => None,
        [one] => Some(practitioner(
            "Encounter.participant[0].individual",
            required(
                "Encounter.participant[0].individual",
                one.individual.as_ref(),
            )?,
        )?),
        _ => return refuse("Encounter.participant", "more than one; Brygga keeps one"),
    };
    Ok(model::Contact {
        source: source("Encounter", &e.identifier, &e.id)?,
        patient: patient("Encounter.subject", e.subject.as_ref())?,
        kind,
        start: time(
            "Encounter.period.start",
            required("Encounter.period.start", period.start.as_ref())?,
        )?,
        end: opt_time("Encounter.period.end", period.end.as_ref())?,
        performer,
        care_unit: e
            .service_provider
            .as_ref()
            .map(|r| care_organisation("Encounter.serviceProvider", r))
            .transpose()?,
        secrecy_domain: secrecy_domain("Encounter", &e.meta)?,
    })
}

fn journal_entry(d: DocumentReference) -> Result<JournalEntry> {
    const R: &str = "DocumentReference";
    check_modifiers(R, d.modifier_extension.len())?;
    let context = required("DocumentReference.context", d.context.as_ref())?;
    let period = required("DocumentReference.context.period", context.period.as_ref())?;
    let event_time = time(
        "DocumentReference.context.period.start",
        required(
            "DocumentReference.context.period.start",
            period.start.as_ref(),
        )?,
    )?;
    let [content] = d.content.as_slice() else {
        return refuse(
            "DocumentReference.content",
            format!("{} contents; Brygga reads exactly one", d.content.len()),
        );
    };
    let attachment = &content.attachment;
    let format = content
        .format
        .as_ref()
        .and_then(|f| f.code_in(CS_NOTE_FORMAT));
    let content = match format {
        Some(format) => {
            let bytes = match &attachment.data {
                Some(data) => ids::base64_decode(data).map_or_else(
                    || {
                        refuse(
                            "DocumentReference.content[0].attachment.data",
                            "not standard padded base64",
                        )
                    },
                    Ok,
                )?,
                None => Vec::new(),
            };
            let charset_ok = attachment.content_type.as_deref().is_some_and(|t| {
                t.to_ascii_lowercase()
                    .replace(' ', "")
                    .contains("charset=utf-8")
            });
            if !charset_ok {
                return refuse(
                    "DocumentReference.content[0].attachment.contentType",
                    "a text note must be charset=utf-8",
                );
            }
            let text = String::from_utf8(bytes).or_else(|_| {
                refuse(
                    "DocumentReference.content[0].attachment.data",
                    "the text is not UTF-8",
                )
            })?;
            match format {
                FORMAT_TEXT => NoteContent::Text { text },
                FORMAT_KEYWORD_SECTIONS => NoteContent::Keywords {
                    sections: keywords::parse(&text).or_else(|reason| {
                        refuse("DocumentReference.content[0].attachment.data", reason)
                    })?,
                },
                other => {
                    return refuse(
                        "DocumentReference.content[0].format",
                        format!("{other:?} is not a note format Brygga writes"),
                    );
                }
            }
        }
        None => {
            let data = attachment.data.clone().unwrap_or_default();
            if !data.is_empty() && !ids::is_base64(&data) {
                return refuse(
                    "DocumentReference.content[0].attachment.data",
                    "not standard padded base64",
                );
            }
            NoteContent::Attachment(Attachment {
                media_type: required(
                    "DocumentReference.content[0].attachment.contentType",
                    attachment.content_type.as_ref(),
                )?
                .to_string(),
                title: attachment.title.clone(),
                data,
            })
        }
    };
    let author_time = match extension(&d.extension, EXT_AUTHOR_TIME) {
        Some(e) => Some(time(
            "DocumentReference.extension(author-time)",
            required(
                "DocumentReference.extension(author-time).valueDateTime",
                e.value_date_time.as_ref(),
            )?,
        )?),
        None => opt_time(
            "DocumentReference.content[0].attachment.creation",
            attachment.creation.as_ref(),
        )?,
    };
    let ext_time = |url: &str, name: &str| -> Result<Option<ClinicalTime>> {
        extension(&d.extension, url)
            .map(|e| {
                let field = format!("DocumentReference.extension({name})");
                time(
                    &field,
                    required(
                        &format!("{field}.valueDateTime"),
                        e.value_date_time.as_ref(),
                    )?,
                )
            })
            .transpose()
    };
    let signing_time = ext_time(EXT_SIGNING_TIME, "signing-time")?;
    let record_time = ext_time(EXT_RECORD_TIME, "record-time")?;
    let (author, care_unit) = people_and_unit("DocumentReference.author", &d.author)?;
    let status = match d.status.as_ref() {
        "current" | "superseded" => match d.relates_to.as_slice() {
            [] => EntryStatus::Current,
            [relation] if relation.code == "replaces" => {
                let field = "DocumentReference.relatesTo[0].target.identifier";
                EntryStatus::Amended {
                    supersedes: source_ref(
                        field,
                        required(field, relation.target.identifier.as_ref())?,
                    )?,
                }
            }
            _ => {
                return refuse(
                    "DocumentReference.relatesTo",
                    "Brygga reads one relation, replaces",
                );
            }
        },
        "entered-in-error" => status_from_extensions(R, &d.extension, true)?,
        other => {
            return refuse(
                "DocumentReference.status",
                format!("{other:?} is not current, superseded or entered-in-error"),
            );
        }
    };
    let withheld = d
        .extension
        .iter()
        .filter(|e| e.url == EXT_WITHHELD)
        .map(|e| {
            let part = extension(&e.extension, "part").and_then(|e| e.value_string.clone());
            let reason = extension(&e.extension, "reason").and_then(|e| e.value_string.clone());
            match (part, reason) {
                (Some(part), Some(reason)) => Ok(WithheldPart { part, reason }),
                _ => refuse(
                    "DocumentReference.extension(withheld)",
                    "a withheld part needs a part and a reason",
                ),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let note_type = d.type_.as_ref();
    Ok(JournalEntry {
        source: source(R, &d.identifier, &d.id)?,
        patient: patient("DocumentReference.subject", d.subject.as_ref())?,
        event_time,
        author_time,
        signing_time,
        record_time,
        author,
        signer: d
            .authenticator
            .as_ref()
            .map(|r| practitioner("DocumentReference.authenticator", r))
            .transpose()?,
        care_provider: d
            .custodian
            .as_ref()
            .map(|r| care_organisation("DocumentReference.custodian", r))
            .transpose()?,
        care_unit,
        contact: context
            .encounter
            .first()
            .map(|r| contact_id("DocumentReference.context.encounter[0]", r))
            .transpose()?,
        note_type: NoteType {
            code: code_of(
                "DocumentReference.type",
                note_type,
                CS_NOTE_TYPE,
                vocab::note_type::parse,
            )?,
            original: note_type.and_then(|t| t.text.clone()),
        },
        title: d.description,
        content,
        status,
        secrecy_domain: secrecy_domain(R, &d.meta)?,
        approved_for_patient: extension(&d.extension, EXT_APPROVED_FOR_PATIENT)
            .and_then(|e| e.value_boolean)
            .unwrap_or(false),
        patient_block: is_restricted(&d.meta)
            || d.security_label
                .iter()
                .any(|l| l.coding.iter().any(|c| c.is(V3_CONFIDENTIALITY, "R"))),
        withheld,
    })
}

fn measurement(o: Observation) -> Result<model::Measurement> {
    check_modifiers("Observation", o.modifier_extension.len())?;
    let kind = code_of(
        "Observation.code",
        Some(&o.code),
        CS_MEASUREMENT,
        vocab::measurement::parse,
    )?;
    let value = match (
        &o.value_quantity,
        &o.value_codeable_concept,
        &o.data_absent_reason,
    ) {
        (Some(q), None, None) => MeasurementValue::Quantity {
            value: *required("Observation.valueQuantity.value", q.value.as_ref())?,
            unit: q
                .code
                .clone()
                .or_else(|| q.unit.clone())
                .map_or_else(|| refuse("Observation.valueQuantity.code", "missing"), Ok)?,
        },
        (None, Some(c), None) => MeasurementValue::Finding {
            finding: code_of(
                "Observation.valueCodeableConcept",
                Some(c),
                CS_FINDING,
                vocab::finding::parse,
            )?,
        },
        (None, None, Some(_)) => MeasurementValue::Finding {
            finding: model::Finding::NotAssessed,
        },
        _ => {
            return refuse(
                "Observation.value[x]",
                "expected one valueQuantity, valueCodeableConcept or dataAbsentReason",
            );
        }
    };
    let (performer, care_unit) = people_and_unit("Observation.performer", &o.performer)?;
    Ok(model::Measurement {
        source: source("Observation", &o.identifier, &o.id)?,
        patient: patient("Observation.subject", o.subject.as_ref())?,
        kind,
        time: time(
            "Observation.effectiveDateTime",
            required(
                "Observation.effectiveDateTime",
                o.effective_date_time.as_ref(),
            )?,
        )?,
        value,
        performer,
        care_unit,
        contact: o
            .encounter
            .as_ref()
            .map(|r| contact_id("Observation.encounter", r))
            .transpose()?,
        secrecy_domain: secrecy_domain("Observation", &o.meta)?,
        original_code: o.code.text,
    })
}

fn immunization(i: types::Immunization) -> Result<model::Immunization> {
    check_modifiers("Immunization", i.modifier_extension.len())?;
    let nullified = match i.status.as_ref() {
        "completed" => false,
        "entered-in-error" => true,
        other => {
            return refuse(
                "Immunization.status",
                format!("{other:?}: Brygga keeps given vaccinations (completed, entered-in-error)"),
            );
        }
    };
    let programme = code_of(
        "Immunization.extension(vaccination-programme)",
        extension(&i.extension, EXT_VACCINATION_PROGRAMME)
            .and_then(|e| e.value_coding.clone())
            .map(CodeableConcept::of)
            .as_ref(),
        CS_VACCINATION_PROGRAMME,
        vocab::vaccination_programme::parse,
    )?;
    let mut given_by = None;
    let mut care_unit = None;
    for (index, performer) in i.performer.iter().enumerate() {
        let field = format!("Immunization.performer[{index}].actor");
        if performer.actor.is_to("Organization") {
            care_unit = Some(care_organisation(&field, &performer.actor)?);
        } else {
            given_by = Some(practitioner(&field, &performer.actor)?);
        }
    }
    let dose_number = match i.protocol_applied.as_slice() {
        [] => None,
        [applied] => Some(
            match (
                &applied.dose_number_positive_int,
                &applied.dose_number_string,
            ) {
                (Some(n), None) => u8::try_from(*n).ok(),
                (None, Some(s)) => s.parse().ok(),
                _ => None,
            }
            .map_or_else(
                || {
                    refuse(
                        "Immunization.protocolApplied[0].doseNumber[x]",
                        "expected a dose number 0–255",
                    )
                },
                Ok,
            )?,
        ),
        _ => {
            return refuse(
                "Immunization.protocolApplied",
                "more than one; Brygga keeps one dose number",
            );
        }
    };
    Ok(model::Immunization {
        source: source("Immunization", &i.identifier, &i.id)?,
        patient: patient("Immunization.patient", Some(&i.patient))?,
        time: time(
            "Immunization.occurrenceDateTime",
            required(
                "Immunization.occurrenceDateTime",
                i.occurrence_date_time.as_ref(),
            )?,
        )?,
        vaccine: model::Vaccine {
            atc: required(
                "Immunization.vaccineCode",
                i.vaccine_code.code_in(ATC).map(str::to_owned).as_ref(),
            )?
            .clone(),
            product: i.vaccine_code.text.clone(),
            programme,
        },
        dose_number,
        lot: i.lot_number,
        given_by,
        care_unit,
        secrecy_domain: secrecy_domain("Immunization", &i.meta)?,
        status: status_from_extensions("Immunization", &i.extension, nullified)?,
    })
}

fn consent(c: types::Consent) -> Result<model::Consent> {
    check_modifiers("Consent", c.modifier_extension.len())?;
    let provision = required("Consent.provision", c.provision.as_ref())?;
    let withheld_parts = provision
        .provision
        .iter()
        .enumerate()
        .map(|(index, p)| {
            p.code.first().and_then(|c| c.text.clone()).map_or_else(
                || {
                    refuse(
                        format!("Consent.provision.provision[{index}].code"),
                        "a withheld part needs its name as text",
                    )
                },
                Ok,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let decision = match (c.status.as_ref(), provision.type_.as_deref()) {
        ("active", Some("permit")) if withheld_parts.is_empty() => model::ConsentDecision::Given,
        ("active", Some("permit")) => model::ConsentDecision::Partial,
        ("rejected", _) => model::ConsentDecision::Refused,
        ("inactive", _) => model::ConsentDecision::Revoked,
        _ => {
            return refuse(
                "Consent.status",
                "Brygga reads active (permit), rejected and inactive consents",
            );
        }
    };
    let performer = match c.performer.as_slice() {
        [one] => one,
        _ => return refuse("Consent.performer", "expected exactly one"),
    };
    let given_by = if performer.is_to("Patient") {
        ConsentGiver::Patient
    } else if performer.is_to("RelatedPerson") {
        ConsentGiver::Guardian {
            person: person_id(
                "Consent.performer[0].identifier",
                required(
                    "Consent.performer[0].identifier",
                    performer.identifier.as_ref(),
                )?,
            )?,
        }
    } else {
        return refuse(
            "Consent.performer[0]",
            "expected the patient or a guardian (RelatedPerson)",
        );
    };
    let period = required("Consent.provision.period", provision.period.as_ref())?;
    Ok(model::Consent {
        source: source("Consent", &c.identifier, &c.id)?,
        patient: patient("Consent.patient", c.patient.as_ref())?,
        given_by,
        purpose: vocab::consent_purpose::parse(
            provision
                .purpose
                .iter()
                .find_map(|p| p.code_in(CS_CONSENT_PURPOSE))
                .unwrap_or_default(),
        )
        .map_or_else(
            || {
                refuse(
                    "Consent.provision.purpose",
                    "no purpose from Brygga's consent-purpose code system",
                )
            },
            Ok,
        )?,
        decision,
        withheld_parts,
        recorded: time(
            "Consent.dateTime",
            required("Consent.dateTime", c.date_time.as_ref())?,
        )?,
        valid_from: date(
            "Consent.provision.period.start",
            required("Consent.provision.period.start", period.start.as_ref())?,
        )?
        .local_date(),
        valid_to: period
            .end
            .as_ref()
            .map(|d| date("Consent.provision.period.end", d).map(|t| t.local_date()))
            .transpose()?,
    })
}
