//! The JSON shape of a ProRenata export record, field by field, as serde
//! types used in both directions: the decoder reads into them (borrowing
//! strings from the input where it can) and converts to canonical records,
//! the encoder fills them from canonical records and writes them. Keeping
//! one set of types is what keeps reading and writing in step;
//! `docs/adapters/prorenata.md` and `schemas/prorenata/` describe the same
//! fields.
//!
//! Values are kept as the source wrote them (times, identifiers, names):
//! checking and classifying them is the decoder's job, so each refusal can
//! name its field in the source's terms.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use brygga_mapping::id::Sex;
use brygga_mapping::model::{
    AddressKind, ContactKind, Finding, GuardianRelation, OrganisationKind, SecurityMarking,
    TelecomKind, VaccinationProgramme,
};

/// A JSON string, borrowed from the input when it holds no escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Text<'a>(pub Cow<'a, str>);

impl<'a> Text<'a> {
    pub fn borrowed(text: &'a str) -> Self {
        Text(Cow::Borrowed(text))
    }

    pub fn owned(text: String) -> Self {
        Text(Cow::Owned(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0.into_owned()
    }
}

impl Serialize for Text<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(PhantomData<&'a str>);

        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(text)))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(text.to_owned())))
            }

            fn visit_string<E: de::Error>(self, text: String) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(text)))
            }
        }

        deserializer.deserialize_str(TextVisitor(PhantomData))
    }
}

fn first_version() -> u32 {
    1
}

// ---------------------------------------------------------------------------
// Shared parts
// ---------------------------------------------------------------------------

/// Who a record is about, or one of a person's identifiers:
/// `{"civicNo": "196408233234"}` or
/// `{"localId": "4711", "namespace": "prorenata:gotene"}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct PersonRef<'a> {
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub civic_no: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub local_id: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<Text<'a>>,
}

/// A member of staff: author, signer, performer, vaccinator.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Staff<'a> {
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub hsa_id: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text<'a>>,
    /// The professional title, classified by the profile's `[professions]`.
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub title: Option<Text<'a>>,
}

/// A care provider or care unit referred to by HSA-id.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Unit<'a> {
    #[serde(borrow)]
    pub hsa_id: Text<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text<'a>>,
}

/// A reference to another version of a record (`supersedes`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct VersionRef<'a> {
    #[serde(borrow)]
    pub system: Text<'a>,
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(default = "first_version")]
    pub version: u32,
}

/// Whether a note or vaccination stands, replaces an earlier version, or was
/// nullified (makulerad).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum Status {
    Current,
    Amended,
    Nullified,
}

// ---------------------------------------------------------------------------
// person
// ---------------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Person<'a> {
    #[serde(borrow)]
    pub identifiers: Vec<PersonRef<'a>>,
    #[serde(borrow)]
    pub first_name: Text<'a>,
    #[serde(borrow)]
    pub last_name: Text<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex: Option<SexWire>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_marking: Option<SecurityMarkingWire>,
    #[serde(borrow, default, skip_serializing_if = "Vec::is_empty")]
    pub guardians: Vec<GuardianWire<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<AddressWire<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Vec::is_empty")]
    pub telecom: Vec<TelecomWire<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub municipality_code: Option<Text<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum SexWire {
    Female,
    Male,
}

impl From<SexWire> for Sex {
    fn from(wire: SexWire) -> Self {
        match wire {
            SexWire::Female => Sex::Female,
            SexWire::Male => Sex::Male,
        }
    }
}

impl From<Sex> for SexWire {
    fn from(sex: Sex) -> Self {
        match sex {
            Sex::Female => SexWire::Female,
            Sex::Male => SexWire::Male,
        }
    }
}

/// SS 12000's words for protected identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum SecurityMarkingWire {
    #[serde(rename = "Ingen")]
    None,
    #[serde(rename = "Sekretessmarkering")]
    Sekretessmarkering,
    #[serde(rename = "Skyddad folkbokföring")]
    SkyddadFolkbokforing,
}

