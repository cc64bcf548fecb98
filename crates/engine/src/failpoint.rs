//! Crash points for the crash-recovery test, compiled only with the
//! `failpoints` feature (the test suite turns it on; a release build has
//! none, and `hit` is then an empty function). With
//! `SUPPORTPROBE_FAILPOINTS=after_open=2,after_follow_up=1` the process
//! aborts (as abruptly as SIGKILL) the 2nd time a ticket was created but not
//! yet recorded, and so on. Unset, each check is one relaxed atomic load.
//!
//! Points: `after_open` (channel created the ticket, store not updated),
//! `after_follow_up` (follow-up posted, not recorded), `after_close`
//! (courtesy close posted, not recorded).

#[cfg(feature = "failpoints")]
use std::collections::HashMap;
#[cfg(feature = "failpoints")]
use std::sync::atomic::{AtomicU32, Ordering};
#[cfg(feature = "failpoints")]
use std::sync::{LazyLock, Mutex};

#[cfg(feature = "failpoints")]
static POINTS: LazyLock<Option<HashMap<String, u32>>> = LazyLock::new(|| {
    let spec = std::env::var("SUPPORTPROBE_FAILPOINTS").ok()?;
    let map = spec
        .split(',')
        .filter_map(|p| {
            let (name, n) = p.split_once('=')?;
            Some((name.trim().to_string(), n.trim().parse().ok()?))
        })
        .collect();
    Some(map)
});

#[cfg(feature = "failpoints")]
static HITS: LazyLock<Mutex<HashMap<&'static str, u32>>> = LazyLock::new(|| Mutex::new(HashMap::new()));
#[cfg(feature = "failpoints")]
static ANY: AtomicU32 = AtomicU32::new(u32::MAX);

/// Aborts the process if `name` is armed and this is its configured hit.
#[cfg(feature = "failpoints")]
pub fn hit(name: &'static str) {
    if ANY.load(Ordering::Relaxed) == 0 {
        return;
    }
    let Some(points) = POINTS.as_ref() else {
        ANY.store(0, Ordering::Relaxed);
        return;
    };
    let Some(&at) = points.get(name) else { return };
    let mut hits = HITS.lock().unwrap_or_else(|e| e.into_inner());
    let n = hits.entry(name).or_insert(0);
    *n += 1;
    if *n == at {
        eprintln!("failpoint {name} reached (hit {at}): aborting");
        std::process::abort();
    }
}

/// Without the `failpoints` feature there are no crash points.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &'static str) {}
