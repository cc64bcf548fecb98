//! Probe references: `SP-` and eight Crockford base-32 characters (40 bits),
//! e.g. `SP-7K3Q9X2M`. The reference goes into every subject and body, is
//! the idempotency key at the vendor, and is how replies find their probe.

use std::hash::{BuildHasher, Hasher};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use regex::Regex;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static PATTERN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bSP-[0-9A-HJKMNP-TV-Z]{8}\b").expect("built-in pattern compiles"));

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh reference. Random (per-process keyed SipHash over the time, a
/// counter and `salt`); the store's unique constraint catches the unlikely clash.
pub fn generate(salt: &str) -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write(salt.as_bytes());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    encode(h.finish())
}

fn encode(v: u64) -> String {
    let mut out = String::with_capacity(11);
    out.push_str("SP-");
    for i in (0..8).rev() {
        out.push(ALPHABET[((v >> (i * 5)) & 31) as usize] as char);
    }
    out
}

/// The first probe reference in `text`, if any.
pub fn find(text: &str) -> Option<&str> {
    PATTERN.find(text).map(|m| m.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_references_are_found_and_distinct() {
        let a = generate("x");
        let b = generate("x");
        assert_ne!(a, b);
        assert_eq!(a.len(), 11);
        assert_eq!(find(&format!("Re: [{a}] Calls drop")), Some(a.as_str()));
        assert_eq!(find(&format!("【{b}】通话中断")), Some(b.as_str()));
    }

    #[test]
    fn lookalikes_are_not_references() {
        assert_eq!(find("SP-1234567"), None, "too short");
        assert_eq!(find("SP-ABCDEFGI"), None, "I is not Crockford");
        assert_eq!(find("XSP-ABCDEFGH"), None, "not at a word boundary");
        assert_eq!(encode(0), "SP-00000000");
    }
}
