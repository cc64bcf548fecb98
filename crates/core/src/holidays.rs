//! Built-in public-holiday sets, per region and year, as the governments
//! published them: a calendar says `holidays = "cn"` instead of typing every
//! Golden Week and 调休 make-up working day by hand.
//!
//! Each set lists the days offices are closed that would otherwise be working
//! days (substitute and "observed" days included; a holiday that falls on a
//! weekend with no substitute is listed too, harmlessly) and, where the region
//! has them, make-up working days (mainland China's 调休 weekends, Taiwan's
//! 補行上班). A set covers whole years, `first..=last`; a POC that runs past
//! `last` is warned about by `check`, because after it the region's holidays
//! are counted as business days.
//!
//! Sources (the official schedules, by year):
//! - `cn`: 国务院办公厅关于 2024/2025/2026 年部分节假日安排的通知
//!   (国办发明电〔2023〕7号, 〔2024〕12号, 〔2025〕7号).
//! - `hk`: the general holidays gazetted by the HKSAR Government (press
//!   releases 政府公布二○二四/二○二五/二○二六年公眾假期).
//! - `tw`: 行政院人事行政總處, 政府行政機關辦公日曆表 113–115 年 (2025 as
//!   revised in June 2025, with the three holidays the 紀念日及節日實施條例
//!   added); Labour Day 2025 is in, as it was a holiday for every employee
//!   under the Labor Standards Act.
//! - `sg`: Ministry of Manpower, public holidays (2025 with Polling Day).
//! - `us`: OPM federal holidays (5 U.S.C. 6103, with the observed Friday or
//!   Monday when a holiday falls on a weekend; one-off executive closures
//!   are not in).
//! - `uk`: GOV.UK bank holidays, England and Wales.
//!
//! Pure data and lookups: no I/O.

use chrono::NaiveDate;

use crate::calendar::parse_date_range;

/// One region's published holidays.
#[derive(Debug)]
pub struct HolidaySet {
    /// The name a config uses: `holidays = "cn"`.
    pub name: &'static str,
    pub title: &'static str,
    /// The years the data covers, whole.
    pub first_year: i32,
    pub last_year: i32,
    /// Dates and inclusive ranges (`2026-02-15..2026-02-23`).
    holidays: &'static [&'static str],
    /// Make-up working days: weekends worked in exchange for a bridge day.
    workdays: &'static [&'static str],
}

impl HolidaySet {
    /// Every day off in the set, in order.
    pub fn holidays(&self) -> Vec<NaiveDate> {
        let mut days = Vec::new();
        for entry in self.holidays {
            let (a, b) = parse_date_range(entry).expect("built-in holiday data is well-formed (tested)");
            days.extend(a.iter_days().take_while(|d| *d <= b));
        }
        days
    }

    /// Every make-up working day in the set, in order.
    pub fn workdays(&self) -> Vec<NaiveDate> {
        self.workdays
            .iter()
            .map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("built-in holiday data is well-formed (tested)"))
            .collect()
    }

    /// The last day the data speaks for (31 December of `last_year`).
    pub fn covered_until(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.last_year, 12, 31).expect("a valid year")
    }
}

/// Every built-in set, by name.
pub const SETS: &[HolidaySet] = &[CN, HK, TW, SG, US, UK];

/// The set called `name` (letter case aside).
pub fn set(name: &str) -> Option<&'static HolidaySet> {
    SETS.iter().find(|s| s.name.eq_ignore_ascii_case(name))
}

/// The names, for error messages and "did you mean".
pub fn names() -> impl Iterator<Item = &'static str> {
    SETS.iter().map(|s| s.name)
}

