//! When to try a request again and how long to wait first.
//!
//! Transient: 429, 408, every 5xx, timeouts and connection errors. The
//! delay before attempt n+1 is drawn uniformly between the least delay and
//! an exponentially growing ceiling (full jitter), so that clients that
//! failed together do not come back together; a `Retry-After` from the
//! server is a floor under it.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use hyper::StatusCode;
use hyper::header::HeaderValue;
use jiff::Timestamp;
use jiff::fmt::rfc2822::DateTimeParser;

/// Whether an answer with this status is worth retrying unchanged.
pub(crate) fn is_transient(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
}

/// The delays between attempts.
#[derive(Debug)]
pub(crate) struct Delays {
    min: Duration,
    max: Duration,
    ceilings: ExponentialBackoff,
}

impl Delays {
    pub fn new(min: Duration, max: Duration) -> Self {
        Delays {
            min,
            max,
            ceilings: ExponentialBuilder::new()
                .with_min_delay(min)
                .with_max_delay(max)
                .with_factor(2.0)
                .without_max_times()
                .build(),
        }
    }

    /// The next delay: full jitter under the next ceiling, and at least
    /// `retry_after`.
    pub fn next(&mut self, retry_after: Option<Duration>) -> Duration {
        let ceiling = self.ceilings.next().unwrap_or(self.max).min(self.max);
        let jittered = self.min + (ceiling.saturating_sub(self.min)).mul_f64(random_unit());
        jittered.max(retry_after.unwrap_or_default())
    }
}

/// A number in [0, 1), different on every call. The standard library's
/// randomly keyed hasher is randomness enough for spreading retries, and
/// needs no generator crate.
fn random_unit() -> f64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let bits = RandomState::new().hash_one(CALLS.fetch_add(1, Ordering::Relaxed));
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// A `Retry-After` header: delta-seconds or an HTTP-date (RFC 9110 §10.2.3);
/// a date in the past means no wait. `None` when unreadable.
pub(crate) fn retry_after(value: &HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(text.parse().unwrap_or(u64::MAX)));
    }
    static PARSER: DateTimeParser = DateTimeParser::new();
    let when = PARSER.parse_timestamp(text).ok()?;
    let millis = when.as_millisecond() - Timestamp::now().as_millisecond();
    Some(Duration::from_millis(u64::try_from(millis).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let header = |s: &str| HeaderValue::from_str(s).expect("header");
        assert_eq!(retry_after(&header("120")), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(&header(" 0 ")), Some(Duration::ZERO));
        assert_eq!(
            retry_after(&header("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(Duration::ZERO)
        );
        let later = Timestamp::now()
            .checked_add(jiff::SignedDuration::from_secs(100))
            .expect("later");
        let printed = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&later)
            .expect("printed");
        let wait = retry_after(&header(&printed)).expect("a date");
        assert!(
            (Duration::from_secs(95)..=Duration::from_secs(100)).contains(&wait),
            "{wait:?}"
        );
        assert_eq!(retry_after(&header("soon")), None);
        assert_eq!(retry_after(&header("-5")), None);
    }

    #[test]
    fn delays_grow_stay_within_bounds_and_respect_retry_after() {
        let min = Duration::from_millis(100);
        let max = Duration::from_millis(1000);
        let mut delays = Delays::new(min, max);
        let drawn: Vec<Duration> = (0..40).map(|_| delays.next(None)).collect();
        assert!(drawn.iter().all(|d| (min..=max).contains(d)), "{drawn:?}");
        // The first ceiling is the least delay itself.
        assert_eq!(Delays::new(min, max).next(None), min);
        // Later ones are jittered: not all equal.
        assert!(drawn[10..].iter().any(|d| *d != drawn[10]), "{drawn:?}");
        assert_eq!(
            Delays::new(min, max).next(Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn transient_statuses() {
        for code in [429, 408, 500, 502, 503, 504] {
            assert!(is_transient(StatusCode::from_u16(code).expect("status")));
        }
        for code in [400, 401, 403, 404, 409, 412, 422] {
            assert!(!is_transient(StatusCode::from_u16(code).expect("status")));
        }
    }
}
