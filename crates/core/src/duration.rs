//! Human-friendly durations as they appear in config and scenario files:
//! `90s`, `15m`, `15min`, `15 min`, `4h`, `1h30m`, `1h 30m`, `3d`, `250ms`, `2w`.
//!
//! The grammar: one or more parts, each a whole number, optional spaces and a
//! unit (`ms`; `s`/`sec`/`second`; `m`/`min`/`minute`; `h`/`hr`/`hour`;
//! `d`/`day`; `w`/`wk`/`week`; plurals and any letter case), parts separated
//! by nothing, spaces or a comma. No fractions (`1.5h` is `1h30m`).
//!
//! [`Dur`] is a validated newtype deserialized with `try_from = "String"`, so a
//! bad value in TOML is reported by the TOML parser with a caret under it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A non-negative duration with millisecond resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct Dur(std::time::Duration);

/// Why a duration string was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid duration `{input}`: {reason} (expected e.g. `90s`, `15m`, `15 min`, `4h`, `1h 30m`, `3d`, `1w`)")]
pub struct DurError {
    input: String,
    reason: &'static str,
}

impl Dur {
    pub const ZERO: Dur = Dur(std::time::Duration::ZERO);

    pub fn from_secs(secs: u64) -> Self {
        Dur(std::time::Duration::from_secs(secs))
    }

    pub fn from_millis(ms: u64) -> Self {
        Dur(std::time::Duration::from_millis(ms))
    }

    pub fn std(self) -> std::time::Duration {
        self.0
    }

    /// Whole seconds (sub-second parts are dropped).
    pub fn secs(self) -> i64 {
        i64::try_from(self.0.as_secs()).unwrap_or(i64::MAX)
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0.as_secs_f64()
    }

    /// The duration as a chrono duration, saturating at chrono's limits.
    pub fn chrono(self) -> chrono::Duration {
        chrono::Duration::from_std(self.0).unwrap_or(chrono::Duration::MAX)
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl FromStr for Dur {
    type Err = DurError;

    fn from_str(input: &str) -> Result<Self, DurError> {
        let err = |reason| DurError { input: input.to_string(), reason };
        let s = input.trim();
        if s.is_empty() {
            return Err(err("empty"));
        }
        let mut total_ms: u128 = 0;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(err("each part must start with a number"));
            }
            let (num, tail) = rest.split_at(digits);
            let value: u128 = num.parse().map_err(|_| err("number too large"))?;
            // `15 min`: spaces between a number and its unit are what people type.
            let tail = tail.trim_start();
            let unit_len = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
            if unit_len == 0 {
                return Err(err("missing unit (ms, s, m or min, h, d or w)"));
            }
            let (unit, tail) = tail.split_at(unit_len);
            let factor = unit_factor(&unit.to_ascii_lowercase())
                .ok_or_else(|| err("unknown unit (use ms, s, m or min, h, d or w)"))?;
            total_ms =
                value.checked_mul(factor).and_then(|v| total_ms.checked_add(v)).ok_or_else(|| err("too large"))?;
            // `1h 30m` and `1h, 30m`: parts may be separated by spaces or a comma.
            rest = tail.trim_start_matches([' ', '\t', ',']);
        }
        // Cap at 10 years: nothing in a POC is longer, and it keeps chrono conversions exact.
        if total_ms > 10 * 366 * 86_400_000 {
            return Err(err("longer than 10 years"));
        }
        let ms = u64::try_from(total_ms).map_err(|_| err("too large"))?;
        Ok(Dur(std::time::Duration::from_millis(ms)))
    }
}

/// Milliseconds in one of a unit's spellings: the short forms and the English
/// words, singular or plural (`s`, `sec`, `secs`, `second`, `seconds`, …).
fn unit_factor(unit: &str) -> Option<u128> {
    Some(match unit {
        "ms" | "msec" | "msecs" | "millis" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        "w" | "wk" | "wks" | "week" | "weeks" => 604_800_000,
        _ => return None,
    })
}

impl TryFrom<String> for Dur {
    type Error = DurError;
    fn try_from(s: String) -> Result<Self, DurError> {
        s.parse()
    }
}

impl From<Dur> for String {
    fn from(d: Dur) -> String {
        d.to_string()
    }
}

impl fmt::Display for Dur {
    /// Formats in the largest exact units, e.g. `1h30m`, `3d`, `250ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [("d", 86_400_000u128), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
            if ms >= size {
                write!(f, "{}{unit}", ms / size)?;
                ms %= size;
            }
        }
        Ok(())
    }
}

/// Formats a number of seconds the way people read SLA figures: `14m05s`, `2h03m`, `3d04h`.
pub fn human_secs(secs: i64) -> String {
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.unsigned_abs();
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60, s % 60);
    if d > 0 {
        format!("{sign}{d}d{h:02}h")
    } else if h > 0 {
        format!("{sign}{h}h{m:02}m")
    } else if m > 0 {
        format!("{sign}{m}m{sec:02}s")
    } else {
        format!("{sign}{sec}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_compounds() {
        let cases = [
            ("90s", 90_000),
            ("15m", 900_000),
            ("4h", 14_400_000),
            ("3d", 259_200_000),
            ("1h30m", 5_400_000),
            ("2w", 1_209_600_000),
            ("250ms", 250),
            ("0s", 0),
            (" 5m ", 300_000),
            ("15min", 900_000),
            ("15 min", 900_000),
            ("15 minutes", 900_000),
            ("1h 30m", 5_400_000),
            ("1 hour 30 minutes", 5_400_000),
            ("1h, 30m", 5_400_000),
            ("2d", 172_800_000),
            ("2 days", 172_800_000),
            ("1w", 604_800_000),
            ("1 week", 604_800_000),
            ("4 HOURS", 14_400_000),
            ("90 sec", 90_000),
            ("500 ms", 500),
        ];
        for (input, ms) in cases {
            assert_eq!(input.parse::<Dur>().unwrap().std().as_millis(), ms, "{input}");
        }
    }

    #[test]
    fn rejects_bad_input_with_reason() {
        for (input, reason) in [
            ("", "empty"),
            ("15", "missing unit"),
            ("m15", "must start with a number"),
            ("15x", "unknown unit"),
            ("15 mon", "unknown unit"),
            ("1h 30", "missing unit"),
            ("1h and 30m", "must start with a number"),
            ("1.5h", "missing unit"),
            ("99999999999999999999999999999999999999999d", "number too large"),
            ("11000d", "longer than 10 years"),
        ] {
            let err = input.parse::<Dur>().unwrap_err().to_string();
            assert!(err.contains(reason), "{input}: {err}");
        }
    }

    #[test]
    fn displays_round_trip() {
        for input in ["1h30m", "3d", "250ms", "1d2h3m4s5ms", "0s"] {
            let d: Dur = input.parse().unwrap();
            assert_eq!(d.to_string(), input);
        }
    }

    #[test]
    fn human_secs_reads_like_an_sla_figure() {
        assert_eq!(human_secs(0), "0s");
        assert_eq!(human_secs(845), "14m05s");
        assert_eq!(human_secs(7_380), "2h03m");
        assert_eq!(human_secs(273_600), "3d04h");
        assert_eq!(human_secs(-61), "-1m01s");
    }
}
