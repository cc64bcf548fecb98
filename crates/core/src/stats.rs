//! Honest statistics for small samples, for the POC scorecard: a share of
//! probes within promise with its Wilson score interval, and times to answer
//! as a Kaplan–Meier curve in which a probe never answered counts as
//! "waited at least this long" (censored at its last look) instead of being
//! dropped. A median is "not reached" when fewer than half were ever
//! answered, never computed from the answered ones alone.

/// The normal quantile for a two-sided 95 % interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// The Wilson score interval of `successes` out of `n` at `z` (Wilson 1927;
/// Newcombe 1998, method 3): good coverage at small `n` and near 0 % or
/// 100 %, where the textbook `p ± z·√(p(1−p)/n)` collapses to a point.
/// `None` when there is nothing to judge.
pub fn wilson(successes: u64, n: u64, z: f64) -> Option<(f64, f64)> {
    if n == 0 || successes > n {
        return None;
    }
    let (x, n) = (successes as f64, n as f64);
    let p = x / n;
    let z2 = z * z;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
    // At 0 and n the bounds are exactly 0 and 1; rounding must not push them past.
    let lo = if successes == 0 { 0.0 } else { (centre - half).max(0.0) };
    let hi = if successes as f64 == n { 1.0 } else { (centre + half).min(1.0) };
    Some((lo, hi))
}

/// One probe's time to an answer: `seconds` until it was answered
/// (`answered`), or until it was last looked at without one (censored).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observation {
    pub seconds: f64,
    pub answered: bool,
}

/// A step of a Kaplan–Meier curve: from `seconds` on, the estimated share of
/// probes still waiting is `surviving`; `at_risk` were waiting just before.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    pub seconds: f64,
    pub at_risk: u64,
    pub answered: u64,
    pub surviving: f64,
}

/// The Kaplan–Meier estimate of the share still unanswered over time, one
/// step per distinct answer time. At a tie, answers come before the
/// censorings (the usual convention): a probe last looked at the moment
/// another was answered was still at risk then.
pub fn kaplan_meier(observations: &[Observation]) -> Vec<Step> {
    let mut obs: Vec<Observation> = observations.iter().copied().filter(|o| o.seconds.is_finite()).collect();
    obs.sort_by(|a, b| a.seconds.total_cmp(&b.seconds).then(b.answered.cmp(&a.answered)));
    let mut at_risk = obs.len() as u64;
    let mut surviving = 1.0;
    let mut steps = Vec::new();
    let mut i = 0;
    while i < obs.len() {
        let t = obs[i].seconds;
        let (mut answered, mut censored) = (0u64, 0u64);
        while i < obs.len() && obs[i].seconds == t {
            if obs[i].answered {
                answered += 1;
            } else {
                censored += 1;
            }
            i += 1;
        }
        if answered > 0 {
            surviving *= 1.0 - answered as f64 / at_risk as f64;
            steps.push(Step { seconds: t, at_risk, answered, surviving });
        }
        at_risk -= answered + censored;
    }
    steps
}

/// The time by which a share `q` (0.5: the median, 0.9: p90) had been
/// answered, by the curve: the first step where the share still waiting is
/// at most `1 − q`. `None` ("not reached") when the curve never gets there:
/// too few were ever answered to say.
pub fn quantile(curve: &[Step], q: f64) -> Option<f64> {
    // A hair of tolerance: 1 − 0.5 must match a curve at exactly 0.5 after rounding.
    curve.iter().find(|s| s.surviving <= 1.0 - q + 1e-12).map(|s| s.seconds)
}

