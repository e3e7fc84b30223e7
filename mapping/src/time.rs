//! Clinical time in Europe/Stockholm, and the one chronological order of
//! journal entries.
//!
//! Swedish sources give times in three shapes: a calendar date only (old
//! notes), a local wall-clock time without an offset (RIVTA's
//! `YYYYMMDDhhmmss`, most vendor exports), or an exact instant with `Z` or an
//! offset. [`ClinicalTime`] keeps the first as a date — it never becomes a
//! made-up 00:00 — and resolves the other two to an exact instant that is
//! always presented in Stockholm local time with the offset in force at that
//! instant.
//!
//! # The rule for local times without an offset
//!
//! A local date-time without an offset is read as Europe/Stockholm wall-clock
//! time, using the tz database bundled into the binary (jiff's
//! `tzdb-bundle-always`), so the result does not depend on the host's
//! `/usr/share/zoneinfo`. Two hours a year need a rule:
//!
//! - **Fall back** (last Sunday of October since 1996, of September from 1980
//!   to 1995; 02:00–02:59:59 happens twice): a
//!   local time in that hour is the **first** occurrence, summer time
//!   (`+02:00`). `2024-10-27 02:30` is `2024-10-27T02:30:00+02:00`
//!   (00:30 UTC). A source that knows it meant the second occurrence must say
//!   so with the offset: `2024-10-27T02:30:00+01:00` is kept as given and
//!   sorts one hour later.
//! - **Spring forward** (last Sunday of March, 02:00–02:59:59 does not
//!   happen): a local time in the gap is moved **forward by the length of
//!   the gap**. `2024-03-31 02:30` is `2024-03-31T03:30:00+02:00`; the last
//!   second before the gap, `01:59:59`, stays `+01:00`.
//!
//! This is the "compatible" disambiguation of RFC 5545 and Temporal (the
//! offset in force just *before* the transition is applied to the wall-clock
//! reading), and it never fails. Its one surprise: a reading inside the gap,
//! which no correct clock shows, lands after real readings just past the gap
//! (`02:30` becomes `03:30+02:00` and so sorts after `03:15`).
//!
//! Instants before 1970 follow the tz database, which since 2022 treats
//! Europe/Stockholm as a link to Europe/Berlin for those years (local mean
//! time `+00:53:28` until 1893, German war-time summer time in the 1940s).
//! Pupil-health records from then do not exist in practice; the rule above
//! is applied the same way regardless.
//!
//! Times are kept to the whole second. Fractional seconds in the input are
//! accepted and dropped (towards the past), because no Swedish clinical
//! source carries meaningful sub-second precision and [`Display`](fmt::Display) prints
//! seconds.
//!
//! # Order
//!
//! [`ClinicalTime`] orders by (Stockholm calendar date, date-only before timed
//! on the same day, instant). Two timed values thus order exactly as their
//! instants do (Stockholm's clock never turns back across midnight — a test
//! checks every transition in the bundled database), and a date-only value
//! sits before every timed value of its own day and after every value of the
//! day before, without pretending to know the hour.
//!
//! [`ChronologyKey`] is the total order of journal entries, defined here and
//! nowhere else: event time, author time, signing time, record time (a
//! missing optional time sorts after a present one), then the source system,
//! source record id and source version as a stable tie-break. Import time is
//! provenance only and never part of it. [`ChronologyKey::encode`] gives
//! bytes whose `memcmp` order is the same order, for external sorting.

use std::cmp::Ordering;
use std::fmt;
use std::sync::OnceLock;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, Offset, TimeZone, TimeZoneDatabase};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The IANA name of the one time zone Brygga's clinical time lives in.
const ZONE_NAME: &str = "Europe/Stockholm";

const SECONDS_PER_DAY: i64 = 86_400;

/// Europe/Stockholm from the bundled tz database, looked up once.
///
/// The bundled database is used explicitly (not `jiff::tz::db()`, which
/// prefers the host's zoneinfo) so every machine resolves local times the
/// same way.
fn stockholm() -> &'static TimeZone {
    static ZONE: OnceLock<TimeZone> = OnceLock::new();
    ZONE.get_or_init(|| {
        TimeZoneDatabase::bundled().get(ZONE_NAME).expect(
            "the tz database compiled into the binary (jiff feature \
             tzdb-bundle-always) contains Europe/Stockholm",
        )
    })
}

/// A point in clinical time as a Swedish source gave it: either a calendar
/// date only (old notes often have no time — that precision is kept, never
/// turned into a fake 00:00), or a date-time resolved to an exact instant,
/// always presented in Europe/Stockholm local time with its offset.
///
/// Ordering, equality and hashing follow the key described in the
/// [module documentation](self): (Stockholm date, date-only first, instant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClinicalTime {
    /// A calendar date without a time of day.
    Date(Date),
    /// An exact instant, shown in Stockholm time.
    DateTime(LocalDateTime),
}

/// An exact instant (to the second) together with the Europe/Stockholm
/// offset in force at that instant.
///
/// The offset is computed once, when the value is made, so displaying and
/// ordering never consult the tz database again. Values are only made by
/// [`ClinicalTime`]'s constructors, which keep the offset consistent with the
/// instant; that is why the derived equality agrees with the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LocalDateTime {
    instant: Timestamp,
    offset: Offset,
}

/// How precisely a [`ClinicalTime`] is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Precision {
    /// Only the calendar date.
    Date,
    /// Date and time of day, to the second.
    DateTime,
}

impl LocalDateTime {
    /// Builds the value for an instant, dropping any fraction of a second
    /// (towards the past, so a value never moves to a later second).
    fn from_instant(ts: Timestamp) -> Self {
        let floor = ts.as_second() - i64::from(ts.subsec_nanosecond() < 0);
        // Cannot fail: `Timestamp::MIN` is a whole second, so the floor of a
        // valid timestamp is valid. Keeping `ts` would only keep its fraction.
        let instant = Timestamp::from_second(floor).unwrap_or(ts);
        LocalDateTime {
            instant,
            offset: stockholm().to_offset(instant),
        }
    }

    /// Resolves Stockholm wall-clock time by the module's rule.
    fn resolve_local(dt: DateTime) -> Result<Self, jiff::Error> {
        // Matching the ambiguity ourselves is jiff's `compatible()` plus the
        // offset at the resulting instant, in one tz lookup instead of two.
        let (apply, offset) = match stockholm().to_ambiguous_timestamp(dt).offset() {
            AmbiguousOffset::Unambiguous { offset } => (offset, offset),
            // The clock skipped this reading. Applying the offset from
            // before the gap moves it forward by the gap's length, to an
            // instant where `after` is in force.
            AmbiguousOffset::Gap { before, after } => (before, after),
            // First occurrence: the earlier (summer-time) offset.
            AmbiguousOffset::Fold { before, .. } => (before, before),
        };
        Ok(LocalDateTime {
            instant: apply.to_timestamp(dt)?,
            offset,
        })
    }

    /// The exact instant.
    pub fn instant(&self) -> Timestamp {
        self.instant
    }

    /// The Europe/Stockholm offset in force at [`instant`](Self::instant).
    pub fn offset(&self) -> Offset {
        self.offset
    }

    /// The Stockholm wall-clock reading of the instant.
    pub fn civil(&self) -> DateTime {
        self.offset.to_datetime(self.instant)
    }

    /// Seconds since 1970-01-01T00:00 on the Stockholm wall clock; the
    /// Stockholm day number is this divided by a day, rounded down.
    fn local_seconds(&self) -> i64 {
        self.instant.as_second() + i64::from(self.offset.seconds())
    }
}

impl ClinicalTime {
    /// A date-only value.
    pub fn from_date(d: Date) -> Self {
        ClinicalTime::Date(d)
    }

    /// Local Stockholm wall-clock time without an offset, resolved by the
    /// rule in the [module documentation](self). Fractions of a second are
    /// dropped.
    ///
    /// Within about a day of jiff's outermost dates (years −9999 and 9999)
    /// the wall-clock reading may have no representable instant; it is then
    /// clamped to the nearest one. [`parse`](Self::parse) reports such input
    /// as an error instead.
    pub fn from_local(dt: DateTime) -> Self {
        let dt = whole_second(dt);
        match LocalDateTime::resolve_local(dt) {
            Ok(local) => ClinicalTime::DateTime(local),
            Err(_) if dt.year() < 0 => Self::from_instant(Timestamp::MIN),
            Err(_) => Self::from_instant(Timestamp::MAX),
        }
    }

    /// An exact instant, presented in Stockholm time. Fractions of a second
    /// are dropped.
    pub fn from_instant(ts: Timestamp) -> Self {
        ClinicalTime::DateTime(LocalDateTime::from_instant(ts))
    }

