//! The business clock: which instants count toward a promise.
//!
//! A [`Calendar`] is either `24x7` (every instant counts) or a set of weekly
//! opening windows in an IANA time zone, minus holidays, plus make-up working
//! days (the Chinese 调休 Saturdays after Golden Week, say). Windows may cross
//! midnight (`22:00-06:00`); a window belongs to the day it starts on, so a
//! holiday removes the windows that *start* on it.
//!
//! Local times are turned into instants with the zone's rules of that day, so
//! `09:00-18:00` is nine real hours on most days and eight or ten on the days
//! daylight saving time changes inside the window. A window edge that falls
//! into a DST gap moves to the first valid local minute after it; one that
//! falls into an overlap takes the earlier instant.
//!
//! Pure: no I/O and no clock of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// Seconds in a day, the unit window edges are stored in.
const DAY: u32 = 86_400;
/// How far the iterators look for a next window before concluding there is none.
/// A calendar closed for twenty years is treated as never open.
const MAX_SCAN_DAYS: i64 = 366 * 20;

/// One opening window: `start` and `end` in seconds after local midnight of the
/// day it belongs to; `end` may exceed a day for windows that cross midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Window {
    start: u32,
    end: u32,
}

impl Window {
    /// Builds a window from `HH:MM` edges; an end at or before the start means
    /// the window ends on the next day, and `24:00` means the end of the day.
    pub fn new(start: u32, end: u32) -> Option<Window> {
        if start >= DAY || end > DAY {
            return None;
        }
        let end = if end <= start { end + DAY } else { end };
        Some(Window { start, end })
    }

    pub fn start_secs(&self) -> u32 {
        self.start
    }

    pub fn end_secs(&self) -> u32 {
        self.end
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hm = |s: u32| format!("{:02}:{:02}", (s / 3600) % 25, (s % 3600) / 60);
        let end = if self.end == DAY { "24:00".to_string() } else { hm(self.end % DAY) };
        write!(f, "{}-{}", hm(self.start), end)
    }
}

/// Parses `HH:MM-HH:MM[, HH:MM-HH:MM ...]`.
pub fn parse_windows(s: &str) -> Result<Vec<Window>, String> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        let (a, b) = part
            .split_once('-')
            .ok_or_else(|| format!("`{part}` is not a time range (expected e.g. `09:00-18:00`)"))?;
        let start = parse_hhmm(a.trim())?;
        let end = parse_hhmm(b.trim())?;
        if start == end {
            return Err(format!("`{part}` is an empty range"));
        }
        out.push(Window::new(start, end).ok_or_else(|| format!("`{part}` starts at 24:00"))?);
    }
    out.sort();
    for pair in out.windows(2) {
        if pair[1].start < pair[0].end {
            return Err(format!("ranges `{}` and `{}` overlap", pair[0], pair[1]));
        }
    }
    Ok(out)
}

fn parse_hhmm(s: &str) -> Result<u32, String> {
    let bad = || format!("`{s}` is not a time of day (expected HH:MM, 00:00 to 24:00)");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 3600 + m * 60)
}

/// Parses a weekday set: `mon-fri`, `sat`, `mon,wed,fri`, `fri-mon` (wraps).
pub fn parse_days(s: &str) -> Result<Vec<Weekday>, String> {
    let day = |d: &str| -> Result<Weekday, String> {
        match d.trim().to_ascii_lowercase().as_str() {
            "mon" => Ok(Weekday::Mon),
            "tue" => Ok(Weekday::Tue),
            "wed" => Ok(Weekday::Wed),
            "thu" => Ok(Weekday::Thu),
            "fri" => Ok(Weekday::Fri),
            "sat" => Ok(Weekday::Sat),
            "sun" => Ok(Weekday::Sun),
            other => Err(format!("`{other}` is not a weekday (use mon, tue, wed, thu, fri, sat, sun)")),
        }
    };
    let mut out = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let mut d = day(a)?;
                let end = day(b)?;
                loop {
                    out.push(d);
                    if d == end {
                        break;
                    }
                    d = d.succ();
                }
            }
            None => out.push(day(part)?),
        }
    }
    Ok(out)
}

