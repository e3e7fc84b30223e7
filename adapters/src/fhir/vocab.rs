//! The vocabulary of Brygga's FHIR: identifier systems, code systems,
//! extension URLs, and the tables between canonical enums and codes (both
//! directions in one place, so they cannot drift apart).
//!
//! External systems are used where one fits (HL7 Sweden's identifier systems,
//! HSA, LOINC, UCUM, ATC, HL7 terminology); everything Brygga defines itself
//! lives under [`BASE`] (code systems, extensions) or `urn:brygga:`
//! (identifier systems), documented in `docs/adapters/fhir.md`.

use brygga_mapping::id::PersonIdKind;
use brygga_mapping::model::{
    AddressKind, ConsentDecision, ConsentPurpose, ContactKind, Finding, GuardianRelation,
    MeasurementKind, NoteTypeCode, OrganisationKind, Profession, SecrecyDomain, SecurityMarking,
    TelecomKind, VaccinationProgramme,
};

/// Brygga's canonical base for the code systems and extensions it defines.
/// `.invalid` on purpose: nothing is published there yet.
pub const BASE: &str = "https://brygga.example.invalid/fhir";

macro_rules! code_system {
    ($name:literal) => {
        concat!("https://brygga.example.invalid/fhir/CodeSystem/", $name)
    };
}
macro_rules! extension {
    ($name:literal) => {
        concat!(
            "https://brygga.example.invalid/fhir/StructureDefinition/",
            $name
        )
    };
}

// --- identifier systems -----------------------------------------------------

/// VGR reservnummer: regional, with no national OID; Brygga's own system.
pub const RESERVNUMMER: &str = "urn:brygga:id:reservnummer";
/// SS 12000 temporary civic numbers; no national OID; Brygga's own system.
pub const TEMPORARY_NUMBER: &str = "urn:brygga:id:ss12000-temporary";
/// RIVTA's OIDs, accepted when reading.
pub const PERSONNUMMER_OID: &str = "urn:oid:1.2.752.129.2.1.3.1";
pub const SAMORDNINGSNUMMER_OID: &str = "urn:oid:1.2.752.129.2.1.3.3";
/// Prefix of a source system's local ids: `urn:brygga:local:<namespace>`.
pub const LOCAL_PREFIX: &str = "urn:brygga:local:";
/// Prefix of a source system's record ids: `urn:brygga:source:<system>`.
pub const SOURCE_PREFIX: &str = "urn:brygga:source:";
/// The canonical `Organisation.id` (`hsa:…`, `skolenhet:…`, `group:…`).
pub const ORGANISATION_KEY: &str = "urn:brygga:organisation";
pub const SKOLENHETSKOD: &str = "urn:brygga:id:skolenhetskod";
pub const ORGANISATIONSNUMMER: &str = "urn:brygga:id:organisationsnummer";
/// Brygga itself, as the transformer in Provenance.
pub const SOFTWARE: &str = "urn:brygga:software";

// --- external code systems --------------------------------------------------

pub const V3_CONFIDENTIALITY: &str = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality";
pub const V3_ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
pub const V3_ROLE_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-RoleCode";
pub const V3_DATA_OPERATION: &str = "http://terminology.hl7.org/CodeSystem/v3-DataOperation";
pub const V2_0443: &str = "http://terminology.hl7.org/CodeSystem/v2-0443";
pub const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
pub const DATA_ABSENT_REASON: &str = "http://terminology.hl7.org/CodeSystem/data-absent-reason";
pub const DATA_ABSENT_REASON_EXTENSION: &str =
    "http://hl7.org/fhir/StructureDefinition/data-absent-reason";
pub const CONSENT_SCOPE: &str = "http://terminology.hl7.org/CodeSystem/consentscope";
pub const PROVENANCE_PARTICIPANT_TYPE: &str =
    "http://terminology.hl7.org/CodeSystem/provenance-participant-type";