    /// Parses the ISO 8601 / RFC 3339 forms Swedish sources use:
    ///
    /// - `2019-05-14` — a date only;
    /// - `2019-05-14T08:30`, `2019-05-14T08:30:15` — Stockholm local time,
    ///   resolved by the module's rule;
    /// - `2019-05-14T08:30:15Z`, `…+01:00`, `…+0100`, `…+01` — an exact
    ///   instant, re-expressed in Stockholm time.
    ///
    /// A space or lowercase `t` may stand for `T`, and `z` for `Z`. Seconds
    /// may carry up to nine fractional digits after `.` or `,`; they are
    /// dropped. Leading or trailing whitespace is an error.
    ///
    /// Two rarer forms are read so that everything
    /// [`Display`](fmt::Display) writes parses back: an offset with seconds
    /// (`+00:53:28`, local mean time before 1893) and ISO 8601's expanded
    /// year for years outside 0000–9999 (`-000044-03-15`).
    pub fn parse(s: &str) -> Result<Self, TimeError> {
        parse_iso(s.as_bytes()).map_err(|kind| TimeError::new(s, kind))
    }

    /// Parses the compact forms of the national infrastructure (RIVTA):
    /// `YYYYMMDD` (a date only), `YYYYMMDDhhmm` and `YYYYMMDDhhmmss`
    /// (Stockholm local time, resolved by the module's rule).
    pub fn parse_compact(s: &str) -> Result<Self, TimeError> {
        parse_compact(s.as_bytes()).map_err(|kind| TimeError::new(s, kind))
    }

    /// Whether this is a date only or a date-time.
    pub fn precision(&self) -> Precision {
        match self {
            ClinicalTime::Date(_) => Precision::Date,
            ClinicalTime::DateTime(_) => Precision::DateTime,
        }
    }

    /// The Stockholm calendar date.
    pub fn local_date(&self) -> Date {
        match self {
            ClinicalTime::Date(d) => *d,
            ClinicalTime::DateTime(local) => local.civil().date(),
        }
    }

    /// The exact instant, or `None` for a date-only value.
    pub fn instant(&self) -> Option<Timestamp> {
        match self {
            ClinicalTime::Date(_) => None,
            ClinicalTime::DateTime(local) => Some(local.instant),
        }
    }

    /// The order key: (Stockholm day number since 1970-01-01, precision
    /// rank, instant in seconds). The instant is 0 for date-only values,
    /// where it never decides anything because the rank already differs
    /// from every timed value.
    fn sort_key(&self) -> (i32, u8, i64) {
        match self {
            ClinicalTime::Date(d) => (days_from_civil(*d), 0, 0),
            ClinicalTime::DateTime(local) => {
                let day = local.local_seconds().div_euclid(SECONDS_PER_DAY);
                // jiff's range is ±9999 years, about ±3.7 million days.
                (day as i32, 1, local.instant.as_second())
            }
        }
    }

    /// Appends memcmp-comparable bytes: 4 bytes of day, 1 byte of rank, and
    /// for timed values 8 bytes of instant. Date-only values can stop after
    /// the rank because the rank byte already differs from any timed value.
    fn encode(&self, out: &mut Vec<u8>) {
        let (day, rank, seconds) = self.sort_key();
        out.extend_from_slice(&flip_sign_i32(day).to_be_bytes());
        out.push(rank);
        if let ClinicalTime::DateTime(_) = self {
            out.extend_from_slice(&flip_sign_i64(seconds).to_be_bytes());
        }
    }
}

impl std::str::FromStr for ClinicalTime {
    type Err = TimeError;

    /// The same as [`ClinicalTime::parse`].
    fn from_str(s: &str) -> Result<Self, TimeError> {
        ClinicalTime::parse(s)
    }
}

impl Ord for ClinicalTime {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

impl PartialOrd for ClinicalTime {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl ClinicalTime {
    /// The form vendor exports write: a date only, or the Stockholm
    /// wall-clock reading without an offset (`2019-05-14T08:30:00`), which
    /// [`parse`](Self::parse) reads back by the module's rule. The one
    /// reading that rule cannot give back — the second occurrence of the
    /// repeated October hour — keeps its offset
    /// (`2024-10-27T02:30:00+01:00`), so the value always round-trips.
    pub fn to_local_string(&self) -> String {
        match self {
            ClinicalTime::Date(_) => self.to_string(),
            ClinicalTime::DateTime(local) => {
                let civil = local.civil();
                if LocalDateTime::resolve_local(civil).is_ok_and(|back| back == *local) {
                    let mut text = self.to_string();
                    text.truncate(text.len() - offset_text_len(local.offset));
                    text
                } else {
                    self.to_string()
                }
            }
        }
    }
}

/// Length of the offset as [`Display`](fmt::Display) writes it (`+02:00`,
/// or `+00:53:28` with seconds).
fn offset_text_len(offset: Offset) -> usize {
    if offset.seconds() % 60 == 0 { 6 } else { 9 }
}

impl ClinicalTime {
    /// The [`Display`](fmt::Display) text, written digit by digit into
    /// `buf`, for every time of years 0–9999 with a whole-minute offset
    /// (all but historic ones); `None` for the others. Serialising and the
    /// FHIR writer format several times per record, and the formatting
    /// machinery costs more than the digits.
    pub fn common_text<'b>(&self, buf: &'b mut [u8; 25]) -> Option<&'b str> {
        fn two(buf: &mut [u8], at: usize, value: u32) {
            buf[at] = b'0' + (value / 10 % 10) as u8;
            buf[at + 1] = b'0' + (value % 10) as u8;
        }
        let (date, clock) = match self {
            ClinicalTime::Date(date) => (*date, None),
            ClinicalTime::DateTime(local) => {
                let civil = local.civil();
                (civil.date(), Some((civil, local.offset.seconds())))
            }
        };
        let year = u32::try_from(date.year()).ok().filter(|y| *y <= 9999)?;
        two(buf, 0, year / 100);
        two(buf, 2, year % 100);
        buf[4] = b'-';
        two(buf, 5, date.month().unsigned_abs().into());
        buf[7] = b'-';
        two(buf, 8, date.day().unsigned_abs().into());
        let mut len = 10;
        if let Some((civil, offset)) = clock {
            if offset % 60 != 0 {
                return None;
            }
            buf[10] = b'T';
            two(buf, 11, civil.hour().unsigned_abs().into());
            buf[13] = b':';
            two(buf, 14, civil.minute().unsigned_abs().into());
            buf[16] = b':';
            two(buf, 17, civil.second().unsigned_abs().into());
            buf[19] = if offset < 0 { b'-' } else { b'+' };
            let minutes = offset.unsigned_abs() / 60;
            two(buf, 20, minutes / 60);
            buf[22] = b':';
            two(buf, 23, minutes % 60);
            len = 25;
        }
        std::str::from_utf8(&buf[..len]).ok()
    }
}

impl fmt::Display for ClinicalTime {
    /// `2019-05-14`, or RFC 3339 to the second with the Stockholm offset,
    /// `2019-10-27T02:30:00+02:00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.common_text(&mut [0; 25]) {
            Some(text) => f.write_str(text),
            None => General(self).fmt(f),
        }
    }
}

/// [`ClinicalTime`]'s text for any year and offset, through the formatting
/// machinery.
struct General<'a>(&'a ClinicalTime);

impl fmt::Display for General<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ClinicalTime::Date(d) => write_date(f, *d),
            ClinicalTime::DateTime(local) => {
                let dt = local.civil();
                write_date(f, dt.date())?;
                write!(f, "T{:02}:{:02}:{:02}", dt.hour(), dt.minute(), dt.second())?;
                let total = local.offset.seconds();
                let sign = if total < 0 { '-' } else { '+' };
                let abs = total.unsigned_abs();
                write!(f, "{sign}{:02}:{:02}", abs / 3600, abs / 60 % 60)?;
                if abs % 60 != 0 {
                    write!(f, ":{:02}", abs % 60)?;
                }
                Ok(())
            }
        }
    }
}

fn write_date(f: &mut fmt::Formatter<'_>, d: Date) -> fmt::Result {
    let year = d.year();
    if (0..=9999).contains(&year) {
        write!(f, "{year:04}")?;
    } else {
        // ISO 8601 expanded year: sign and six digits.
        write!(f, "{year:+07}")?;
    }
    write!(f, "-{:02}-{:02}", d.month(), d.day())
}