/// Parses `YYYY-MM-DD` or an inclusive range `YYYY-MM-DD..YYYY-MM-DD`.
pub fn parse_date_range(s: &str) -> Result<(NaiveDate, NaiveDate), String> {
    let date = |d: &str| {
        NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")
            .map_err(|_| format!("`{}` is not a date (expected YYYY-MM-DD)", d.trim()))
    };
    let (a, b) = match s.split_once("..") {
        Some((a, b)) => (date(a)?, date(b)?),
        None => {
            let d = date(s)?;
            (d, d)
        }
    };
    if b < a {
        return Err(format!("range `{s}` ends before it starts"));
    }
    if (b - a).num_days() > 3660 {
        return Err(format!("range `{s}` is longer than ten years"));
    }
    Ok((a, b))
}

#[derive(Clone, Debug, PartialEq)]
enum Hours {
    Always,
    Weekly(Box<WeeklyHours>),
}

#[derive(Clone, Debug, PartialEq)]
struct WeeklyHours {
    /// Index 0 is Monday.
    weekly: [Vec<Window>; 7],
    holidays: BTreeSet<NaiveDate>,
    workdays: BTreeMap<NaiveDate, Vec<Window>>,
}

/// A named business-hours calendar.
#[derive(Clone, Debug, PartialEq)]
pub struct Calendar {
    name: String,
    tz: Tz,
    hours: Hours,
    /// Built-in holiday sets it names (`holidays = "cn"`) and the last day
    /// each one's data covers: past it, that region's holidays count as
    /// business days, so `check` warns.
    holiday_sets: Vec<(String, NaiveDate)>,
}

impl Calendar {
    /// The built-in `24x7` calendar: every instant counts.
    pub fn always(name: &str) -> Calendar {
        Calendar { name: name.to_string(), tz: chrono_tz::UTC, hours: Hours::Always, holiday_sets: Vec::new() }
    }

    /// A weekly calendar. At least one weekday must have a window.
    pub fn weekly(
        name: &str,
        tz: Tz,
        weekly: [Vec<Window>; 7],
        holidays: BTreeSet<NaiveDate>,
        workdays: BTreeMap<NaiveDate, Vec<Window>>,
    ) -> Result<Calendar, String> {
        if weekly.iter().all(Vec::is_empty) {
            return Err("has no weekly hours; add e.g. `weekly = { mon-fri = \"09:00-18:00\" }`".into());
        }
        Ok(Calendar {
            name: name.to_string(),
            tz,
            hours: Hours::Weekly(Box::new(WeeklyHours { weekly, holidays, workdays })),
            holiday_sets: Vec::new(),
        })
    }

    /// Records the built-in holiday sets the calendar was built from.
    pub fn with_holiday_sets(mut self, sets: Vec<(String, NaiveDate)>) -> Calendar {
        self.holiday_sets = sets;
        self
    }

    /// The built-in holiday sets it names, with the last day each covers.
    pub fn holiday_sets(&self) -> &[(String, NaiveDate)] {
        &self.holiday_sets
    }