const CN: HolidaySet = HolidaySet {
    name: "cn",
    title: "mainland China public holidays with 调休 make-up working days",
    first_year: 2024,
    last_year: 2026,
    holidays: &[
        // 2024
        "2024-01-01",
        "2024-02-10..2024-02-17",
        "2024-04-04..2024-04-06",
        "2024-05-01..2024-05-05",
        "2024-06-10",
        "2024-09-15..2024-09-17",
        "2024-10-01..2024-10-07",
        // 2025
        "2025-01-01",
        "2025-01-28..2025-02-04",
        "2025-04-04..2025-04-06",
        "2025-05-01..2025-05-05",
        "2025-05-31..2025-06-02",
        "2025-10-01..2025-10-08",
        // 2026
        "2026-01-01..2026-01-03",
        "2026-02-15..2026-02-23",
        "2026-04-04..2026-04-06",
        "2026-05-01..2026-05-05",
        "2026-06-19..2026-06-21",
        "2026-09-25..2026-09-27",
        "2026-10-01..2026-10-07",
    ],
    workdays: &[
        "2024-02-04",
        "2024-02-18",
        "2024-04-07",
        "2024-04-28",
        "2024-05-11",
        "2024-09-14",
        "2024-09-29",
        "2024-10-12",
        "2025-01-26",
        "2025-02-08",
        "2025-04-27",
        "2025-09-28",
        "2025-10-11",
        "2026-01-04",
        "2026-02-14",
        "2026-02-28",
        "2026-05-09",
        "2026-09-20",
        "2026-10-10",
    ],
};

const HK: HolidaySet = HolidaySet {
    name: "hk",
    title: "Hong Kong general holidays",
    first_year: 2024,
    last_year: 2026,
    holidays: &[
        // 2024
        "2024-01-01",
        "2024-02-10",
        "2024-02-12",
        "2024-02-13",
        "2024-03-29",
        "2024-03-30",
        "2024-04-01",
        "2024-04-04",
        "2024-05-01",
        "2024-05-15",
        "2024-06-10",
        "2024-07-01",
        "2024-09-18",
        "2024-10-01",
        "2024-10-11",
        "2024-12-25",
        "2024-12-26",
        // 2025
        "2025-01-01",
        "2025-01-29..2025-01-31",
        "2025-04-04",
        "2025-04-18",
        "2025-04-19",
        "2025-04-21",
        "2025-05-01",
        "2025-05-05",
        "2025-05-31",
        "2025-07-01",
        "2025-10-01",
        "2025-10-07",
        "2025-10-29",
        "2025-12-25",
        "2025-12-26",
        // 2026
        "2026-01-01",
        "2026-02-17..2026-02-19",
        "2026-04-03",
        "2026-04-04",
        "2026-04-06",
        "2026-04-07",
        "2026-05-01",
        "2026-05-25",
        "2026-06-19",
        "2026-07-01",
        "2026-09-26",
        "2026-10-01",
        "2026-10-19",
        "2026-12-25",
        "2026-12-26",
    ],
    workdays: &[],
};

const TW: HolidaySet = HolidaySet {
    name: "tw",
    title: "Taiwan government office calendar (行政院人事行政總處)",
    first_year: 2025,
    last_year: 2026,
    holidays: &[
        // 2025
        "2025-01-01",
        "2025-01-27..2025-01-31",
        "2025-02-28",
        "2025-04-03",
        "2025-04-04",
        "2025-05-01",
        "2025-05-30",
        "2025-09-29",
        "2025-10-06",
        "2025-10-10",
        "2025-10-24",
        "2025-12-25",
        // 2026
        "2026-01-01",
        "2026-02-16..2026-02-20",
        "2026-02-27",
        "2026-04-03",
        "2026-04-06",
        "2026-05-01",
        "2026-06-19",
        "2026-09-25",
        "2026-09-28",
        "2026-10-09",
        "2026-10-26",
        "2026-12-25",
    ],
    // 27 January 2025 was a bridge day, worked on Saturday 8 February; from
    // 2026 the calendar has no make-up days.
    workdays: &["2025-02-08"],
};

const SG: HolidaySet = HolidaySet {
    name: "sg",
    title: "Singapore public holidays (Ministry of Manpower)",
    first_year: 2025,
    last_year: 2026,
    holidays: &[
        // 2025
        "2025-01-01",
        "2025-01-29",
        "2025-01-30",
        "2025-03-31",
        "2025-04-18",
        "2025-05-01",
        "2025-05-03",
        "2025-05-12",
        "2025-06-07",
        "2025-08-09",
        "2025-10-20",
        "2025-12-25",
        // 2026 (a Sunday holiday moves to the Monday after it)
        "2026-01-01",
        "2026-02-17",
        "2026-02-18",
        "2026-03-21",
        "2026-04-03",
        "2026-05-01",
        "2026-05-27",
        "2026-06-01",
        "2026-08-10",
        "2026-11-09",
        "2026-12-25",
    ],
    workdays: &[],
};

