//! The canonical records: the one vocabulary every adapter reads into and
//! writes out of.
//!
//! The shapes follow the domain, not any one system: a [`Person`] looks like
//! SS 12000's person, a [`JournalEntry`] carries everything the national
//! GetCareDocumentation contract and a FHIR DocumentReference need (four
//! separate clinical times with their precision, author and signer, status,
//! secrecy domain, the patient's block). Fields an adapter cannot fill are
//! `None` or empty, never invented.
//!
//! In canonical NDJSON every record is one JSON object tagged by `"type"`
//! (see [`Record`]); optional fields that are absent are omitted.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::id::{HsaId, Identifier, PersonId, Sex};
use crate::time::{ChronologyKey, ClinicalTime};

/// One canonical record. Serialised with an internal `"type"` tag, e.g.
/// `{"type":"journal_entry", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[expect(
    clippy::large_enum_variant,
    reason = "records stream one at a time; boxing would cost an allocation per record"
)]
pub enum Record {
    Person(Person),
    Organisation(Organisation),
    Placement(Placement),
    Grade(Grade),
    Absence(Absence),
    Attendance(Attendance),
    Contact(Contact),
    JournalEntry(JournalEntry),
    Measurement(Measurement),
    Immunization(Immunization),
    Consent(Consent),
    SurveyResponse(SurveyResponse),
}

impl Record {
    /// The `"type"` tag this record carries in canonical NDJSON.
    pub fn type_name(&self) -> &'static str {
        match self {
            Record::Person(_) => "person",
            Record::Organisation(_) => "organisation",
            Record::Placement(_) => "placement",
            Record::Grade(_) => "grade",
            Record::Absence(_) => "absence",
            Record::Attendance(_) => "attendance",
            Record::Contact(_) => "contact",
            Record::JournalEntry(_) => "journal_entry",
            Record::Measurement(_) => "measurement",
            Record::Immunization(_) => "immunization",
            Record::Consent(_) => "consent",
            Record::SurveyResponse(_) => "survey_response",
        }
    }

    /// The person the record is about, when it is about one person.
    pub fn subject(&self) -> Option<&Identifier> {
        match self {
            Record::Person(p) => p.identifiers.first(),
            Record::Organisation(_) => None,
            Record::Placement(r) => Some(&r.pupil),
            Record::Grade(r) => Some(&r.pupil),
            Record::Absence(r) => Some(&r.pupil),
            Record::Attendance(r) => Some(&r.pupil),
            Record::Contact(r) => Some(&r.patient),
            Record::JournalEntry(r) => Some(&r.patient),
            Record::Measurement(r) => Some(&r.patient),
            Record::Immunization(r) => Some(&r.patient),
            Record::Consent(r) => Some(&r.patient),
            Record::SurveyResponse(r) => Some(&r.respondent),
        }
    }
}

/// Where a record came from: the system, the record's id there and its
/// version. Every migrated entry keeps this, so it can always be traced back.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRef {
    /// The source system, e.g. `pmo:gotene` or `bhv:vgr` (system kind, then
    /// the installation).
    pub system: String,
    /// The record's id in that system.
    pub record_id: String,
    /// The record's version in that system; 1 for the first.
    #[serde(default = "first_version")]
    pub version: u32,
}

fn first_version() -> u32 {
    1
}

// ---------------------------------------------------------------------------
// People and organisations
// ---------------------------------------------------------------------------

/// Protected identity as the population register marks it. For anything but
/// `None`, addresses and contact details never leave the system holding them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityMarking {
    #[default]
    None,
    /// Sekretessmarkering.
    Sekretessmarkering,
    /// Skyddad folkbokföring.
    SkyddadFolkbokforing,
}

impl SecurityMarking {
    pub fn is_protected(self) -> bool {
        self != SecurityMarking::None
    }
}

/// A pupil, guardian or other person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// All known identifiers; the first is the primary one.
    pub identifiers: Vec<Identifier>,
    pub given_name: String,
    pub family_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub security_marking: SecurityMarking,
    /// Guardians and other responsibles (SS 12000 `responsibles`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guardians: Vec<Guardian>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub telecom: Vec<Telecom>,
    /// The municipality (kommunkod, four digits) the person is registered in;
    /// one of the few facts that may pass for a protected person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub municipality_code: Option<String>,
}