    /// The weekly windows of a weekday (Monday first); none for `24x7`.
    pub fn weekday_windows(&self, day: Weekday) -> &[Window] {
        match &self.hours {
            Hours::Always => &[],
            Hours::Weekly(h) => &h.weekly[day.num_days_from_monday() as usize],
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }

    pub fn is_always(&self) -> bool {
        matches!(self.hours, Hours::Always)
    }

    /// One line for `check`: `Asia/Shanghai mon 09:00-18:00, ...; 7 holidays`.
    pub fn describe(&self) -> String {
        match &self.hours {
            Hours::Always => "24x7".to_string(),
            Hours::Weekly(h) => {
                let WeeklyHours { weekly, holidays, workdays } = h.as_ref();
                let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
                let mut parts = Vec::new();
                for (i, ws) in weekly.iter().enumerate() {
                    if !ws.is_empty() {
                        let w: Vec<String> = ws.iter().map(Window::to_string).collect();
                        parts.push(format!("{} {}", days[i], w.join(",")));
                    }
                }
                let mut s = format!("{} {}", self.tz.name(), parts.join("; "));
                if !holidays.is_empty() {
                    s.push_str(&format!("; {} holiday(s)", holidays.len()));
                }
                if !workdays.is_empty() {
                    s.push_str(&format!("; {} make-up workday(s)", workdays.len()));
                }
                for (set, until) in &self.holiday_sets {
                    s.push_str(&format!("; `{set}` holidays to {until}"));
                }
                s
            }
        }
    }

    fn windows_on(&self, date: NaiveDate) -> &[Window] {
        match &self.hours {
            Hours::Always => &[],
            Hours::Weekly(h) => {
                if let Some(ws) = h.workdays.get(&date) {
                    ws
                } else if h.holidays.contains(&date) {
                    &[]
                } else {
                    &h.weekly[date.weekday().num_days_from_monday() as usize]
                }
            }
        }
    }

    /// Turns a local wall-clock time into an instant (see module docs for DST).
    fn instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        let mut probe = local;
        for _ in 0..=(4 * 60) {
            if let Some(t) = self.tz.from_local_datetime(&probe).earliest() {
                return t.with_timezone(&Utc);
            }
            probe += Duration::minutes(1);
        }
        // No zone has a gap longer than four hours; fall back to reading it as UTC.
        Utc.from_utc_datetime(&local)
    }

    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// Opening windows as instants, merged where they touch, in time order,
    /// starting with those that belong to `from` (a local date).
    fn windows_from(&self, from: NaiveDate) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        let raw = (0..MAX_SCAN_DAYS).flat_map(move |i| {
            let date = from + Duration::days(i);
            let midnight = date.and_time(NaiveTime::MIN);
            self.windows_on(date).iter().filter_map(move |w| {
                let s = self.instant(midnight + Duration::seconds(i64::from(w.start)));
                let e = self.instant(midnight + Duration::seconds(i64::from(w.end)));
                (e > s).then_some((s, e))
            })
        });
        Merge { inner: raw, cur: None }
    }

    /// Business time between `a` and `b` (zero if `b` is not after `a`).
    pub fn business_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
        if b <= a {
            return Duration::zero();
        }
        if self.is_always() {
            return b - a;
        }
        let mut total = Duration::zero();
        let from = self.local_date(a) - Duration::days(1);
        for (s, e) in self.windows_from(from) {
            if s >= b {
                break;
            }
            let lo = s.max(a);
            let hi = e.min(b);
            if hi > lo {
                total += hi - lo;
            }
        }
        total
    }

    /// The instant at which `amount` of business time has passed since
    /// `start`: the deadline of a promise. `None` if the calendar never opens
    /// again.
    pub fn add_business(&self, start: DateTime<Utc>, amount: Duration) -> Option<DateTime<Utc>> {
        if self.is_always() {
            return start.checked_add_signed(amount);
        }
        let mut remaining = amount.max(Duration::zero());
        let from = self.local_date(start) - Duration::days(1);
        for (s, e) in self.windows_from(from) {
            if e <= start {
                continue;
            }
            let lo = s.max(start);
            let available = e - lo;
            if remaining <= available {
                // A zero target outside hours is due at the next opening, not before it.
                return Some(lo + remaining);
            }
            remaining -= available;
        }
        None
    }

    /// Whether `t` is inside business hours.
    pub fn is_open(&self, t: DateTime<Utc>) -> bool {
        if self.is_always() {
            return true;
        }
        let from = self.local_date(t) - Duration::days(1);
        for (s, e) in self.windows_from(from) {
            if s > t {
                return false;
            }
            if t < e {
                return true;
            }
        }
        false
    }

    /// The first instant at or after `t` that is inside business hours.
    pub fn next_open(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.add_business(t, Duration::zero())
    }
}

