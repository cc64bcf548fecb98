//! `check --online`: each channel logs in with the real credentials and makes
//! one read-only request (a search for a reference no probe has), so a wrong
//! token, an unreachable host or a missing permission shows before the POC
//! starts, per channel, without opening anything at a vendor.

use std::time::Duration;

use crate::channel::{Channel, ChannelKind, build};
use crate::config::Config;

/// A reference no probe ever has: the search finds nothing and changes nothing.
const NO_SUCH_REFERENCE: &str = "SP-CHECK-ONLINE-0000";

/// Tries every channel; writes a line per channel through `out` and returns how many failed.
pub async fn check_online(config: &Config, out: &mut dyn FnMut(String) -> anyhow::Result<()>) -> anyhow::Result<usize> {
    out("\nonline".to_string())?;
    let mut failed = 0;
    for v in config.vendors.values() {
        for c in v.channels.values() {
            let name = format!("{}/{} ({})", v.id, c.id, c.kind);
            if c.kind == ChannelKind::Manual {
                out(format!("  {name:<32} skipped: a person works this channel; nothing to log in to"))?;
                continue;
            }
            let outcome = match build(c, Vec::new()) {
                Ok(channel) => {
                    let limit = c.timeout.std().max(Duration::from_secs(5)) * 2;
                    match tokio::time::timeout(limit, channel.find(NO_SUCH_REFERENCE)).await {
                        Ok(Ok(_)) => Ok(channel.identity()),
                        Ok(Err(e)) => Err(format!("{} ({})", supportprobe_core::error_chain(&e), e.kind())),
                        Err(_) => Err(format!("no answer within {}s", limit.as_secs())),
                    }
                }
                Err(e) => Err(supportprobe_core::error_chain(&e)),
            };
            match outcome {
                Ok(identity) if identity.is_empty() => out(format!("  {name:<32} ok: credentials accepted"))?,
                Ok(identity) => out(format!("  {name:<32} ok: credentials accepted (as {})", identity.join(", ")))?,
                Err(why) => {
                    failed += 1;
                    out(format!("  {name:<32} FAILED: {}", crate::redact::redact(&why)))?;
                }
            }
        }
    }
    out(if failed == 0 {
        "every channel logged in".to_string()
    } else {
        format!("{failed} channel{} failed to log in", if failed == 1 { "" } else { "s" })
    })?;
    Ok(failed)
}