/// A link from a pupil to a guardian (vårdnadshavare) or other responsible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guardian {
    pub person: PersonId,
    pub relation: GuardianRelation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardianRelation {
    /// Vårdnadshavare.
    Guardian,
    /// Another responsible adult, e.g. a contact person at social services.
    OtherResponsible,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub kind: AddressKind,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressKind {
    /// Folkbokföringsadress.
    Registered,
    Postal,
    Temporary,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Telecom {
    pub kind: TelecomKind,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TelecomKind {
    Phone,
    Mobile,
    Email,
}

/// A care provider, care unit, school unit or pupil group. Other records
/// refer to an organisation by its `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    /// Key other records use: the HSA-id, skolenhetskod or group id as given
    /// by the source, prefixed by what it is (`hsa:`, `skolenhet:`, `group:`).
    pub id: String,
    pub kind: OrganisationKind,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hsa_id: Option<HsaId>,
    /// Skolenhetskod (8 digits) for school units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school_unit_code: Option<String>,
    /// Organisationsnummer (10 digits) for care providers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation_number: Option<String>,
    /// Kommunkod (4 digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub municipality_code: Option<String>,
    /// The `id` of the organisation this one belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// For a class: the school year (0 = förskoleklass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school_year: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrganisationKind {
    /// Vårdgivare: a municipality for EMI, the region for child health.
    CareProvider,
    /// Vårdenhet, identified by HSA-id.
    CareUnit,
    /// Huvudman of schools (usually the municipality).
    SchoolOwner,
    /// Skolenhet, identified by skolenhetskod.
    SchoolUnit,
    /// A class or other pupil group.
    Group,
}

/// A pupil's enrolment in a school unit (and optionally a group).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    pub pupil: Identifier,
    /// `id` of the school unit.
    pub school_unit: String,
    /// `id` of the group or class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// 0 = förskoleklass, 1–9 compulsory school, 10–12 upper secondary year 1–3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school_year: Option<u8>,
    pub start: Date,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<Date>,
}

// ---------------------------------------------------------------------------
// School records (SS 12000)
// ---------------------------------------------------------------------------

/// A grade as SS 12000 describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grade {
    pub source: SourceRef,
    pub pupil: Identifier,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school_unit: Option<String>,
    /// Subject code (e.g. `MA`, `SV`) from the syllabus.
    pub subject_code: String,
    /// Upper-secondary course code, when the grade is for a course.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub course_code: Option<String>,
    /// Free text as SS 12000 has it: A–F and `-`, or another scale.
    pub grade_value: String,
    #[serde(default)]
    pub final_grade: bool,
    /// Prövning.
    #[serde(default)]
    pub trial: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correction: Option<GradeCorrection>,
    pub semester: Semester,
    pub year: i16,
    pub registered_date: Date,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GradeCorrection {
    /// Ändring: the grade was changed.
    Change,
    /// Rättelse: an error was corrected.
    Correction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Semester {
    /// Höstterminen.
    HT,
    /// Vårterminen.
    VT,
}

/// Registered absence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Absence {
    pub source: SourceRef,
    pub pupil: Identifier,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school_unit: Option<String>,
    pub kind: AbsenceKind,
    pub start: ClinicalTime,
    pub end: ClinicalTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbsenceKind {
    /// Beviljad ledighet.
    GrantedLeave,
    /// Anmäld frånvaro.
    ReportedAbsence,
}

/// Attendance for one calendar event (lesson), in minutes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attendance {
    pub source: SourceRef,
    pub pupil: Identifier,
    /// The calendar event's id in the source.
    pub calendar_event: String,
    pub date: Date,
    pub attendance_minutes: u32,
    pub valid_absence_minutes: u32,
    pub invalid_absence_minutes: u32,
}

// ---------------------------------------------------------------------------
// Health care
// ---------------------------------------------------------------------------

/// The secrecy domain a piece of information belongs to. Health information
/// (the first two) crosses to the school side only with consent or a legal
/// exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecrecyDomain {
    /// Elevhälsans medicinska insats: school nurse and doctor (HSL/PDL).
    EmiMedical,
    /// The psychological insats (HSL/PDL), usually its own journal.
    Psychological,
    /// Kurator (Skollagen/OSL).
    Counsellor,
    /// Specialpedagog (Skollagen/OSL).
    SpecialEducation,
    /// School administration (OSL).
    SchoolAdministration,
}

impl SecrecyDomain {
    /// Health care under HSL/PDL, as opposed to the school side.
    pub fn is_health_care(self) -> bool {
        matches!(
            self,
            SecrecyDomain::EmiMedical | SecrecyDomain::Psychological
        )
    }
}

/// A member of staff who wrote, signed or performed something.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Practitioner {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hsa_id: Option<HsaId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profession: Option<Profession>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profession {
    /// Skolsköterska; child-health nurse (BHV-sjuksköterska).
    Nurse,
    /// Skolläkare; child-health physician.
    Physician,
    Psychologist,
    /// Kurator.
    Counsellor,
    /// Specialpedagog.
    SpecialEducator,
    /// Medical secretary and other administrative staff.
    Administrative,
}

