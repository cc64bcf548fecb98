//! Admission, pure: whether a vendor's caps let a probe open now — paused,
//! a quiet period, too many open, too many in the last 24 hours — and the
//! reason recorded when they do not. The counts are asked for only when a
//! cap needs them.

use crate::config::Caps;
use crate::lifecycle::Ts;

/// Why the caps refuse a probe at `now`, if they do. `open` counts the
/// vendor's probes waiting on it; `sent_since(t)` those opened since `t`.
pub(crate) fn refusal<E>(
    caps: &Caps,
    now: Ts,
    open: impl FnOnce() -> Result<u32, E>,
    sent_since: impl FnOnce(Ts) -> Result<u32, E>,
) -> Result<Option<String>, E> {
    if caps.paused {
        return Ok(Some("vendor paused".into()));
    }
    if caps.is_quiet(now) {
        return Ok(Some("quiet period".into()));
    }
    if let Some(max) = caps.max_open
        && open()? >= max
    {
        return Ok(Some(format!("cap: {max} probes already open")));
    }
    if let Some(max) = caps.max_per_day
        && sent_since(now - chrono::Duration::hours(24))? >= max
    {
        return Ok(Some(format!("cap: {max} probes in the last 24 hours")));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Ts {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn never<T>() -> Result<T, String> {
        Err("this count was not needed".into())
    }

    #[test]
    fn caps_refuse_in_order_and_count_only_what_they_need() {
        let now = at("2026-12-24T10:00:00Z");
        let none = Caps::default();
        assert_eq!(refusal(&none, now, never, |_| never()), Ok(None), "no cap, no count");
        let paused = Caps { paused: true, max_open: Some(1), ..Caps::default() };
        assert_eq!(refusal(&paused, now, never, |_| never()), Ok(Some("vendor paused".into())));
        let quiet = Caps { quiet: vec![(at("2026-12-24T00:00:00Z"), at("2026-12-26T00:00:00Z"))], ..Caps::default() };
        assert_eq!(refusal(&quiet, now, never, |_| never()), Ok(Some("quiet period".into())));
        assert_eq!(
            refusal(&quiet, at("2026-12-26T00:00:00Z"), never, |_| never()),
            Ok(None),
            "a quiet period ends at its end"
        );
        let open = Caps { max_open: Some(3), ..Caps::default() };
        assert_eq!(refusal(&open, now, || Ok::<_, String>(2), |_| never()), Ok(None));
        assert_eq!(
            refusal(&open, now, || Ok::<_, String>(3), |_| never()),
            Ok(Some("cap: 3 probes already open".into()))
        );
        let daily = Caps { max_per_day: Some(5), ..Caps::default() };
        let since = |t: Ts| {
            assert_eq!(t, at("2026-12-23T10:00:00Z"), "the last 24 hours");
            Ok::<_, String>(5)
        };
        assert_eq!(refusal(&daily, now, never, since), Ok(Some("cap: 5 probes in the last 24 hours".into())));
        assert_eq!(refusal(&open, now, || Err("store down".to_string()), |_| never()), Err("store down".into()));
    }
}
