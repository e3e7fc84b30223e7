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
        Reference {
            reference: Some(format!("{resource_type}/{id}")),
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
