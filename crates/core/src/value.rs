//! Validated values as written in config files, shared by the daemon's
//! config and the simulator's: each names what it expected when a value is
//! not one, so the TOML parser reports it at the value.

use std::net::SocketAddr;

use serde::Deserialize;

use crate::duration::Dur;

/// A listen address, `IP:PORT`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(try_from = "String")]
pub struct ListenAddr(pub SocketAddr);

impl TryFrom<String> for ListenAddr {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse().map(ListenAddr).map_err(|_| {
            format!("`{s}` is not a listen address (expected IP:PORT with a port up to 65535, e.g. `127.0.0.1:9897`)")
        })
    }
}

/// A fraction between 0 and 1.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(try_from = "f64")]
pub struct Share(pub f64);

impl TryFrom<f64> for Share {
    type Error = String;
    fn try_from(v: f64) -> Result<Self, String> {
        if (0.0..=1.0).contains(&v) { Ok(Share(v)) } else { Err(format!("{v} is not a share between 0.0 and 1.0")) }
    }
}

/// A delay that is either fixed (`"5s"`) or uniform over a range (`"3s..8s"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct DurRange {
    pub min: Dur,
    pub max: Dur,
}

impl TryFrom<String> for DurRange {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let (min, max) = match s.split_once("..") {
            Some((a, b)) => (a.parse::<Dur>(), b.parse::<Dur>()),
            None => (s.parse::<Dur>(), s.parse::<Dur>()),
        };
        let (min, max) = (min.map_err(|e| e.to_string())?, max.map_err(|e| e.to_string())?);
        if max < min {
            return Err(format!("range `{s}` ends before it starts"));
        }
        Ok(DurRange { min, max })
    }
}
