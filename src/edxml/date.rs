//! Dates and timestamps as edXML writes them: read in `yyyy/MM/dd` or `dd/MM/yyyy` (with
//! ` HH:mm:ss` for timestamps), always written in the first form (spec §1, §6). Packets
//! carry no zone: values are Vietnam local time (UTC+7, no daylight saving).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// The offset of Vietnam time, in which packets are dated.
pub const VIETNAM_OFFSET: UtcOffset = time::macros::offset!(+7);

/// Why a date or timestamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value} is not a valid {what}: {reason} (expected {expected})")]
pub struct DateError {
    what: &'static str,
    value: String,
    reason: &'static str,
    expected: &'static str,
}

impl DateError {
    pub fn code(&self) -> &'static str {
        "edxml.invalid_value"
    }
}

const DATE_FORMS: &str = "yyyy/MM/dd or dd/MM/yyyy";
const TIMESTAMP_FORMS: &str = "yyyy/MM/dd HH:mm:ss or dd/MM/yyyy HH:mm:ss";

/// A calendar date (`PromulgationDate`, `DueDate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EdxmlDate(Date);

impl EdxmlDate {
    pub fn new(date: Date) -> Self {
        EdxmlDate(date)
    }

    pub fn parse(value: &str) -> Result<EdxmlDate, DateError> {
        parse_date(value)
            .map(EdxmlDate)
            .map_err(|reason| DateError {
                what: "date",
                value: super::codes::shown(value),
                reason,
                expected: DATE_FORMS,
            })
    }

    /// Today in Vietnam.
    pub fn today() -> EdxmlDate {
        EdxmlDate(OffsetDateTime::now_utc().to_offset(VIETNAM_OFFSET).date())
    }

    pub fn date(self) -> Date {
        self.0
    }
}

impl fmt::Display for EdxmlDate {
    /// `yyyy/MM/dd`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        write!(
            f,
            "{:04}/{:02}/{:02}",
            d.year(),
            u8::from(d.month()),
            d.day()
        )
    }
}

/// A moment in Vietnam local time (`Timestamp`), to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EdxmlTimestamp(PrimitiveDateTime);

impl EdxmlTimestamp {
    pub fn new(moment: PrimitiveDateTime) -> Self {
        EdxmlTimestamp(moment.replace_nanosecond(0).unwrap_or(moment))
    }

    pub fn parse(value: &str) -> Result<EdxmlTimestamp, DateError> {
        parse_timestamp(value)
            .map(EdxmlTimestamp)
            .map_err(|reason| DateError {
                what: "timestamp",
                value: super::codes::shown(value),
                reason,
                expected: TIMESTAMP_FORMS,
            })
    }

    /// Now in Vietnam, to the second.
    pub fn now() -> EdxmlTimestamp {
        let now = OffsetDateTime::now_utc().to_offset(VIETNAM_OFFSET);
        EdxmlTimestamp::new(PrimitiveDateTime::new(now.date(), now.time()))
    }

    pub fn date_time(self) -> PrimitiveDateTime {
        self.0
    }

    /// The same moment as an absolute time, reading the packet's value as Vietnam time.
    pub fn in_vietnam(self) -> OffsetDateTime {
        self.0.assume_offset(VIETNAM_OFFSET)
    }
}

