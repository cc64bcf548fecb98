//! The scheduler: turns cron fires into scheduled probes.
//!
//! Each schedule target (schedule × vendor × channel) has a cursor in the
//! store: the last fire already turned into a probe. A fire creates the probe
//! row (with its jittered due time and a unique slot key) and moves the
//! cursor in one transaction, so a crash can neither lose nor double a fire.
//! Fires missed while the daemon was down are still created if they are at
//! most `misfire_grace` late; older ones are skipped and logged. The first
//! time a target is seen its cursor starts now: a new schedule never fires
//! into the past.

use chrono::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Ctx;
use crate::config::{Schedule, Target};
use crate::lifecycle::Ts;
use crate::store::{NewProbe, StoreError};

/// How often the scheduler looks, at most.
const MAX_SLEEP: std::time::Duration = std::time::Duration::from_secs(1);

/// A deterministic offset in `[0, jitter)` for one fire, so the due time of a
/// slot does not depend on when it was computed.
fn jitter_offset(jitter: Duration, slot: &str) -> Duration {
    let ms = jitter.num_milliseconds();
    if ms <= 0 {
        return Duration::zero();
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in slot.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    Duration::milliseconds(i64::try_from(h % ms.unsigned_abs()).unwrap_or(0))
}

/// Fires of `schedule` strictly after `after`, up to and including `until`.
pub fn fires_between(schedule: &Schedule, after: Ts, until: Ts) -> impl Iterator<Item = Ts> + '_ {
    schedule.cron.after(&after.with_timezone(&schedule.timezone)).map(|t| t.to_utc()).take_while(move |t| *t <= until)
}

/// The next fire of any target after now, to know how long to sleep.
fn next_fire(schedule: &Schedule, now: Ts) -> Option<Ts> {
    schedule.cron.after(&now.with_timezone(&schedule.timezone)).next().map(|t| t.to_utc())
}

/// Creates the probes due for every target up to `now`. Returns how many.
pub fn fire_due(ctx: &Ctx, now: Ts) -> Result<usize, StoreError> {
    let grace = ctx.config.daemon.misfire_grace.chrono();
    let mut created = 0;
    for schedule in &ctx.config.schedules {
        for target in &schedule.targets {
            created += fire_target(ctx, schedule, target, now, grace)?;
        }
    }
    Ok(created)
}

fn fire_target(ctx: &Ctx, schedule: &Schedule, target: &Target, now: Ts, grace: Duration) -> Result<usize, StoreError> {
    let key = schedule.target_key(target);
    let Some(mut cursor) = ctx.store.cursor(&key)? else {
        ctx.store.set_cursor(&key, now)?;
        return Ok(0);
    };
    if now - cursor > grace {
        let skipped = fires_between(schedule, cursor, now - grace).take(10_000).count();
        if skipped > 0 {
            warn!(
                scenario = %schedule.scenario.id, vendor = %target.vendor, channel = %target.channel, skipped,
                "fires missed while the daemon was down are older than misfire_grace; not run"
            );
        }
        cursor = now - grace;
        ctx.store.set_cursor(&key, cursor)?;
    }
    let Some(spec) = ctx.config.channel(&target.vendor, &target.channel) else { return Ok(0) };
    let mut created = 0;
    let fires: Vec<Ts> = fires_between(schedule, cursor, now).collect();
    for fire in fires {
        let slot = format!("{key}@{}", crate::store::ts(fire));
        let reference = crate::reference::generate(&slot);
        let probe = NewProbe {
            reference: &reference,
            slot: Some(&slot),
            vendor: &target.vendor,
            channel: &target.channel,
            kind: spec.kind.as_str(),
            scenario: &schedule.scenario.id,
            priority: schedule.scenario.priority,
            due_at: fire + jitter_offset(schedule.jitter.chrono(), &slot),
            give_up_after: schedule.give_up_after.chrono(),
            follow_up_delay: schedule.follow_up_delay.map(|d| d.chrono()),
            manual: false,
            counted: true,
        };
        if ctx.store.fire(&probe, &key, fire, now)?.is_some() {
            created += 1;
            info!(
                probe = %reference, vendor = %target.vendor, channel = %target.channel,
                scenario = %schedule.scenario.id, due = %probe.due_at, "probe scheduled"
            );
        }
    }
    if created > 0 {
        ctx.pokes.resync(&target.vendor, &target.channel);
    }
    Ok(created)
}

/// Runs until cancelled.
pub async fn run(ctx: Ctx, shutdown: CancellationToken) {
    loop {
        let now = ctx.clock.now();
        match fire_due(&ctx, now) {
            Ok(_) => ctx.store.note_success(),
            Err(e) => {
                ctx.store.note_failure(&e);
                warn!(error = %supportprobe_core::error_chain(&e), kind = e.kind(), "scheduler could not record fires; retrying");
            }
        }
        let next = ctx.config.schedules.iter().filter_map(|s| next_fire(s, now)).min();
        let sleep = next.and_then(|t| (t - ctx.clock.now()).to_std().ok()).map_or(MAX_SLEEP, |d| d.min(MAX_SLEEP));
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = crate::sleep(&*ctx.clock, sleep) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_deterministic_and_bounded() {
        let j = Duration::seconds(7200);
        let a = jitter_offset(j, "slot-a");
        assert_eq!(a, jitter_offset(j, "slot-a"));
        assert!(a >= Duration::zero() && a < j);
        assert_ne!(a, jitter_offset(j, "slot-b"));
        assert_eq!(jitter_offset(Duration::zero(), "x"), Duration::zero());
    }
}