const US: HolidaySet = HolidaySet {
    name: "us",
    title: "United States federal holidays (observed days)",
    first_year: 2024,
    last_year: 2027,
    holidays: &[
        "2024-01-01",
        "2024-01-15",
        "2024-02-19",
        "2024-05-27",
        "2024-06-19",
        "2024-07-04",
        "2024-09-02",
        "2024-10-14",
        "2024-11-11",
        "2024-11-28",
        "2024-12-25",
        "2025-01-01",
        "2025-01-20",
        "2025-02-17",
        "2025-05-26",
        "2025-06-19",
        "2025-07-04",
        "2025-09-01",
        "2025-10-13",
        "2025-11-11",
        "2025-11-27",
        "2025-12-25",
        "2026-01-01",
        "2026-01-19",
        "2026-02-16",
        "2026-05-25",
        "2026-06-19",
        "2026-07-03",
        "2026-09-07",
        "2026-10-12",
        "2026-11-11",
        "2026-11-26",
        "2026-12-25",
        "2027-01-01",
        "2027-01-18",
        "2027-02-15",
        "2027-05-31",
        "2027-06-18",
        "2027-07-05",
        "2027-09-06",
        "2027-10-11",
        "2027-11-11",
        "2027-11-25",
        "2027-12-24",
        // New Year's Day 2028 is a Saturday: observed on Friday 31 December 2027.
        "2027-12-31",
    ],
    workdays: &[],
};

const UK: HolidaySet = HolidaySet {
    name: "uk",
    title: "United Kingdom bank holidays (England and Wales)",
    first_year: 2024,
    last_year: 2027,
    holidays: &[
        "2024-01-01",
        "2024-03-29",
        "2024-04-01",
        "2024-05-06",
        "2024-05-27",
        "2024-08-26",
        "2024-12-25",
        "2024-12-26",
        "2025-01-01",
        "2025-04-18",
        "2025-04-21",
        "2025-05-05",
        "2025-05-26",
        "2025-08-25",
        "2025-12-25",
        "2025-12-26",
        "2026-01-01",
        "2026-04-03",
        "2026-04-06",
        "2026-05-04",
        "2026-05-25",
        "2026-08-31",
        "2026-12-25",
        "2026-12-28",
        "2027-01-01",
        "2027-03-26",
        "2027-03-29",
        "2027-05-03",
        "2027-05-31",
        "2027-08-30",
        "2027-12-27",
        "2027-12-28",
    ],
    workdays: &[],
};

#[cfg(test)]
mod tests {
    use chrono::{Datelike, Duration, Weekday};

    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn every_set_is_well_formed_and_inside_its_years() {
        for s in SETS {
            let days = s.holidays();
            assert!(!days.is_empty(), "{}", s.name);
            for w in days.windows(2) {
                assert!(w[0] < w[1], "{}: {} then {} (out of order or twice)", s.name, w[0], w[1]);
            }
            for day in days.iter().chain(&s.workdays()) {
                assert!((s.first_year..=s.last_year).contains(&day.year()), "{}: {day} outside its years", s.name);
            }
            // Every covered year has its New Year's Day (or its observed day) in.
            for y in s.first_year..=s.last_year {
                assert!(days.iter().any(|x| x.year() == y && x.month() == 1), "{}: no January holiday in {y}", s.name);
            }
            for w in s.workdays() {
                assert!(matches!(w.weekday(), Weekday::Sat | Weekday::Sun), "{}: make-up day {w} is a weekday", s.name);
                assert!(!days.contains(&w), "{}: {w} is both a holiday and a make-up day", s.name);
            }
            assert_eq!(set(&s.name.to_uppercase()).map(|x| x.name), Some(s.name));
        }
        assert!(set("xx").is_none());
    }

    #[test]
    fn mainland_china_2026_matches_the_state_council_notice() {
        let cn = set("cn").unwrap();
        let days = cn.holidays();
        let in_2026: Vec<_> = days.iter().filter(|x| x.year() == 2026).collect();
        // 3 + 9 + 3 + 5 + 3 + 3 + 7 days, as the notice counts them.
        assert_eq!(in_2026.len(), 33);
        for x in ["2026-02-15", "2026-02-23", "2026-10-07", "2026-01-03"] {
            assert!(days.contains(&d(x)), "{x}");
        }
        for x in ["2026-02-14", "2026-02-24", "2026-10-08"] {
            assert!(!days.contains(&d(x)), "{x}");
        }
        let work = cn.workdays();
        assert_eq!(work.iter().filter(|x| x.year() == 2026).count(), 6);
        assert!(work.contains(&d("2026-02-28")) && work.contains(&d("2026-10-10")));
        // 2025: the first year with New Year's Eve and 2 May as holidays (8-day Spring Festival).
        assert_eq!(days.iter().filter(|x| **x >= d("2025-01-28") && **x <= d("2025-02-04")).count(), 8);
    }

