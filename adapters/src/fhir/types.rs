//! The FHIR R4 (4.0.1) resources and datatypes Brygga writes and reads, as
//! small serde structs: exactly the elements the mapping uses, absent
//! elements left out, `resourceType` first (the [`Resource`] enum's tag).
//!
//! Reading ignores elements that are not modelled here (a server's
//! `meta.lastUpdated`, a narrative `text`, …); `docs/adapters/fhir.md` lists
//! what is read. Codes and system URIs that are constants on the writing side
//! are `Cow<'static, str>`, so writing them allocates nothing.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// A string that is a constant when written and owned when read.
pub type Str = Cow<'static, str>;

// ---------------------------------------------------------------------------
// Datatypes
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security: Vec<Coding>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag: Vec<Coding>,
}

impl Meta {
    pub fn is_empty(&self) -> bool {
        self.security.is_empty() && self.tag.is_empty()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Coding {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<Str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<Str>,
}

impl Coding {
    pub fn new(system: &'static str, code: &'static str) -> Coding {
        Coding {
            system: Some(Cow::Borrowed(system)),
            code: Some(Cow::Borrowed(code)),
            display: None,
        }
    }

    pub fn displayed(system: &'static str, code: &'static str, display: &'static str) -> Coding {
        Coding {
            display: Some(Cow::Borrowed(display)),
            ..Coding::new(system, code)
        }
    }

    /// Whether this coding is `code` in `system`.
    pub fn is(&self, system: &str, code: &str) -> bool {
        self.system.as_deref() == Some(system) && self.code.as_deref() == Some(code)
    }

    /// The code, when the coding is from `system`.
    pub fn code_in(&self, system: &str) -> Option<&str> {
        (self.system.as_deref() == Some(system))
            .then_some(self.code.as_deref())
            .flatten()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CodeableConcept {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coding: Vec<Coding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl CodeableConcept {
    pub fn of(coding: Coding) -> CodeableConcept {
        CodeableConcept {
            coding: vec![coding],
            text: None,
        }
    }

    /// The first code from `system`.
    pub fn code_in(&self, system: &str) -> Option<&str> {
        self.coding.iter().find_map(|c| c.code_in(system))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Identifier {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<Str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<Identifier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl Reference {
    /// A literal reference `Type/id`.
    pub fn to(resource_type: &str, id: &str) -> Reference {
        let mut reference = String::with_capacity(resource_type.len() + 1 + id.len());
        reference.push_str(resource_type);
        reference.push('/');
        reference.push_str(id);
        Reference {
            reference: Some(reference),
            ..Reference::default()
        }
    }

    /// Whether the literal reference points at a resource of `resource_type`.
    pub fn is_to(&self, resource_type: &str) -> bool {
        self.reference.as_deref().is_some_and(|r| {
            r.strip_prefix(resource_type)
                .is_some_and(|rest| rest.starts_with('/'))
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Period {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

/// An extension with the value types Brygga uses; exactly one `value*` (or
/// nested `extension`s) is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Extension {
    #[serde(default)]
    pub url: Str,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_string: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_boolean: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_code: Option<Str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_coding: Option<Coding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_identifier: Option<Identifier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_reference: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_unsigned_int: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_integer: Option<i64>,
}

impl Extension {
    pub fn new(url: &'static str) -> Extension {
        Extension {
            url: Cow::Borrowed(url),
            ..Extension::default()
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HumanName {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub given: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<Str>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<Str>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub line: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContactPoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<Str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<Str>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Quantity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<Str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<Str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation: Option<String>,
}

// ---------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------

/// Every resource type Brygga writes or reads, tagged by `resourceType`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "resourceType")]
pub enum Resource {
    Patient(Patient),
    RelatedPerson(RelatedPerson),
    Practitioner(Practitioner),
    PractitionerRole(PractitionerRole),
    Organization(Organization),
    Encounter(Encounter),
    DocumentReference(DocumentReference),
    Observation(Observation),
    Immunization(Immunization),
    Consent(Consent),
    Provenance(Provenance),
    /// Any other resource type, when reading.
    #[serde(other)]
    Unknown,
}

impl Resource {
    /// The `resourceType`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Resource::Patient(_) => "Patient",
            Resource::RelatedPerson(_) => "RelatedPerson",
            Resource::Practitioner(_) => "Practitioner",
            Resource::PractitionerRole(_) => "PractitionerRole",
            Resource::Organization(_) => "Organization",
            Resource::Encounter(_) => "Encounter",
            Resource::DocumentReference(_) => "DocumentReference",
            Resource::Observation(_) => "Observation",
            Resource::Immunization(_) => "Immunization",
            Resource::Consent(_) => "Consent",
            Resource::Provenance(_) => "Provenance",
            Resource::Unknown => "(a type Brygga does not read)",
        }
    }

    /// The logical id.
    pub fn id(&self) -> &str {
        match self {
            Resource::Patient(r) => &r.id,
            Resource::RelatedPerson(r) => &r.id,
            Resource::Practitioner(r) => &r.id,
            Resource::PractitionerRole(r) => &r.id,
            Resource::Organization(r) => &r.id,
            Resource::Encounter(r) => &r.id,
            Resource::DocumentReference(r) => &r.id,
            Resource::Observation(r) => &r.id,
            Resource::Immunization(r) => &r.id,
            Resource::Consent(r) => &r.id,
            Resource::Provenance(r) => &r.id,
            Resource::Unknown => "",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    #[serde(default)]
    pub id: String,
    #[serde(default, rename = "modifierExtension", skip_serializing)]
    pub modifier_extension: Vec<serde::de::IgnoredAny>,
    #[serde(default, skip_serializing_if = "Meta::is_empty")]
    pub meta: Meta,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub name: Vec<HumanName>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub telecom: Vec<ContactPoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<Str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub address: Vec<Address>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RelatedPerson {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Meta::is_empty")]
    pub meta: Meta,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    #[serde(default)]
    pub patient: Reference,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relationship: Vec<CodeableConcept>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Practitioner {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub name: Vec<HumanName>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PractitionerRole {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub practitioner: Option<Reference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub code: Vec<CodeableConcept>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    #[serde(default)]
    pub id: String,
    #[serde(default, rename = "modifierExtension", skip_serializing)]
    pub modifier_extension: Vec<serde::de::IgnoredAny>,
    #[serde(default, skip_serializing_if = "Meta::is_empty")]
    pub meta: Meta,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    #[serde(default, rename = "type", skip_serializing_if = "Vec::is_empty")]
    pub type_: Vec<CodeableConcept>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_of: Option<Reference>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Encounter {
    #[serde(default)]
    pub id: String,
    #[serde(default, rename = "modifierExtension", skip_serializing)]
    pub modifier_extension: Vec<serde::de::IgnoredAny>,
    #[serde(default, skip_serializing_if = "Meta::is_empty")]
    pub meta: Meta,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    #[serde(default)]
    pub status: Str,
    #[serde(default)]
    pub class: Coding,
    #[serde(default, rename = "type", skip_serializing_if = "Vec::is_empty")]
    pub type_: Vec<CodeableConcept>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participant: Vec<EncounterParticipant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_provider: Option<Reference>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EncounterParticipant {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub individual: Option<Reference>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentReference {
    #[serde(default)]
    pub id: String,
    #[serde(default, rename = "modifierExtension", skip_serializing)]
    pub modifier_extension: Vec<serde::de::IgnoredAny>,
    #[serde(default, skip_serializing_if = "Meta::is_empty")]
    pub meta: Meta,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    #[serde(default)]
    pub status: Str,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_status: Option<Str>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<CodeableConcept>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub author: Vec<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticator: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custodian: Option<Reference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relates_to: Vec<RelatesTo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_label: Vec<CodeableConcept>,
    #[serde(default)]
    pub content: Vec<DocumentContent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<DocumentContext>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RelatesTo {
    #[serde(default)]
    pub code: Str,
    #[serde(default)]
    pub target: Reference,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DocumentContent {
    #[serde(default)]
    pub attachment: Attachment,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Coding>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DocumentContext {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub encounter: Vec<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    #[serde(default)]
    pub id: String,
    #[serde(default, rename = "modifierExtension", skip_serializing)]
    pub modifier_extension: Vec<serde::de::IgnoredAny>,
    #[serde(default, skip_serializing_if = "Meta::is_empty")]
    pub meta: Meta,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    #[serde(default)]
    pub status: Str,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub category: Vec<CodeableConcept>,
    #[serde(default)]
    pub code: CodeableConcept,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub performer: Vec<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_quantity: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_codeable_concept: Option<CodeableConcept>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_absent_reason: Option<CodeableConcept>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Immunization {
    #[serde(default)]
    pub id: String,
    #[serde(default, rename = "modifierExtension", skip_serializing)]
    pub modifier_extension: Vec<serde::de::IgnoredAny>,
    #[serde(default, skip_serializing_if = "Meta::is_empty")]
    pub meta: Meta,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    #[serde(default)]
    pub status: Str,
    #[serde(default)]
    pub vaccine_code: CodeableConcept,
    #[serde(default)]
    pub patient: Reference,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrence_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot_number: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub performer: Vec<ImmunizationPerformer>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protocol_applied: Vec<ProtocolApplied>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImmunizationPerformer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<CodeableConcept>,
    #[serde(default)]
    pub actor: Reference,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProtocolApplied {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dose_number_positive_int: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dose_number_string: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Consent {
    #[serde(default)]
    pub id: String,
    #[serde(default, rename = "modifierExtension", skip_serializing)]
    pub modifier_extension: Vec<serde::de::IgnoredAny>,
    #[serde(default, skip_serializing_if = "Meta::is_empty")]
    pub meta: Meta,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    #[serde(default)]
    pub status: Str,
    #[serde(default)]
    pub scope: CodeableConcept,
    #[serde(default)]
    pub category: Vec<CodeableConcept>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub performer: Vec<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_rule: Option<CodeableConcept>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provision: Option<ConsentProvision>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConsentProvision {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<Str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub purpose: Vec<Coding>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub code: Vec<CodeableConcept>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provision: Vec<ConsentProvision>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Meta::is_empty")]
    pub meta: Meta,
    #[serde(default)]
    pub target: Vec<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<String>,
    /// Extensions on `recorded` when its value is unknown to the second
    /// (a date-only source time): `data-absent-reason`.
    #[serde(default, rename = "_recorded", skip_serializing_if = "Option::is_none")]
    pub recorded_element: Option<PrimitiveExtensions>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reason: Vec<CodeableConcept>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<CodeableConcept>,
    #[serde(default)]
    pub agent: Vec<ProvenanceAgent>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entity: Vec<ProvenanceEntity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signature: Vec<Signature>,
}

/// The `_element` object of a primitive: its extensions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PrimitiveExtensions {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvenanceAgent {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<CodeableConcept>,
    #[serde(default)]
    pub who: Reference,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<Reference>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProvenanceEntity {
    #[serde(default)]
    pub role: Str,
    #[serde(default)]
    pub what: Reference,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    #[serde(default, rename = "type")]
    pub type_: Vec<Coding>,
    #[serde(default)]
    pub when: String,
    #[serde(default)]
    pub who: Reference,
}

// ---------------------------------------------------------------------------
// Bundle
// ---------------------------------------------------------------------------

/// A transaction Bundle of `PUT` entries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    #[serde(rename = "resourceType", default)]
    pub resource_type: Str,
    #[serde(default, rename = "type")]
    pub type_: Str,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entry: Vec<BundleEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<BundleRequest>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BundleRequest {
    #[serde(default)]
    pub method: Str,
    #[serde(default)]
    pub url: String,
}

// ---------------------------------------------------------------------------
// Writing JSON
// ---------------------------------------------------------------------------

/// Appends `resource` to `out` as compact JSON: byte for byte what
/// `serde_json::to_writer` writes for it, without serde's per-field calls
/// and `io::Write` layers. The FHIR writers spend most of their time here,
/// so this is their path; the serde derive stays for reading and tests, and
/// a test holds the two to the same bytes.
pub fn write_json(resource: &Resource, out: &mut Vec<u8>) {
    resource.write(out);
}

/// [`write_json`] for a transaction Bundle.
pub fn write_bundle_json(bundle: &Bundle, out: &mut Vec<u8>) {
    bundle.write(out);
}

/// [`write_json`] for one entry of a Bundle.
pub fn write_bundle_entry_json(entry: &BundleEntry, out: &mut Vec<u8>) {
    entry.write(out);
}

/// A value that writes itself as serde_json would.
trait Json {
    fn write(&self, out: &mut Vec<u8>);
}

/// An object being written: fields in declaration order, as the derive
/// writes them.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Object<'a> {
    fn open(out: &'a mut Vec<u8>) -> Object<'a> {
        out.push(b'{');
        Object { out, empty: true }
    }

    fn key(&mut self, name: &str) {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// A field written whatever its value.
    fn field<T: Json + ?Sized>(&mut self, name: &str, value: &T) -> &mut Self {
        self.key(name);
        value.write(self.out);
        self
    }

    /// `skip_serializing_if = "Option::is_none"`.
    fn opt<T: Json>(&mut self, name: &str, value: &Option<T>) -> &mut Self {
        if let Some(value) = value {
            self.field(name, value);
        }
        self
    }

    /// `skip_serializing_if = "Vec::is_empty"`.
    fn list<T: Json>(&mut self, name: &str, value: &[T]) -> &mut Self {
        if !value.is_empty() {
            self.field(name, value);
        }
        self
    }

    fn meta(&mut self, meta: &Meta) -> &mut Self {
        if !meta.is_empty() {
            self.field("meta", meta);
        }
        self
    }

    fn close(&mut self) {
        self.out.push(b'}');
    }
}

impl Json for str {
    fn write(&self, out: &mut Vec<u8>) {
        write_str(self, out);
    }
}

impl Json for String {
    fn write(&self, out: &mut Vec<u8>) {
        write_str(self, out);
    }
}

impl Json for Str {
    fn write(&self, out: &mut Vec<u8>) {
        write_str(self, out);
    }
}

impl Json for bool {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if *self { b"true" } else { b"false" });
    }
}

impl Json for u32 {
    fn write(&self, out: &mut Vec<u8>) {
        write_u64(u64::from(*self), out);
    }
}

impl Json for i64 {
    fn write(&self, out: &mut Vec<u8>) {
        if *self < 0 {
            out.push(b'-');
        }
        write_u64(self.unsigned_abs(), out);
    }
}

impl Json for f64 {
    fn write(&self, out: &mut Vec<u8>) {
        // Rare (one per measured Observation), and serde_json's own shortest
        // round-trip form is the one to match. Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, self);
    }
}

impl<T: Json> Json for [T] {
    fn write(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (index, item) in self.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            item.write(out);
        }
        out.push(b']');
    }
}

impl<T: Json> Json for Vec<T> {
    fn write(&self, out: &mut Vec<u8>) {
        self.as_slice().write(out);
    }
}

fn write_u64(mut value: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Whether a byte must be escaped in a JSON string (serde_json escapes
/// exactly these: control characters, `"` and `\`).
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// Whether any of the eight bytes in `word` must be escaped. Word-at-a-time
/// (the classic "has a byte less than / equal to" bit tricks), because long
/// runs without escapes — base64 note bodies above all — are the usual case.
fn word_needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let is_quote = quote.wrapping_sub(ONES) & !quote;
    let is_backslash = backslash.wrapping_sub(ONES) & !backslash;
    (below_space | is_quote | is_backslash) & HIGHS != 0
}

/// A JSON string, escaped as serde_json escapes it.
fn write_str(text: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut at = 0;
    while at < bytes.len() {
        if let Some(chunk) = bytes.get(at..at + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            if !word_needs_escape(u64::from_le_bytes(word)) {
                at += 8;
                continue;
            }
        }
        let byte = bytes[at];
        if !needs_escape(byte) {
            at += 1;
            continue;
        }
        out.extend_from_slice(&bytes[start..at]);
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ]),
        }
        at += 1;
        start = at;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// `impl Json` for a struct through its `fields`.
macro_rules! json_object {
    ($($type:ty),* $(,)?) => {
        $(impl Json for $type {
            fn write(&self, out: &mut Vec<u8>) {
                let mut object = Object::open(out);
                self.fields(&mut object);
                object.close();
            }
        })*
    };
}

json_object!(
    Meta,
    Coding,
    CodeableConcept,
    Identifier,
    Reference,
    Period,
    Extension,
    HumanName,
    Address,
    ContactPoint,
    Quantity,
    Attachment,
    EncounterParticipant,
    RelatesTo,
    DocumentContent,
    DocumentContext,
    ImmunizationPerformer,
    ProtocolApplied,
    ConsentProvision,
    PrimitiveExtensions,
    ProvenanceAgent,
    ProvenanceEntity,
    Signature,
    Bundle,
    BundleEntry,
    BundleRequest,
);

impl Json for Resource {
    fn write(&self, out: &mut Vec<u8>) {
        let mut object = Object::open(out);
        object.key("resourceType");
        match self {
            Resource::Patient(r) => write_tagged("Patient", r, &mut object),
            Resource::RelatedPerson(r) => write_tagged("RelatedPerson", r, &mut object),
            Resource::Practitioner(r) => write_tagged("Practitioner", r, &mut object),
            Resource::PractitionerRole(r) => write_tagged("PractitionerRole", r, &mut object),
            Resource::Organization(r) => write_tagged("Organization", r, &mut object),
            Resource::Encounter(r) => write_tagged("Encounter", r, &mut object),
            Resource::DocumentReference(r) => write_tagged("DocumentReference", r, &mut object),
            Resource::Observation(r) => write_tagged("Observation", r, &mut object),
            Resource::Immunization(r) => write_tagged("Immunization", r, &mut object),
            Resource::Consent(r) => write_tagged("Consent", r, &mut object),
            Resource::Provenance(r) => write_tagged("Provenance", r, &mut object),
            // The variant's name, as serde's internal tag writes it.
            Resource::Unknown => write_str("Unknown", object.out),
        }
        object.close();
    }
}

fn write_tagged<T: Fields>(tag: &str, resource: &T, object: &mut Object<'_>) {
    write_str(tag, object.out);
    resource.fields(object);
}

/// The fields of a struct, in the derive's order and with its skip rules.
trait Fields {
    fn fields(&self, o: &mut Object<'_>);
}

impl Fields for Meta {
    fn fields(&self, o: &mut Object<'_>) {
        o.list("security", &self.security).list("tag", &self.tag);
    }
}

impl Fields for Coding {
    fn fields(&self, o: &mut Object<'_>) {
        o.opt("system", &self.system)
            .opt("code", &self.code)
            .opt("display", &self.display);
    }
}

impl Fields for CodeableConcept {
    fn fields(&self, o: &mut Object<'_>) {
        o.list("coding", &self.coding).opt("text", &self.text);
    }
}

impl Fields for Identifier {
    fn fields(&self, o: &mut Object<'_>) {
        o.list("extension", &self.extension)
            .opt("system", &self.system)
            .opt("value", &self.value);
    }
}

impl Fields for Reference {
    fn fields(&self, o: &mut Object<'_>) {
        o.list("extension", &self.extension)
            .opt("reference", &self.reference)
            .opt("identifier", &self.identifier)
            .opt("display", &self.display);
    }
}

impl Fields for Period {
    fn fields(&self, o: &mut Object<'_>) {
        o.opt("start", &self.start).opt("end", &self.end);
    }
}

impl Fields for Extension {
    fn fields(&self, o: &mut Object<'_>) {
        o.field("url", &self.url)
            .list("extension", &self.extension)
            .opt("valueString", &self.value_string)
            .opt("valueDateTime", &self.value_date_time)
            .opt("valueBoolean", &self.value_boolean)
            .opt("valueCode", &self.value_code)
            .opt("valueCoding", &self.value_coding)
            .opt("valueIdentifier", &self.value_identifier)
            .opt("valueReference", &self.value_reference)
            .opt("valueUnsignedInt", &self.value_unsigned_int)
            .opt("valueInteger", &self.value_integer);
    }
}

impl Fields for HumanName {
    fn fields(&self, o: &mut Object<'_>) {
        o.opt("text", &self.text)
            .opt("family", &self.family)
            .list("given", &self.given);
    }
}

impl Fields for Address {
    fn fields(&self, o: &mut Object<'_>) {
        o.opt("use", &self.use_)
            .opt("type", &self.type_)
            .list("line", &self.line)
            .opt("city", &self.city)
            .opt("postalCode", &self.postal_code)
            .opt("country", &self.country);
    }
}

impl Fields for ContactPoint {
    fn fields(&self, o: &mut Object<'_>) {
        o.opt("system", &self.system)
            .opt("value", &self.value)
            .opt("use", &self.use_);
    }
}

impl Fields for Quantity {
    fn fields(&self, o: &mut Object<'_>) {
        o.opt("value", &self.value)
            .opt("unit", &self.unit)
            .opt("system", &self.system)
            .opt("code", &self.code);
    }
}

impl Fields for Attachment {
    fn fields(&self, o: &mut Object<'_>) {
        o.opt("contentType", &self.content_type)
            .opt("data", &self.data)
            .opt("title", &self.title)
            .opt("creation", &self.creation);
    }
}

impl Fields for Patient {
    fn fields(&self, o: &mut Object<'_>) {
        o.field("id", &self.id)
            .meta(&self.meta)
            .list("extension", &self.extension)
            .list("identifier", &self.identifier)
            .list("name", &self.name)
            .list("telecom", &self.telecom)
            .opt("gender", &self.gender)
            .opt("birthDate", &self.birth_date)
            .list("address", &self.address);
    }
}

impl Fields for RelatedPerson {
    fn fields(&self, o: &mut Object<'_>) {
        o.field("id", &self.id)
            .meta(&self.meta)
            .list("identifier", &self.identifier)
            .field("patient", &self.patient)
            .list("relationship", &self.relationship);
    }
}

impl Fields for Practitioner {
    fn fields(&self, o: &mut Object<'_>) {
        o.field("id", &self.id)
            .list("identifier", &self.identifier)
            .list("name", &self.name);
    }
}

impl Fields for PractitionerRole {
    fn fields(&self, o: &mut Object<'_>) {
        o.field("id", &self.id)
            .opt("practitioner", &self.practitioner)
            .list("code", &self.code);
    }
}

impl Fields for Organization {
    fn fields(&self, o: &mut Object<'_>) {
        o.field("id", &self.id)
            .meta(&self.meta)
            .list("extension", &self.extension)
            .list("identifier", &self.identifier)
            .list("type", &self.type_)
            .opt("name", &self.name)
            .opt("partOf", &self.part_of);
    }
}

impl Fields for Encounter {
    fn fields(&self, o: &mut Object<'_>) {
        o.field("id", &self.id)
            .meta(&self.meta)
            .list("identifier", &self.identifier)
            .field("status", &self.status)
            .field("class", &self.class)
            .list("type", &self.type_)
            .opt("subject", &self.subject)
            .list("participant", &self.participant)
            .opt("period", &self.period)
            .opt("serviceProvider", &self.service_provider);
    }
}

impl Fields for EncounterParticipant {
    fn fields(&self, o: &mut Object<'_>) {
        o.opt("individual", &self.individual);
    }
}

impl Fields for DocumentReference {
    fn fields(&self, o: &mut Object<'_>) {
        o.field("id", &self.id)
            .meta(&self.meta)
            .list("extension", &self.extension)
            .list("identifier", &self.identifier)
            .field("status", &self.status)
            .opt("docStatus", &self.doc_status)
            .opt("type", &self.type_)
            .opt("subject", &self.subject)
            .list("author", &self.author)
            .opt("authenticator", &self.authenticator)
            .opt("custodian", &self.custodian)
            .list("relatesTo", &self.relates_to)
            .opt("description", &self.description)
            .list("securityLabel", &self.security_label)
            .field("content", &self.content)
            .opt("context", &self.context);
    }
}

impl Fields for RelatesTo {
    fn fields(&self, o: &mut Object<'_>) {
        o.field("code", &self.code).field("target", &self.target);
    }
}

impl Fields for DocumentContent {
    fn fields(&self, o: &mut Object<'_>) {
        o.field("attachment", &self.attachment)
            .opt("format", &self.format);
    }
}

impl Fields for DocumentContext {
    fn fields(&self, o: &mut Object<'_>) {
        o.list("encounter", &self.encounter)
            .opt("period", &self.period);
    }
}

impl Fields for Observation {
    fn fields(&self, o: &mut Object<'_>) {
        o.field("id", &self.id)
            .meta(&self.meta)
            .list("identifier", &self.identifier)
            .field("status", &self.status)
            .list("category", &self.category)
            .field("code", &self.code)
            .opt("subject", &self.subject)
            .opt("encounter", &self.encounter)
            .opt("effectiveDateTime", &self.effective_date_time)
            .list("performer", &self.performer)
            .opt("valueQuantity", &self.value_quantity)
            .opt("valueCodeableConcept", &self.value_codeable_concept)
            .opt("dataAbsentReason", &self.data_absent_reason);
    }
}

impl Fields for Immunization {
    fn fields(&self, o: &mut Object<'_>) {
        o.field("id", &self.id)
            .meta(&self.meta)
            .list("extension", &self.extension)
            .list("identifier", &self.identifier)
            .field("status", &self.status)
            .field("vaccineCode", &self.vaccine_code)
            .field("patient", &self.patient)
            .opt("occurrenceDateTime", &self.occurrence_date_time)
            .opt("lotNumber", &self.lot_number)
            .list("performer", &self.performer)
            .list("protocolApplied", &self.protocol_applied);
    }
}

impl Fields for ImmunizationPerformer {
    fn fields(&self, o: &mut Object<'_>) {
        o.opt("function", &self.function)
            .field("actor", &self.actor);
    }
}

impl Fields for ProtocolApplied {
    fn fields(&self, o: &mut Object<'_>) {
        o.opt("doseNumberPositiveInt", &self.dose_number_positive_int)
            .opt("doseNumberString", &self.dose_number_string);
    }
}

impl Fields for Consent {
    fn fields(&self, o: &mut Object<'_>) {
        o.field("id", &self.id)
            .meta(&self.meta)
            .list("identifier", &self.identifier)
            .field("status", &self.status)
            .field("scope", &self.scope)
            .field("category", &self.category)
            .opt("patient", &self.patient)
            .opt("dateTime", &self.date_time)
            .list("performer", &self.performer)
            .opt("policyRule", &self.policy_rule)
            .opt("provision", &self.provision);
    }
}

impl Fields for ConsentProvision {
    fn fields(&self, o: &mut Object<'_>) {
        o.opt("type", &self.type_)
            .opt("period", &self.period)
            .list("purpose", &self.purpose)
            .list("code", &self.code)
            .list("provision", &self.provision);
    }
}

impl Fields for Provenance {
    fn fields(&self, o: &mut Object<'_>) {
        o.field("id", &self.id)
            .meta(&self.meta)
            .field("target", &self.target)
            .opt("occurredDateTime", &self.occurred_date_time)
            .opt("recorded", &self.recorded)
            .opt("_recorded", &self.recorded_element)
            .list("reason", &self.reason)
            .opt("activity", &self.activity)
            .field("agent", &self.agent)
            .list("entity", &self.entity)
            .list("signature", &self.signature);
    }
}

impl Fields for PrimitiveExtensions {
    fn fields(&self, o: &mut Object<'_>) {
        o.list("extension", &self.extension);
    }
}

impl Fields for ProvenanceAgent {
    fn fields(&self, o: &mut Object<'_>) {
        o.opt("type", &self.type_)
            .field("who", &self.who)
            .opt("onBehalfOf", &self.on_behalf_of);
    }
}

impl Fields for ProvenanceEntity {
    fn fields(&self, o: &mut Object<'_>) {
        o.field("role", &self.role).field("what", &self.what);
    }
}

impl Fields for Signature {
    fn fields(&self, o: &mut Object<'_>) {
        o.field("type", &self.type_)
            .field("when", &self.when)
            .field("who", &self.who);
    }
}

impl Fields for Bundle {
    fn fields(&self, o: &mut Object<'_>) {
        o.field("resourceType", &self.resource_type)
            .field("type", &self.type_)
            .list("entry", &self.entry);
    }
}

impl Fields for BundleEntry {
    fn fields(&self, o: &mut Object<'_>) {
        o.opt("resource", &self.resource)
            .opt("request", &self.request);
    }
}

impl Fields for BundleRequest {
    fn fields(&self, o: &mut Object<'_>) {
        o.field("method", &self.method).field("url", &self.url);
    }
}

#[cfg(test)]
mod tests {
    use std::io::BufReader;
    use std::path::Path;

    use brygga_mapping::model::Record;
    use brygga_mapping::ndjson::NdjsonReader;

    use super::super::{WriteProfile, encode, stream};
    use super::*;

    fn assert_same_bytes(resource: &Resource) {
        let by_serde = serde_json::to_vec(resource).expect("serde writes every resource");
        let mut by_hand = Vec::new();
        write_json(resource, &mut by_hand);
        assert_eq!(
            String::from_utf8_lossy(&by_hand),
            String::from_utf8_lossy(&by_serde),
            "{} {}",
            resource.type_name(),
            resource.id()
        );
    }

    /// The canonical records of every golden vector that holds them.
    fn vector_records() -> Vec<Record> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance-tests/vectors");
        let mut records = Vec::new();
        for format in std::fs::read_dir(&root).expect("vectors") {
            for case in std::fs::read_dir(format.expect("format").path()).expect("cases") {
                let path = case.expect("case").path().join("expected.ndjson");
                let Ok(file) = std::fs::File::open(&path) else {
                    continue;
                };
                let read: Result<Vec<Record>, _> =
                    NdjsonReader::new(BufReader::new(file)).collect();
                records.extend(read.unwrap_or_default());
            }
        }
        records
    }

    #[test]
    fn the_hand_writer_writes_what_serde_writes_for_every_mapped_resource() {
        let records = vector_records();
        let mut resources = 0;
        let mut types = std::collections::BTreeSet::new();
        for profile in [WriteProfile::SeBase, WriteProfile::EhrStrict] {
            let mapped = stream::patient_resources(&records, profile);
            for resource in &mapped.resources {
                assert_same_bytes(resource);
                types.insert(resource.type_name());
                resources += 1;
            }
            for record in &records {
                let Ok(one) = encode::map_record(record, profile) else {
                    continue;
                };
                let bundle = stream::transaction_bundle(
                    one.referenced.into_iter().chain(one.resources).collect(),
                );
                let mut by_hand = Vec::new();
                write_bundle_json(&bundle, &mut by_hand);
                assert_eq!(
                    by_hand,
                    serde_json::to_vec(&bundle).expect("serde writes every bundle")
                );
            }
        }
        assert!(resources > 200, "only {resources} resources in the vectors");
        assert_eq!(types.len(), 11, "every written resource type: {types:?}");
    }

    /// Every element of every type set at once, so an element out of the
    /// derive's order shows even where the mapping never sets two together.
    #[test]
    fn the_hand_writer_keeps_the_derives_order_with_every_element_set() {
        let s = |text: &str| Some(text.to_owned());
        let c = |text: &'static str| Some(Cow::Borrowed(text));
        let coding = Coding {
            system: c("sys"),
            code: c("code"),
            display: c("display"),
        };
        let concept = CodeableConcept {
            coding: vec![coding.clone(), coding.clone()],
            text: s("text"),
        };
        let period = Period {
            start: s("2019-05-14"),
            end: s("2019-05-15"),
        };
        let leaf = Extension {
            value_string: s("v"),
            ..Extension::new("leaf")
        };
        let identifier = Identifier {
            extension: vec![leaf.clone()],
            system: c("urn:x"),
            value: s("1"),
        };
        let reference = Reference {
            extension: vec![leaf.clone()],
            reference: s("Patient/1"),
            identifier: Some(identifier.clone()),
            display: s("name"),
        };
        let extension = Extension {
            url: Cow::Borrowed("url"),
            extension: vec![leaf.clone(), leaf.clone()],
            value_string: s("string"),
            value_date_time: s("2019-05-14T08:30:00+02:00"),
            value_boolean: Some(false),
            value_code: c("code"),
            value_coding: Some(coding.clone()),
            value_identifier: Some(identifier.clone()),
            value_reference: Some(reference.clone()),
            value_unsigned_int: Some(7),
            value_integer: Some(-7),
        };
        let meta = Meta {
            security: vec![coding.clone()],
            tag: vec![coding.clone()],
        };
        let provision = ConsentProvision {
            type_: c("deny"),
            period: Some(period.clone()),
            purpose: vec![coding.clone()],
            code: vec![concept.clone()],
            provision: vec![ConsentProvision {
                type_: c("permit"),
                ..ConsentProvision::default()
            }],
        };
        let resources = [
            Resource::Patient(Patient {
                id: "p".to_owned(),
                modifier_extension: Vec::new(),
                meta: meta.clone(),
                extension: vec![extension.clone()],
                identifier: vec![identifier.clone(), identifier.clone()],
                name: vec![HumanName {
                    text: s("text"),
                    family: s("family"),
                    given: vec!["a".to_owned(), "b".to_owned()],
                }],
                telecom: vec![ContactPoint {
                    system: c("phone"),
                    value: s("1"),
                    use_: c("home"),
                }],
                gender: c("female"),
                birth_date: s("2012-01-01"),
                address: vec![Address {
                    use_: c("home"),
                    type_: c("postal"),
                    line: vec!["x".to_owned(), "y".to_owned()],
                    city: s("city"),
                    postal_code: s("123"),
                    country: s("SE"),
                }],
            }),
            Resource::RelatedPerson(RelatedPerson {
                id: "r".to_owned(),
                meta: meta.clone(),
                identifier: vec![identifier.clone()],
                patient: reference.clone(),
                relationship: vec![concept.clone()],
            }),
            Resource::Practitioner(Practitioner {
                id: "pr".to_owned(),
                identifier: vec![identifier.clone()],
                name: vec![HumanName::default()],
            }),
            Resource::PractitionerRole(PractitionerRole {
                id: "role".to_owned(),
                practitioner: Some(reference.clone()),
                code: vec![concept.clone()],
            }),
            Resource::Organization(Organization {
                id: "o".to_owned(),
                modifier_extension: Vec::new(),
                meta: meta.clone(),
                extension: vec![extension.clone()],
                identifier: vec![identifier.clone()],
                type_: vec![concept.clone()],
                name: s("name"),
                part_of: Some(reference.clone()),
            }),
            Resource::Encounter(Encounter {
                id: "e".to_owned(),
                modifier_extension: Vec::new(),
                meta: meta.clone(),
                identifier: vec![identifier.clone()],
                status: Cow::Borrowed("finished"),
                class: coding.clone(),
                type_: vec![concept.clone()],
                subject: Some(reference.clone()),
                participant: vec![EncounterParticipant {
                    individual: Some(reference.clone()),
                }],
                period: Some(period.clone()),
                service_provider: Some(reference.clone()),
            }),
            Resource::DocumentReference(DocumentReference {
                id: "d".to_owned(),
                modifier_extension: Vec::new(),
                meta: meta.clone(),
                extension: vec![extension.clone()],
                identifier: vec![identifier.clone()],
                status: Cow::Borrowed("current"),
                doc_status: c("final"),
                type_: Some(concept.clone()),
                subject: Some(reference.clone()),
                author: vec![reference.clone(), reference.clone()],
                authenticator: Some(reference.clone()),
                custodian: Some(reference.clone()),
                relates_to: vec![RelatesTo {
                    code: Cow::Borrowed("replaces"),
                    target: reference.clone(),
                }],
                description: s("title"),
                security_label: vec![concept.clone()],
                content: vec![DocumentContent {
                    attachment: Attachment {
                        content_type: c("text/plain"),
                        data: s("aGVq"),
                        title: s("title"),
                        creation: s("2019-05-14"),
                    },
                    format: Some(coding.clone()),
                }],
                context: Some(DocumentContext {
                    encounter: vec![reference.clone()],
                    period: Some(period.clone()),
                }),
            }),
            Resource::Observation(Observation {
                id: "ob".to_owned(),
                modifier_extension: Vec::new(),
                meta: meta.clone(),
                identifier: vec![identifier.clone()],
                status: Cow::Borrowed("final"),
                category: vec![concept.clone()],
                code: concept.clone(),
                subject: Some(reference.clone()),
                encounter: Some(reference.clone()),
                effective_date_time: s("2019-05-14"),
                performer: vec![reference.clone()],
                value_quantity: Some(Quantity {
                    value: Some(1.5),
                    unit: s("cm"),
                    system: c("ucum"),
                    code: s("cm"),
                }),
                value_codeable_concept: Some(concept.clone()),
                data_absent_reason: Some(concept.clone()),
            }),
            Resource::Immunization(Immunization {
                id: "i".to_owned(),
                modifier_extension: Vec::new(),
                meta: meta.clone(),
                extension: vec![extension.clone()],
                identifier: vec![identifier.clone()],
                status: Cow::Borrowed("completed"),
                vaccine_code: concept.clone(),
                patient: reference.clone(),
                occurrence_date_time: s("2019-05-14"),
                lot_number: s("lot"),
                performer: vec![ImmunizationPerformer {
                    function: Some(concept.clone()),
                    actor: reference.clone(),
                }],
                protocol_applied: vec![ProtocolApplied {
                    dose_number_positive_int: Some(2),
                    dose_number_string: s("2"),
                }],
            }),
            Resource::Consent(Consent {
                id: "c".to_owned(),
                modifier_extension: Vec::new(),
                meta: meta.clone(),
                identifier: vec![identifier.clone()],
                status: Cow::Borrowed("active"),
                scope: concept.clone(),
                category: vec![concept.clone()],
                patient: Some(reference.clone()),
                date_time: s("2019-05-14"),
                performer: vec![reference.clone()],
                policy_rule: Some(concept.clone()),
                provision: Some(provision),
            }),
            Resource::Provenance(Provenance {
                id: "pv".to_owned(),
                meta,
                target: vec![reference.clone()],
                occurred_date_time: s("2019-05-14"),
                recorded: s("2019-05-14T08:30:00+02:00"),
                recorded_element: Some(PrimitiveExtensions {
                    extension: vec![leaf],
                }),
                reason: vec![concept.clone()],
                activity: Some(concept.clone()),
                agent: vec![ProvenanceAgent {
                    type_: Some(concept),
                    who: reference.clone(),
                    on_behalf_of: Some(reference.clone()),
                }],
                entity: vec![ProvenanceEntity {
                    role: Cow::Borrowed("source"),
                    what: reference.clone(),
                }],
                signature: vec![Signature {
                    type_: vec![coding],
                    when: "2019-05-14T08:30:00+02:00".to_owned(),
                    who: reference,
                }],
            }),
        ];
        for resource in &resources {
            assert_same_bytes(resource);
        }
        let bundle = stream::transaction_bundle(resources.to_vec());
        let mut by_hand = Vec::new();
        write_bundle_json(&bundle, &mut by_hand);
        assert_eq!(
            String::from_utf8_lossy(&by_hand),
            String::from_utf8_lossy(&serde_json::to_vec(&bundle).expect("bundle"))
        );
    }

    #[test]
    fn strings_and_numbers_are_escaped_and_written_as_serde_writes_them() {
        let every_ascii: String = (0u8..0x80).map(char::from).collect();
        let awkward = [
            String::new(),
            every_ascii.clone(),
            format!("{every_ascii}{every_ascii}"),
            "Hälsobesök \"åk 4\" \\ slut\u{7f}\u{85}\u{2028}😀".to_owned(),
            "0123456\"".to_owned(),
            "01234567\n".to_owned(),
            "\u{1}".repeat(17),
        ];
        for text in &awkward {
            let mut by_hand = Vec::new();
            write_str(text, &mut by_hand);
            assert_eq!(
                by_hand,
                serde_json::to_vec(text).expect("string"),
                "{text:?}"
            );
        }
        let mut extension = Vec::new();
        for value in [0, 1, -1, 9, 10, i64::MAX, i64::MIN, -1_000_000_007] {
            extension.push(Extension {
                value_integer: Some(value),
                value_unsigned_int: u32::try_from(value.unsigned_abs()).ok(),
                value_boolean: Some(value < 0),
                ..Extension::new("n")
            });
        }
        extension.push(Extension {
            value_unsigned_int: Some(u32::MAX),
            value_string: Some(awkward[3].clone()),
            ..Extension::default()
        });
        let observations = [
            0.0,
            -0.0,
            0.1,
            35.0,
            1e21,
            1.5e-7,
            123456.789,
            f64::NAN,
            f64::MAX,
        ]
        .into_iter()
        .map(|value| {
            Resource::Observation(Observation {
                id: awkward[1].clone(),
                value_quantity: Some(Quantity {
                    value: Some(value),
                    unit: Some("cm".to_owned()),
                    ..Quantity::default()
                }),
                ..Observation::default()
            })
        });
        let patient = Resource::Patient(Patient {
            id: awkward[2].clone(),
            extension,
            ..Patient::default()
        });
        for resource in observations.chain([patient, Resource::Unknown]) {
            assert_same_bytes(&resource);
        }
    }
}