impl Serialize for ClinicalTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.common_text(&mut [0; 25]) {
            Some(text) => serializer.serialize_str(text),
            None => serializer.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for ClinicalTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ClinicalTime;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "an ISO 8601 date or date-time such as 2019-05-14 or 2019-05-14T08:30:00+02:00",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ClinicalTime, E> {
                ClinicalTime::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// The total order of journal chronology, defined here and nowhere else:
/// event time, then author time, signing time, record time (a missing time
/// sorts after a present one at the same level), then a stable source
/// tie-break: source system, source record id, source version. Import time is
/// never part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChronologyKey<'a> {
    /// When care happened / the document's clinical time.
    pub event: &'a ClinicalTime,
    /// When the note was written.
    pub author: Option<&'a ClinicalTime>,
    /// When the note was signed (may be days after it was written).
    pub signing: Option<&'a ClinicalTime>,
    /// When the record was first created in the source system.
    pub record: Option<&'a ClinicalTime>,
    /// The system the entry came from.
    pub source_system: &'a str,
    /// The entry's id in that system.
    pub source_record_id: &'a str,
    /// The entry's version in that system.
    pub source_version: u32,
}

impl ChronologyKey<'_> {
    /// Appends bytes whose lexicographic (`memcmp`) order equals [`Ord`], for
    /// an external merge sort that spills keys to disk. Equal keys give equal
    /// bytes.
    ///
    /// Layout: each time as in [`ClinicalTime`]'s order key; each optional
    /// time prefixed by `0x00` when present and encoded as `0x01` alone when
    /// missing (so missing sorts last); strings with `0x00` escaped as
    /// `0x00 0xFF` and terminated by `0x00 0x01`, so a string sorts before
    /// any longer string it is a prefix of; the version as 4 big-endian bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.event.encode(out);
        for time in [self.author, self.signing, self.record] {
            match time {
                Some(t) => {
                    out.push(0x00);
                    t.encode(out);
                }
                None => out.push(0x01),
            }
        }
        encode_str(self.source_system, out);
        encode_str(self.source_record_id, out);
        out.extend_from_slice(&self.source_version.to_be_bytes());
    }
}

impl Ord for ChronologyKey<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.event
            .cmp(other.event)
            .then_with(|| cmp_present_first(self.author, other.author))
            .then_with(|| cmp_present_first(self.signing, other.signing))
            .then_with(|| cmp_present_first(self.record, other.record))
            .then_with(|| self.source_system.cmp(other.source_system))
            .then_with(|| self.source_record_id.cmp(other.source_record_id))
            .then_with(|| self.source_version.cmp(&other.source_version))
    }
}

impl PartialOrd for ChronologyKey<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A missing time sorts after a present one: an entry whose signing time is
/// unknown goes after the signed entries it otherwise ties with.
fn cmp_present_first(a: Option<&ClinicalTime>, b: Option<&ClinicalTime>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

fn encode_str(s: &str, out: &mut Vec<u8>) {
    for &b in s.as_bytes() {
        out.push(b);
        if b == 0x00 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
}

/// Maps signed integers to unsigned ones with the same order, so their
/// big-endian bytes compare like the numbers.
fn flip_sign_i32(v: i32) -> u32 {
    (v as u32) ^ (1 << 31)
}

fn flip_sign_i64(v: i64) -> u64 {
    (v as u64) ^ (1 << 63)
}

/// Days from 1970-01-01 to `d` in the proleptic Gregorian calendar (Howard
/// Hinnant's `days_from_civil`), so a date-only value and a timed value can
/// be compared by day without building a civil date-time for either.
fn days_from_civil(d: Date) -> i32 {
    let month = i32::from(d.month());
    let year = i32::from(d.year()) - i32::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + i32::from(d.day()) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn whole_second(dt: DateTime) -> DateTime {
    dt.date().at(dt.hour(), dt.minute(), dt.second(), 0)
}

/// Why a time string was rejected.
///
/// The [`TimeError`] message puts the input in front of this reason.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeErrorKind {
    /// Something other than what the format allows at a byte position.
    Syntax {
        /// Byte offset into the input.
        at: usize,
        /// What the format allows there.
        expected: &'static str,
    },
    /// A compact (RIVTA) time of the wrong length.
    CompactLength {
        /// The input's length in bytes.
        len: usize,
    },
    /// A year beyond ±9999.
    Year {
        /// The year as written.
        year: i32,
    },
    /// A month outside 01–12.
    Month {
        /// The month as written.
        month: u8,
    },
    /// A day that the month does not have.
    Day {
        /// The year, for February's sake.
        year: i16,
        /// The month, 1–12.
        month: u8,
        /// The day as written.
        day: u8,
    },
    /// An hour, minute or second (of the time or of the offset) out of range.
    Clock {
        /// Which field, e.g. "hour" or "offset minute".
        field: &'static str,
        /// The value as written.
        value: u8,
        /// The largest value allowed.
        max: u8,
    },
    /// A valid-looking date-time that has no instant jiff can represent
    /// (within about a day of the years −9999 and 9999).
    Unrepresentable,
}

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

impl fmt::Display for TimeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeErrorKind::Syntax { at, expected } => {
                write!(f, "expected {expected} at byte {at}")
            }
            TimeErrorKind::CompactLength { len } => write!(
                f,
                "expected 8, 12 or 14 digits (YYYYMMDD, YYYYMMDDhhmm or YYYYMMDDhhmmss), found {len} bytes"
            ),
            TimeErrorKind::Year { year } => write!(f, "year {year} is outside -9999 to 9999"),
            TimeErrorKind::Month { month } => write!(f, "month {month:02} is not 01-12"),
            TimeErrorKind::Day { year, month, day } => {
                let name = MONTH_NAMES
                    .get(usize::from(*month).wrapping_sub(1))
                    .copied()
                    .unwrap_or("the month");
                if *day == 0 {
                    write!(f, "day 00 is not a day of {name}")
                } else if *month == 2 && *day == 29 {
                    write!(
                        f,
                        "day 29 is past the end of February {year}, which is not a leap year"
                    )
                } else {
                    write!(f, "day {day} is past the end of {name}")
                }
            }
            TimeErrorKind::Clock { field, value, max } => {
                write!(f, "{field} {value:02} is not 00-{max:02}")
            }
            TimeErrorKind::Unrepresentable => {
                f.write_str("the date-time is outside the range of representable instants")
            }
        }
    }
}

/// A time string that is not one of the accepted forms: one line naming the
/// input and the reason, e.g.
/// `invalid time "2019-02-30": day 30 is past the end of February`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid time {input:?}: {kind}")]
pub struct TimeError {
    input: String,
    kind: TimeErrorKind,
}

/// Inputs longer than this are cut in the error message: a time field that
/// actually holds note text must not end up in the logs whole.
const MAX_INPUT_IN_ERROR: usize = 64;

impl TimeError {
    fn new(input: &str, kind: TimeErrorKind) -> Self {
        let mut end = input.len().min(MAX_INPUT_IN_ERROR);
        while !input.is_char_boundary(end) {
            end -= 1;
        }
        let mut kept = input[..end].to_owned();
        if end < input.len() {
            kept.push('…');
        }
        TimeError { input: kept, kind }
    }

    /// The rejected input (cut after 64 bytes).
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Why it was rejected.
    pub fn kind(&self) -> &TimeErrorKind {
        &self.kind
    }
}

type Parsed<T> = Result<T, TimeErrorKind>;

fn syntax<T>(at: usize, expected: &'static str) -> Parsed<T> {
    Err(TimeErrorKind::Syntax { at, expected })
}

fn digit(b: &[u8], at: usize) -> Parsed<u8> {
    match b.get(at) {
        Some(c @ b'0'..=b'9') => Ok(c - b'0'),
        _ => syntax(at, "a digit"),
    }
}

fn two_digits(b: &[u8], at: usize) -> Parsed<u8> {
    Ok(digit(b, at)? * 10 + digit(b, at + 1)?)
}

fn four_digits(b: &[u8], at: usize) -> Parsed<i32> {
    Ok(i32::from(two_digits(b, at)?) * 100 + i32::from(two_digits(b, at + 2)?))
}

fn expect_byte(b: &[u8], at: usize, want: u8, expected: &'static str) -> Parsed<()> {
    if b.get(at) == Some(&want) {
        Ok(())
    } else {
        syntax(at, expected)
    }
}

