//! Why an identifier was refused: one error type for every identifier in this
//! module, whose one-line message names the kind tried, the input (masked, so
//! that a log line never carries a full personnummer) and the reason, and whose
//! reason is an enum that callers can match on.

use std::fmt;

use super::PersonIdKind;

/// An identifier that could not be accepted.
///
/// Displays as one line, e.g.
/// `invalid personnummer "19640823-****": check digit is 5, Luhn gives 4`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {tried} \"{input}\": {reason}")]
pub struct IdError {
    tried: TriedKind,
    /// Already masked and escaped when the error is built, so neither Display
    /// nor Debug of the error can leak what was masked.
    input: Box<str>,
    reason: IdErrorReason,
}

impl IdError {
    pub(super) fn new(tried: TriedKind, input: Box<str>, reason: IdErrorReason) -> Self {
        Self {
            tried,
            input,
            reason,
        }
    }

    /// What kind of identifier the input was read as when it failed.
    pub fn tried(&self) -> TriedKind {
        self.tried
    }

    /// Why it failed.
    pub fn reason(&self) -> &IdErrorReason {
        &self.reason
    }
}

/// The kind of identifier an input was read as when it failed.
///
/// A person id's kind is only known once its shape is: a wrong length or a
/// stray character is reported against [`TriedKind::PersonId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TriedKind {
    /// Any person id, before its kind could be told.
    PersonId,
    /// One kind of person id.
    Person(PersonIdKind),
    /// An HSA-id.
    HsaId,
}

impl fmt::Display for TriedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PersonId => f.write_str("person id"),
            Self::Person(kind) => f.write_str(kind.as_str()),
            Self::HsaId => f.write_str("HSA-id"),
        }
    }
}

/// Which part of a date does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatePart {
    /// The year: outside 0..=9999, from a 2-digit year put in a century
    /// before year 0, or a generator handed such a birth date.
    Year,
    /// The month (not 01–12).
    Month,
    /// The day (not a day of that month in that year).
    Day,
}

/// Why an identifier was refused. Positions are 1-based character positions
/// in the input as written, separator included.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdErrorReason {
    /// Nothing to parse.
    Empty,
    /// The input has a length no accepted form has.
    WrongLength {
        /// Characters in the input.
        found: usize,
        /// The accepted lengths, in words.
        expected: &'static str,
    },
    /// A character where only a digit may stand.
    NonDigit { position: usize, found: char },
    /// A character where only an ASCII letter or digit may stand.
    NonAlphanumeric { position: usize, found: char },
    /// A character where the separator stands that is not an accepted one.
    UnknownSeparator { position: usize, found: char },
    /// `+` (100 years or older) written with a 4-digit year, which already
    /// fixes the century; the two could contradict each other.
    PlusWithFullYear,
    /// The date digits do not name a day that exists. `day` is as written, so
    /// for a samordningsnummer it still has 60 added.
    ImpossibleDate {
        part: DatePart,
        year: i16,
        month: u8,
        day: u8,
    },
    /// The check digit does not match the Luhn sum of the digits before it.
    CheckDigit { found: u8, expected: u8 },
    /// A birth number (NNN) above 999.
    SerialOutOfRange { serial: u16 },
    /// The value is a valid person id of another kind than the one declared
    /// beside it (e.g. `"system": "personnummer"` with a samordningsnummer).
    KindMismatch { found: PersonIdKind },
    /// A lower-case letter where the normalised form has upper case only.
    NotNormalized { position: usize, found: char },
    /// An HSA-id that does not start with the country code `SE`.
    MissingSePrefix,
}

impl fmt::Display for IdErrorReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty input"),
            Self::WrongLength { found, expected } => {
                write!(f, "wrong length: {found} characters, expected {expected}")
            }
            Self::NonDigit { position, found } => {
                write!(f, "non-digit {found:?} at position {position}")
            }
            Self::NonAlphanumeric { position, found } => {
                write!(
                    f,
                    "{found:?} at position {position} is not an ASCII letter or digit"
                )
            }
            Self::UnknownSeparator { position, found } => {
                write!(f, "unknown separator {found:?} at position {position}")
            }
            Self::PlusWithFullYear => f.write_str(
                "'+' (100 years or older) goes only with a 2-digit year; write '-' or nothing with a 4-digit year",
            ),
            Self::ImpossibleDate {
                part: DatePart::Year,
                year,
                ..
            } => write!(f, "impossible date: year {year} is out of range"),
            Self::ImpossibleDate {
                part: DatePart::Month,
                month,
                ..
            } => write!(f, "impossible date: month {month:02} does not exist"),
            Self::ImpossibleDate {
                part: DatePart::Day,
                year,
                month,
                day,
            } => {
                write!(f, "impossible date: day {day:02}")?;
                if *day > 60 {
                    write!(f, " (samordningsnummer day {:02} + 60)", day - 60)?;
                }
                write!(f, " does not exist in {year:04}-{month:02}")
            }
            Self::CheckDigit { found, expected } => {
                write!(f, "check digit is {found}, Luhn gives {expected}")
            }
            Self::SerialOutOfRange { serial } => {
                write!(f, "birth number {serial} is not in 0..=999")
            }
            Self::KindMismatch { found } => write!(f, "the value is a {found}"),
            Self::NotNormalized { position, found } => write!(
                f,
                "{found:?} at position {position} is lower case; the normalised form is upper case"
            ),
            Self::MissingSePrefix => f.write_str("an HSA-id starts with \"SE\""),
        }
    }
}
