//! The school calendar and the clock of the synthetic world: school years,
//! terms, working days and hours, the two daylight-saving Sundays, and the
//! few pieces of time arithmetic the generators share.
//!
//! A school year starts in August; the autumn term (HT) runs to just before
//! Christmas and the spring term (VT) from January to mid-June. Holidays
//! other than weekends are ignored: a synthetic nurse only rests on Sundays
//! and Saturdays, except for the notes deliberately written on the two
//! daylight-saving nights.

use jiff::civil::{Date, DateTime, Weekday};
use jiff::{Span, Timestamp};
use rand::RngExt;

use brygga_mapping::time::ClinicalTime;

use super::random::Rng;

/// The calendar year in which the school year containing `date` began.
pub fn school_year_start(date: Date) -> i16 {
    if date.month() >= 8 {
        date.year()
    } else {
        date.year() - 1
    }
}

/// `date` moved by `days` (negative is earlier).
pub fn add_days(date: Date, days: i64) -> Date {
    date.saturating_add(Span::new().days(days))
}

/// Whole days from `earlier` to `later`.
pub fn days_between(earlier: Date, later: Date) -> i64 {
    later.duration_since(earlier).as_secs() / 86_400
}

/// A calendar date from parts that always name a day here (fixed term
/// dates, the first of a month); `Date::MIN` would mark a mistake.
pub fn date(year: i16, month: i8, day: i8) -> Date {
    Date::new(year, month, day).unwrap_or(Date::MIN)
}

/// The terms of the school year that starts in `start_year`.
#[derive(Debug, Clone, Copy)]
pub struct SchoolYear {
    pub start_year: i16,
}

impl SchoolYear {
    /// First day of the autumn term.
    pub fn autumn_start(self) -> Date {
        date(self.start_year, 8, 20)
    }

    /// Last day of the autumn term.
    pub fn autumn_end(self) -> Date {
        date(self.start_year, 12, 19)
    }

    /// First day of the spring term.
    pub fn spring_start(self) -> Date {
        date(self.start_year + 1, 1, 9)
    }

    /// Last day of the spring term.
    pub fn spring_end(self) -> Date {
        date(self.start_year + 1, 6, 11)
    }
}

/// A weekday between `from` and `to` (inclusive); a weekend is moved to the
/// following Monday, which may fall just after `to`.
pub fn school_day(rng: &mut Rng, from: Date, to: Date) -> Date {
    let span = days_between(from, to).max(0);
    let day = add_days(from, rng.random_range(0..=span));
    next_weekday(day)
}

/// `day`, or the Monday after it when it is a Saturday or Sunday.
pub fn next_weekday(day: Date) -> Date {
    match day.weekday() {
        Weekday::Saturday => add_days(day, 2),
        Weekday::Sunday => add_days(day, 1),
        _ => day,
    }
}

/// A time on `day` between `from_hour` and `to_hour`, on the quarter hour
/// as bookings are.
pub fn working_time(rng: &mut Rng, day: Date, from_hour: i8, to_hour: i8) -> DateTime {
    let hour = rng.random_range(from_hour..to_hour.max(from_hour + 1));
    let minute = 15 * rng.random_range(0..4i8);
    day.at(hour, minute, 0, 0)
}

/// Stockholm wall-clock time, resolved by the canonical rule.
pub fn local(dt: DateTime) -> ClinicalTime {
    ClinicalTime::from_local(dt)
}

/// `time` moved `minutes` later; a date-only time stays as it is.
pub fn plus_minutes(time: ClinicalTime, minutes: i64) -> ClinicalTime {
    match time.instant() {
        Some(instant) => Timestamp::from_second(instant.as_second() + minutes * 60)
            .map(ClinicalTime::from_instant)
            .unwrap_or(time),
        None => time,
    }
}

/// The last Sunday of `month` in `year`: in March the night the clock skips
/// 02:00–03:00, in October the night it repeats it.
pub fn last_sunday(year: i16, month: i8) -> Date {
    date(year, month, 1)
        .nth_weekday_of_month(-1, Weekday::Sunday)
        .unwrap_or_else(|_| date(year, month, 25))
}

/// Age in whole months on `on` for someone born on `birth`.
pub fn age_in_months(birth: Date, on: Date) -> i32 {
    let months = (i32::from(on.year()) - i32::from(birth.year())) * 12 + i32::from(on.month())
        - i32::from(birth.month());
    if on.day() < birth.day() {
        months - 1
    } else {
        months
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_school_year_turns_in_august() {
        assert_eq!(school_year_start(date(2026, 6, 12)), 2025);
        assert_eq!(school_year_start(date(2026, 8, 1)), 2026);
    }

    #[test]
    fn the_daylight_saving_sundays_are_found() {
        assert_eq!(last_sunday(2024, 10), date(2024, 10, 27));
        assert_eq!(last_sunday(2024, 3), date(2024, 3, 31));
    }

    #[test]
    fn minutes_are_added_across_the_repeated_hour_by_instant() {
        let first = ClinicalTime::parse("2024-10-27T02:50:00+02:00").expect("time");
        let later = plus_minutes(first, 20);
        assert_eq!(later.to_string(), "2024-10-27T02:10:00+01:00");
    }

    #[test]
    fn ages_in_months_count_completed_months() {
        assert_eq!(age_in_months(date(2020, 1, 15), date(2020, 4, 14)), 2);
        assert_eq!(age_in_months(date(2020, 1, 15), date(2020, 4, 15)), 3);
    }
}