    /// The n-th `weekday` of a month (n = 1..), or the last one with n = 0.
    fn nth(year: i32, month: u32, weekday: Weekday, n: u32) -> NaiveDate {
        if n == 0 {
            let next = if month == 12 {
                d(&format!("{}-01-01", year + 1))
            } else {
                NaiveDate::from_ymd_opt(year, month + 1, 1).unwrap()
            };
            let mut x = next - Duration::days(1);
            while x.weekday() != weekday {
                x -= Duration::days(1);
            }
            return x;
        }
        NaiveDate::from_weekday_of_month_opt(year, month, weekday, n as u8).unwrap()
    }

    /// Easter Sunday (the anonymous Gregorian computus).
    fn easter(y: i32) -> NaiveDate {
        let a = y % 19;
        let b = y / 100;
        let c = y % 100;
        let d = b / 4;
        let e = b % 4;
        let f = (b + 8) / 25;
        let g = (b - f + 1) / 3;
        let h = (19 * a + b - d - g + 15) % 30;
        let i = c / 4;
        let k = c % 4;
        let l = (32 + 2 * e + 2 * i - h - k) % 7;
        let m = (a + 11 * h + 22 * l) / 451;
        let month = (h + l - 7 * m + 114) / 31;
        let day = (h + l - 7 * m + 114) % 31 + 1;
        NaiveDate::from_ymd_opt(y, month as u32, day as u32).unwrap()
    }

    #[test]
    fn us_federal_holidays_follow_the_statute() {
        // 5 U.S.C. 6103: fixed dates move to Friday from a Saturday, to Monday from a Sunday.
        let observed = |x: NaiveDate| match x.weekday() {
            Weekday::Sat => x - Duration::days(1),
            Weekday::Sun => x + Duration::days(1),
            _ => x,
        };
        let us = set("us").unwrap();
        let mut expected = Vec::new();
        for y in us.first_year..=us.last_year {
            let ymd = |m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
            expected.extend([
                observed(ymd(1, 1)),
                nth(y, 1, Weekday::Mon, 3),
                nth(y, 2, Weekday::Mon, 3),
                nth(y, 5, Weekday::Mon, 0),
                observed(ymd(6, 19)),
                observed(ymd(7, 4)),
                nth(y, 9, Weekday::Mon, 1),
                nth(y, 10, Weekday::Mon, 2),
                observed(ymd(11, 11)),
                nth(y, 11, Weekday::Thu, 4),
                observed(ymd(12, 25)),
            ]);
            let next_new_year = observed(NaiveDate::from_ymd_opt(y + 1, 1, 1).unwrap());
            if next_new_year.year() == y {
                expected.push(next_new_year);
            }
        }
        expected.sort();
        assert_eq!(us.holidays(), expected);
    }

    #[test]
    fn england_and_wales_bank_holidays_follow_their_rules() {
        let uk = set("uk").unwrap();
        let mut expected = Vec::new();
        for y in uk.first_year..=uk.last_year {
            let ymd = |m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
            let e = easter(y);
            let new_year = match ymd(1, 1).weekday() {
                Weekday::Sat => ymd(1, 3),
                Weekday::Sun => ymd(1, 2),
                _ => ymd(1, 1),
            };
            // Christmas and Boxing Day: a weekend one moves to the next weekday not already taken.
            let (christmas, boxing) = match ymd(12, 25).weekday() {
                Weekday::Fri => (ymd(12, 25), ymd(12, 28)),
                Weekday::Sat => (ymd(12, 27), ymd(12, 28)),
                Weekday::Sun => (ymd(12, 27), ymd(12, 26)),
                _ => (ymd(12, 25), ymd(12, 26)),
            };
            expected.extend([
                new_year,
                e - Duration::days(2),
                e + Duration::days(1),
                nth(y, 5, Weekday::Mon, 1),
                nth(y, 5, Weekday::Mon, 0),
                nth(y, 8, Weekday::Mon, 0),
                christmas,
                boxing,
            ]);
        }
        expected.sort();
        assert_eq!(uk.holidays(), expected);
    }
}