pub const SIGNATURE_TYPE: &str = "urn:iso-astm:E1762-95:2013";
pub const LOINC: &str = "http://loinc.org";
pub const UCUM: &str = "http://unitsofmeasure.org";
pub const ATC: &str = "http://www.whocc.no/atc";

// --- Brygga's code systems ----------------------------------------------------

pub const CS_SECRECY_DOMAIN: &str = code_system!("secrecy-domain");
pub const CS_SECURITY_MARKING: &str = code_system!("security-marking");
pub const CS_NOTE_TYPE: &str = code_system!("note-type");
pub const CS_NOTE_FORMAT: &str = code_system!("note-format");
pub const CS_MEASUREMENT: &str = code_system!("measurement-kind");
pub const CS_FINDING: &str = code_system!("finding");
pub const CS_CONTACT_KIND: &str = code_system!("contact-kind");
pub const CS_ORGANISATION_KIND: &str = code_system!("organisation-kind");
pub const CS_PROFESSION: &str = code_system!("profession");
pub const CS_VACCINATION_PROGRAMME: &str = code_system!("vaccination-programme");
pub const CS_CONSENT_PURPOSE: &str = code_system!("consent-purpose");
pub const CS_GUARDIAN_RELATION: &str = code_system!("guardian-relation");
pub const CS_RESOURCE_TAG: &str = code_system!("resource-tag");

/// `meta.tag` code marking a resource written only because others refer to
/// it (an Organization known from a reference): not a record of its own.
pub const TAG_REFERENCED_ONLY: &str = "referenced-only";

/// `content.format` codes: how the attachment holds the note.
pub const FORMAT_TEXT: &str = "text";
pub const FORMAT_KEYWORD_SECTIONS: &str = "keyword-sections";

// --- Brygga's extensions ------------------------------------------------------

pub const EXT_SOURCE_VERSION: &str = extension!("source-version");
pub const EXT_AUTHOR_TIME: &str = extension!("author-time");
pub const EXT_SIGNING_TIME: &str = extension!("signing-time");
pub const EXT_RECORD_TIME: &str = extension!("record-time");
pub const EXT_APPROVED_FOR_PATIENT: &str = extension!("approved-for-patient");
pub const EXT_WITHHELD: &str = extension!("withheld");
pub const EXT_NULLIFIED_REASON: &str = extension!("nullified-reason");
pub const EXT_REPLACES: &str = extension!("replaces");
pub const EXT_VACCINATION_PROGRAMME: &str = extension!("vaccination-programme");
pub const EXT_MUNICIPALITY_CODE: &str = extension!("municipality-code");
pub const EXT_SCHOOL_YEAR: &str = extension!("school-year");
pub const EXT_GUARDIAN: &str = extension!("guardian");
pub const EXT_PROFESSION: &str = extension!("practitioner-profession");

/// Whether `url` is one of Brygga's own extensions (which the reader must
/// understand; other extensions are ignored).
pub fn is_brygga_extension(url: &str) -> bool {
    url.starts_with(BASE)
}

// --- tables -----------------------------------------------------------------

