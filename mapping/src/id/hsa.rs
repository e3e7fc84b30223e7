//! HSA-ids: the national catalogue's ids for care units, staff and systems,
//! e.g. `SE2321000131-E000000000001` — `SE`, the organisation's 10-digit
//! number, `-`, and a suffix of letters and digits.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::{IdError, IdErrorReason, TriedKind};

/// The longest HSA-id the catalogue issues.
const MAX_LEN: usize = 31;
/// `SE`, ten digits, `-` and at least one suffix character.
const MIN_LEN: usize = 14;
const LENGTHS: &str = "14 to 31 characters: \"SE\", 10 digits, '-', letters or digits";

/// A validated HSA-id, upper case, held inline (no allocation).
///
/// Unlike a person id it is no personal secret, so Display shows it whole.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HsaId {
    /// ASCII only, upper case, zero after `len`; zero sorts first, so the
    /// derived order is the order of the strings.
    bytes: [u8; MAX_LEN],
    len: u8,
}

impl HsaId {
    /// The FHIR identifier system for HSA-ids (HL7 Sweden base profiles).
    pub const FHIR_SYSTEM: &'static str = "urn:oid:1.2.752.29.4.19";
    /// The OID the national infrastructure (RIVTA) uses for HSA-ids.
    pub const RIVTA_OID: &'static str = "1.2.752.129.2.1.4.1";

    /// Parses an HSA-id, accepting lower case and normalising to upper case.
    pub fn parse(input: &str) -> Result<HsaId, IdError> {
        match Self::parse_well_formed(input.as_bytes()) {
            Some(id) => Ok(id),
            None => Self::parse_checked(input),
        }
    }

    /// Reads `input` character by character, saying what is wrong.
    fn parse_checked(input: &str) -> Result<HsaId, IdError> {
        let fail = |reason| IdError::new(TriedKind::HsaId, shown_input(input), reason);
        let len = input.chars().count();
        if len == 0 {
            return Err(fail(IdErrorReason::Empty));
        }
        if !(MIN_LEN..=MAX_LEN).contains(&len) {
            return Err(fail(IdErrorReason::WrongLength {
                found: len,
                expected: LENGTHS,
            }));
        }
        let mut bytes = [0; MAX_LEN];
        for ((index, c), slot) in input.chars().enumerate().zip(&mut bytes) {
            let position = index + 1;
            match index {
                0 if c.eq_ignore_ascii_case(&'S') => {}
                1 if c.eq_ignore_ascii_case(&'E') => {}
                0 | 1 => return Err(fail(IdErrorReason::MissingSePrefix)),
                2..=11 if c.is_ascii_digit() => {}
                2..=11 => return Err(fail(IdErrorReason::NonDigit { position, found: c })),
                12 if c == '-' => {}
                12 => return Err(fail(IdErrorReason::UnknownSeparator { position, found: c })),
                _ if c.is_ascii_alphanumeric() => {}
                _ => {
                    return Err(fail(IdErrorReason::NonAlphanumeric { position, found: c }));
                }
            }
            // Every branch that got here accepted ASCII only.
            *slot = c.to_ascii_uppercase() as u8;
        }
        Ok(HsaId {
            bytes,
            len: len as u8,
        })
    }

    /// The common case in one pass over the bytes: a well-formed id, which
    /// is ASCII. `None` for anything else.
    fn parse_well_formed(input: &[u8]) -> Option<HsaId> {
        if !(MIN_LEN..=MAX_LEN).contains(&input.len()) {
            return None;
        }
        let mut bytes = [0; MAX_LEN];
        for (index, (&c, slot)) in input.iter().zip(&mut bytes).enumerate() {
            let fits = match index {
                0 => c.eq_ignore_ascii_case(&b'S'),
                1 => c.eq_ignore_ascii_case(&b'E'),
                2..=11 => c.is_ascii_digit(),
                12 => c == b'-',
                _ => c.is_ascii_alphanumeric(),
            };
            if !fits {
                return None;
            }
            *slot = c.to_ascii_uppercase();
        }
        Some(HsaId {
            bytes,
            len: input.len() as u8,
        })
    }

    pub fn as_str(&self) -> &str {
        let bytes = self.bytes.get(..usize::from(self.len)).unwrap_or_default();
        std::str::from_utf8(bytes).expect("an HsaId holds only ASCII, checked when parsed")
    }

    /// Whether `uri` names the HSA-id system: the FHIR `urn:oid:` form or
    /// RIVTA's bare OID. Each OID is accepted with or without `urn:oid:`,
    /// since senders mix the two conventions.
    pub fn is_system(uri: &str) -> bool {
        let oid = uri.strip_prefix("urn:oid:").unwrap_or(uri);
        Some(oid) == Self::FHIR_SYSTEM.strip_prefix("urn:oid:") || oid == Self::RIVTA_OID
    }
}

/// An HSA-id input as shown in an error: whole (it is not secret), escaped,
/// and cut so that a runaway field does not make a runaway log line.
fn shown_input(input: &str) -> Box<str> {
    const MAX_SHOWN: usize = MAX_LEN + 9;
    let mut shown = String::with_capacity(MAX_SHOWN + 3);
    for (index, c) in input.chars().enumerate() {
        if index == MAX_SHOWN {
            shown.push('…');
            break;
        }
        shown.extend(c.escape_debug());
    }
    shown.into_boxed_str()
}

impl fmt::Display for HsaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for HsaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HsaId").field(&self.as_str()).finish()
    }
}

