//! Periods auditors ask about: days and months as Vietnam counts them (UTC+07:00, no daylight
//! saving), so "November 2026" is what a Vietnamese office means by it, not what UTC means;
//! or exact RFC 3339 instants. Times are microseconds since the Unix epoch, as the store keeps
//! them; a period is half-open, `[from, to)`.

use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Vietnam's offset from UTC.
const VIETNAM_HOURS: i8 = 7;

/// A half-open span of time, `[from, to)`, in microseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: i64,
    pub to: i64,
}

/// Why a date or a month cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PeriodError(String);

impl Period {
    /// From the start of `from` to the end of `to`: each a day (`2026-11-30`, in Vietnam's
    /// time, the whole day included) or an RFC 3339 instant (`2026-11-30T08:00:00+07:00`).
    pub fn between(from: &str, to: &str) -> Result<Period, PeriodError> {
        let period = Period {
            from: instant(from, Edge::Start)?,
            to: instant(to, Edge::End)?,
        };
        if period.from >= period.to {
            return Err(PeriodError(format!("{from} is not before {to}")));
        }
        Ok(period)
    }

    /// The month `2026-11` as the number `202611`: how the statistics key their months (the
    /// month of a letter's acceptance in Vietnam's time is decided with the counting, in
    /// `store::stats`).
    pub fn month_number(text: &str) -> Result<i64, PeriodError> {
        let first = month_start(text)?;
        Ok(i64::from(first.year()) * 100 + i64::from(u8::from(first.month())))
    }

    pub fn contains(&self, micros: i64) -> bool {
        self.from <= micros && micros < self.to
    }
}

/// The first day of the month `2026-11`.
fn month_start(text: &str) -> Result<Date, PeriodError> {
    let bad = || PeriodError(format!("{text:?} is not a month such as 2026-11"));
    let (year, month) = text.split_once('-').ok_or_else(bad)?;
    if year.len() != 4 || month.len() != 2 {
        return Err(bad());
    }
    let year: i32 = year.parse().map_err(|_| bad())?;
    let month = month
        .parse::<u8>()
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or_else(bad)?;
    Date::from_calendar_date(year, month, 1).map_err(|_| bad())
}

#[derive(Clone, Copy)]
enum Edge {
    Start,
    End,
}

/// A day's start or end (the next day's start), or an exact instant.
fn instant(text: &str, edge: Edge) -> Result<i64, PeriodError> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(micros(at));
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let day = Date::parse(text, &format).map_err(|_| {
        PeriodError(format!(
            "{text:?} is neither a day such as 2026-11-30 nor an RFC 3339 time"
        ))
    })?;
    Ok(match edge {
        Edge::Start => day_start(day),
        Edge::End => day_start(day.next_day().unwrap_or(day)),
    })
}

/// Midnight at the start of `day` in Vietnam.
fn day_start(day: Date) -> i64 {
    let offset = UtcOffset::from_hms(VIETNAM_HOURS, 0, 0).unwrap_or(UtcOffset::UTC);
    micros(PrimitiveDateTime::new(day, Time::MIDNIGHT).assume_offset(offset))
}

fn micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_vietnams_day() {
        let p = Period::between("2026-11-30", "2026-11-30").unwrap();
        // 2026-11-29T17:00:00Z .. 2026-11-30T17:00:00Z
        assert_eq!(p.from, 1_795_971_600_000_000);
        assert_eq!(p.to - p.from, 86_400_000_000);
    }

    #[test]
    fn a_month_is_numbered_as_the_statistics_key_it() {
        assert_eq!(Period::month_number("2026-11"), Ok(202_611));
        assert_eq!(Period::month_number("2027-01"), Ok(202_701));
    }

    #[test]
    fn instants_and_bad_input() {
        let p = Period::between("2026-11-30T08:00:00+07:00", "2026-11-30T01:00:01Z").unwrap();
        assert_eq!(p.to - p.from, 1_000_000);
        assert!(Period::between("2026-12-01", "2026-11-01").is_err());
        assert!(Period::between("30/11/2026", "2026-12-01").is_err());
        assert!(Period::month_number("2026-13").is_err());
        assert!(Period::month_number("2026-1").is_err());
        assert!(Period::month_number("november").is_err());
    }
}