/// A care provider or care unit as referred to from a clinical record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CareOrganisation {
    pub hsa_id: HsaId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A contact (visit, phone call, health talk) that journal entries and
/// measurements may belong to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub source: SourceRef,
    pub patient: Identifier,
    pub kind: ContactKind,
    pub start: ClinicalTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<ClinicalTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performer: Option<Practitioner>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub care_unit: Option<CareOrganisation>,
    pub secrecy_domain: SecrecyDomain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactKind {
    /// A planned visit in the health programme (hälsobesök).
    HealthVisit,
    /// An open or booked visit at the school nurse or doctor (mottagningsbesök).
    Visit,
    Phone,
    /// Digital or written contact.
    Message,
    /// A home visit (child health).
    HomeVisit,
}

/// A written journal note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalEntry {
    pub source: SourceRef,
    pub patient: Identifier,
    /// When the care happened (the document's clinical time). Required: an
    /// adapter whose source lacks it documents what it uses instead.
    pub event_time: ClinicalTime,
    /// When the note was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_time: Option<ClinicalTime>,
    /// When it was signed; may be days after it was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_time: Option<ClinicalTime>,
    /// When the record was first created in the source system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_time: Option<ClinicalTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<Practitioner>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<Practitioner>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub care_provider: Option<CareOrganisation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub care_unit: Option<CareOrganisation>,
    /// The source's own contact id this note belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    pub note_type: NoteType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub content: NoteContent,
    #[serde(default, skip_serializing_if = "is_default")]
    pub status: EntryStatus,
    pub secrecy_domain: SecrecyDomain,
    /// May be shown to the patient (e.g. in a patient portal).
    #[serde(default)]
    pub approved_for_patient: bool,
    /// The patient has blocked (spärrat) this information from other care
    /// providers; every outbound path must honour it.
    #[serde(default)]
    pub patient_block: bool,
    /// Parts the guardians withheld when consenting to a transfer; only the
    /// marker travels, never the content.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<WithheldPart>,
}

impl JournalEntry {
    /// The entry's place in journal chronology (see [`ChronologyKey`]).
    pub fn chronology_key(&self) -> ChronologyKey<'_> {
        ChronologyKey {
            event: &self.event_time,
            author: self.author_time.as_ref(),
            signing: self.signing_time.as_ref(),
            record: self.record_time.as_ref(),
            source_system: &self.source.system,
            source_record_id: &self.source.record_id,
            source_version: self.source.version,
        }
    }
}

/// What kind of note this is: the canonical code, plus the keyword or
/// template name the source used, kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteType {
    pub code: NoteTypeCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
}

/// Canonical note types, covering the EMI health programme, child health and
/// the other pupil-health professions. Mapping profiles map each
/// municipality's own templates and keywords onto these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteTypeCode {
    /// Hälsobesök in the health programme.
    HealthVisit,
    /// Hälsosamtal (health talk), incl. the short talks in years 2 and 6.
    HealthTalk,
    /// Mottagningsbesök: an open or booked visit.
    Visit,
    PhoneContact,
    Vaccination,
    /// Tillväxt: growth follow-up.
    Growth,
    /// Syn: vision screening.
    Vision,
    /// Hörsel: hearing screening.
    Hearing,
    /// Rygg: scoliosis screening.
    Scoliosis,
    /// Utvecklingsbedömning (child health).
    DevelopmentAssessment,
    /// Slutanteckning: the child-health record's final note.
    FinalNote,
    /// Remiss sent.
    Referral,
    /// Remissvar received.
    ReferralResponse,
    /// Intyg or letter.
    Certificate,
    /// Sammanfattning / epikris.
    Summary,
    /// Psykologbedömning and other psychologist notes.
    PsychologicalAssessment,
    CounsellorNote,
    SpecialEducationNote,
    /// Journalanteckning with no more specific type.
    GeneralNote,
    /// A source keyword that no mapping profile classifies (kept, counted,
    /// warned about).
    Unclassified,
}

/// The body of a note: plain text, keyword-structured text (sökord), or an
/// attachment; never more than one of text and attachment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum NoteContent {
    Text {
        text: String,
    },
    /// Text under keywords, in the order the source gave them.
    Keywords {
        sections: Vec<KeywordSection>,
    },
    Attachment(Attachment),
}

/// One keyword (sökord) and the text under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeywordSection {
    /// The keyword as the source wrote it.
    pub keyword: String,
    pub text: String,
}

