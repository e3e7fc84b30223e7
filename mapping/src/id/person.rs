//! Person ids: personnummer, samordningsnummer, VGR reservnummer and SS 12000
//! temporary civic numbers, parsed from any written form into one compact,
//! normalised 12-character value that is masked whenever it is displayed.

use std::fmt::{self, Write as _};

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::error::{DatePart, IdError, IdErrorReason, TriedKind};

/// The kinds of person id Brygga accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PersonIdKind {
    /// Swedish personal identity number, YYYYMMDD-NNNC.
    Personnummer,
    /// Coordination number: a personnummer with 60 added to the day.
    Samordningsnummer,
    /// VGR reservnummer: YYYYMMDD, K/M/X, two digits and a Luhn check digit;
    /// used in health care while the real number is unknown.
    Reservnummer,
    /// SS 12000 temporary civic number: YYYYMMDD and four letters or digits,
    /// at least one a letter; it has no check digit.
    Temporary,
}

impl PersonIdKind {
    /// The name used in canonical NDJSON (`system`) and in messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Personnummer => "personnummer",
            Self::Samordningsnummer => "samordningsnummer",
            Self::Reservnummer => "reservnummer",
            Self::Temporary => "temporary",
        }
    }

    /// The OID the national infrastructure (RIVTA) uses for this kind; none
    /// for reservnummer and temporary numbers, whose OIDs are regional.
    pub const fn oid(self) -> Option<&'static str> {
        match self {
            Self::Personnummer => Some("1.2.752.129.2.1.3.1"),
            Self::Samordningsnummer => Some("1.2.752.129.2.1.3.3"),
            Self::Reservnummer | Self::Temporary => None,
        }
    }

    /// The FHIR identifier system (HL7 Sweden base profiles) for this kind;
    /// none for reservnummer and temporary numbers.
    pub const fn fhir_system(self) -> Option<&'static str> {
        match self {
            Self::Personnummer => Some("http://electronichealth.se/identifier/personnummer"),
            Self::Samordningsnummer => {
                Some("http://electronichealth.se/identifier/samordningsnummer")
            }
            Self::Reservnummer | Self::Temporary => None,
        }
    }
}

impl fmt::Display for PersonIdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Sex as a personnummer or samordningsnummer encodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    Female,
    Male,
}

/// A validated person id.
///
/// Holds the normalised 12-character form (`YYYYMMDDNNNC`, letters upper
/// case) inline, so it is `Copy` and parsing allocates nothing. Display and
/// Debug show only `YYYYMMDD-****`: the full number is reachable through
/// [`PersonId::as_str`] alone, for storage.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonId {
    /// ASCII digits and upper-case letters only, checked when built.
    value: [u8; 12],
    kind: PersonIdKind,
}

const WRITTEN_LENGTHS: &str = "10 or 12 characters, optionally with a separator";
const NORMALIZED_LENGTH: &str = "12 characters without separator";

impl PersonId {
    /// Parses any accepted written form: `YYYYMMDDNNNC`, `YYYYMMDD-NNNC`,
    /// `YYMMDDNNNC`, `YYMMDD-NNNC` and `YYMMDD+NNNC`, with letters in the last
    /// four places for reservnummer and temporary numbers (either case).
    ///
    /// A 2-digit year takes its century from `reference`, the date the
    /// number was written or received (never the wall clock): `-` or no
    /// separator means under 100 years old on `reference`, so the latest such
    /// date not after it; `+` means turning 100 or more in `reference`'s
    /// calendar year. That is Skatteverket's rule (the sign changes on 1
    /// January of the year one turns 100), and it agrees with "100 or older
    /// on `reference`" except for people turning 100 later that year, whom
    /// the stricter reading would place a century too early. 4-digit years
    /// ignore `reference`.
    ///
    /// Leading or trailing whitespace is refused, not trimmed: callers know
    /// whether their format allows it.
    pub fn parse(input: &str, reference: Date) -> Result<PersonId, IdError> {
        let fail = |reason| IdError::new(TriedKind::PersonId, mask_input(input), reason);
        let len = char_count(input);
        let Written {
            mut value,
            short,
            plus,
        } = if input.is_ascii() {
            read_written(input.bytes().map(char::from), len)
        } else {
            read_written(input.chars(), len)
        }
        .map_err(fail)?;

        if short {
            let year = century_for(&value, plus, reference);
            if !(0..=9999).contains(&year) {
                let (_, month, day) = date_digits(&value);
                return Err(fail(IdErrorReason::ImpossibleDate {
                    part: DatePart::Year,
                    year,
                    month,
                    day,
                }));
            }
            let century = (year / 100) as u8;
            value[0] = b'0' + century / 10;
            value[1] = b'0' + century % 10;
        }
        classify(value, input, None)
    }

    /// Parses only the normalised form that storage and canonical NDJSON
    /// hold: 12 characters, no separator, letters upper case.
    pub fn parse_normalized(input: &str) -> Result<PersonId, IdError> {
        parse_normalized_as(input, None)
    }

    /// Builds a personnummer for `birth` with birth number `serial` (NNN,
    /// 0..=999) and its check digit; for the synthetic-data generator.
    pub fn personnummer(birth: Date, serial: u16) -> Result<PersonId, IdError> {
        build(birth, serial, PersonIdKind::Personnummer)
    }