impl fmt::Display for EdxmlTimestamp {
    /// `yyyy/MM/dd HH:mm:ss`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0.time();
        write!(
            f,
            "{} {:02}:{:02}:{:02}",
            EdxmlDate(self.0.date()),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_date(value: &str) -> Result<Date, &'static str> {
    let parts: Vec<&str> = value.split('/').collect();
    let [a, b, c] = parts.as_slice() else {
        return Err("it must have three parts separated by '/'");
    };
    let (year, month, day) = match (a.len(), b.len(), c.len()) {
        (4, 2, 2) => (a, b, c),
        (2, 2, 4) => (c, b, a),
        _ => return Err("the parts have the wrong number of digits"),
    };
    let (Some(year), Some(month), Some(day)) = (digits(year), digits(month), digits(day)) else {
        return Err("the parts must be digits");
    };
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or("the month is not between 01 and 12")?;
    let year = i32::try_from(year).map_err(|_| "the year is out of range")?;
    let day = u8::try_from(day).map_err(|_| "the day is out of range")?;
    Date::from_calendar_date(year, month, day).map_err(|_| "no such day in the calendar")
}

fn parse_time(value: &str) -> Result<Time, &'static str> {
    let parts: Vec<&str> = value.split(':').collect();
    let [h, m, s] = parts.as_slice() else {
        return Err("the time must be HH:mm:ss");
    };
    if h.len() != 2 || m.len() != 2 || s.len() != 2 {
        return Err("the time must be HH:mm:ss");
    }
    let (Some(h), Some(m), Some(s)) = (digits(h), digits(m), digits(s)) else {
        return Err("the time must be digits");
    };
    let narrow = |n: u32| u8::try_from(n).unwrap_or(u8::MAX);
    Time::from_hms(narrow(h), narrow(m), narrow(s)).map_err(|_| "no such time of day")
}

fn parse_timestamp(value: &str) -> Result<PrimitiveDateTime, &'static str> {
    let (date, time) = value
        .split_once(' ')
        .ok_or("a date and a time separated by one space are expected")?;
    Ok(PrimitiveDateTime::new(parse_date(date)?, parse_time(time)?))
}

macro_rules! serde_as_display {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                <$ty>::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

serde_as_display!(EdxmlDate);
serde_as_display!(EdxmlTimestamp);

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn dates_in_both_forms_are_written_year_first() {
        let a = EdxmlDate::parse("2024/03/05").unwrap();
        let b = EdxmlDate::parse("05/03/2024").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.date(), date!(2024 - 03 - 05));
        assert_eq!(b.to_string(), "2024/03/05");
    }

    #[test]
    fn timestamps_in_both_forms_are_written_year_first() {
        let a = EdxmlTimestamp::parse("2024/12/31 23:59:58").unwrap();
        let b = EdxmlTimestamp::parse("31/12/2024 23:59:58").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.date_time(), datetime!(2024-12-31 23:59:58));
        assert_eq!(b.to_string(), "2024/12/31 23:59:58");
        assert_eq!(
            a.in_vietnam().unix_timestamp(),
            datetime!(2024-12-31 16:59:58 UTC).unix_timestamp()
        );
    }

    #[test]
    fn refuses_other_forms_and_impossible_days() {
        for bad in [
            "",
            "2024-03-05",
            "2024/3/5",
            "5/3/2024",
            "2024/02/30",
            "2024/13/01",
            "2024/00/10",
            "24/03/05",
            "2024/03/05/01",
            "2024/+3/05",
            "2024/03/05 10:00:00",
        ] {
            let err = EdxmlDate::parse(bad).unwrap_err();
            assert_eq!(err.code(), "edxml.invalid_value");
            assert!(err.to_string().contains("yyyy/MM/dd"), "{err}");
        }
        for bad in [
            "2024/03/05",
            "2024/03/05 24:00:00",
            "2024/03/05 10:60:00",
            "2024/03/05  10:00:00",
            "2024/03/05T10:00:00",
            "2024/03/05 10:00",
            "2024/03/05 1:00:00",
        ] {
            assert!(EdxmlTimestamp::parse(bad).is_err(), "{bad:?}");
        }
        assert!(EdxmlDate::parse("2024/02/29").is_ok());
    }

    #[test]
    fn now_is_vietnam_time_to_the_second() {
        let now = EdxmlTimestamp::now();
        assert_eq!(now.date_time().nanosecond(), 0);
        let utc = OffsetDateTime::now_utc();
        let diff = (now.in_vietnam() - utc).whole_seconds().abs();
        assert!(diff <= 2, "{diff}");
        assert_eq!(EdxmlTimestamp::parse(&now.to_string()).unwrap(), now);
    }

    #[test]
    fn serde_uses_the_written_form() {
        let d = EdxmlDate::parse("01/02/2023").unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"2023/02/01\"");
    }
}