/// A two-way table between a canonical enum and FHIR codes.
macro_rules! codes {
    ($(#[$doc:meta])* $name:ident: $ty:ty { $($variant:path => $code:literal),+ $(,)? }) => {
        $(#[$doc])*
        pub mod $name {
            #[allow(unused_imports)]
            use super::*;
            pub fn code(value: $ty) -> &'static str {
                match value { $($variant => $code),+ }
            }
            pub fn parse(code: &str) -> Option<$ty> {
                match code { $($code => Some($variant),)+ _ => None }
            }
        }
    };
}

codes!(secrecy_domain: SecrecyDomain {
    SecrecyDomain::EmiMedical => "emi_medical",
    SecrecyDomain::Psychological => "psychological",
    SecrecyDomain::Counsellor => "counsellor",
    SecrecyDomain::SpecialEducation => "special_education",
    SecrecyDomain::SchoolAdministration => "school_administration",
});

codes!(security_marking: SecurityMarking {
    SecurityMarking::None => "none",
    SecurityMarking::Sekretessmarkering => "sekretessmarkering",
    SecurityMarking::SkyddadFolkbokforing => "skyddad_folkbokforing",
});

codes!(note_type: NoteTypeCode {
    NoteTypeCode::HealthVisit => "health_visit",
    NoteTypeCode::HealthTalk => "health_talk",
    NoteTypeCode::Visit => "visit",
    NoteTypeCode::PhoneContact => "phone_contact",
    NoteTypeCode::Vaccination => "vaccination",
    NoteTypeCode::Growth => "growth",
    NoteTypeCode::Vision => "vision",
    NoteTypeCode::Hearing => "hearing",
    NoteTypeCode::Scoliosis => "scoliosis",
    NoteTypeCode::DevelopmentAssessment => "development_assessment",
    NoteTypeCode::FinalNote => "final_note",
    NoteTypeCode::Referral => "referral",
    NoteTypeCode::ReferralResponse => "referral_response",
    NoteTypeCode::Certificate => "certificate",
    NoteTypeCode::Summary => "summary",
    NoteTypeCode::PsychologicalAssessment => "psychological_assessment",
    NoteTypeCode::CounsellorNote => "counsellor_note",
    NoteTypeCode::SpecialEducationNote => "special_education_note",
    NoteTypeCode::GeneralNote => "general_note",
    NoteTypeCode::Unclassified => "unclassified",
});

codes!(measurement: MeasurementKind {
    MeasurementKind::Height => "height",
    MeasurementKind::Weight => "weight",
    MeasurementKind::Bmi => "bmi",
    MeasurementKind::HeadCircumference => "head_circumference",
    MeasurementKind::VisionRight => "vision_right",
    MeasurementKind::VisionLeft => "vision_left",
    MeasurementKind::HearingRight => "hearing_right",
    MeasurementKind::HearingLeft => "hearing_left",
    MeasurementKind::Scoliosis => "scoliosis",
});

codes!(finding: Finding {
    Finding::Normal => "normal",
    Finding::Abnormal => "abnormal",
    Finding::NotAssessed => "not_assessed",
});

codes!(contact_kind: ContactKind {
    ContactKind::HealthVisit => "health_visit",
    ContactKind::Visit => "visit",
    ContactKind::Phone => "phone",
    ContactKind::Message => "message",
    ContactKind::HomeVisit => "home_visit",
});

codes!(organisation_kind: OrganisationKind {
    OrganisationKind::CareProvider => "care_provider",
    OrganisationKind::CareUnit => "care_unit",
    OrganisationKind::SchoolOwner => "school_owner",
    OrganisationKind::SchoolUnit => "school_unit",
    OrganisationKind::Group => "group",
});

codes!(profession: Profession {
    Profession::Nurse => "nurse",
    Profession::Physician => "physician",
    Profession::Psychologist => "psychologist",
    Profession::Counsellor => "counsellor",
    Profession::SpecialEducator => "special_educator",
    Profession::Administrative => "administrative",
});

codes!(vaccination_programme: VaccinationProgramme {
    VaccinationProgramme::Hexavalent => "hexavalent",
    VaccinationProgramme::Pneumococcal => "pneumococcal",
    VaccinationProgramme::Mmr => "mmr",
    VaccinationProgramme::DtpBooster => "dtp_booster",
    VaccinationProgramme::Hpv => "hpv",
    VaccinationProgramme::Rotavirus => "rotavirus",
    VaccinationProgramme::Other => "other",
});

codes!(consent_purpose: ConsentPurpose {
    ConsentPurpose::BhvToEmiTransfer => "bhv_to_emi_transfer",
    ConsentPurpose::SharedRecord => "shared_record",
    ConsentPurpose::ShareWithSchool => "share_with_school",
    ConsentPurpose::StatisticsDatabase => "statistics_database",
});

codes!(guardian_relation: GuardianRelation {
    GuardianRelation::Guardian => "guardian",
    GuardianRelation::OtherResponsible => "other_responsible",
});

/// The FHIR identifier system of a person id kind: HL7 Sweden's for
/// personnummer and samordningsnummer, Brygga's own for the regional kinds.
pub fn person_id_system(kind: PersonIdKind) -> &'static str {
    kind.fhir_system().unwrap_or(match kind {
        PersonIdKind::Reservnummer => RESERVNUMMER,
        _ => TEMPORARY_NUMBER,
    })
}