    /// Builds a samordningsnummer (day + 60) for `birth` with birth number
    /// `serial` (NNN, 0..=999) and its check digit.
    pub fn samordningsnummer(birth: Date, serial: u16) -> Result<PersonId, IdError> {
        build(birth, serial, PersonIdKind::Samordningsnummer)
    }

    pub fn kind(&self) -> PersonIdKind {
        self.kind
    }

    /// The full normalised form, for storage only: never log it.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.value).expect("a PersonId holds only ASCII, checked when built")
    }

    /// The date of birth the number encodes, with the 60 taken off the day of
    /// a samordningsnummer. Every kind accepted today has one; `None` is kept
    /// for regional reservnummer formats that do not.
    pub fn birth_date(&self) -> Option<Date> {
        let (year, month, day) = date_digits(&self.value);
        let day = match self.kind {
            PersonIdKind::Samordningsnummer => day - 60,
            _ => day,
        };
        Date::new(year, month as i8, day as i8).ok()
    }

    /// The sex the number encodes (odd third birth-number digit = male);
    /// `None` for reservnummer and temporary numbers, which encode none.
    pub fn sex(&self) -> Option<Sex> {
        match self.kind {
            PersonIdKind::Personnummer | PersonIdKind::Samordningsnummer => {
                Some(if digit(self.value[10]) % 2 == 1 {
                    Sex::Male
                } else {
                    Sex::Female
                })
            }
            PersonIdKind::Reservnummer | PersonIdKind::Temporary => None,
        }
    }

    /// The form safe for logs and messages: `YYYYMMDD-****`.
    pub fn masked(&self) -> Masked<'_> {
        Masked(self)
    }
}

/// A person id shown as `YYYYMMDD-****`: enough to tell records apart in a
/// log, too little to identify the person.
#[derive(Clone, Copy)]
pub struct Masked<'a>(&'a PersonId);

impl fmt::Display for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &byte in &self.0.value[..8] {
            f.write_char(char::from(byte))?;
        }
        f.write_str("-****")
    }
}

impl fmt::Debug for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

impl fmt::Display for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.masked(), f)
    }
}

impl fmt::Debug for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PersonId")
            .field("kind", &self.kind)
            .field("value", &self.masked())
            .finish()
    }
}

/// A written person id read into the 12 places of a value: a `short`
/// (2-digit year) form fills places 2.., its century still to come, so in
/// both forms places 0..8 are the date and 8..12 the rest.
struct Written {
    value: [u8; 12],
    short: bool,
    plus: bool,
}

/// Reads the `len` characters of a written form. Generic so that ASCII
/// input, the only kind that can pass, is read byte by byte without UTF-8
/// decoding.
fn read_written(chars: impl Iterator<Item = char>, len: usize) -> Result<Written, IdErrorReason> {
    let wrong_length = IdErrorReason::WrongLength {
        found: len,
        expected: WRITTEN_LENGTHS,
    };
    let (short, separator_at) = match len {
        0 => return Err(IdErrorReason::Empty),
        10 => (true, None),
        11 => (true, Some(6)),
        12 => (false, None),
        13 => (false, Some(8)),
        _ => return Err(wrong_length),
    };
    let mut value = [b'0'; 12];
    let mut places = value.iter_mut().skip(if short { 2 } else { 0 });
    let mut plus = false;
    for (index, c) in chars.enumerate() {
        let position = index + 1;
        if Some(index) == separator_at {
            match c {
                '-' => {}
                '+' if short => plus = true,
                '+' => return Err(IdErrorReason::PlusWithFullYear),
                // A digit where the separator would be means a digit too
                // many or too few, not a strange separator.
                c if c.is_ascii_alphanumeric() => return Err(wrong_length),
                found => return Err(IdErrorReason::UnknownSeparator { position, found }),
            }
            continue;
        }
        let in_date = places.len() > 4;
        let Some(place) = places.next() else {
            return Err(wrong_length);
        };
        let accepted = if in_date {
            c.is_ascii_digit()
        } else {
            c.is_ascii_alphanumeric()
        };
        if !accepted {
            return Err(IdErrorReason::NonDigit { position, found: c });
        }
        // Checked ASCII just above, so the cast keeps the character.
        *place = c as u8;
    }
    Ok(Written { value, short, plus })
}

/// Characters in `input`, without decoding when it is ASCII.
fn char_count(input: &str) -> usize {
    if input.is_ascii() {
        input.len()
    } else {
        input.chars().count()
    }
}

/// [`PersonId::parse_normalized`], checking that the value is of the kind
/// declared beside it when there is one (canonical NDJSON's `system`).
pub(super) fn parse_normalized_as(
    input: &str,
    declared: Option<PersonIdKind>,
) -> Result<PersonId, IdError> {
    let tried = declared.map_or(TriedKind::PersonId, TriedKind::Person);
    let fail = |reason| IdError::new(tried, mask_input(input), reason);
    let len = char_count(input);
    if len == 0 {
        return Err(fail(IdErrorReason::Empty));
    }
    if len != 12 {
        return Err(fail(IdErrorReason::WrongLength {
            found: len,
            expected: NORMALIZED_LENGTH,
        }));
    }
    let value = if input.is_ascii() {
        read_normalized(input.bytes().map(char::from))
    } else {
        read_normalized(input.chars())
    }
    .map_err(fail)?;
    let id = classify(value, input, declared)?;
    match declared {
        Some(kind) if kind != id.kind => Err(fail(IdErrorReason::KindMismatch { found: id.kind })),
        _ => Ok(id),
    }
}

