//! The names a PMO export uses: its element names, which a mapping profile
//! may change (`[elements]`), and the fixed code words of its coded values
//! (contact kinds, findings, vaccination programmes, …), which it may not.
//!
//! Element names are resolved once, when a decoder or encoder is built, so
//! the per-record work compares strings it already holds.

use brygga_mapping::id::{PersonIdKind, Sex};
use brygga_mapping::model::{
    AddressKind, ContactKind, Finding, GuardianRelation, SecurityMarking, TelecomKind,
    VaccinationProgramme,
};
use brygga_mapping::profile::Profile;

/// Declares every configurable element once: its `[elements]` key, its
/// default name, and the field of [`Names`] that holds the resolved name.
macro_rules! element_names {
    ($($(#[doc = $doc:literal])* $key:ident = $default:literal,)+) => {
        /// Every `[elements]` key the PMO adapter reads, in the order
        /// `docs/adapters/pmo.md` lists them.
        pub(super) const ELEMENT_KEYS: &[&str] = &[$(stringify!($key)),+];

        /// The element names in force: the profile's `[elements]` value for
        /// each key, else the default.
        #[derive(Debug, Clone)]
        pub(super) struct Names {
            $($(#[doc = $doc])* pub $key: Box<str>,)+
        }

        impl Names {
            pub fn from_profile(profile: &Profile) -> Names {
                Names {
                    $($key: profile.element(stringify!($key), $default).into(),)+
                }
            }

            /// Every (key, name) pair, for checking the names.
            fn all(&self) -> [(&'static str, &str); ELEMENT_KEYS.len()] {
                [$((stringify!($key), &*self.$key)),+]
            }
        }

        #[cfg(test)]
        pub(super) const DEFAULT_NAMES: &[(&str, &str)] = &[$((stringify!($key), $default)),+];
    };
}

element_names! {
    /// The document's root element.
    root = "pmo-export",
    /// A patient record, and the patient reference in every other record.
    patient = "patient",
    /// A care-provider record, and the care-provider reference in a note.
    care_provider = "vardgivare",
    /// A care-unit record, and the care-unit reference in clinical records.
    care_unit = "vardenhet",
    contact = "kontakt",
    note = "anteckning",
    measurement = "matning",
    vaccination = "vaccination",
    /// One of a patient's identifiers.
    identifier = "id",
    given_name = "fornamn",
    family_name = "efternamn",
    birth_date = "fodelsedatum",
    sex = "kon",
    protected_identity = "skyddad-identitet",
    guardian = "vardnadshavare",
    address = "adress",
    address_line = "rad",
    postal_code = "postnummer",
    city = "ort",
    country = "land",
    telecom = "kontaktuppgift",
    municipality_code = "kommunkod",
    /// An organisation's name.
    name = "namn",
    hsa_id = "hsa-id",
    organisation_number = "organisationsnummer",
    parent = "overordnad",
    /// The journal a record is filed in (gives its secrecy domain).
    journal = "journal",
    contact_kind = "kontakttyp",
    start = "start",
    end = "slut",
    /// Who performed a contact, a measurement or a vaccination.
    performer = "utforare",
    /// The contact a note or measurement belongs to.
    contact_id = "kontakt-id",
    template = "mall",
    title = "rubrik",
    event_time = "handelsetid",
    author_time = "skrivtid",
    signing_time = "signeringstid",
    record_time = "registreringstid",
    author = "forfattare",
    signer = "signerare",
    /// Amended: the version this one replaces.
    amends = "ersatter",
    /// Nullified (makulerad), with the reason.
    nullified = "makulerad",
    patient_block = "patientsparr",
    approved_for_patient = "godkand-for-patient",
    withheld = "undanhallen",
    keyword = "sokord",
    text = "text",
    attachment = "bilaga",
    measurement_name = "matningstyp",
    time = "tid",
    quantity = "varde",
    finding = "fynd",
    vaccine = "vaccin",
    dose = "dos",
    lot = "batch",
}

/// Element names that must differ from each other, because the decoder tells
/// the elements apart by name in the same place.
const MUST_DIFFER: &[&[&str]] = &[
    // Records under the root.
    &[
        "patient",
        "care_provider",
        "care_unit",
        "contact",
        "note",
        "measurement",
        "vaccination",
    ],
    // In a patient.
    &[
        "identifier",
        "given_name",
        "family_name",
        "birth_date",
        "sex",
        "protected_identity",
        "guardian",
        "address",
        "telecom",
        "municipality_code",
    ],
    &["address_line", "postal_code", "city", "country"],
    // In an organisation.
    &[
        "name",
        "hsa_id",
        "organisation_number",
        "municipality_code",
        "parent",
    ],
    // In a contact.
    &[
        "patient",
        "journal",
        "contact_kind",
        "start",
        "end",
        "performer",
        "care_unit",
    ],
    // In a note.
    &[
        "patient",
        "journal",
        "template",
        "title",
        "event_time",
        "author_time",
        "signing_time",
        "record_time",
        "author",
        "signer",
        "care_provider",
        "care_unit",
        "contact_id",
        "amends",
        "nullified",
        "patient_block",
        "approved_for_patient",
        "withheld",
        "keyword",
        "text",
        "attachment",
    ],
    // In a measurement.
    &[
        "patient",
        "journal",
        "measurement_name",
        "time",
        "quantity",
        "finding",
        "performer",
        "care_unit",
        "contact_id",
    ],
    // In a vaccination.
    &[
        "patient",
        "journal",
        "time",
        "vaccine",
        "dose",
        "lot",
        "performer",
        "care_unit",
        "amends",
        "nullified",
    ],
];

impl Names {
    /// Checks that every name is an XML name (letters, digits, `-`, `_`,
    /// `.`, not starting with a digit, `-` or `.`; no `:`) and that names the
    /// decoder must tell apart differ. The message names the `[elements]`
    /// key at fault.
    pub fn check(&self) -> Result<(), String> {
        let all = self.all();
        for (key, name) in all {
            if !is_xml_name(name) {
                return Err(format!(
                    "[elements] {key} = {name:?} is not an XML element name (letters, digits, '-', '_' and '.', starting with a letter or '_')"
                ));
            }
        }
        let name_of = |key: &str| all.iter().find(|(k, _)| *k == key).map(|(_, n)| *n);
        for scope in MUST_DIFFER {
            for (i, a) in scope.iter().enumerate() {
                for b in &scope[i + 1..] {
                    if name_of(a).is_some() && name_of(a) == name_of(b) {
                        return Err(format!(
                            "[elements] {a} and {b} are both {:?}; they must differ",
                            name_of(a).unwrap_or_default()
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_alphabetic() || first == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A closed vocabulary of coded values: each variant and the one word the
/// export writes for it.
pub(super) trait Vocabulary: Copy + Eq + 'static {
    const WORDS: &'static [(Self, &'static str)];
    /// What the value is, for messages: "a contact kind".
    const WHAT: &'static str;

    fn word(self) -> &'static str {
        Self::WORDS
            .iter()
            .find(|(value, _)| *value == self)
            .map_or("", |(_, word)| word)
    }

    fn from_word(word: &str) -> Option<Self> {
        Self::WORDS
            .iter()
            .find(|(_, w)| *w == word)
            .map(|(value, _)| *value)
    }

    /// Every word, comma-separated, for messages.
    fn expected() -> String {
        let words: Vec<&str> = Self::WORDS.iter().map(|(_, w)| *w).collect();
        words.join(", ")
    }
}

macro_rules! vocabulary {
    ($ty:ty, $what:literal, { $($value:expr => $word:literal),+ $(,)? }) => {
        impl Vocabulary for $ty {
            const WORDS: &'static [(Self, &'static str)] = &[$(($value, $word)),+];
            const WHAT: &'static str = $what;
        }
    };
}

/// The kind of a patient identifier (`typ`): a person id kind, or a local
/// id of the source system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IdKind {
    Person(PersonIdKind),
    Local,
}

vocabulary!(IdKind, "an identifier kind", {
    IdKind::Person(PersonIdKind::Personnummer) => "personnummer",
    IdKind::Person(PersonIdKind::Samordningsnummer) => "samordningsnummer",
    IdKind::Person(PersonIdKind::Reservnummer) => "reservnummer",
    IdKind::Person(PersonIdKind::Temporary) => "tillfalligt",
    IdKind::Local => "lokal",
});

vocabulary!(Sex, "a sex", {
    Sex::Female => "kvinna",
    Sex::Male => "man",
});

vocabulary!(SecurityMarking, "a protected-identity marking", {
    SecurityMarking::None => "ingen",
    SecurityMarking::Sekretessmarkering => "sekretessmarkering",
    SecurityMarking::SkyddadFolkbokforing => "skyddad-folkbokforing",
});

vocabulary!(GuardianRelation, "a guardian relation", {
    GuardianRelation::Guardian => "vardnadshavare",
    GuardianRelation::OtherResponsible => "annan-ansvarig",
});

vocabulary!(AddressKind, "an address kind", {
    AddressKind::Registered => "folkbokforing",
    AddressKind::Postal => "post",
    AddressKind::Temporary => "tillfallig",
});

vocabulary!(TelecomKind, "a contact-detail kind", {
    TelecomKind::Phone => "telefon",
    TelecomKind::Mobile => "mobil",
    TelecomKind::Email => "epost",
});

vocabulary!(ContactKind, "a contact kind", {
    ContactKind::HealthVisit => "halsobesok",
    ContactKind::Visit => "mottagningsbesok",
    ContactKind::Phone => "telefon",
    ContactKind::Message => "meddelande",
    ContactKind::HomeVisit => "hembesok",
});

vocabulary!(Finding, "a finding", {
    Finding::Normal => "normal",
    Finding::Abnormal => "avvikande",
    Finding::NotAssessed => "ej-bedomt",
});

vocabulary!(VaccinationProgramme, "a vaccination programme", {
    VaccinationProgramme::Hexavalent => "sexvalent",
    VaccinationProgramme::Pneumococcal => "pneumokock",
    VaccinationProgramme::Mmr => "mpr",
    VaccinationProgramme::DtpBooster => "dtp-pafyllnad",
    VaccinationProgramme::Hpv => "hpv",
    VaccinationProgramme::Rotavirus => "rotavirus",
    VaccinationProgramme::Other => "ovrigt",
});

/// Attribute names. They are part of the format and not configurable: real
/// exports differ in their element names, and the attributes carry Brygga's
/// own bookkeeping (source references, code words).
pub(super) mod attr {
    /// The source system of a record (`pmo:<installation>`).
    pub const SYSTEM: &str = "system";
    /// A record's id in its source system; an organisation's key.
    pub const ID: &str = "id";
    pub const VERSION: &str = "version";
    /// An identifier's or a coded element's kind.
    pub const KIND: &str = "typ";
    pub const NAMESPACE: &str = "namnrymd";
    pub const RELATION: &str = "relation";
    pub const HSA_ID: &str = "hsa-id";
    pub const NAME: &str = "namn";
    pub const TITLE: &str = "titel";
    pub const UNIT: &str = "enhet";
    pub const ATC: &str = "atc";
    pub const PROGRAMME: &str = "program";
    pub const PRODUCT: &str = "produkt";
    pub const MEDIA_TYPE: &str = "mediatyp";
    pub const PART: &str = "del";
    /// The format version, on the root element.
    pub const FORMAT_VERSION: &str = "version";
}

/// The format version this adapter reads and writes.
pub(super) const FORMAT_VERSION: &str = "1";