/// The person id kind a FHIR identifier system names, accepting RIVTA's OIDs
/// too.
pub fn person_id_kind(system: &str) -> Option<PersonIdKind> {
    [
        PersonIdKind::Personnummer,
        PersonIdKind::Samordningsnummer,
        PersonIdKind::Reservnummer,
        PersonIdKind::Temporary,
    ]
    .into_iter()
    .find(|&kind| person_id_system(kind) == system)
    .or(match system {
        PERSONNUMMER_OID => Some(PersonIdKind::Personnummer),
        SAMORDNINGSNUMMER_OID => Some(PersonIdKind::Samordningsnummer),
        _ => None,
    })
}

/// The LOINC vital-signs code (FHIR's vital-signs profile) of a growth
/// measurement; screenings have none and carry Brygga's code alone.
pub fn loinc(kind: MeasurementKind) -> Option<(&'static str, &'static str)> {
    match kind {
        MeasurementKind::Height => Some(("8302-2", "Body height")),
        MeasurementKind::Weight => Some(("29463-7", "Body weight")),
        MeasurementKind::Bmi => Some(("39156-5", "Body mass index (BMI) [Ratio]")),
        MeasurementKind::HeadCircumference => {
            Some(("9843-4", "Head Occipital-frontal circumference"))
        }
        _ => None,
    }
}

/// Encounter.class (v3 ActCode) for a contact kind; the kind itself travels
/// in Encounter.type.
pub fn encounter_class(kind: ContactKind) -> (&'static str, &'static str) {
    match kind {
        ContactKind::HealthVisit | ContactKind::Visit => ("AMB", "ambulatory"),
        ContactKind::Phone | ContactKind::Message => ("VR", "virtual"),
        ContactKind::HomeVisit => ("HH", "home health"),
    }
}

/// Address.use / Address.type for an address kind.
pub fn address_use(kind: AddressKind) -> (&'static str, Option<&'static str>) {
    match kind {
        AddressKind::Registered => ("home", None),
        AddressKind::Postal => ("home", Some("postal")),
        AddressKind::Temporary => ("temp", None),
    }
}

/// The address kind for Address.use / Address.type, `None` for uses
/// Brygga's model has no place for (work, billing, old).
pub fn address_kind(use_: Option<&str>, type_: Option<&str>) -> Option<AddressKind> {
    match (use_, type_) {
        (Some("temp"), _) => Some(AddressKind::Temporary),
        (Some("home") | None, Some("postal")) => Some(AddressKind::Postal),
        (Some("home") | None, _) => Some(AddressKind::Registered),
        _ => None,
    }
}

/// ContactPoint.system / ContactPoint.use for a telecom kind.
pub fn telecom_system(kind: TelecomKind) -> (&'static str, Option<&'static str>) {
    match kind {
        TelecomKind::Phone => ("phone", Some("home")),
        TelecomKind::Mobile => ("phone", Some("mobile")),
        TelecomKind::Email => ("email", None),
    }
}

pub fn telecom_kind(system: Option<&str>, use_: Option<&str>) -> Option<TelecomKind> {
    match (system, use_) {
        (Some("phone"), Some("mobile")) => Some(TelecomKind::Mobile),
        (Some("phone"), _) => Some(TelecomKind::Phone),
        (Some("email"), _) => Some(TelecomKind::Email),
        _ => None,
    }
}

/// Consent.status and provision.type for a decision.
pub fn consent_status(decision: ConsentDecision) -> (&'static str, &'static str) {
    match decision {
        ConsentDecision::Given | ConsentDecision::Partial => ("active", "permit"),
        ConsentDecision::Refused => ("rejected", "deny"),
        ConsentDecision::Revoked => ("inactive", "deny"),
    }
}