impl Serialize for HsaId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for HsaId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HsaIdVisitor;

        impl Visitor<'_> for HsaIdVisitor {
            type Value = HsaId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an HSA-id string")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<HsaId, E> {
                HsaId::parse(value).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(HsaIdVisitor)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const EXAMPLE: &str = "SE2321000131-E000000000001";

    fn reason(input: &str) -> IdErrorReason {
        HsaId::parse(input)
            .expect_err("should be refused")
            .reason()
            .clone()
    }

    #[test]
    fn parses_and_normalises_to_upper_case() {
        let id = HsaId::parse(EXAMPLE).unwrap();
        assert_eq!(id.as_str(), EXAMPLE);
        assert_eq!(id.to_string(), EXAMPLE);
        assert_eq!(format!("{id:?}"), format!("HsaId({EXAMPLE:?})"));
        let lower = HsaId::parse(&EXAMPLE.to_ascii_lowercase()).unwrap();
        assert_eq!(lower, id);
        let longest = format!("SE2321000131-{}", "A".repeat(18));
        assert_eq!(HsaId::parse(&longest).unwrap().as_str(), longest);
        assert_eq!(HsaId::parse("SE2321000131-1").unwrap().as_str().len(), 14);
    }

    #[test]
    fn orders_as_its_text() {
        let short = HsaId::parse("SE2321000131-E1").unwrap();
        let long = HsaId::parse("SE2321000131-E10").unwrap();
        let other = HsaId::parse("SE2321000131-F").unwrap();
        assert!(short < long && long < other);
    }

    #[test]
    fn precise_errors() {
        assert_eq!(reason(""), IdErrorReason::Empty);
        assert_eq!(
            reason("SE2321000131-"),
            IdErrorReason::WrongLength {
                found: 13,
                expected: LENGTHS
            }
        );
        assert_eq!(
            reason(&format!("SE2321000131-{}", "A".repeat(19))),
            IdErrorReason::WrongLength {
                found: 32,
                expected: LENGTHS
            }
        );
        assert_eq!(reason("NO2321000131-E01"), IdErrorReason::MissingSePrefix);
        assert_eq!(
            reason("SE23210O0131-E01"),
            IdErrorReason::NonDigit {
                position: 8,
                found: 'O'
            }
        );
        assert_eq!(
            reason("SE2321000131_E01"),
            IdErrorReason::UnknownSeparator {
                position: 13,
                found: '_'
            }
        );
        assert_eq!(
            reason("SE2321000131-E0 1"),
            IdErrorReason::NonAlphanumeric {
                position: 16,
                found: ' '
            }
        );
        assert_eq!(
            reason("SE2321000131-Eö1"),
            IdErrorReason::NonAlphanumeric {
                position: 15,
                found: 'ö'
            }
        );
        assert_eq!(
            HsaId::parse("SE2321000131_E01").unwrap_err().to_string(),
            r#"invalid HSA-id "SE2321000131_E01": unknown separator '_' at position 13"#
        );
    }

    #[test]
    fn both_system_forms_are_recognised() {
        for uri in [
            HsaId::FHIR_SYSTEM,
            HsaId::RIVTA_OID,
            "1.2.752.29.4.19",
            "urn:oid:1.2.752.129.2.1.4.1",
        ] {
            assert!(HsaId::is_system(uri), "{uri}");
        }
        for uri in [
            "",
            "urn:oid:",
            "1.2.752.129.2.1.3.1",
            "http://electronichealth.se/identifier/personnummer",
            "urn:oid:1.2.752.29.4.190",
        ] {
            assert!(!HsaId::is_system(uri), "{uri}");
        }
    }

    #[test]
    fn serde_is_a_validated_string() {
        let id = HsaId::parse(EXAMPLE).unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{EXAMPLE}\""));
        assert_eq!(serde_json::from_str::<HsaId>(&json).unwrap(), id);
        // An escaped string cannot be borrowed; it must still parse.
        let escaped = r#""SE2321000131\u002DE000000000001""#;
        assert_eq!(serde_json::from_str::<HsaId>(escaped).unwrap(), id);
        let error = serde_json::from_str::<HsaId>(r#""SE2321000131""#)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(r#"invalid HSA-id "SE2321000131": wrong length"#),
            "{error}"
        );
        assert!(serde_json::from_str::<HsaId>("42").is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic(input in any::<String>()) {
            if let Ok(id) = HsaId::parse(&input) {
                prop_assert_eq!(id.as_str(), input.to_ascii_uppercase());
            }
        }

        #[test]
        fn the_quick_reading_agrees_with_the_checked_one(
            input in "([sS][eE][0-9]{10}-[0-9A-Za-z]{1,19})|(.{0,40})|([sSeE0-9a-zA-Z_ -]{10,35})",
        ) {
            let checked = HsaId::parse_checked(&input).ok();
            prop_assert_eq!(HsaId::parse_well_formed(input.as_bytes()), checked);
        }

        #[test]
        fn generated_ids_round_trip(
            organisation in "[0-9]{10}",
            suffix in "[0-9A-Za-z]{1,18}",
        ) {
            let written = format!("se{organisation}-{suffix}");
            let id = HsaId::parse(&written).unwrap();
            prop_assert_eq!(id.as_str(), written.to_ascii_uppercase());
            let json = serde_json::to_string(&id).unwrap();
            prop_assert_eq!(serde_json::from_str::<HsaId>(&json).unwrap(), id);
        }
    }
}