/// Reads the 12 characters of a normalised form; generic for the same
/// reason as [`read_written`].
fn read_normalized(chars: impl Iterator<Item = char>) -> Result<[u8; 12], IdErrorReason> {
    let mut value = [0; 12];
    for ((index, c), slot) in chars.enumerate().zip(&mut value) {
        let position = index + 1;
        let accepted = if index < 8 {
            c.is_ascii_digit()
        } else {
            c.is_ascii_alphanumeric()
        };
        if !accepted {
            return Err(IdErrorReason::NonDigit { position, found: c });
        }
        if c.is_ascii_lowercase() {
            return Err(IdErrorReason::NotNormalized { position, found: c });
        }
        // Checked ASCII just above, so the cast keeps the character.
        *slot = c as u8;
    }
    Ok(value)
}

/// Tells the kind from a 12-place value whose date places hold digits and
/// whose last four hold ASCII letters or digits, and checks the date and, for
/// the kinds that have one, the check digit.
///
/// A K/M/X form whose check digit fails is still a well-formed SS 12000
/// temporary number (those carry no check digit), so it is one, unless the
/// caller declared it a reservnummer.
fn classify(
    mut value: [u8; 12],
    input: &str,
    declared: Option<PersonIdKind>,
) -> Result<PersonId, IdError> {
    let (year, month, day) = date_digits(&value);
    let impossible = |part| IdErrorReason::ImpossibleDate {
        part,
        year,
        month,
        day,
    };
    let fail = |kind, reason| IdError::new(TriedKind::Person(kind), mask_input(input), reason);

    if value[8..].iter().all(u8::is_ascii_digit) {
        let (kind, day_of_month) = if day > 60 {
            (PersonIdKind::Samordningsnummer, day - 60)
        } else {
            (PersonIdKind::Personnummer, day)
        };
        check_date(year, month, day_of_month).map_err(|part| fail(kind, impossible(part)))?;
        let found = digit(value[11]);
        let expected = luhn(&value[2..11]);
        if found != expected {
            return Err(fail(kind, IdErrorReason::CheckDigit { found, expected }));
        }
        return Ok(PersonId { value, kind });
    }

    value[8..].make_ascii_uppercase();
    let reservnummer_shaped =
        matches!(value[8], b'K' | b'M' | b'X') && value[9..].iter().all(u8::is_ascii_digit);
    let kind = if reservnummer_shaped {
        PersonIdKind::Reservnummer
    } else {
        PersonIdKind::Temporary
    };
    check_date(year, month, day).map_err(|part| fail(kind, impossible(part)))?;
    if reservnummer_shaped {
        let found = digit(value[11]);
        let expected = luhn(&value[2..11]);
        if found == expected {
            return Ok(PersonId { value, kind });
        }
        if declared == Some(PersonIdKind::Reservnummer) {
            return Err(fail(kind, IdErrorReason::CheckDigit { found, expected }));
        }
    }
    Ok(PersonId {
        value,
        kind: PersonIdKind::Temporary,
    })
}

fn build(birth: Date, serial: u16, kind: PersonIdKind) -> Result<PersonId, IdError> {
    let (year, month, day) = (birth.year(), birth.month() as u8, birth.day() as u8);
    let fail = |reason| {
        let input = format!("{year:04}{month:02}{day:02}-****").into_boxed_str();
        IdError::new(TriedKind::Person(kind), input, reason)
    };
    if !(0..=9999).contains(&year) {
        return Err(fail(IdErrorReason::ImpossibleDate {
            part: DatePart::Year,
            year,
            month,
            day,
        }));
    }
    if serial > 999 {
        return Err(fail(IdErrorReason::SerialOutOfRange { serial }));
    }
    let day = match kind {
        PersonIdKind::Samordningsnummer => day + 60,
        _ => day,
    };
    let year = year.unsigned_abs();
    let mut value = [0; 12];
    // YYYY, MMDD and NNN followed by a place for the check digit.
    for (slot, number) in
        value
            .chunks_mut(4)
            .zip([year, u16::from(month) * 100 + u16::from(day), serial * 10])
    {
        let mut rest = number;
        for place in slot.iter_mut().rev() {
            *place = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
    }
    value[11] = b'0' + luhn(&value[2..11]);
    Ok(PersonId { value, kind })
}

/// The year a 2-digit year stands for (see [`PersonId::parse`]); may fall
/// outside 0..=9999 near the ends of the calendar, which the caller refuses.
fn century_for(value: &[u8; 12], plus: bool, reference: Date) -> i16 {
    let yy = i16::from(two_digits(value[2], value[3]));
    let (_, month, day) = date_digits(value);
    let day_of_month = if day > 60 && value[8..].iter().all(u8::is_ascii_digit) {
        day - 60
    } else {
        day
    };
    let reference_year = reference.year();
    // The latest year not after the reference's that ends in `yy`.
    let year = reference_year - (reference_year - yy).rem_euclid(100);
    let after_reference = (month, day_of_month) > (reference.month() as u8, reference.day() as u8);
    if plus || (year == reference_year && after_reference) {
        year - 100
    } else {
        year
    }
}

fn check_date(year: i16, month: u8, day: u8) -> Result<(), DatePart> {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(DatePart::Month),
    };
    if (1..=days).contains(&day) {
        Ok(())
    } else {
        Err(DatePart::Day)
    }
}

