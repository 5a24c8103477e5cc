//! Time is a parameter: every rule that depends on "now" takes it from a [`Clock`],
//! so expiry and age rules are tested without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use time::{Date, OffsetDateTime};

/// Milliseconds since the Unix epoch (UTC).
pub type Millis = i64;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Millis;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place the wall clock is read
    fn now(&self) -> Millis {
        let now = OffsetDateTime::now_utc();
        i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }
}

/// The wall clock moved by a fixed offset: a development machine trying what
/// happens on a later day (`dev_clock_start`, refused outside one).
#[derive(Debug, Clone, Copy)]
pub struct OffsetClock(pub Millis);

impl Clock for OffsetClock {
    fn now(&self) -> Millis {
        SystemClock.now().saturating_add(self.0)
    }
}

/// A clock tests move by hand.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start: Millis) -> Self {
        Self(AtomicI64::new(start))
    }

    pub fn advance(&self, ms: Millis) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

pub const DAY: Millis = 24 * 60 * 60 * 1000;

/// The calendar date (UTC) of an instant, for age rules.
pub fn date_of(ms: Millis) -> Date {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(|t| t.date())
        .unwrap_or(Date::MIN)
}

fn last_sunday(year: i32, month: time::Month) -> Option<Date> {
    let mut d = Date::from_calendar_date(year, month, month.length(year)).ok()?;
    while d.weekday() != time::Weekday::Sunday {
        d = d.previous_day()?;
    }
    Some(d)
}

/// Norwegian time: UTC+2 from the last Sunday of March to the last Sunday of
/// October (at 01:00 UTC), else UTC+1.
pub fn oslo(ms: Millis) -> Option<OffsetDateTime> {
    let utc = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    let y = utc.year();
    let at_one = |d: Option<Date>| {
        d.and_then(|d| d.with_hms(1, 0, 0).ok())
            .map(|t| t.assume_utc())
    };
    let summer = match (
        at_one(last_sunday(y, time::Month::March)),
        at_one(last_sunday(y, time::Month::October)),
    ) {
        (Some(start), Some(end)) => utc >= start && utc < end,
        _ => false,
    };
    let offset = time::UtcOffset::from_hms(if summer { 2 } else { 1 }, 0, 0).ok()?;
    Some(utc.to_offset(offset))
}

/// The day it is in Norway at an instant: what a person means by "today".
pub fn oslo_date(ms: Millis) -> Date {
    oslo(ms).map_or(Date::MIN, |t| t.date())
}

/// The first instant of a day in Norway (midnight Europe/Oslo).
pub fn oslo_midnight(day: Date) -> Millis {
    let utc = day.midnight().assume_utc().unix_timestamp() * 1000;
    // Midnight in Oslo is 22:00 or 23:00 UTC the day before: the one that is
    // midnight there by Oslo's own offset.
    [2, 1]
        .into_iter()
        .map(|h| utc - h * 3_600_000)
        .find(|t| oslo(*t).is_some_and(|o| o.date() == day && o.hour() == 0))
        .unwrap_or(utc - 3_600_000)
}

/// RFC 3339 text for an instant, for people reading exports and pages.
pub fn rfc3339(ms: Millis) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