/// Merges consecutive overlapping or touching windows of a time-ordered stream.
struct Merge<I> {
    inner: I,
    cur: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl<I: Iterator<Item = (DateTime<Utc>, DateTime<Utc>)>> Iterator for Merge<I> {
    type Item = (DateTime<Utc>, DateTime<Utc>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match (self.cur, self.inner.next()) {
                (None, None) => return None,
                (Some(c), None) => {
                    self.cur = None;
                    return Some(c);
                }
                (None, Some(n)) => self.cur = Some(n),
                (Some((cs, ce)), Some((ns, ne))) => {
                    if ns <= ce {
                        self.cur = Some((cs, ce.max(ne)));
                    } else {
                        self.cur = Some((ns, ne));
                        return Some((cs, ce));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn weekly(tz: Tz, spec: &[(&str, &str)], holidays: &[&str], workdays: &[(&str, &str)]) -> Calendar {
        let mut w: [Vec<Window>; 7] = Default::default();
        for (days, hours) in spec {
            for d in parse_days(days).unwrap() {
                w[d.num_days_from_monday() as usize] = parse_windows(hours).unwrap();
            }
        }
        let mut hol = BTreeSet::new();
        for h in holidays {
            let (a, b) = parse_date_range(h).unwrap();
            let mut d = a;
            while d <= b {
                hol.insert(d);
                d = d.succ_opt().unwrap();
            }
        }
        let wd = workdays
            .iter()
            .map(|(d, h)| (NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap(), parse_windows(h).unwrap()))
            .collect();
        Calendar::weekly("test", tz, w, hol, wd).unwrap()
    }

    fn shanghai() -> Calendar {
        weekly(
            chrono_tz::Asia::Shanghai,
            &[("mon-fri", "09:00-18:00")],
            &["2026-10-01..2026-10-07"],
            &[("2026-10-10", "09:00-18:00")],
        )
    }

    fn new_york() -> Calendar {
        weekly(chrono_tz::America::New_York, &[("mon-fri", "09:00-17:00")], &[], &[])
    }

    /// (calendar, from, to, expected business seconds)
    #[test]
    fn business_seconds_table() {
        let always = Calendar::always("24x7");
        let sh = shanghai();
        let ny = new_york();
        let overnight = weekly(chrono_tz::Europe::Berlin, &[("mon-fri", "22:00-06:00")], &[], &[]);
        let ny_night = weekly(chrono_tz::America::New_York, &[("sat-sun", "22:00-06:00")], &[], &[]);
        let cases: Vec<(&str, &Calendar, &str, &str, i64)> = vec![
            ("24x7 counts everything", &always, "2026-11-20T09:50:00Z", "2026-11-23T01:20:00Z", 228_600),
            ("24x7 reversed is zero", &always, "2026-11-23T01:20:00Z", "2026-11-20T09:50:00Z", 0),
            // Friday 17:50 CST -> Monday 09:20 CST: 10 minutes Friday + 20 minutes Monday.
            ("friday evening to monday morning", &sh, "2026-11-20T09:50:00Z", "2026-11-23T01:20:00Z", 1_800),
            ("inside one day", &sh, "2026-11-23T02:00:00Z", "2026-11-23T03:30:00Z", 5_400),
            ("entirely at night", &sh, "2026-11-23T12:00:00Z", "2026-11-23T20:00:00Z", 0),
            // Tue 2026-09-29 17:00 CST -> Thu 2026-10-08 10:00 CST: Tue 1h, Wed 9h,
            // Golden Week Oct 1-7 closed (Sat Oct 10 is a make-up day but after), Thu 1h.
            ("across golden week", &sh, "2026-09-29T09:00:00Z", "2026-10-08T02:00:00Z", 11 * 3600),
            // Fri Oct 9 17:00 -> Mon Oct 12 10:00: Fri 1h + make-up Saturday 9h + Mon 1h.
            ("make-up saturday counts", &sh, "2026-10-09T09:00:00Z", "2026-10-12T02:00:00Z", 11 * 3600),
            // DST starts 2026-03-08 in New York; Fri 16:00 EST -> Mon 10:00 EDT = 1h + 1h.
            ("new york spring forward weekend", &ny, "2026-03-06T21:00:00Z", "2026-03-09T14:00:00Z", 7_200),
            // DST ends 2026-11-01; Fri 16:00 EDT -> Mon 10:00 EST = 1h + 1h.
            ("new york fall back weekend", &ny, "2026-10-30T20:00:00Z", "2026-11-02T15:00:00Z", 7_200),
            // A full business week that contains the change still counts 5 x 8h.
            ("new york week with dst change", &ny, "2026-03-07T00:00:00Z", "2026-03-14T00:00:00Z", 5 * 8 * 3600),
            // Berlin Mon 23:00 -> Tue 05:00 inside the Monday-night window.
            ("overnight window", &overnight, "2026-11-23T22:00:00Z", "2026-11-24T04:00:00Z", 6 * 3600),
            // Sunday 21:00 -> Monday 07:00 Berlin: Sun has no window, Mon window starts 22:00.
            ("overnight window not on sunday", &overnight, "2026-11-22T20:00:00Z", "2026-11-23T06:00:00Z", 0),
            // Friday-night window runs into Saturday morning.
            ("overnight window into saturday", &overnight, "2026-11-27T21:00:00Z", "2026-11-28T05:00:00Z", 8 * 3600),
            // Sat 2026-03-07 22:00 EST -> Sun 06:00 EDT: the night loses an hour to DST.
            ("overnight across spring forward", &ny_night, "2026-03-08T03:00:00Z", "2026-03-08T10:00:00Z", 7 * 3600),
            // Sat 2026-10-31 22:00 EDT -> Sun 06:00 EST: the night gains an hour.
            ("overnight across fall back", &ny_night, "2026-11-01T02:00:00Z", "2026-11-01T11:00:00Z", 9 * 3600),
        ];
        for (name, cal, a, b, want) in cases {
            let got = cal.business_between(utc(a), utc(b)).num_seconds();
            assert_eq!(got, want, "{name}");
        }
    }

    /// (calendar, start, target seconds, expected deadline)
    #[test]
    fn deadline_table() {
        let always = Calendar::always("24x7");
        let sh = shanghai();
        let ny = new_york();
        let cases: Vec<(&str, &Calendar, &str, i64, &str)> = vec![
            ("24x7 15 minutes", &always, "2026-11-21T03:00:00Z", 900, "2026-11-21T03:15:00Z"),
            // Friday 17:50 CST with a 4h promise: 10 min Friday, 3h50 Monday -> Mon 12:50 CST.
            ("friday evening 4h", &sh, "2026-11-20T09:50:00Z", 4 * 3600, "2026-11-23T04:50:00Z"),
            // Opened on a Saturday: the clock starts Monday 09:00.
            ("weekend start", &sh, "2026-11-21T03:00:00Z", 3600, "2026-11-23T02:00:00Z"),
            // Opened Wed 2026-09-30 17:00 CST with 2h: 1h Wed, then due on Oct 1 -
            // a holiday - so it runs on to Thu Oct 8 10:00 CST.
            ("due on a holiday moves past it", &sh, "2026-09-30T09:00:00Z", 7_200, "2026-10-08T02:00:00Z"),
            // Zero target outside hours: due at the next opening.
            ("zero target at night", &sh, "2026-11-23T12:00:00Z", 0, "2026-11-24T01:00:00Z"),
            // Fri 16:00 EST + 2h over the spring-forward weekend -> Mon 10:00 EDT (14:00Z).
            ("new york across dst", &ny, "2026-03-06T21:00:00Z", 7_200, "2026-03-09T14:00:00Z"),
            // Fri 16:00 EDT + 2h over fall-back -> Mon 10:00 EST (15:00Z).
            ("new york across dst end", &ny, "2026-10-30T20:00:00Z", 7_200, "2026-11-02T15:00:00Z"),
        ];
        for (name, cal, start, secs, want) in cases {
            let got = cal.add_business(utc(start), Duration::seconds(secs)).unwrap();
            assert_eq!(got, utc(want), "{name}");
            // The deadline is exactly `secs` of business time after the start.
            assert_eq!(cal.business_between(utc(start), got).num_seconds(), secs, "{name} round trip");
        }
    }

    #[test]
    fn is_open_and_next_open() {
        let sh = shanghai();
        assert!(sh.is_open(utc("2026-11-23T01:00:00Z")), "Mon 09:00 CST is open");
        assert!(!sh.is_open(utc("2026-11-23T10:00:00Z")), "Mon 18:00 CST is closed");
        assert!(!sh.is_open(utc("2026-10-02T03:00:00Z")), "Golden Week is closed");
        assert!(sh.is_open(utc("2026-10-10T03:00:00Z")), "make-up Saturday is open");
        assert_eq!(sh.next_open(utc("2026-11-21T03:00:00Z")), Some(utc("2026-11-23T01:00:00Z")));
    }

    #[test]
    fn parsers_reject_bad_input() {
        assert!(parse_windows("9-18").is_err());
        assert!(parse_windows("09:00-09:00").is_err());
        assert!(parse_windows("09:00-12:00, 11:00-14:00").unwrap_err().contains("overlap"));
        assert!(parse_windows("24:00-01:00").is_err());
        assert!(parse_windows("09:60-10:00").is_err());
        assert_eq!(parse_windows("00:00-24:00").unwrap(), vec![Window { start: 0, end: DAY }]);
        assert_eq!(parse_windows("22:00-06:00").unwrap()[0].end, DAY + 6 * 3600);
        assert!(parse_days("mon-fry").is_err());
        assert_eq!(parse_days("fri-mon").unwrap().len(), 4);
        assert!(parse_date_range("2026-10-07..2026-10-01").is_err());
        assert!(parse_date_range("2026-13-01").is_err());
    }

    #[test]
    fn a_calendar_needs_hours() {
        let err = Calendar::weekly("x", chrono_tz::UTC, Default::default(), BTreeSet::new(), BTreeMap::new());
        assert!(err.is_err());
    }
}