/// The 95 %-style interval of the difference of two shares `x1/n1 − x2/n2`
/// by Newcombe's hybrid score method (Newcombe 1998b, method 10): built from
/// each share's Wilson interval, it keeps its coverage at the small samples
/// of a POC. When it contains 0, the two vendors' shares are not
/// significantly different at that level. `None` when either side is empty.
pub fn difference_interval(x1: u64, n1: u64, x2: u64, n2: u64, z: f64) -> Option<(f64, f64)> {
    let (l1, u1) = wilson(x1, n1, z)?;
    let (l2, u2) = wilson(x2, n2, z)?;
    let (p1, p2) = (x1 as f64 / n1 as f64, x2 as f64 / n2 as f64);
    let d = p1 - p2;
    let lo = d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt();
    let hi = d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt();
    Some((lo.max(-1.0), hi.min(1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    /// Newcombe (1998), "Two-sided confidence intervals for the single
    /// proportion", Statistics in Medicine 17:857–872, Table I, method 3
    /// (Wilson score without continuity correction), to four places.
    #[test]
    fn wilson_intervals_match_the_published_worked_examples() {
        for (x, n, lo, hi) in [
            (81, 263, 0.2553, 0.3662),
            (15, 148, 0.0624, 0.1605),
            (0, 20, 0.0, 0.1611),
            (1, 29, 0.0061, 0.1718),
            (29, 29, 0.8830, 1.0),
        ] {
            let (l, h) = wilson(x, n, Z95).unwrap();
            assert!(close(l, lo, 5e-5) && close(h, hi, 5e-5), "{x}/{n}: got {l:.4}–{h:.4}, published {lo}–{hi}");
        }
        assert_eq!(wilson(0, 0, Z95), None, "nothing judged, no interval");
        assert_eq!(wilson(3, 2, Z95), None);
    }

    /// The Wilson interval is the set of true shares the score test does not
    /// reject: at each bound |p̂ − p| = z·√(p(1−p)/n) exactly, and inside it the
    /// test passes. Checked by brute force over a grid of samples.
    #[test]
    fn wilson_bounds_are_where_the_score_test_turns() {
        let score = |x: u64, n: u64, p: f64| ((x as f64 / n as f64) - p).abs() / (p * (1.0 - p) / n as f64).sqrt();
        for n in 1..=40u64 {
            for x in 0..=n {
                let (lo, hi) = wilson(x, n, Z95).unwrap();
                assert!(lo <= x as f64 / n as f64 && x as f64 / n as f64 <= hi);
                if x > 0 {
                    assert!(close(score(x, n, lo), Z95, 1e-6), "{x}/{n} lower bound {lo}");
                }
                if x < n {
                    assert!(close(score(x, n, hi), Z95, 1e-6), "{x}/{n} upper bound {hi}");
                }
                let mid = (lo + hi) / 2.0;
                assert!(score(x, n, mid) < Z95 || mid <= 0.0 || mid >= 1.0);
            }
        }
    }

    /// The textbook Kaplan–Meier table: remission times (weeks) of the 21
    /// 6-MP patients of Freireich et al. (1963), as tabulated by Gehan (1965)
    /// and in Kleinbaum & Klein, Survival Analysis, ch. 2 (`false` = censored).
    #[test]
    fn kaplan_meier_matches_the_textbook_table() {
        let data = [
            (6, true),
            (6, true),
            (6, true),
            (6, false),
            (7, true),
            (9, false),
            (10, true),
            (10, false),
            (11, false),
            (13, true),
            (16, true),
            (17, false),
            (19, false),
            (20, false),
            (22, true),
            (23, true),
            (25, false),
            (32, false),
            (32, false),
            (34, false),
            (35, false),
        ];
        let obs: Vec<Observation> =
            data.iter().map(|&(t, a)| Observation { seconds: f64::from(t), answered: a }).collect();
        let curve = kaplan_meier(&obs);
        let table = [
            (6.0, 21, 3, 0.8571),
            (7.0, 17, 1, 0.8067),
            (10.0, 15, 1, 0.7529),
            (13.0, 12, 1, 0.6902),
            (16.0, 11, 1, 0.6275),
            (22.0, 7, 1, 0.5378),
            (23.0, 6, 1, 0.4482),
        ];
        assert_eq!(curve.len(), table.len());
        for (s, (t, n, d, surv)) in curve.iter().zip(table) {
            assert_eq!((s.seconds, s.at_risk, s.answered), (t, n, d));
            assert!(close(s.surviving, surv, 5e-5), "S({t}) = {} (table {surv})", s.surviving);
        }
        assert_eq!(quantile(&curve, 0.5), Some(23.0), "the textbook median remission is 23 weeks");
        assert_eq!(quantile(&curve, 0.9), None, "never 90 % in remission ended: not reached");
    }

    /// Without censoring the curve is the share still waiting, counted by hand;
    /// checked on pseudo-random samples with ties.
    #[test]
    fn without_censoring_the_curve_is_the_plain_share_still_waiting() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200 {
            let n = 1 + (seed % 30) as usize;
            let times: Vec<f64> = (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed % 20) as f64
                })
                .collect();
            let obs: Vec<Observation> = times.iter().map(|&t| Observation { seconds: t, answered: true }).collect();
            for s in kaplan_meier(&obs) {
                let waiting = times.iter().filter(|&&t| t > s.seconds).count() as f64 / n as f64;
                assert!(close(s.surviving, waiting, 1e-9), "at {}: {} vs {waiting}", s.seconds, s.surviving);
            }
            let mut sorted = times.clone();
            sorted.sort_by(f64::total_cmp);
            // The median by the curve is the smallest time by which at least half were answered.
            let by_hand = sorted[n.div_ceil(2) - 1];
            assert_eq!(quantile(&kaplan_meier(&obs), 0.5), Some(by_hand), "{sorted:?}");
        }
    }

    #[test]
    fn a_median_is_not_reached_when_fewer_than_half_were_ever_answered() {
        let mut obs =
            vec![Observation { seconds: 60.0, answered: true }, Observation { seconds: 90.0, answered: true }];
        obs.extend((0..3).map(|_| Observation { seconds: 3600.0, answered: false }));
        let curve = kaplan_meier(&obs);
        assert_eq!(quantile(&curve, 0.5), None, "2 of 5 answered: the median is not 90 s, it is not known");
        obs.push(Observation { seconds: 120.0, answered: true });
        assert_eq!(quantile(&kaplan_meier(&obs), 0.5), Some(120.0));
    }
    /// Newcombe (1998), "Interval estimation for the difference between
    /// independent proportions: comparison of eleven methods", Statistics in
    /// Medicine 17:873–890, Table II, method 10, to four places.
    #[test]
    fn difference_intervals_match_newcombes_worked_examples() {
        let cases = [
            ((56, 70, 48, 80), (0.0524, 0.3339)),
            ((9, 10, 3, 10), (0.1705, 0.8090)),
            ((6, 7, 2, 7), (0.0582, 0.8062)),
            ((5, 56, 0, 29), (-0.0381, 0.1926)),
        ];
        for ((x1, n1, x2, n2), (lo, hi)) in cases {
            let (l, h) = difference_interval(x1, n1, x2, n2, Z95).unwrap();
            assert!(close(l, lo, 5e-5) && close(h, hi, 5e-5), "{x1}/{n1} − {x2}/{n2}: got ({l:.4}, {h:.4})");
        }
        // Swapping the sides mirrors the interval.
        let (l, h) = difference_interval(48, 80, 56, 70, Z95).unwrap();
        assert!(close(l, -0.3339, 5e-5) && close(h, -0.0524, 5e-5));
        assert_eq!(difference_interval(1, 0, 1, 2, Z95), None);
    }
}
