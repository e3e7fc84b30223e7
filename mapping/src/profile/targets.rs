//! The canonical codes a profile's tables may name, spelt as in canonical
//! NDJSON (snake_case).
//!
//! The lists are written out by hand, but the `match` in each `code_name` is
//! exhaustive: a variant added to the model does not compile until it is added
//! here too, and a test checks every spelling against serde's.

use std::fmt;
use std::hash::Hash;

use crate::model::{MeasurementKind, NoteTypeCode, Profession, SecrecyDomain};

/// A code table a profile maps source names onto.
pub(crate) trait Target: Copy + Eq + Hash + fmt::Debug + Send + Sync + 'static {
    /// Every code, in declaration order (the order error messages list them).
    const ALL: &'static [Self];
    /// What a code of this table is, for messages: "a note type".
    const WHAT: &'static str;

    /// The snake_case name, as in canonical NDJSON and in profile files.
    fn code_name(self) -> &'static str;

    fn from_code_name(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|code| code.code_name() == name)
    }

    fn allowed() -> Vec<&'static str> {
        Self::ALL.iter().map(|code| code.code_name()).collect()
    }
}

macro_rules! targets {
    ($ty:ty, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl Target for $ty {
            const ALL: &'static [Self] = &[$(Self::$variant),+];
            const WHAT: &'static str = $what;

            fn code_name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name),+
                }
            }
        }
    };
}

targets!(NoteTypeCode, "a note type", {
    HealthVisit => "health_visit",
    HealthTalk => "health_talk",
    Visit => "visit",
    PhoneContact => "phone_contact",
    Vaccination => "vaccination",
    Growth => "growth",
    Vision => "vision",
    Hearing => "hearing",
    Scoliosis => "scoliosis",
    DevelopmentAssessment => "development_assessment",
    FinalNote => "final_note",
    Referral => "referral",
    ReferralResponse => "referral_response",
    Certificate => "certificate",
    Summary => "summary",
    PsychologicalAssessment => "psychological_assessment",
    CounsellorNote => "counsellor_note",
    SpecialEducationNote => "special_education_note",
    GeneralNote => "general_note",
    Unclassified => "unclassified",
});

targets!(MeasurementKind, "a measurement kind", {
    Height => "height",
    Weight => "weight",
    Bmi => "bmi",
    HeadCircumference => "head_circumference",
    VisionRight => "vision_right",
    VisionLeft => "vision_left",
    HearingRight => "hearing_right",
    HearingLeft => "hearing_left",
    Scoliosis => "scoliosis",
});

targets!(SecrecyDomain, "a secrecy domain", {
    EmiMedical => "emi_medical",
    Psychological => "psychological",
    Counsellor => "counsellor",
    SpecialEducation => "special_education",
    SchoolAdministration => "school_administration",
});

targets!(Profession, "a profession", {
    Nurse => "nurse",
    Physician => "physician",
    Psychologist => "psychologist",
    Counsellor => "counsellor",
    SpecialEducator => "special_educator",
    Administrative => "administrative",
});

#[cfg(test)]
mod tests {
    use super::*;

    fn spelt_as_serde_does<T: Target + serde::Serialize>() {
        for &code in T::ALL {
            let json = serde_json::to_value(code).expect("a unit variant serialises");
            assert_eq!(json.as_str(), Some(code.code_name()), "{code:?}");
            assert_eq!(T::from_code_name(code.code_name()), Some(code));
        }
        let mut names = T::allowed();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), T::ALL.len(), "a code is listed twice");
    }

    #[test]
    fn every_code_is_spelt_as_in_canonical_ndjson() {
        spelt_as_serde_does::<NoteTypeCode>();
        spelt_as_serde_does::<MeasurementKind>();
        spelt_as_serde_does::<SecrecyDomain>();
        spelt_as_serde_does::<Profession>();
    }

    #[test]
    fn an_unknown_name_is_none() {
        assert_eq!(NoteTypeCode::from_code_name("HealthVisit"), None);
        assert_eq!(Profession::from_code_name(""), None);
    }
}
