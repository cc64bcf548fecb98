//! Evaluator ratings: what a person on the POC team thought of a probe's
//! support (quality 1–5, solved or not, a note). Each rating is an event
//! (`rating`), so who rated and when is kept; a later rating by the same
//! person replaces theirs in the figures, and the history stays.

use serde::{Deserialize, Serialize};
use supportprobe_core::lifecycle::Ts;

use crate::*;

/// The event kind of a rating.
pub const RATING: &str = "rating";

/// Did the vendor's answer solve the problem?
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Solved {
    Yes,
    Partly,
    No,
}

impl Solved {
    pub fn as_str(self) -> &'static str {
        match self {
            Solved::Yes => "yes",
            Solved::Partly => "partly",
            Solved::No => "no",
        }
    }
}

impl std::str::FromStr for Solved {
    type Err = String;
    fn from_str(s: &str) -> Result<Solved, String> {
        match s {
            "yes" => Ok(Solved::Yes),
            "partly" => Ok(Solved::Partly),
            "no" => Ok(Solved::No),
            other => Err(format!("unknown answer `{other}` (expected one of: yes, partly, no)")),
        }
    }
}

/// One rating as given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    /// 1 (poor) to 5 (excellent).
    pub quality: u8,
    #[serde(default)]
    pub solved: Option<Solved>,
    #[serde(default)]
    pub note: Option<String>,
}

impl Rating {
    /// The rating, or what is wrong with it.
    pub fn checked(self) -> Result<Rating, String> {
        if !(1..=5).contains(&self.quality) {
            return Err(format!("quality must be 1 to 5, not {}", self.quality));
        }
        if self.note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
            return Err("a note is at most 2,000 characters".into());
        }
        Ok(self)
    }
}

/// A rating as stored: who gave it, when, and whether a later one of theirs replaced it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredRating {
    pub by: String,
    pub at: Ts,
    #[serde(flatten)]
    pub rating: Rating,
    /// A later rating by the same person counts instead.
    pub replaced: bool,
}

/// The ratings among a probe's events, oldest first, each marked replaced when
/// the same person rated again later.
pub fn ratings_in(events: &[StoredEvent]) -> Vec<StoredRating> {
    let mut out: Vec<StoredRating> = events
        .iter()
        .filter(|e| e.kind == RATING)
        .filter_map(|e| {
            let rating: Rating = serde_json::from_value(e.detail.clone()).ok()?;
            Some(StoredRating { by: e.author.clone().unwrap_or_default(), at: e.at, rating, replaced: false })
        })
        .collect();
    for i in 0..out.len() {
        let later = out[i + 1..].iter().any(|r| r.by == out[i].by);
        out[i].replaced = later;
    }
    out
}

/// How many ratings count (each person's latest) and their mean quality.
pub fn current_quality(ratings: &[StoredRating]) -> (u32, Option<f64>) {
    let current: Vec<f64> = ratings.iter().filter(|r| !r.replaced).map(|r| f64::from(r.rating.quality)).collect();
    let n = current.len();
    (u32::try_from(n).unwrap_or(u32::MAX), (n > 0).then(|| current.iter().sum::<f64>() / n as f64))
}

impl Store {
    /// Records a rating of probe `probe_id` by `by` at `now`.
    pub fn add_rating(&self, probe_id: i64, by: &str, rating: &Rating, now: Ts) -> Result<(), StoreError> {
        let key = format!("{RATING}:{by}:{}", now.timestamp_nanos_opt().unwrap_or_default());
        let detail = serde_json::to_value(rating).ok();
        let e = NewEvent { kind: RATING, key: &key, at: Some(now), author: Some(by), detail, ..Default::default() };
        self.append(probe_id, &e, now)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_later_rating_by_the_same_person_replaces_theirs_and_the_history_stays() {
        let store = Store::open_in_memory().unwrap();
        let t = |s: i64| chrono::Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap();
        let p = NewProbe {
            reference: "SP-1",
            slot: None,
            vendor: "v",
            channel: "c",
            kind: "zendesk",
            scenario: "s",
            priority: supportprobe_core::model::Priority::P1,
            due_at: t(0),
            give_up_after: chrono::Duration::hours(1),
            follow_up_delay: None,
            manual: false,
            counted: true,
        };
        let id = store.insert_probe(&p, t(0)).unwrap().unwrap();
        let r = |q| Rating { quality: q, solved: Some(Solved::Partly), note: None };
        store.add_rating(id, "ann", &r(2), t(10)).unwrap();
        store.add_rating(id, "bo", &r(5), t(20)).unwrap();
        store.add_rating(id, "ann", &r(4), t(30)).unwrap();
        let got = ratings_in(&store.events(id).unwrap());
        let summary: Vec<(&str, u8, bool)> =
            got.iter().map(|r| (r.by.as_str(), r.rating.quality, r.replaced)).collect();
        assert_eq!(summary, vec![("ann", 2, true), ("bo", 5, false), ("ann", 4, false)]);
        assert_eq!(current_quality(&got), (2, Some(4.5)), "bo's 5 and ann's latest 4");
        assert_eq!(current_quality(&[]), (0, None));
        assert!(Rating { quality: 0, solved: None, note: None }.checked().is_err());
        assert!(Rating { quality: 6, solved: None, note: None }.checked().is_err());
        assert_eq!("partly".parse::<Solved>(), Ok(Solved::Partly));
    }
}