/// A document carried as bytes (base64 in NDJSON) with its media type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// Media type with charset where it is text, e.g. `text/plain; charset=utf-8`.
    pub media_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Base64 (standard alphabet, padded).
    pub data: String,
}

/// Whether a note stands, replaces an earlier version, or was nullified.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case", deny_unknown_fields)]
pub enum EntryStatus {
    #[default]
    Current,
    /// This version supersedes an earlier one, which keeps its place in time.
    Amended { supersedes: SourceRef },
    /// Makulerad: written in error, kept as entered-in-error.
    Nullified { reason: String },
}

/// Marker for something withheld at the guardians' or patient's request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithheldPart {
    /// What was withheld, e.g. `development_assessment` or a note id.
    pub part: String,
    pub reason: String,
}

/// A measurement or screening result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measurement {
    pub source: SourceRef,
    pub patient: Identifier,
    pub kind: MeasurementKind,
    pub time: ClinicalTime,
    pub value: MeasurementValue,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performer: Option<Practitioner>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub care_unit: Option<CareOrganisation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    pub secrecy_domain: SecrecyDomain,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_code: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeasurementKind {
    /// cm.
    Height,
    /// kg.
    Weight,
    /// kg/m².
    Bmi,
    /// cm.
    HeadCircumference,
    /// Visual acuity, decimal, right eye.
    VisionRight,
    /// Visual acuity, decimal, left eye.
    VisionLeft,
    /// Hearing screening, right ear.
    HearingRight,
    /// Hearing screening, left ear.
    HearingLeft,
    /// Scoliosis screening (forward bend test).
    Scoliosis,
}

/// A number with its UCUM unit, or a coded finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MeasurementValue {
    Quantity { value: f64, unit: String },
    Finding { finding: Finding },
}

/// The result of a screening that passes or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    Normal,
    Abnormal,
    /// Not possible to assess (child did not cooperate, equipment, …).
    NotAssessed,
}

/// A vaccination given (or recorded as given elsewhere).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Immunization {
    pub source: SourceRef,
    pub patient: Identifier,
    pub time: ClinicalTime,
    pub vaccine: Vaccine,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dose_number: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_by: Option<Practitioner>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub care_unit: Option<CareOrganisation>,
    pub secrecy_domain: SecrecyDomain,
    #[serde(default, skip_serializing_if = "is_default")]
    pub status: EntryStatus,
}

/// A vaccine: its ATC code, the disease(s) it protects against in the
/// national programme, and the product name the source gave.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vaccine {
    /// ATC code, e.g. `J07BM03` (HPV).
    pub atc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    pub programme: VaccinationProgramme,
}

/// The disease groups of the Swedish national vaccination programme for
/// children.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VaccinationProgramme {
    /// Diphtheria, tetanus, pertussis, polio, Hib, hepatitis B (infant series).
    Hexavalent,
    /// Pneumococcal conjugate.
    Pneumococcal,
    /// Measles, mumps, rubella.
    Mmr,
    /// Diphtheria, tetanus, pertussis (+ polio) booster.
    DtpBooster,
    /// Human papillomavirus.
    Hpv,
    /// Rotavirus.
    Rotavirus,
    /// Outside the national programme.
    Other,
}

/// A consent or objection: who gave it, for what, what was withheld, and for
/// how long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    pub source: SourceRef,
    pub patient: Identifier,
    pub given_by: ConsentGiver,
    pub purpose: ConsentPurpose,
    pub decision: ConsentDecision,
    /// Parts withheld from what was otherwise consented to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withheld_parts: Vec<String>,
    pub recorded: ClinicalTime,
    pub valid_from: Date,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<Date>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case", deny_unknown_fields)]
pub enum ConsentGiver {
    Patient,
    Guardian { person: PersonId },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentPurpose {
    /// Transfer of the child-health record to the school's EMI.
    BhvToEmiTransfer,
    /// Sammanhållen journalföring: other care providers may read.
    SharedRecord,
    /// Health information may be shared with the school side (across the
    /// secrecy boundary).
    ShareWithSchool,
    /// Answers may go, pseudonymised, to the pupil-health statistics database.
    StatisticsDatabase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentDecision {
    Given,
    /// Given, except for `withheld_parts`.
    Partial,
    Refused,
    Revoked,
}

/// Answers to a health survey (e.g. Elevens hälsa i fokus).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyResponse {
    pub source: SourceRef,
    pub respondent: Identifier,
    /// The survey and its version, e.g. `elevens-halsa-i-fokus:2024`.
    pub survey: String,
    pub school_year: u8,
    pub answered: ClinicalTime,
    pub answers: Vec<SurveyAnswer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyAnswer {
    /// The question's code in the survey.
    pub question: String,
    pub answer: String,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}