impl From<SecurityMarkingWire> for SecurityMarking {
    fn from(wire: SecurityMarkingWire) -> Self {
        match wire {
            SecurityMarkingWire::None => SecurityMarking::None,
            SecurityMarkingWire::Sekretessmarkering => SecurityMarking::Sekretessmarkering,
            SecurityMarkingWire::SkyddadFolkbokforing => SecurityMarking::SkyddadFolkbokforing,
        }
    }
}

impl From<SecurityMarking> for SecurityMarkingWire {
    fn from(marking: SecurityMarking) -> Self {
        match marking {
            SecurityMarking::None => SecurityMarkingWire::None,
            SecurityMarking::Sekretessmarkering => SecurityMarkingWire::Sekretessmarkering,
            SecurityMarking::SkyddadFolkbokforing => SecurityMarkingWire::SkyddadFolkbokforing,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct GuardianWire<'a> {
    #[serde(borrow)]
    pub civic_no: Text<'a>,
    pub relation: RelationWire,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum RelationWire {
    Guardian,
    OtherResponsible,
}

impl From<RelationWire> for GuardianRelation {
    fn from(wire: RelationWire) -> Self {
        match wire {
            RelationWire::Guardian => GuardianRelation::Guardian,
            RelationWire::OtherResponsible => GuardianRelation::OtherResponsible,
        }
    }
}

impl From<GuardianRelation> for RelationWire {
    fn from(relation: GuardianRelation) -> Self {
        match relation {
            GuardianRelation::Guardian => RelationWire::Guardian,
            GuardianRelation::OtherResponsible => RelationWire::OtherResponsible,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct AddressWire<'a> {
    #[serde(rename = "type")]
    pub kind: AddressKindWire,
    #[serde(borrow, default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub city: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub country: Option<Text<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum AddressKindWire {
    Registered,
    Postal,
    Temporary,
}

impl From<AddressKindWire> for AddressKind {
    fn from(wire: AddressKindWire) -> Self {
        match wire {
            AddressKindWire::Registered => AddressKind::Registered,
            AddressKindWire::Postal => AddressKind::Postal,
            AddressKindWire::Temporary => AddressKind::Temporary,
        }
    }
}

impl From<AddressKind> for AddressKindWire {
    fn from(kind: AddressKind) -> Self {
        match kind {
            AddressKind::Registered => AddressKindWire::Registered,
            AddressKind::Postal => AddressKindWire::Postal,
            AddressKind::Temporary => AddressKindWire::Temporary,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct TelecomWire<'a> {
    #[serde(rename = "type")]
    pub kind: TelecomKindWire,
    #[serde(borrow)]
    pub value: Text<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum TelecomKindWire {
    Phone,
    Mobile,
    Email,
}

impl From<TelecomKindWire> for TelecomKind {
    fn from(wire: TelecomKindWire) -> Self {
        match wire {
            TelecomKindWire::Phone => TelecomKind::Phone,
            TelecomKindWire::Mobile => TelecomKind::Mobile,
            TelecomKindWire::Email => TelecomKind::Email,
        }
    }
}

impl From<TelecomKind> for TelecomKindWire {
    fn from(kind: TelecomKind) -> Self {
        match kind {
            TelecomKind::Phone => TelecomKindWire::Phone,
            TelecomKind::Mobile => TelecomKindWire::Mobile,
            TelecomKind::Email => TelecomKindWire::Email,
        }
    }
}

// ---------------------------------------------------------------------------
// organisation
// ---------------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Organisation<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    pub kind: OrganisationKindWire,
    #[serde(borrow)]
    pub name: Text<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub hsa_id: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub school_unit_code: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub organisation_number: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub municipality_code: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub school_year: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum OrganisationKindWire {
    CareProvider,
    CareUnit,
    SchoolOwner,
    SchoolUnit,
    Group,
}

impl From<OrganisationKindWire> for OrganisationKind {
    fn from(wire: OrganisationKindWire) -> Self {
        match wire {
            OrganisationKindWire::CareProvider => OrganisationKind::CareProvider,
            OrganisationKindWire::CareUnit => OrganisationKind::CareUnit,
            OrganisationKindWire::SchoolOwner => OrganisationKind::SchoolOwner,
            OrganisationKindWire::SchoolUnit => OrganisationKind::SchoolUnit,
            OrganisationKindWire::Group => OrganisationKind::Group,
        }
    }
}

impl From<OrganisationKind> for OrganisationKindWire {
    fn from(kind: OrganisationKind) -> Self {
        match kind {
            OrganisationKind::CareProvider => OrganisationKindWire::CareProvider,
            OrganisationKind::CareUnit => OrganisationKindWire::CareUnit,
            OrganisationKind::SchoolOwner => OrganisationKindWire::SchoolOwner,
            OrganisationKind::SchoolUnit => OrganisationKindWire::SchoolUnit,
            OrganisationKind::Group => OrganisationKindWire::Group,
        }
    }
}

// ---------------------------------------------------------------------------
// contact
// ---------------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Contact<'a> {
    #[serde(borrow)]
    pub system: Text<'a>,
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(default = "first_version")]
    pub version: u32,
    #[serde(borrow)]
    pub patient: PersonRef<'a>,
    /// The journal the contact is filed in; gives the secrecy domain.
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub journal: Option<Text<'a>>,
    pub contact_type: ContactTypeWire,
    #[serde(borrow)]
    pub start: Text<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub end: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub performer: Option<Staff<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub care_unit: Option<Unit<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum ContactTypeWire {
    HealthVisit,
    Visit,
    Phone,
    Message,
    HomeVisit,
}

impl From<ContactTypeWire> for ContactKind {
    fn from(wire: ContactTypeWire) -> Self {
        match wire {
            ContactTypeWire::HealthVisit => ContactKind::HealthVisit,
            ContactTypeWire::Visit => ContactKind::Visit,
            ContactTypeWire::Phone => ContactKind::Phone,
            ContactTypeWire::Message => ContactKind::Message,
            ContactTypeWire::HomeVisit => ContactKind::HomeVisit,
        }
    }
}

impl From<ContactKind> for ContactTypeWire {
    fn from(kind: ContactKind) -> Self {
        match kind {
            ContactKind::HealthVisit => ContactTypeWire::HealthVisit,
            ContactKind::Visit => ContactTypeWire::Visit,
            ContactKind::Phone => ContactTypeWire::Phone,
            ContactKind::Message => ContactTypeWire::Message,
            ContactKind::HomeVisit => ContactTypeWire::HomeVisit,
        }
    }
}

// ---------------------------------------------------------------------------
// journalNote
// ---------------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct JournalNote<'a> {
    #[serde(borrow)]
    pub system: Text<'a>,
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(default = "first_version")]
    pub version: u32,
    #[serde(borrow)]
    pub patient: PersonRef<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub journal: Option<Text<'a>>,
    /// The template (mall) or keyword the note was written in; classified
    /// by the profile's `[note_types]`.
    #[serde(borrow)]
    pub template: Text<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub title: Option<Text<'a>>,
    #[serde(borrow)]
    pub event_time: Text<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub author_time: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub signing_time: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub record_time: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub author: Option<Staff<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub signer: Option<Staff<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub care_provider: Option<Unit<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub care_unit: Option<Unit<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub keywords: Option<Vec<KeywordWire<'a>>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub text: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub attachment: Option<AttachmentWire<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<VersionRef<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub nullified_reason: Option<Text<'a>>,
    #[serde(default)]
    pub approved_for_patient: bool,
    #[serde(default)]
    pub patient_block: bool,
    #[serde(borrow, default, skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<WithheldWire<'a>>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct KeywordWire<'a> {
    #[serde(borrow)]
    pub keyword: Text<'a>,
    #[serde(borrow)]
    pub text: Text<'a>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct AttachmentWire<'a> {
    #[serde(borrow)]
    pub content_type: Text<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub title: Option<Text<'a>>,
    #[serde(borrow)]
    pub data: Text<'a>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct WithheldWire<'a> {
    #[serde(borrow)]
    pub part: Text<'a>,
    #[serde(borrow)]
    pub reason: Text<'a>,
}

// ---------------------------------------------------------------------------
// measurement
// ---------------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Measurement<'a> {
    #[serde(borrow)]
    pub system: Text<'a>,
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(default = "first_version")]
    pub version: u32,
    #[serde(borrow)]
    pub patient: PersonRef<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub journal: Option<Text<'a>>,
    /// The measurement's name; classified by the profile's `[measurements]`.
    #[serde(borrow)]
    pub name: Text<'a>,
    #[serde(borrow)]
    pub time: Text<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub unit: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding: Option<FindingWire>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub performer: Option<Staff<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub care_unit: Option<Unit<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<Text<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum FindingWire {
    Normal,
    Abnormal,
    NotAssessed,
}

impl From<FindingWire> for Finding {
    fn from(wire: FindingWire) -> Self {
        match wire {
            FindingWire::Normal => Finding::Normal,
            FindingWire::Abnormal => Finding::Abnormal,
            FindingWire::NotAssessed => Finding::NotAssessed,
        }
    }
}

impl From<Finding> for FindingWire {
    fn from(finding: Finding) -> Self {
        match finding {
            Finding::Normal => FindingWire::Normal,
            Finding::Abnormal => FindingWire::Abnormal,
            Finding::NotAssessed => FindingWire::NotAssessed,
        }
    }
}

// ---------------------------------------------------------------------------
// vaccination
// ---------------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Vaccination<'a> {
    #[serde(borrow)]
    pub system: Text<'a>,
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(default = "first_version")]
    pub version: u32,
    #[serde(borrow)]
    pub patient: PersonRef<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub journal: Option<Text<'a>>,
    #[serde(borrow)]
    pub time: Text<'a>,
    #[serde(borrow)]
    pub atc_code: Text<'a>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub product: Option<Text<'a>>,
    pub programme: ProgrammeWire,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dose_number: Option<u8>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub batch_number: Option<Text<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub given_by: Option<Staff<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub care_unit: Option<Unit<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<VersionRef<'a>>,
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub nullified_reason: Option<Text<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum ProgrammeWire {
    Hexavalent,
    Pneumococcal,
    Mmr,
    DtpBooster,
    Hpv,
    Rotavirus,
    Other,
}

impl From<ProgrammeWire> for VaccinationProgramme {
    fn from(wire: ProgrammeWire) -> Self {
        match wire {
            ProgrammeWire::Hexavalent => VaccinationProgramme::Hexavalent,
            ProgrammeWire::Pneumococcal => VaccinationProgramme::Pneumococcal,
            ProgrammeWire::Mmr => VaccinationProgramme::Mmr,
            ProgrammeWire::DtpBooster => VaccinationProgramme::DtpBooster,
            ProgrammeWire::Hpv => VaccinationProgramme::Hpv,
            ProgrammeWire::Rotavirus => VaccinationProgramme::Rotavirus,
            ProgrammeWire::Other => VaccinationProgramme::Other,
        }
    }
}

impl From<VaccinationProgramme> for ProgrammeWire {
    fn from(programme: VaccinationProgramme) -> Self {
        match programme {
            VaccinationProgramme::Hexavalent => ProgrammeWire::Hexavalent,
            VaccinationProgramme::Pneumococcal => ProgrammeWire::Pneumococcal,
            VaccinationProgramme::Mmr => ProgrammeWire::Mmr,
            VaccinationProgramme::DtpBooster => ProgrammeWire::DtpBooster,
            VaccinationProgramme::Hpv => ProgrammeWire::Hpv,
            VaccinationProgramme::Rotavirus => ProgrammeWire::Rotavirus,
            VaccinationProgramme::Other => ProgrammeWire::Other,
        }
    }
}