fn is_leap_year(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Checks the fields ourselves before asking jiff, so the error says which
/// field is wrong and why.
fn make_date(year: i32, month: u8, day: u8) -> Parsed<Date> {
    let year = i16::try_from(year)
        .ok()
        .filter(|y| (-9999..=9999).contains(y))
        .ok_or(TimeErrorKind::Year { year })?;
    if !(1..=12).contains(&month) {
        return Err(TimeErrorKind::Month { month });
    }
    if day == 0 || day > days_in_month(i32::from(year), month) {
        return Err(TimeErrorKind::Day { year, month, day });
    }
    // Months and days are ≤ 31 here, so the casts are lossless.
    Date::new(year, month as i8, day as i8).map_err(|_| TimeErrorKind::Unrepresentable)
}

fn clock(field: &'static str, value: u8, max: u8) -> Parsed<i8> {
    if value > max {
        return Err(TimeErrorKind::Clock { field, value, max });
    }
    // ≤ 59 here.
    Ok(value as i8)
}

fn make_time(date: Date, hour: u8, minute: u8, second: u8) -> Parsed<DateTime> {
    Ok(date.at(
        clock("hour", hour, 23)?,
        clock("minute", minute, 59)?,
        clock("second", second, 59)?,
        0,
    ))
}

fn resolve_local(dt: DateTime) -> Parsed<ClinicalTime> {
    LocalDateTime::resolve_local(dt)
        .map(ClinicalTime::DateTime)
        .map_err(|_| TimeErrorKind::Unrepresentable)
}

const ISO_DATE_TIME_SEPARATOR: &str = "'T' or a space before the time";

fn parse_iso(b: &[u8]) -> Parsed<ClinicalTime> {
    match parse_common(b) {
        Some(time) => Ok(time),
        None => parse_iso_checked(b),
    }
}

/// Reads every form [`ClinicalTime::parse`] takes, field by field, saying
/// what is wrong.
fn parse_iso_checked(b: &[u8]) -> Parsed<ClinicalTime> {
    // Year: four digits, or ISO 8601's expanded form (sign + six digits)
    // that Display writes for years outside 0000–9999.
    let (year, mut i) = match b.first() {
        Some(&sign @ (b'+' | b'-')) => {
            let hi = i32::from(two_digits(b, 1)?);
            let lo = four_digits(b, 3)?;
            let year = hi * 10_000 + lo;
            (if sign == b'-' { -year } else { year }, 7)
        }
        _ => (four_digits(b, 0)?, 4),
    };
    expect_byte(b, i, b'-', "'-' after the year")?;
    let month = two_digits(b, i + 1)?;
    expect_byte(b, i + 3, b'-', "'-' after the month")?;
    let day = two_digits(b, i + 4)?;
    i += 6;
    let date = make_date(year, month, day)?;
    let Some(&separator) = b.get(i) else {
        return Ok(ClinicalTime::Date(date));
    };
    if !matches!(separator, b'T' | b't' | b' ') {
        return syntax(i, ISO_DATE_TIME_SEPARATOR);
    }
    let hour = two_digits(b, i + 1)?;
    expect_byte(b, i + 3, b':', "':' after the hour")?;
    let minute = two_digits(b, i + 4)?;
    i += 6;
    let mut second = 0;
    if b.get(i) == Some(&b':') {
        second = two_digits(b, i + 1)?;
        i += 3;
        if let Some(b'.' | b',') = b.get(i) {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == start {
                return syntax(i, "a digit of the fraction of a second");
            }
            if i - start > 9 {
                return syntax(start + 9, "at most nine digits of fraction");
            }
        }
    }
    let dt = make_time(date, hour, minute, second)?;
    let offset = match b.get(i) {
        None => return resolve_local(dt),
        Some(b'Z' | b'z') => {
            i += 1;
            Offset::UTC
        }
        Some(&sign @ (b'+' | b'-')) => {
            let (offset, end) = parse_offset(b, i + 1, sign == b'-')?;
            i = end;
            offset
        }
        Some(_) => return syntax(i, "'Z', '+', '-' or the end after the time"),
    };
    if i != b.len() {
        return syntax(i, "the end of the input");
    }
    let instant = offset
        .to_timestamp(dt)
        .map_err(|_| TimeErrorKind::Unrepresentable)?;
    Ok(ClinicalTime::from_instant(instant))
}

/// The forms nearly every source writes — `YYYY-MM-DD`, optionally
/// followed by `Thh:mm` or `Thh:mm:ss` and `Z` or `±hh:mm` — read in one
/// pass without the per-field error handling. `None` for anything else,
/// valid or not, which [`parse_iso_checked`] then reads (and explains); for
/// these forms both ways give the same value.
fn parse_common(b: &[u8]) -> Option<ClinicalTime> {
    let digit = |i: usize| b.get(i).filter(|c| c.is_ascii_digit()).map(|c| c - b'0');
    let two = |i: usize| Some(digit(i)? * 10 + digit(i + 1)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let year = i32::from(two(0)?) * 100 + i32::from(two(2)?);
    let (month, day) = (two(5)?, two(8)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    // Years 0000-9999, months and days checked: the casts are lossless.
    let date = Date::new(year as i16, month as i8, day as i8).ok()?;
    let time = b.get(10..)?;
    if time.is_empty() {
        return Some(ClinicalTime::Date(date));
    }
    if time.first() != Some(&b'T') || b.get(13) != Some(&b':') {
        return None;
    }
    let (hour, minute) = (two(11)?, two(14)?);
    let (second, zone) = match b.get(16) {
        Some(b':') => (two(17)?, b.get(19..)?),
        _ => (0, b.get(16..)?),
    };
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let dt = date.at(hour as i8, minute as i8, second as i8, 0);
    let offset = match *zone {
        [] => return resolve_local(dt).ok(),
        [b'Z'] => Offset::UTC,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (hours, minutes) = (two(b.len() - 5)?, two(b.len() - 2)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = i32::from(hours) * 3600 + i32::from(minutes) * 60;
            Offset::from_seconds(if sign == b'-' { -seconds } else { seconds }).ok()?
        }
        _ => return None,
    };
    Some(ClinicalTime::from_instant(offset.to_timestamp(dt).ok()?))
}

/// Parses `hh`, `hhmm`, `hh:mm` or `hh:mm:ss` after the offset's sign.
fn parse_offset(b: &[u8], mut i: usize, negative: bool) -> Parsed<(Offset, usize)> {
    let hours = two_digits(b, i)?;
    i += 2;
    let (mut minutes, mut seconds) = (0, 0);
    match b.get(i) {
        Some(b':') => {
            minutes = two_digits(b, i + 1)?;
            i += 3;
            if b.get(i) == Some(&b':') {
                seconds = two_digits(b, i + 1)?;
                i += 3;
            }
        }
        Some(b'0'..=b'9') => {
            minutes = two_digits(b, i)?;
            i += 2;
        }
        _ => {}
    }
    let total = i32::from(clock("offset hour", hours, 23)?) * 3600
        + i32::from(clock("offset minute", minutes, 59)?) * 60
        + i32::from(clock("offset second", seconds, 59)?);
    let offset = Offset::from_seconds(if negative { -total } else { total })
        .map_err(|_| TimeErrorKind::Unrepresentable)?;
    Ok((offset, i))
}

fn parse_compact(b: &[u8]) -> Parsed<ClinicalTime> {
    if !matches!(b.len(), 8 | 12 | 14) {
        return Err(TimeErrorKind::CompactLength { len: b.len() });
    }
    let date = make_date(four_digits(b, 0)?, two_digits(b, 4)?, two_digits(b, 6)?)?;
    if b.len() == 8 {
        return Ok(ClinicalTime::Date(date));
    }
    let second = if b.len() == 14 { two_digits(b, 12)? } else { 0 };
    resolve_local(make_time(
        date,
        two_digits(b, 8)?,
        two_digits(b, 10)?,
        second,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn t(s: &str) -> ClinicalTime {
        ClinicalTime::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn shown(s: &str) -> String {
        t(s).to_string()
    }

    fn utc(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn stockholm_comes_from_the_bundled_database() {
        // Same zone as jiff's own lookup, but never the host's files.
        assert!(!stockholm().is_unknown());
        assert_eq!(
            stockholm().to_offset(utc("2024-07-01T12:00:00Z")),
            Offset::constant(2)
        );
        assert_eq!(
            stockholm().to_offset(utc("2024-01-01T12:00:00Z")),
            Offset::constant(1)
        );
    }

    #[test]
    fn local_string_drops_the_offset_except_for_the_second_october_hour() {
        assert_eq!(t("2019-05-14").to_local_string(), "2019-05-14");
        assert_eq!(
            t("2019-05-14T08:30:15+02:00").to_local_string(),
            "2019-05-14T08:30:15"
        );
        assert_eq!(
            t("2024-01-14T08:30:00Z").to_local_string(),
            "2024-01-14T09:30:00"
        );
        // First occurrence of the repeated hour: the rule gives it back.
        assert_eq!(
            t("2024-10-27T02:30:00+02:00").to_local_string(),
            "2024-10-27T02:30:00"
        );
        // Second occurrence: only the offset can say which one.
        assert_eq!(
            t("2024-10-27T02:30:00+01:00").to_local_string(),
            "2024-10-27T02:30:00+01:00"
        );
        // Local mean time before 1893 has an offset with seconds.
        let lmt = t("1880-06-01T12:00:00+00:53:28");
        assert_eq!(lmt.to_local_string(), "1880-06-01T12:00:00");
    }

    #[test]
    fn the_common_forms_take_the_short_way() {
        for input in [
            "2019-05-14",
            "2019-05-14T08:30",
            "2019-05-14T08:30:15",
            "2019-05-14T08:30:15Z",
            "2019-05-14T08:30:15+02:00",
            "1999-12-31T23:59:59-01:30",
        ] {
            let common = parse_common(input.as_bytes()).expect(input);
            assert_eq!(Ok(common), parse_iso_checked(input.as_bytes()), "{input}");
        }
        for input in [
            "2019-05-14 08:30",
            "2019-05-14T08:30:15.5",
            "2019-05-14T08:30+0200",
        ] {
            assert!(parse_common(input.as_bytes()).is_none(), "{input}");
        }
    }

    proptest! {
        #[test]
        fn the_digit_by_digit_text_is_the_general_text(
            seconds in -70_000_000_000i64..253_000_000_000i64,
            days in -800_000i32..2_900_000i32,
        ) {
            let instant = ClinicalTime::from_instant(Timestamp::from_second(seconds).unwrap());
            let day = ClinicalTime::Date(date(1970, 1, 1).checked_add(jiff::Span::new().days(days)).unwrap());
            for time in [instant, day] {
                let general = General(&time).to_string();
                match time.common_text(&mut [0; 25]) {
                    Some(text) => prop_assert_eq!(text, general.as_str()),
                    // Only years beyond 0–9999 and offsets with seconds
                    // (Stockholm's local mean time, before 1879) are left
                    // to the general text.
                    None => prop_assert!(
                        !(0..=9999).contains(&time.local_date().year()) || general.len() == 28,
                        "{general}"
                    ),
                }
                prop_assert_eq!(time.to_string(), general);
            }
        }

        #[test]
        fn the_common_forms_read_as_the_checked_reading_reads_them(
            input in "[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-2][0-9]:[0-6][0-9](:[0-6][0-9])?(Z|[+-][0-2][0-9]:[0-6][0-9]|[.,:+ a-z0-9]{0,4})?)?",
        ) {
            if let Some(time) = parse_common(input.as_bytes()) {
                prop_assert_eq!(Ok(time), parse_iso_checked(input.as_bytes()));
            }
        }

        #[test]
        fn local_string_parses_back_to_the_same_time(seconds in -2_000_000_000i64..4_000_000_000i64) {
            let time = ClinicalTime::from_instant(Timestamp::from_second(seconds).unwrap());
            prop_assert_eq!(t(&time.to_local_string()), time);
        }
    }

    #[test]
    fn fall_back_local_time_is_the_first_occurrence() {
        assert_eq!(shown("2024-10-27T02:30"), "2024-10-27T02:30:00+02:00");
        assert_eq!(
            t("2024-10-27T02:30").instant(),
            Some(utc("2024-10-27T00:30:00Z"))
        );
        assert_eq!(
            ClinicalTime::parse_compact("20241027023000").unwrap(),
            t("2024-10-27T02:30:00+02:00")
        );
        assert_eq!(
            ClinicalTime::from_local(date(2024, 10, 27).at(2, 30, 0, 0)),
            t("2024-10-27T02:30:00+02:00")
        );
    }

    #[test]
    fn fall_back_second_occurrence_keeps_its_offset_and_sorts_an_hour_later() {
        let first = t("2024-10-27T02:30");
        let second = t("2024-10-27T02:30:00+01:00");
        assert_eq!(second.to_string(), "2024-10-27T02:30:00+01:00");
        assert_eq!(second.instant(), Some(utc("2024-10-27T01:30:00Z")));
        assert!(first < second);
        let gap = second
            .instant()
            .unwrap()
            .duration_since(first.instant().unwrap());
        assert_eq!(gap.as_secs(), 3600);
        // The same instant given in UTC is the same value.
        assert_eq!(second, t("2024-10-27T01:30:00Z"));
    }

    #[test]
    fn spring_forward_gap_moves_forward_by_the_gap() {
        assert_eq!(shown("2024-03-31T02:30"), "2024-03-31T03:30:00+02:00");
        assert_eq!(shown("2024-03-31T01:59:59"), "2024-03-31T01:59:59+01:00");
        assert_eq!(shown("2024-03-31T02:00:00"), "2024-03-31T03:00:00+02:00");
        assert_eq!(shown("2024-03-31T03:00:00"), "2024-03-31T03:00:00+02:00");
        assert_eq!(
            ClinicalTime::parse_compact("202403310230")
                .unwrap()
                .to_string(),
            "2024-03-31T03:30:00+02:00"
        );
    }

    #[test]
    fn transitions_in_other_years() {
        for (input, expected) in [
            // Fall back, first occurrence.
            ("2023-10-29T02:15", "2023-10-29T02:15:00+02:00"),
            ("2025-10-26T02:59:59", "2025-10-26T02:59:59+02:00"),
            ("2025-10-26T03:00", "2025-10-26T03:00:00+01:00"),
            ("2019-10-27 02:00", "2019-10-27T02:00:00+02:00"),
            // Before 1996 Sweden fell back on the last Sunday of September.
            ("1995-09-24T02:30", "1995-09-24T02:30:00+02:00"),
            ("1995-10-29T02:30", "1995-10-29T02:30:00+01:00"),
            // Spring forward.
            ("2023-03-26T02:15", "2023-03-26T03:15:00+02:00"),
            ("2025-03-30T02:00", "2025-03-30T03:00:00+02:00"),
            ("2025-03-30T01:59:59", "2025-03-30T01:59:59+01:00"),
            ("2000-03-26T02:45:10", "2000-03-26T03:45:10+02:00"),
            // Rules projected into the future by the tz database.
            ("2040-03-25T02:30", "2040-03-25T03:30:00+02:00"),
            ("2040-10-28T02:30", "2040-10-28T02:30:00+02:00"),
        ] {
            assert_eq!(shown(input), expected, "{input}");
        }
    }

    /// Notes through the fall-back night, in true chronological order.
    #[test]
    fn notes_around_the_fall_back_hour_sort_chronologically() {
        let night = [
            "2024-10-26T23:59:59",
            "2024-10-27",
            "2024-10-27T00:00",
            "2024-10-27T01:59:59",
            "2024-10-27T02:00",
            "2024-10-27T02:30",
            "2024-10-27T02:59:59",
            "2024-10-27T02:00:00+01:00",
            "2024-10-27T02:30:00+01:00",
            "2024-10-27T02:59:59+01:00",
            "2024-10-27T03:00",
            "2024-10-27T23:59:59",
            "2024-10-28",
        ];
        assert_sorted_and_reversible(&night);
    }

    /// Notes through the spring-forward night, in true chronological order.
    /// A reading inside the gap lands after the gap, so 02:30 sorts after
    /// 03:15 — the documented price of the rule.
    #[test]
    fn notes_around_the_spring_forward_hour_sort_chronologically() {
        let night = [
            "2024-03-30T23:59:59",
            "2024-03-31",
            "2024-03-31T01:00",
            "2024-03-31T01:59:59",
            "2024-03-31T02:00",
            "2024-03-31T03:00:01",
            "2024-03-31T03:15",
            "2024-03-31T02:30",
            "2024-03-31T03:45:00+02:00",
            "2024-03-31T04:00",
            "2024-04-01",
        ];
        assert_sorted_and_reversible(&night);
    }

    fn assert_sorted_and_reversible(chronological: &[&str]) {
        let expected: Vec<ClinicalTime> = chronological.iter().map(|s| t(s)).collect();
        for pair in expected.windows(2) {
            assert!(
                pair[0] < pair[1],
                "{} should sort before {}",
                pair[0],
                pair[1]
            );
        }
        let mut shuffled = expected.clone();
        shuffled.reverse();
        shuffled.sort();
        assert_eq!(shuffled, expected);
    }

    #[test]
    fn date_only_sorts_before_the_timed_notes_of_its_day() {
        let day = t("2019-05-14");
        assert_eq!(day.precision(), Precision::Date);
        assert_eq!(day.instant(), None);
        assert_eq!(day.to_string(), "2019-05-14");
        assert!(day < t("2019-05-14T00:00:00"));
        assert!(day < t("2019-05-14T08:30"));
        assert!(day > t("2019-05-13T23:59:59"));
        assert!(day < t("2019-05-15"));
        assert!(day > t("2019-05-13"));
        assert!(day < t("2019-05-15T00:00"));
        assert_eq!(day, ClinicalTime::from_date(date(2019, 5, 14)));
        assert_eq!("2019-05-14".parse::<ClinicalTime>(), Ok(day));
        assert_eq!(day.cmp(&t("2019-05-14")), Ordering::Equal);
    }

    #[test]
    fn the_day_is_the_stockholm_day_not_the_utc_day() {
        // 22:30 UTC on the 13th is 00:30 on the 14th in Stockholm.
        let late = t("2019-05-13T22:30:00Z");
        assert_eq!(late.local_date(), date(2019, 5, 14));
        assert_eq!(late.to_string(), "2019-05-14T00:30:00+02:00");
        assert!(late > t("2019-05-14"));
        assert!(late > t("2019-05-13T23:59:59"));
    }

    #[test]
    fn year_ends_and_leap_days() {
        let new_year = t("2024-12-31T23:30:00Z");
        assert_eq!(new_year.to_string(), "2025-01-01T00:30:00+01:00");
        assert_eq!(new_year.local_date(), date(2025, 1, 1));
        assert!(t("2024-12-31") < t("2024-12-31T23:59:59"));
        assert!(t("2024-12-31T23:59:59") < t("2025-01-01"));
        assert_eq!(
            ClinicalTime::parse_compact("20241231235959")
                .unwrap()
                .to_string(),
            "2024-12-31T23:59:59+01:00"
        );
        for leap in ["2024-02-29", "2000-02-29", "1600-02-29"] {
            assert_eq!(shown(leap), leap);
        }
        assert_eq!(shown("2024-02-29T12:00"), "2024-02-29T12:00:00+01:00");
        assert!(t("2024-02-29") < t("2024-03-01"));
        assert!(t("2024-02-28T23:59:59") < t("2024-02-29"));
        assert_eq!(
            ClinicalTime::parse_compact("20240229").unwrap(),
            t("2024-02-29")
        );
    }

    #[test]
    fn accepted_forms() {
        for (input, expected) in [
            ("2019-05-14", "2019-05-14"),
            ("2019-05-14T08:30", "2019-05-14T08:30:00+02:00"),
            ("2019-05-14T08:30:15", "2019-05-14T08:30:15+02:00"),
            ("2019-05-14 08:30:15", "2019-05-14T08:30:15+02:00"),
            ("2019-05-14t08:30:15", "2019-05-14T08:30:15+02:00"),
            ("2019-05-14T06:30:15Z", "2019-05-14T08:30:15+02:00"),
            ("2019-05-14T06:30:15z", "2019-05-14T08:30:15+02:00"),
            ("2019-05-14T07:30:15+01:00", "2019-05-14T08:30:15+02:00"),
            ("2019-05-14T07:30:15+0100", "2019-05-14T08:30:15+02:00"),
            ("2019-05-14T07:30:15+01", "2019-05-14T08:30:15+02:00"),
            ("2019-05-14T01:30:15-05:00", "2019-05-14T08:30:15+02:00"),
            ("2019-05-14T06:30Z", "2019-05-14T08:30:00+02:00"),
            ("2019-05-14T08:30:15.999", "2019-05-14T08:30:15+02:00"),
            ("2019-05-14T06:30:15,5Z", "2019-05-14T08:30:15+02:00"),
            (
                "2019-05-14T06:30:15.123456789Z",
                "2019-05-14T08:30:15+02:00",
            ),
            ("2019-01-14T08:30:15", "2019-01-14T08:30:15+01:00"),
            ("0001-01-01", "0001-01-01"),
            ("-000044-03-15", "-000044-03-15"),
            ("+009999-12-31", "9999-12-31"),
        ] {
            assert_eq!(shown(input), expected, "{input}");
        }
        for (input, expected) in [
            ("20190514", "2019-05-14"),
            ("201905140830", "2019-05-14T08:30:00+02:00"),
            ("20190514083015", "2019-05-14T08:30:15+02:00"),
        ] {
            let parsed = ClinicalTime::parse_compact(input).unwrap();
            assert_eq!(parsed.to_string(), expected, "{input}");
        }
    }

    #[test]
    fn bad_input_is_named_with_its_reason() {
        for (input, message) in [
            (
                "2019-02-30",
                r#"invalid time "2019-02-30": day 30 is past the end of February"#,
            ),
            (
                "2019-02-29",
                r#"invalid time "2019-02-29": day 29 is past the end of February 2019, which is not a leap year"#,
            ),
            (
                "1900-02-29",
                r#"invalid time "1900-02-29": day 29 is past the end of February 1900, which is not a leap year"#,
            ),
            (
                "2019-04-31",
                r#"invalid time "2019-04-31": day 31 is past the end of April"#,
            ),
            (
                "2019-05-00",
                r#"invalid time "2019-05-00": day 00 is not a day of May"#,
            ),
            (
                "2019-13-01",
                r#"invalid time "2019-13-01": month 13 is not 01-12"#,
            ),
            (
                "2019-00-01",
                r#"invalid time "2019-00-01": month 00 is not 01-12"#,
            ),
            (
                "2019-05-14T24:00",
                r#"invalid time "2019-05-14T24:00": hour 24 is not 00-23"#,
            ),
            (
                "2019-05-14T08:60",
                r#"invalid time "2019-05-14T08:60": minute 60 is not 00-59"#,
            ),
            (
                "2019-05-14T23:59:60",
                r#"invalid time "2019-05-14T23:59:60": second 60 is not 00-59"#,
            ),
            (
                "2019-05-14T08:30+24:00",
                r#"invalid time "2019-05-14T08:30+24:00": offset hour 24 is not 00-23"#,
            ),
            ("", r#"invalid time "": expected a digit at byte 0"#),
            (
                "2019-5-14",
                r#"invalid time "2019-5-14": expected a digit at byte 6"#,
            ),
            (
                "2019/05/14",
                r#"invalid time "2019/05/14": expected '-' after the year at byte 4"#,
            ),
            (
                "2019-05-14X08:30",
                r#"invalid time "2019-05-14X08:30": expected 'T' or a space before the time at byte 10"#,
            ),
            (
                "2019-05-14T",
                r#"invalid time "2019-05-14T": expected a digit at byte 11"#,
            ),
            (
                "2019-05-14T08",
                r#"invalid time "2019-05-14T08": expected ':' after the hour at byte 13"#,
            ),
            (
                "2019-05-14T08:30:15.",
                r#"invalid time "2019-05-14T08:30:15.": expected a digit of the fraction of a second at byte 20"#,
            ),
            (
                "2019-05-14T08:30:15.1234567890",
                r#"invalid time "2019-05-14T08:30:15.1234567890": expected at most nine digits of fraction at byte 29"#,
            ),
            (
                "2019-05-14T08:30:15 ",
                r#"invalid time "2019-05-14T08:30:15 ": expected 'Z', '+', '-' or the end after the time at byte 19"#,
            ),
            (
                "2019-05-14T08:30:15ZZ",
                r#"invalid time "2019-05-14T08:30:15ZZ": expected the end of the input at byte 20"#,
            ),
            (
                " 2019-05-14",
                r#"invalid time " 2019-05-14": expected a digit at byte 0"#,
            ),
            (
                "+010000-01-01",
                r#"invalid time "+010000-01-01": year 10000 is outside -9999 to 9999"#,
            ),
            (
                "9999-12-31T23:59:59-23:00",
                r#"invalid time "9999-12-31T23:59:59-23:00": the date-time is outside the range of representable instants"#,
            ),
            (
                "20190514",
                r#"invalid time "20190514": expected '-' after the year at byte 4"#,
            ),
        ] {
            let err = ClinicalTime::parse(input).unwrap_err();
            assert_eq!(err.to_string(), message);
            assert_eq!(err.input(), input);
        }
        for (input, message) in [
            (
                "2019-05-14",
                r#"invalid time "2019-05-14": expected 8, 12 or 14 digits (YYYYMMDD, YYYYMMDDhhmm or YYYYMMDDhhmmss), found 10 bytes"#,
            ),
            (
                "2019051408",
                r#"invalid time "2019051408": expected 8, 12 or 14 digits (YYYYMMDD, YYYYMMDDhhmm or YYYYMMDDhhmmss), found 10 bytes"#,
            ),
            (
                "20190230",
                r#"invalid time "20190230": day 30 is past the end of February"#,
            ),
            (
                "2019O514",
                r#"invalid time "2019O514": expected a digit at byte 4"#,
            ),
            (
                "201905152400",
                r#"invalid time "201905152400": hour 24 is not 00-23"#,
            ),
            (
                "20190514083060",
                r#"invalid time "20190514083060": second 60 is not 00-59"#,
            ),
            (
                "2019-514",
                r#"invalid time "2019-514": expected a digit at byte 4"#,
            ),
        ] {
            let err = ClinicalTime::parse_compact(input).unwrap_err();
            assert_eq!(err.to_string(), message);
        }
    }

    #[test]
    fn long_input_is_cut_in_the_error() {
        let note = "Elev kom till skolsköterskan med ont i magen. ".repeat(5);
        let err = ClinicalTime::parse(&note).unwrap_err();
        let message = err.to_string();
        assert!(message.len() < 120, "{message}");
        assert!(message.contains('…'));
        assert!(!message.contains('\n'));
        // Cutting must respect character boundaries ('ö' is two bytes).
        let awkward = format!("{}ö", "x".repeat(MAX_INPUT_IN_ERROR - 1));
        let err = ClinicalTime::parse(&awkward).unwrap_err();
        assert_eq!(
            err.input(),
            format!("{}…", "x".repeat(MAX_INPUT_IN_ERROR - 1))
        );
    }

    #[test]
    fn fractions_of_a_second_are_dropped_towards_the_past() {
        let after_epoch = Timestamp::new(1_557_815_415, 999_999_999).unwrap();
        assert_eq!(
            ClinicalTime::from_instant(after_epoch).instant(),
            Some(Timestamp::from_second(1_557_815_415).unwrap())
        );
        // Before 1970 jiff keeps the fraction negative; the floor is the
        // earlier whole second.
        let before_epoch = Timestamp::new(-10, -500_000_000).unwrap();
        assert_eq!(
            ClinicalTime::from_instant(before_epoch).instant(),
            Some(Timestamp::from_second(-11).unwrap())
        );
        assert_eq!(
            ClinicalTime::from_local(date(2019, 5, 14).at(8, 30, 15, 999_999_999)),
            t("2019-05-14T08:30:15")
        );
    }

    #[test]
    fn extremes_display_and_parse_back() {
        for value in [
            ClinicalTime::from_instant(Timestamp::MIN),
            ClinicalTime::from_instant(Timestamp::MAX),
            ClinicalTime::from_local(DateTime::MIN),
            ClinicalTime::from_local(DateTime::MAX),
            ClinicalTime::from_date(Date::MIN),
            ClinicalTime::from_date(Date::MAX),
        ] {
            let text = value.to_string();
            assert_eq!(t(&text), value, "{text}");
        }
        // Local mean time before 1893 has an offset with seconds.
        assert_eq!(
            shown("1850-06-01T12:00:00Z"),
            "1850-06-01T12:53:28+00:53:28"
        );
        assert_eq!(
            ClinicalTime::from_local(DateTime::MIN).instant(),
            Some(Timestamp::MIN)
        );
    }

    #[test]
    fn serde_uses_the_display_form() {
        let note = t("2024-10-27T02:30:00+01:00");
        let json = serde_json::to_string(&note).unwrap();
        assert_eq!(json, r#""2024-10-27T02:30:00+01:00""#);
        assert_eq!(serde_json::from_str::<ClinicalTime>(&json).unwrap(), note);
        assert_eq!(
            serde_json::to_string(&t("2019-05-14")).unwrap(),
            r#""2019-05-14""#
        );
        // Anything `parse` accepts deserialises.
        let local: ClinicalTime = serde_json::from_str(r#""2019-05-14 08:30""#).unwrap();
        assert_eq!(local.to_string(), "2019-05-14T08:30:00+02:00");
        let err = serde_json::from_str::<ClinicalTime>(r#""2019-02-30""#).unwrap_err();
        assert!(
            err.to_string()
                .contains(r#"invalid time "2019-02-30": day 30 is past the end of February"#),
            "{err}"
        );
        assert!(serde_json::from_str::<ClinicalTime>("20190514").is_err());
    }

    #[test]
    fn local_date_precision_and_civil() {
        let note = t("2024-10-27T02:30:00+01:00");
        assert_eq!(note.precision(), Precision::DateTime);
        assert_eq!(note.local_date(), date(2024, 10, 27));
        let ClinicalTime::DateTime(local) = note else {
            panic!("timed value expected");
        };
        assert_eq!(local.offset(), Offset::constant(1));
        assert_eq!(local.civil(), date(2024, 10, 27).at(2, 30, 0, 0));
        assert_eq!(local.instant(), utc("2024-10-27T01:30:00Z"));
        assert!(Precision::Date < Precision::DateTime);
    }

    /// Ordering timed values by (Stockholm day, instant) is the same as by
    /// instant only if Stockholm's wall clock never turns back across
    /// midnight. Check every transition the bundled database knows, up to
    /// 2200.
    #[test]
    fn stockholm_never_turns_back_across_midnight() {
        let zone = stockholm();
        let mut before = zone.to_offset(Timestamp::MIN);
        let end = utc("2200-01-01T00:00:00Z");
        let mut count = 0;
        for transition in zone.following(Timestamp::MIN) {
            let at = transition.timestamp();
            if at > end {
                break;
            }
            let after = transition.offset();
            let last_second_before = at.as_second() - 1 + i64::from(before.seconds());
            let first_second_after = at.as_second() + i64::from(after.seconds());
            assert!(
                last_second_before.div_euclid(SECONDS_PER_DAY)
                    <= first_second_after.div_euclid(SECONDS_PER_DAY),
                "transition at {at} turns the Stockholm date back"
            );
            before = after;
            count += 1;
        }
        assert!(count > 400, "only {count} transitions seen");
    }

    #[derive(Debug, Clone)]
    struct OwnedKey {
        event: ClinicalTime,
        author: Option<ClinicalTime>,
        signing: Option<ClinicalTime>,
        record: Option<ClinicalTime>,
        source_system: String,
        source_record_id: String,
        source_version: u32,
    }

    impl OwnedKey {
        fn key(&self) -> ChronologyKey<'_> {
            ChronologyKey {
                event: &self.event,
                author: self.author.as_ref(),
                signing: self.signing.as_ref(),
                record: self.record.as_ref(),
                source_system: &self.source_system,
                source_record_id: &self.source_record_id,
                source_version: self.source_version,
            }
        }

        fn encoded(&self) -> Vec<u8> {
            let mut out = Vec::new();
            self.key().encode(&mut out);
            out
        }
    }

    fn entry(event: &str) -> OwnedKey {
        OwnedKey {
            event: t(event),
            author: None,
            signing: None,
            record: None,
            source_system: "pmo".into(),
            source_record_id: "1".into(),
            source_version: 1,
        }
    }

    /// Asserts `lower < higher` in `Ord` and in the encoded bytes.
    fn assert_before(lower: &OwnedKey, higher: &OwnedKey) {
        assert_eq!(
            lower.key().cmp(&higher.key()),
            Ordering::Less,
            "{lower:?} vs {higher:?}"
        );
        assert_eq!(higher.key().cmp(&lower.key()), Ordering::Greater);
        assert!(
            lower.encoded() < higher.encoded(),
            "{lower:?} vs {higher:?}"
        );
    }

    #[test]
    fn event_time_decides_first() {
        let mut early = entry("2019-05-14T08:00");
        early.author = Some(t("2019-05-20"));
        early.source_system = "zzz".into();
        let late = entry("2019-05-14T09:00");
        assert_before(&early, &late);
        assert_before(&entry("2019-05-14"), &entry("2019-05-14T00:00"));
    }

    #[test]
    fn equal_event_times_fall_through_to_author_signing_and_record_time() {
        let base = entry("2019-05-14");
        let with = |author: Option<&str>, signing: Option<&str>, record: Option<&str>| OwnedKey {
            author: author.map(t),
            signing: signing.map(t),
            record: record.map(t),
            ..base.clone()
        };
        // Author time decides.
        assert_before(
            &with(Some("2019-05-14T10:00"), Some("2019-05-30"), None),
            &with(Some("2019-05-14T11:00"), Some("2019-05-15"), None),
        );
        // Equal author time: signing time decides.
        assert_before(
            &with(
                Some("2019-05-14T10:00"),
                Some("2019-05-15T09:00"),
                Some("2019-06-01"),
            ),
            &with(
                Some("2019-05-14T10:00"),
                Some("2019-05-16T09:00"),
                Some("2019-05-14"),
            ),
        );
        // Equal author and signing time: record time decides.
        assert_before(
            &with(
                Some("2019-05-14T10:00"),
                Some("2019-05-15"),
                Some("2019-05-14T10:01"),
            ),
            &with(
                Some("2019-05-14T10:00"),
                Some("2019-05-15"),
                Some("2019-05-14T10:02"),
            ),
        );
        // A missing author time sorts after a present one, however late.
        assert_before(
            &with(Some("2030-01-01"), None, None),
            &with(None, None, None),
        );
    }

    #[test]
    fn a_missing_signing_time_sorts_after_a_present_one() {
        let base = OwnedKey {
            author: Some(t("2019-05-14T10:00")),
            ..entry("2019-05-14T09:30")
        };
        let signed = OwnedKey {
            signing: Some(t("2019-06-30T16:00")),
            record: Some(t("2019-07-01")),
            ..base.clone()
        };
        let unsigned = OwnedKey {
            record: Some(t("2019-05-14T10:00")),
            source_system: "a".into(),
            ..base.clone()
        };
        assert_before(&signed, &unsigned);
        // The same holds for record time.
        let recorded = OwnedKey {
            record: Some(t("2099-01-01")),
            ..base.clone()
        };
        assert_before(&recorded, &base);
    }

    #[test]
    fn equal_times_fall_through_to_the_source_tie_break() {
        let with = |system: &str, id: &str, version: u32| OwnedKey {
            source_system: system.into(),
            source_record_id: id.into(),
            source_version: version,
            ..entry("2019-05-14T08:00")
        };
        assert_before(&with("pmo", "9", 9), &with("prorenata", "1", 1));
        assert_before(&with("pmo", "10", 9), &with("pmo", "9", 1));
        assert_before(&with("pmo", "9", 1), &with("pmo", "9", 2));
        // A prefix sorts first, in Ord and in bytes.
        assert_before(&with("pmo", "9", 9), &with("pmo2", "1", 1));
        assert_before(&with("pmo", "", 9), &with("pmo", "\0", 1));
        assert_before(&with("pmo", "a", 9), &with("pmo", "a\0", 1));
        assert_before(&with("pmo", "a\0", 9), &with("pmo", "a\u{1}", 1));
        assert_before(&with("", "zzz", 9), &with("\0", "", 0));
        assert_eq!(with("pmo", "9", 1).key(), with("pmo", "9", 1).key());
        assert_eq!(with("pmo", "9", 1).encoded(), with("pmo", "9", 1).encoded());
    }

    #[test]
    fn sort_key_day_is_the_stockholm_date() {
        // The day in the order key is computed arithmetically from the
        // instant; it must be the Stockholm date on both sides of midnight.
        for s in [
            "2019-05-13T23:59:59",
            "2019-05-14T00:00",
            "1969-12-31T23:59:59Z",
        ] {
            let value = t(s);
            let (day, rank, _) = value.sort_key();
            assert_eq!(rank, 1);
            assert_eq!(day, days_from_civil(value.local_date()), "{s}");
        }
    }

    // --- properties ---------------------------------------------------------

    fn any_date() -> impl Strategy<Value = Date> {
        (-9999i16..=9999, 1i8..=12, 1i8..=31).prop_map(|(year, month, day)| {
            let last = date(year, month, 1).days_in_month();
            date(year, month, day.min(last))
        })
    }

    fn any_instant() -> impl Strategy<Value = Timestamp> {
        (Timestamp::MIN.as_second()..=Timestamp::MAX.as_second())
            .prop_map(|s| Timestamp::from_second(s).unwrap())
    }

    /// Values crowded around the 2024 fall-back night (days and half-hour
    /// steps), so that equal values and same-day pairs are common.
    fn crowded_time() -> impl Strategy<Value = ClinicalTime> {
        let start = utc("2024-10-25T22:00:00Z").as_second();
        prop_oneof![
            (25i8..=29).prop_map(|day| ClinicalTime::from_date(date(2024, 10, day))),
            (0i64..(5 * 48)).prop_map(move |k| {
                ClinicalTime::from_instant(Timestamp::from_second(start + k * 1800).unwrap())
            }),
        ]
    }

    fn any_time() -> impl Strategy<Value = ClinicalTime> {
        prop_oneof![
            any_date().prop_map(ClinicalTime::from_date),
            any_instant().prop_map(ClinicalTime::from_instant),
            // Everyday range, local wall-clock times, including both
            // transition hours of every year.
            (
                1900i16..=2100,
                1i8..=12,
                1i8..=28,
                0i8..24,
                0i8..60,
                0i8..60
            )
                .prop_map(|(y, mo, d, h, mi, s)| ClinicalTime::from_local(
                    date(y, mo, d).at(h, mi, s, 0)
                )),
            crowded_time(),
        ]
    }

    fn small_string() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just('a'),
                Just('b'),
                Just('\0'),
                Just('\u{1}'),
                Just('ö'),
                Just('\u{ff}')
            ],
            0..4,
        )
        .prop_map(String::from_iter)
    }

    fn any_key() -> impl Strategy<Value = OwnedKey> {
        (
            crowded_time(),
            proptest::option::of(crowded_time()),
            proptest::option::of(crowded_time()),
            proptest::option::of(crowded_time()),
            small_string(),
            small_string(),
            prop_oneof![0u32..3, any::<u32>()],
        )
            .prop_map(
                |(
                    event,
                    author,
                    signing,
                    record,
                    source_system,
                    source_record_id,
                    source_version,
                )| {
                    OwnedKey {
                        event,
                        author,
                        signing,
                        record,
                        source_system,
                        source_record_id,
                        source_version,
                    }
                },
            )
    }

    fn hash_of<T: std::hash::Hash>(value: &T) -> u64 {
        use std::hash::{BuildHasher, RandomState};
        thread_local!(static STATE: RandomState = RandomState::new());
        STATE.with(|state| state.hash_one(value))
    }

    /// Antisymmetry, transitivity on the triple, and agreement of `==`,
    /// `Hash` and `partial_cmp` with `cmp`.
    fn assert_total_order<T: Ord + std::hash::Hash + fmt::Debug + Clone>(a: &T, b: &T, c: &T) {
        for (x, y) in [(a, b), (b, c), (a, c)] {
            assert_eq!(x.cmp(y), y.cmp(x).reverse());
            assert_eq!(x.partial_cmp(y), Some(x.cmp(y)));
            assert_eq!(x == y, x.cmp(y) == Ordering::Equal);
            if x == y {
                assert_eq!(hash_of(x), hash_of(y));
            }
        }
        assert_eq!(a.cmp(a), Ordering::Equal);
        if a <= b && b <= c {
            assert!(a <= c);
        }
        let mut sorted = [a.clone(), b.clone(), c.clone()];
        sorted.sort();
        assert!(sorted[0] <= sorted[1] && sorted[1] <= sorted[2] && sorted[0] <= sorted[2]);
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = ClinicalTime::parse(&s);
            let _ = ClinicalTime::parse_compact(&s);
        }

        #[test]
        fn parse_never_panics_on_near_misses(s in "[-+0-9T:Zz .,]{0,32}") {
            if let Ok(value) = ClinicalTime::parse(&s) {
                prop_assert_eq!(ClinicalTime::parse(&value.to_string()).unwrap(), value);
            }
            if let Ok(value) = ClinicalTime::parse_compact(&s) {
                prop_assert_eq!(ClinicalTime::parse(&value.to_string()).unwrap(), value);
            }
        }

        #[test]
        fn parse_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..32)) {
            let s = String::from_utf8_lossy(&bytes);
            let _ = ClinicalTime::parse(&s);
            let _ = ClinicalTime::parse_compact(&s);
        }

        #[test]
        fn display_parses_back_to_the_same_value(value in any_time()) {
            let text = value.to_string();
            prop_assert_eq!(ClinicalTime::parse(&text).unwrap(), value);
            let json = serde_json::to_string(&value).unwrap();
            prop_assert_eq!(serde_json::from_str::<ClinicalTime>(&json).unwrap(), value);
        }

        #[test]
        fn compact_and_iso_agree(
            (y, mo, d, h, mi, s) in (1000i16..=9999, 1i8..=12, 1i8..=28, 0i8..24, 0i8..60, 0i8..60)
        ) {
            let compact = format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}");
            let iso = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
            prop_assert_eq!(
                ClinicalTime::parse_compact(&compact).unwrap(),
                ClinicalTime::parse(&iso).unwrap()
            );
            prop_assert_eq!(
                ClinicalTime::parse(&iso).unwrap(),
                ClinicalTime::from_local(date(y, mo, d).at(h, mi, s, 0))
            );
        }

        /// Our one-lookup resolution is jiff's "compatible" disambiguation.
        #[test]
        fn local_rule_is_jiffs_compatible_disambiguation(
            (y, mo, d, h, mi, s) in (1850i16..=2200, 1i8..=12, 1i8..=28, 0i8..24, 0i8..60, 0i8..60)
        ) {
            let dt = date(y, mo, d).at(h, mi, s, 0);
            let expected = stockholm().to_ambiguous_timestamp(dt).compatible().unwrap();
            let ClinicalTime::DateTime(local) = ClinicalTime::from_local(dt) else {
                panic!("timed value expected");
            };
            prop_assert_eq!(local.instant(), expected);
            prop_assert_eq!(local.offset(), stockholm().to_offset(expected));
        }

        #[test]
        fn days_from_civil_agrees_with_jiff(d in any_date()) {
            let midnight = Offset::UTC.to_timestamp(d.at(0, 0, 0, 0)).unwrap();
            prop_assert_eq!(i64::from(days_from_civil(d)), midnight.as_second().div_euclid(SECONDS_PER_DAY));
        }

        #[test]
        fn timed_values_order_as_their_instants(a in any_instant(), b in any_instant()) {
            let (x, y) = (ClinicalTime::from_instant(a), ClinicalTime::from_instant(b));
            prop_assert_eq!(x.cmp(&y), a.cmp(&b));
        }

        #[test]
        fn date_only_sits_at_the_start_of_its_day(value in any_time()) {
            let day = ClinicalTime::from_date(value.local_date());
            prop_assert!(day <= value);
            prop_assert_eq!(day == value, value.precision() == Precision::Date);
            if let Ok(previous) = value.local_date().yesterday() {
                prop_assert!(ClinicalTime::from_date(previous) < value);
            }
        }

        #[test]
        fn clinical_time_is_a_total_order(a in any_time(), b in any_time(), c in any_time()) {
            assert_total_order(&a, &b, &c);
        }

        #[test]
        fn crowded_clinical_time_is_a_total_order(
            a in crowded_time(), b in crowded_time(), c in crowded_time()
        ) {
            assert_total_order(&a, &b, &c);
        }

        #[test]
        fn chronology_key_is_a_total_order(a in any_key(), b in any_key(), c in any_key()) {
            assert_total_order(&a.key(), &b.key(), &c.key());
        }

        #[test]
        fn encoded_bytes_order_as_the_keys(a in any_key(), b in any_key()) {
            prop_assert_eq!(a.encoded().cmp(&b.encoded()), a.key().cmp(&b.key()));
            prop_assert_eq!(a.encoded().cmp(&a.encoded()), Ordering::Equal);
        }

        #[test]
        fn encoded_times_order_as_the_times(a in any_time(), b in any_time()) {
            let (mut x, mut y) = (Vec::new(), Vec::new());
            a.encode(&mut x);
            b.encode(&mut y);
            prop_assert_eq!(x.cmp(&y), a.cmp(&b));
        }

        #[test]
        fn sorting_by_bytes_equals_sorting_by_key(keys in proptest::collection::vec(any_key(), 0..40)) {
            let mut by_ord: Vec<&OwnedKey> = keys.iter().collect();
            by_ord.sort_by(|a, b| a.key().cmp(&b.key()));
            let mut by_bytes: Vec<&OwnedKey> = keys.iter().collect();
            by_bytes.sort_by_key(|k| k.encoded());
            let ord_encoded: Vec<Vec<u8>> = by_ord.iter().map(|k| k.encoded()).collect();
            let bytes_encoded: Vec<Vec<u8>> = by_bytes.iter().map(|k| k.encoded()).collect();
            prop_assert_eq!(ord_encoded, bytes_encoded);
        }
    }
}
