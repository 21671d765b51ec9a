//! UTC timestamps in Unix milliseconds, rendered as RFC 3339 text for JSON and as a `u64` in
//! binary encodings. No clock is read here: callers supply the time.
//!
//! The text form is canonical: `YYYY-MM-DDTHH:MM:SSZ`, or `YYYY-MM-DDTHH:MM:SS.mmmZ` when the
//! milliseconds are non-zero. Only UTC (`Z`) and years 1970–9999 are accepted, so a signed
//! value has exactly one spelling.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Largest instant representable (9999-12-31T23:59:59.999Z).
const MAX_MS: u64 = 253_402_300_799_999;

/// Why a timestamp string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The text is not in the canonical UTC form.
    #[error("timestamp is not canonical RFC 3339 UTC (YYYY-MM-DDTHH:MM:SS[.mmm]Z): {0:?}")]
    Format(String),
    /// A field is out of range.
    #[error("timestamp field {field} out of range: got {got}")]
    Range {
        /// Which field.
        field: &'static str,
        /// Value found.
        got: u64,
    },
}

/// Milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixMillis(pub u64);

/// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u64, d: u64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy as i64;
    era * 146_097 + doe - 719_468
}

/// `(year, month, day)` for days since 1970-01-01 (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, u64, u64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u64;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u64;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_in_month(y: i64, m: u64) -> u64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl fmt::Display for UnixMillis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms > MAX_MS {
            // No RFC 3339 form exists; show the raw value rather than a wrong date.
            return write!(f, "{ms} ms after the Unix epoch (beyond year 9999)");
        }
        let secs = ms / 1000;
        // secs / 86_400 is at most about 2.9 million days, far inside i64.
        let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
        let sod = secs % 86_400;
        write!(
            f,
            "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60
        )?;
        match ms % 1000 {
            0 => f.write_str("Z"),
            frac => write!(f, ".{frac:03}Z"),
        }
    }
}

fn digits(s: &[u8], field: &'static str) -> Result<u64, TimeError> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return Err(TimeError::Format(field.to_owned()));
    }
    Ok(s.iter().fold(0u64, |acc, c| acc * 10 + u64::from(c - b'0')))
}

impl FromStr for UnixMillis {
    type Err = TimeError;

    /// Parses the canonical UTC form only.
    fn from_str(s: &str) -> Result<Self, TimeError> {
        let b = s.as_bytes();
        let bad = || TimeError::Format(s.chars().take(40).collect());
        if !(b.len() == 20 || b.len() == 24) || b[b.len() - 1] != b'Z' {
            return Err(bad());
        }
        let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
        if seps.iter().any(|&(i, c)| b[i] != c) {
            return Err(bad());
        }
        let year = digits(&b[0..4], "year").map_err(|_| bad())?;
        let month = digits(&b[5..7], "month").map_err(|_| bad())?;
        let day = digits(&b[8..10], "day").map_err(|_| bad())?;
        let hour = digits(&b[11..13], "hour").map_err(|_| bad())?;
        let min = digits(&b[14..16], "minute").map_err(|_| bad())?;
        let sec = digits(&b[17..19], "second").map_err(|_| bad())?;
        let frac = if b.len() == 24 {
            if b[19] != b'.' {
                return Err(bad());
            }
            let frac = digits(&b[20..23], "millisecond").map_err(|_| bad())?;
            if frac == 0 {
                // Canonical form omits a zero fraction.
                return Err(bad());
            }
            frac
        } else {
            0
        };
        let y = year as i64;
        let checks = [
            ("year", year, year >= 1970),
            ("month", month, (1..=12).contains(&month)),
            ("hour", hour, hour < 24),
            ("minute", min, min < 60),
            ("second", sec, sec < 60),
        ];
        if let Some(&(field, got, _)) = checks.iter().find(|c| !c.2) {
            return Err(TimeError::Range { field, got });
        }
        if day == 0 || day > days_in_month(y, month) {
            return Err(TimeError::Range {
                field: "day",
                got: day,
            });
        }
        // year >= 1970 keeps the day count non-negative.
        let days = days_from_civil(y, month, day) as u64;
        let secs = days * 86_400 + hour * 3600 + min * 60 + sec;
        Ok(UnixMillis(secs * 1000 + frac))
    }
}

impl Serialize for UnixMillis {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0 > MAX_MS {
            return Err(serde::ser::Error::custom(format!(
                "timestamp {} ms is after year 9999",
                self.0
            )));
        }
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for UnixMillis {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = UnixMillis;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 UTC timestamp like 2026-11-27T09:00:00Z")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<UnixMillis, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (1_706_000_000_000, "2024-01-23T08:53:20Z"),
            (1_795_770_000_123, "2026-11-27T09:00:00.123Z"),
            (951_782_400_000, "2000-02-29T00:00:00Z"),
            (MAX_MS, "9999-12-31T23:59:59.999Z"),
        ];
        for (ms, text) in cases {
            assert_eq!(UnixMillis(ms).to_string(), text);
            assert_eq!(text.parse::<UnixMillis>(), Ok(UnixMillis(ms)), "{text}");
        }
    }

    #[test]
    fn rejects_non_canonical() {
        for text in [
            "2026-11-27T09:00:00.000Z",
            "2026-11-27T09:00:00+00:00",
            "2026-11-27 09:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-27T24:00:00Z",
            "1969-12-31T23:59:59Z",
            "2026-11-27t09:00:00Z",
            "+026-11-27T09:00:00Z",
        ] {
            assert!(text.parse::<UnixMillis>().is_err(), "{text}");
        }
    }

    #[test]
    fn round_trips_every_day_boundary_sample() {
        for day in (0..2_932_896u64).step_by(997) {
            let ms = day * 86_400_000 + 45_296_789;
            let text = UnixMillis(ms).to_string();
            assert_eq!(text.parse::<UnixMillis>(), Ok(UnixMillis(ms)), "{text}");
        }
    }
}