/// Year, month and day as written in places 0..8 (day still +60 for a
/// samordningsnummer).
fn date_digits(value: &[u8; 12]) -> (i16, u8, u8) {
    let year =
        i16::from(two_digits(value[0], value[1])) * 100 + i16::from(two_digits(value[2], value[3]));
    (
        year,
        two_digits(value[4], value[5]),
        two_digits(value[6], value[7]),
    )
}

fn two_digits(tens: u8, ones: u8) -> u8 {
    digit(tens) * 10 + digit(ones)
}

/// The value of a checked ASCII digit. Masked rather than trusted, so that
/// a slip in checking gives a wrong digit, never an overflow.
fn digit(byte: u8) -> u8 {
    byte.wrapping_sub(b'0') & 0x0f
}

/// The Luhn check digit over `YYMMDDNNN` (or VGR's `YYMMDDLNN`, with K, M
/// and X counted as 5, 7 and 8): weights 2, 1, 2, …, the digits of each
/// product summed, then what brings the sum to a multiple of ten.
fn luhn(places: &[u8]) -> u8 {
    /// The digit sum of twice each digit.
    const DOUBLED: [u8; 16] = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9, 0, 0, 0, 0, 0, 0];
    let sum: u32 = places
        .iter()
        .enumerate()
        .map(|(index, &byte)| {
            let value = match byte {
                b'K' => 5,
                b'M' => 7,
                b'X' => 8,
                _ => digit(byte),
            };
            let weighted = if index % 2 == 0 {
                DOUBLED[usize::from(value)]
            } else {
                value
            };
            u32::from(weighted)
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// An input as it may appear in an error message: at most its first eight
/// characters (fewer for short inputs, and never past a `-` or `+`), then
/// separators kept and everything else starred, cut after a few stars. A
/// full number cannot survive this; a date can, which is what a reader needs
/// to find the record.
fn mask_input(input: &str) -> Box<str> {
    const MAX_STARS: usize = 8;
    let len = input.chars().count();
    let shown = match len {
        12.. => 8,
        10 | 11 => 6,
        _ => len.saturating_sub(4),
    };
    let shown = input
        .chars()
        .take(shown)
        .position(|c| c == '-' || c == '+')
        .unwrap_or(shown);
    let mut masked = String::with_capacity(24);
    let mut stars = 0;
    for (index, c) in input.chars().enumerate() {
        if index < shown {
            masked.extend(c.escape_debug());
        } else if c == '-' || c == '+' {
            masked.push(c);
        } else if stars < MAX_STARS {
            masked.push('*');
            stars += 1;
        } else {
            masked.push('…');
            break;
        }
    }
    masked.into_boxed_str()
}

#[cfg(test)]
mod tests {
    use jiff::ToSpan as _;
    use jiff::civil::date;
    use proptest::prelude::*;

    use super::*;

    /// Skatteverket's public example, in its test-number list.
    const EXAMPLE: &str = "196408233234";
    /// Numbers copied from Skatteverket's test-number list (they belong to
    /// no one): used when the list itself is not beside the repo. Among them
    /// a woman, leap days in 1896, 2000 and 2020, and people around 100.
    const FROM_TEST_LIST: [&str; 8] = [
        "196408233234",
        "189001019802",
        "189602299803",
        "200002292399",
        "202002292387",
        "192501148437",
        "192501239202",
        "192501019216",
    ];

    fn reason(result: Result<PersonId, IdError>) -> IdErrorReason {
        result.expect_err("should be refused").reason().clone()
    }

    fn birth(input: &str, reference: Date) -> Date {
        PersonId::parse(input, reference)
            .unwrap_or_else(|error| panic!("{input} on {reference}: {error}"))
            .birth_date()
            .unwrap()
    }

    #[test]
    fn skatteverket_example_in_every_written_form() {
        let reference = date(2025, 6, 1);
        let normalized = PersonId::parse_normalized(EXAMPLE).unwrap();
        for written in ["640823-3234", "6408233234", "19640823-3234", EXAMPLE] {
            assert_eq!(PersonId::parse(written, reference).unwrap(), normalized);
        }
        assert_eq!(normalized.kind(), PersonIdKind::Personnummer);
        assert_eq!(normalized.as_str(), EXAMPLE);
        assert_eq!(normalized.birth_date(), Some(date(1964, 8, 23)));
        assert_eq!(normalized.sex(), Some(Sex::Male));
        assert_eq!(
            PersonId::parse_normalized("192501239202").unwrap().sex(),
            Some(Sex::Female)
        );
    }

    #[test]
    fn twelve_digit_forms_ignore_the_reference() {
        for reference in [date(1900, 1, 1), date(1964, 8, 22), date(2999, 12, 31)] {
            let id = PersonId::parse("19640823-3234", reference).unwrap();
            assert_eq!(id.as_str(), EXAMPLE);
        }
    }

    #[test]
    fn ten_digit_century_from_the_reference_date() {
        // Born 1964-08-23: YY before the reference's YY, so last century.
        assert_eq!(birth("640823-3234", date(2025, 1, 1)), date(1964, 8, 23));
        assert_eq!(birth("6408233234", date(2025, 1, 1)), date(1964, 8, 23));
        // The same digits read in 1964: on the day they are a newborn; the
        // day before, the latest such date not after it is 1864-08-23, 99
        // years earlier.
        assert_eq!(birth("640823-3234", date(1964, 8, 23)), date(1964, 8, 23));
        assert_eq!(birth("640823-3234", date(1964, 8, 22)), date(1864, 8, 23));
        // '+' with YY after the reference's YY: two centuries back.
        assert_eq!(birth("900101+9802", date(2025, 6, 1)), date(1890, 1, 1));
        // The same digits with '-' are someone born in 1990.
        assert_eq!(birth("900101-9802", date(2025, 6, 1)), date(1990, 1, 1));
        // Leap days decide between centuries: 2000 was a leap year, 1900 not.
        assert_eq!(birth("000229-2399", date(2025, 6, 1)), date(2000, 2, 29));
        assert_eq!(
            reason(PersonId::parse("000229+2399", date(2025, 6, 1))),
            IdErrorReason::ImpossibleDate {
                part: DatePart::Day,
                year: 1900,
                month: 2,
                day: 29
            }
        );
        assert!(PersonId::parse("000229-2399", date(1999, 12, 31)).is_err());
        assert_eq!(birth("960229+9803", date(2025, 6, 1)), date(1896, 2, 29));
    }

    #[test]
    fn ten_digit_century_around_a_hundredth_birthday() {
        // Born 1925-01-14, 100 years old on 2025-01-14.
        let before = date(2025, 1, 13);
        let on = date(2025, 1, 14);
        // The day before: 99, so '-'; '+' reads by Skatteverket's calendar
        // year rule, the year of the hundredth birthday.
        assert_eq!(birth("250114-8437", before), date(1925, 1, 14));
        assert_eq!(birth("2501148437", before), date(1925, 1, 14));
        assert_eq!(birth("250114+8437", before), date(1925, 1, 14));
        // On the day: '+' is the centenarian, '-' a child born that day.
        assert_eq!(birth("250114+8437", on), date(1925, 1, 14));
        assert_eq!(birth("250114-8437", on), date(2025, 1, 14));
        assert_eq!(birth("2501148437", on), date(2025, 1, 14));
        // The year before, '+' can only be someone born in 1825.
        assert_eq!(birth("250114-8437", date(2024, 12, 31)), date(1925, 1, 14));
        assert_eq!(birth("250114+8437", date(2024, 12, 31)), date(1825, 1, 14));
        // Born on 1 January: 100 on 2025-01-01.
        assert_eq!(birth("250101+9216", date(2025, 1, 1)), date(1925, 1, 1));
        assert_eq!(birth("250101-9216", date(2024, 12, 31)), date(1925, 1, 1));
    }

    #[test]
    fn ten_digit_century_before_year_zero_is_refused() {
        assert!(matches!(
            reason(PersonId::parse("640823+3234", date(50, 1, 1))),
            IdErrorReason::ImpossibleDate {
                part: DatePart::Year,
                ..
            }
        ));
    }

    #[test]
    fn precise_errors() {
        let reference = date(2025, 6, 1);
        let parse = |input: &str| reason(PersonId::parse(input, reference));
        assert_eq!(parse(""), IdErrorReason::Empty);
        let tried = |input| PersonId::parse(input, reference).unwrap_err().tried();
        assert_eq!(tried("640823"), TriedKind::PersonId);
        assert_eq!(
            tried("19640883-3235"),
            TriedKind::Person(PersonIdKind::Samordningsnummer)
        );
        for (input, found) in [
            ("64082332", 8),
            ("640823323", 9),
            ("64082332345", 11),
            ("1964082332345", 13),
            ("19640823-32345", 14),
        ] {
            assert_eq!(
                parse(input),
                IdErrorReason::WrongLength {
                    found,
                    expected: WRITTEN_LENGTHS
                },
                "{input}"
            );
        }
        assert_eq!(
            parse("64O823-3234"),
            IdErrorReason::NonDigit {
                position: 3,
                found: 'O'
            }
        );
        assert_eq!(
            parse("19640823-32#4"),
            IdErrorReason::NonDigit {
                position: 12,
                found: '#'
            }
        );
        assert_eq!(
            parse("1964082ä3234"),
            IdErrorReason::NonDigit {
                position: 8,
                found: 'ä'
            }
        );
        assert_eq!(
            parse("640823/3234"),
            IdErrorReason::UnknownSeparator {
                position: 7,
                found: '/'
            }
        );
        assert_eq!(
            parse("19640823 3234"),
            IdErrorReason::UnknownSeparator {
                position: 9,
                found: ' '
            }
        );
        assert_eq!(parse("19640823+3234"), IdErrorReason::PlusWithFullYear);
        assert_eq!(
            parse("19641323-3234"),
            IdErrorReason::ImpossibleDate {
                part: DatePart::Month,
                year: 1964,
                month: 13,
                day: 23
            }
        );
        assert_eq!(
            parse("19640231-3234"),
            IdErrorReason::ImpossibleDate {
                part: DatePart::Day,
                year: 1964,
                month: 2,
                day: 31
            }
        );
        assert_eq!(
            parse("19000229-2390"),
            IdErrorReason::ImpossibleDate {
                part: DatePart::Day,
                year: 1900,
                month: 2,
                day: 29
            }
        );
        // Between a personnummer's days and a samordningsnummer's, and past
        // the last samordningsnummer day.
        for day in [0, 32, 45, 60, 92] {
            let input = format!("196408{day:02}3234");
            assert!(
                matches!(
                    parse(&input),
                    IdErrorReason::ImpossibleDate {
                        part: DatePart::Day,
                        ..
                    }
                ),
                "{input}"
            );
        }
        assert_eq!(
            parse("19640823-3235"),
            IdErrorReason::CheckDigit {
                found: 5,
                expected: 4
            }
        );
    }

    #[test]
    fn error_messages_name_kind_masked_input_and_reason() {
        let reference = date(2025, 6, 1);
        let message = |input: &str| {
            PersonId::parse(input, reference)
                .expect_err("should be refused")
                .to_string()
        };
        assert_eq!(
            message("19640823-3235"),
            r#"invalid personnummer "19640823-****": check digit is 5, Luhn gives 4"#
        );
        assert_eq!(
            message("640823-3235"),
            r#"invalid personnummer "640823-****": check digit is 5, Luhn gives 4"#
        );
        assert_eq!(
            message("196408233"),
            r#"invalid person id "19640****": wrong length: 9 characters, expected 10 or 12 characters, optionally with a separator"#
        );
        assert_eq!(
            message("19640892-3234"),
            r#"invalid samordningsnummer "19640892-****": impossible date: day 92 (samordningsnummer day 32 + 60) does not exist in 1964-08"#
        );
        assert_eq!(
            message("19640823+3234"),
            r#"invalid person id "19640823+****": '+' (100 years or older) goes only with a 2-digit year; write '-' or nothing with a 4-digit year"#
        );
    }

    #[test]
    fn normalized_form_only() {
        assert_eq!(
            PersonId::parse_normalized(EXAMPLE).unwrap().as_str(),
            EXAMPLE
        );
        assert_eq!(
            reason(PersonId::parse_normalized("19640823-3234")),
            IdErrorReason::WrongLength {
                found: 13,
                expected: NORMALIZED_LENGTH
            }
        );
        assert_eq!(reason(PersonId::parse_normalized("")), IdErrorReason::Empty);
        let reservnummer = reservnummer(date(1964, 8, 23), b'K', 12);
        let lower = reservnummer.to_ascii_lowercase();
        assert_eq!(
            reason(PersonId::parse_normalized(&lower)),
            IdErrorReason::NotNormalized {
                position: 9,
                found: 'k'
            }
        );
        // `parse` takes either case and normalises.
        let parsed = PersonId::parse(&lower, date(2025, 6, 1)).unwrap();
        assert_eq!(parsed.as_str(), reservnummer);
        assert_eq!(parsed.kind(), PersonIdKind::Reservnummer);
    }

    #[test]
    fn display_debug_and_errors_never_show_the_full_number() {
        let id = PersonId::parse_normalized(EXAMPLE).unwrap();
        for shown in [
            id.to_string(),
            format!("{id:?}"),
            format!("{:?}", Some(id)),
            id.masked().to_string(),
            format!("{:#?}", id),
        ] {
            assert!(!shown.contains("3234"), "{shown}");
            assert!(shown.contains("19640823-****"), "{shown}");
        }
        let reference = date(2025, 6, 1);
        for input in [
            "19640823-3235",
            "640823-3235",
            "6408233235",
            "196408233235",
            " 196408233234",
            "196408233234 ",
            "196408233234196408233234",
            "6408233234x",
            "640823-3234x",
        ] {
            let error = PersonId::parse(input, reference).expect_err(input);
            for shown in [error.to_string(), format!("{error:?}")] {
                assert!(!shown.contains("3234"), "{shown}");
                assert!(!shown.contains("3235"), "{shown}");
                assert!(!shown.contains("233"), "{shown}");
            }
        }
    }

    #[test]
    fn generators_compute_the_check_digit() {
        let id = PersonId::personnummer(date(1964, 8, 23), 323).unwrap();
        assert_eq!(id.as_str(), EXAMPLE);
        let coordination = PersonId::samordningsnummer(date(1964, 8, 23), 323).unwrap();
        assert_eq!(coordination.kind(), PersonIdKind::Samordningsnummer);
        assert_eq!(&coordination.as_str()[..8], "19640883");
        assert_eq!(coordination.birth_date(), Some(date(1964, 8, 23)));
        assert_eq!(coordination.sex(), Some(Sex::Male));
        assert_eq!(coordination.to_string(), "19640883-****");
        assert_eq!(
            reason(PersonId::personnummer(date(1964, 8, 23), 1000)),
            IdErrorReason::SerialOutOfRange { serial: 1000 }
        );
        assert!(matches!(
            reason(PersonId::personnummer(date(-1, 1, 1), 1)),
            IdErrorReason::ImpossibleDate {
                part: DatePart::Year,
                ..
            }
        ));
    }

    #[test]
    fn reservnummer_and_temporary_numbers() {
        for letter in [b'K', b'M', b'X'] {
            let written = reservnummer(date(2010, 1, 1), letter, 7);
            let id = PersonId::parse_normalized(&written).unwrap();
            assert_eq!(id.kind(), PersonIdKind::Reservnummer);
            assert_eq!(id.birth_date(), Some(date(2010, 1, 1)));
            assert_eq!(id.sex(), None);
            assert_eq!(id.to_string(), "20100101-****");
            // The check digit is the only thing that sets a reservnummer
            // apart from a temporary number of the same shape.
            let mut wrong = written.into_bytes();
            wrong[11] = b'0' + (digit(wrong[11]) + 1) % 10;
            let wrong = String::from_utf8(wrong).unwrap();
            let id = PersonId::parse_normalized(&wrong).unwrap();
            assert_eq!(id.kind(), PersonIdKind::Temporary);
            assert!(matches!(
                reason(parse_normalized_as(
                    &wrong,
                    Some(PersonIdKind::Reservnummer)
                )),
                IdErrorReason::CheckDigit { .. }
            ));
        }
        for temporary in ["20100101TF01", "20100101ABCD", "2010010112A4"] {
            let id = PersonId::parse_normalized(temporary).unwrap();
            assert_eq!(id.kind(), PersonIdKind::Temporary, "{temporary}");
            assert_eq!(id.sex(), None);
            assert_eq!(id.birth_date(), Some(date(2010, 1, 1)));
        }
        // Letters do not move the day by 60.
        assert!(matches!(
            reason(PersonId::parse_normalized("20100161TF01")),
            IdErrorReason::ImpossibleDate {
                part: DatePart::Day,
                ..
            }
        ));
        assert_eq!(
            reason(parse_normalized_as(
                "20100101TF01",
                Some(PersonIdKind::Personnummer)
            )),
            IdErrorReason::KindMismatch {
                found: PersonIdKind::Temporary
            }
        );
    }

    #[test]
    fn kinds_name_their_systems() {
        assert_eq!(
            PersonIdKind::Personnummer.oid(),
            Some("1.2.752.129.2.1.3.1")
        );
        assert_eq!(
            PersonIdKind::Samordningsnummer.oid(),
            Some("1.2.752.129.2.1.3.3")
        );
        assert_eq!(
            PersonIdKind::Samordningsnummer.fhir_system(),
            Some("http://electronichealth.se/identifier/samordningsnummer")
        );
        assert_eq!(PersonIdKind::Reservnummer.fhir_system(), None);
        assert_eq!(PersonIdKind::Temporary.oid(), None);
    }

    #[test]
    fn skatteverket_test_numbers_are_valid() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/data/testpersonnummer.txt"
        );
        let list = std::fs::read_to_string(path).ok();
        let numbers: Vec<&str> = match &list {
            Some(list) => list.lines().filter(|line| !line.is_empty()).collect(),
            None => FROM_TEST_LIST.to_vec(),
        };
        assert!(!numbers.is_empty());
        for number in &numbers {
            let id = PersonId::parse_normalized(number)
                .unwrap_or_else(|error| panic!("line of the test list refused: {error}"));
            assert!(matches!(
                id.kind(),
                PersonIdKind::Personnummer | PersonIdKind::Samordningsnummer
            ));
            assert_eq!(id.as_str(), *number);
            let hyphenated = format!("{}-{}", &number[..8], &number[8..]);
            assert_eq!(PersonId::parse(&hyphenated, date(2025, 6, 1)).unwrap(), id);
        }
        if list.is_some() {
            assert!(numbers.len() > 40_000, "only {} numbers", numbers.len());
            // The embedded fallback must stay a copy from the real list.
            for number in FROM_TEST_LIST {
                assert!(numbers.contains(&number), "{number} is not in the list");
            }
        }
    }

    /// A VGR reservnummer with its check digit, as normalised text.
    fn reservnummer(birth: Date, letter: u8, number: u8) -> String {
        let mut value = PersonId::personnummer(birth, 0).unwrap().value;
        value[8] = letter;
        value[9] = b'0' + number / 10;
        value[10] = b'0' + number % 10;
        value[11] = b'0' + luhn(&value[2..11]);
        String::from_utf8(value.to_vec()).unwrap()
    }

    /// The written form a person holding `id` would be given on `reference`:
    /// `-` under 100, `+` from the calendar year they turn 100.
    fn ten_digit_form(id: &PersonId, reference: Date) -> String {
        let birth = id.birth_date().unwrap();
        let separator = if reference.year() - birth.year() >= 100 {
            '+'
        } else {
            '-'
        };
        let value = id.as_str();
        format!("{}{separator}{}", &value[2..8], &value[8..])
    }

    fn birth_dates() -> impl Strategy<Value = Date> {
        (0i32..=(2100 - 1800) * 366)
            .prop_map(|days| date(1800, 1, 1).checked_add(days.days()).unwrap())
    }

    fn generated_ids() -> impl Strategy<Value = PersonId> {
        (birth_dates(), 0u16..=999, any::<bool>()).prop_map(|(birth, serial, coordination)| {
            if coordination {
                PersonId::samordningsnummer(birth, serial).unwrap()
            } else {
                PersonId::personnummer(birth, serial).unwrap()
            }
        })
    }

    proptest! {
        #[test]
        fn written_forms_round_trip(id in generated_ids(), age_days in 0i32..=199 * 365) {
            let birth = id.birth_date().unwrap();
            let reference = birth.checked_add(age_days.days()).unwrap();
            let value = id.as_str();
            prop_assert_eq!(PersonId::parse_normalized(value).unwrap(), id);
            prop_assert_eq!(PersonId::parse(value, reference).unwrap(), id);
            let hyphenated = format!("{}-{}", &value[..8], &value[8..]);
            prop_assert_eq!(PersonId::parse(&hyphenated, reference).unwrap(), id);
            let short = ten_digit_form(&id, reference);
            prop_assert_eq!(PersonId::parse(&short, reference).unwrap(), id, "{}", short);
            if short.contains('-') {
                let bare = short.replace('-', "");
                prop_assert_eq!(PersonId::parse(&bare, reference).unwrap(), id);
            }
            prop_assert_eq!(id.birth_date(), Some(birth));
        }

        #[test]
        fn luhn_catches_any_single_digit_change(
            id in generated_ids(),
            place in 2usize..12,
            change in 1u8..=9,
        ) {
            let mut value = id.as_str().as_bytes().to_vec();
            value[place] = b'0' + (digit(value[place]) + change) % 10;
            let changed = String::from_utf8(value).unwrap();
            prop_assert!(PersonId::parse_normalized(&changed).is_err(), "{}", changed);
        }

        #[test]
        fn generated_reservnummer_parse_and_changes_are_caught(
            birth in birth_dates(),
            letter in prop::sample::select(&b"KMX"[..]),
            number in 0u8..=99,
            place in 2usize..12,
            change in 1u8..=9,
        ) {
            let written = reservnummer(birth, letter, number);
            let id = PersonId::parse_normalized(&written).unwrap();
            prop_assert_eq!(id.kind(), PersonIdKind::Reservnummer);
            prop_assert_eq!(id.birth_date(), Some(birth));
            prop_assert_eq!(
                PersonId::parse(&written.to_ascii_lowercase(), birth).unwrap(),
                id
            );
            let short = format!("{}-{}", &written[2..8], &written[8..]);
            prop_assert_eq!(PersonId::parse(&short, birth).unwrap(), id);
            let mut value = written.into_bytes();
            if place != 8 {
                value[place] = b'0' + (digit(value[place]) + change) % 10;
                let changed = String::from_utf8(value).unwrap();
                let still_reservnummer = PersonId::parse_normalized(&changed)
                    .is_ok_and(|id| id.kind() == PersonIdKind::Reservnummer);
                prop_assert!(!still_reservnummer, "{}", changed);
            }
        }

        #[test]
        fn generated_temporary_numbers_parse(
            birth in birth_dates(),
            others in "[0-9A-Za-z]{3}",
            letter in "[A-Za-z]",
            at in 0usize..=3,
        ) {
            let mut tail = others;
            tail.insert_str(at, &letter);
            let date = birth.strftime("%Y%m%d").to_string();
            let written = format!("{date}{tail}");
            let id = PersonId::parse(&written, birth).unwrap();
            let upper = written.to_ascii_uppercase();
            prop_assert_eq!(id.as_str(), upper.as_str());
            match id.kind() {
                PersonIdKind::Temporary => {}
                PersonIdKind::Reservnummer => prop_assert!(b"KMX".contains(&id.value[8])),
                kind => prop_assert!(false, "{} read as {}", written, kind),
            }
        }

        #[test]
        fn arbitrary_strings_never_panic(input in any::<String>(), year in -9999i16..=9999) {
            let reference = date(year, 6, 15);
            let parsed = PersonId::parse(&input, reference);
            let normalized = PersonId::parse_normalized(&input);
            if let Err(error) = &parsed {
                prop_assert!(!error.to_string().is_empty());
            }
            if let Ok(id) = normalized {
                prop_assert_eq!(id.as_str(), input.as_str());
            }
        }

        #[test]
        fn near_miss_strings_never_panic(
            input in "[0-9]{0,8}[-+ /]?[0-9kmxKMXa-z]{0,5}",
            year in -9999i16..=9999,
            month in 1i8..=12,
        ) {
            let reference = date(year, month, 28);
            if let Ok(id) = PersonId::parse(&input, reference) {
                prop_assert!(id.birth_date().is_some());
                prop_assert_eq!(PersonId::parse_normalized(id.as_str()).unwrap(), id);
            }
            let _ = PersonId::parse_normalized(&input);
        }
    }
}
