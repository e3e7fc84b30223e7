//! The format's fixed code words and the canonical values they stand for.
//! These are the format's own vocabulary (not a municipality's design), so
//! they are tables here rather than profile entries.

use brygga_mapping::id::PersonIdKind;
use brygga_mapping::id::Sex;
use brygga_mapping::model::{
    AddressKind, ConsentDecision, ConsentPurpose, ContactKind, Finding, GuardianRelation,
    SecurityMarking, TelecomKind, VaccinationProgramme,
};

/// One closed list of code words, each naming one canonical value.
#[derive(Debug)]
pub(super) struct Vocab<T: 'static> {
    entries: &'static [(T, &'static str)],
}

impl<T: Copy + PartialEq> Vocab<T> {
    pub(super) fn parse(&self, word: &str) -> Option<T> {
        self.entries
            .iter()
            .find_map(|(value, w)| (*w == word).then_some(*value))
    }

    /// The word for `value`; every value of the tables below has one.
    pub(super) fn word(&self, value: T) -> Option<&'static str> {
        self.entries
            .iter()
            .find_map(|(v, word)| (*v == value).then_some(*word))
    }

    /// `a, b or c`, for messages.
    pub(super) fn expected(&self) -> String {
        let words: Vec<&str> = self.entries.iter().map(|(_, w)| *w).collect();
        match words.split_last() {
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

/// `typ` of a person id. A local id is [`LOCAL_ID`].
pub(super) static PERSON_ID_KINDS: Vocab<PersonIdKind> = Vocab {
    entries: &[
        (PersonIdKind::Personnummer, "personnummer"),
        (PersonIdKind::Samordningsnummer, "samordningsnummer"),
        (PersonIdKind::Reservnummer, "reservnummer"),
        (PersonIdKind::Temporary, "tillfalligt"),
    ],
};

/// `typ` of a source system's local id (with `namnrymd`).
pub(super) const LOCAL_ID: &str = "lokalt";

pub(super) static SEXES: Vocab<Sex> = Vocab {
    entries: &[(Sex::Female, "kvinna"), (Sex::Male, "man")],
};

/// `<skydd>`; no element means no protected identity.
pub(super) static SECURITY_MARKINGS: Vocab<SecurityMarking> = Vocab {
    entries: &[
        (SecurityMarking::Sekretessmarkering, "sekretessmarkering"),
        (
            SecurityMarking::SkyddadFolkbokforing,
            "skyddad-folkbokforing",
        ),
    ],
};

pub(super) static GUARDIAN_RELATIONS: Vocab<GuardianRelation> = Vocab {
    entries: &[
        (GuardianRelation::Guardian, "vardnadshavare"),
        (GuardianRelation::OtherResponsible, "annan-ansvarig"),
    ],
};

pub(super) static ADDRESS_KINDS: Vocab<AddressKind> = Vocab {
    entries: &[
        (AddressKind::Registered, "folkbokforing"),
        (AddressKind::Postal, "post"),
        (AddressKind::Temporary, "tillfallig"),
    ],
};

pub(super) static TELECOM_KINDS: Vocab<TelecomKind> = Vocab {
    entries: &[
        (TelecomKind::Phone, "telefon"),
        (TelecomKind::Mobile, "mobil"),
        (TelecomKind::Email, "epost"),
    ],
};

pub(super) static CONTACT_KINDS: Vocab<ContactKind> = Vocab {
    entries: &[
        (ContactKind::HealthVisit, "halsobesok"),
        (ContactKind::Visit, "besok"),
        (ContactKind::Phone, "telefon"),
        (ContactKind::Message, "meddelande"),
        (ContactKind::HomeVisit, "hembesok"),
    ],
};

pub(super) static FINDINGS: Vocab<Finding> = Vocab {
    entries: &[
        (Finding::Normal, "normal"),
        (Finding::Abnormal, "avvikande"),
        (Finding::NotAssessed, "ej-bedomt"),
    ],
};

pub(super) static PROGRAMMES: Vocab<VaccinationProgramme> = Vocab {
    entries: &[
        (VaccinationProgramme::Hexavalent, "hexavalent"),
        (VaccinationProgramme::Pneumococcal, "pneumokock"),
        (VaccinationProgramme::Mmr, "mpr"),
        (VaccinationProgramme::DtpBooster, "dtp-pafyllnad"),
        (VaccinationProgramme::Hpv, "hpv"),
        (VaccinationProgramme::Rotavirus, "rotavirus"),
        (VaccinationProgramme::Other, "ovrigt"),
    ],
};

/// `roll` of `<givet-av>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum GiverRole {
    Patient,
    Guardian,
}

pub(super) static GIVER_ROLES: Vocab<GiverRole> = Vocab {
    entries: &[
        (GiverRole::Patient, "patient"),
        (GiverRole::Guardian, "vardnadshavare"),
    ],
};

pub(super) static PURPOSES: Vocab<ConsentPurpose> = Vocab {
    entries: &[
        (
            ConsentPurpose::BhvToEmiTransfer,
            "overforing-till-elevhalsan",
        ),
        (ConsentPurpose::SharedRecord, "sammanhallen-journalforing"),
        (ConsentPurpose::ShareWithSchool, "delning-med-skolan"),
        (ConsentPurpose::StatisticsDatabase, "statistikdatabas"),
    ],
};

pub(super) static DECISIONS: Vocab<ConsentDecision> = Vocab {
    entries: &[
        (ConsentDecision::Given, "givet"),
        (ConsentDecision::Partial, "delvis"),
        (ConsentDecision::Refused, "nekat"),
        (ConsentDecision::Revoked, "aterkallat"),
    ],
};
