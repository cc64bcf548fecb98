//! The shared vocabulary of the design: priorities, reply classes, measures,
//! probe states and outcomes. Each has one spelling used in config, the store,
//! metrics labels and JSON output (`as_str`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "unknown {} `{other}` (expected one of: {})",
                        stringify!($name).to_lowercase(),
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}

vocabulary! {
    /// How urgent a probe is; vendors promise per priority.
    Priority { P0 => "P0", P1 => "P1", P2 => "P2", P3 => "P3" }
}

vocabulary! {
    /// What a reply is, as decided by the classifier.
    ReplyClass {
        Human => "human",
        Bot => "bot",
        AutoAck => "auto_ack",
        OutOfOffice => "out_of_office",
        Bounce => "bounce",
        Ours => "ours",
        Bystander => "bystander",
    }
}

vocabulary! {
    /// A measured interval. `FirstResponse` is the first reply of any kind;
    /// `UpdateInterval` a gap between the vendor's human messages while answered and unresolved;
    /// the vendor's `first_response` promise is judged on `FirstHumanResponse`.
    Measure {
        FirstResponse => "first_response",
        FirstHumanResponse => "first_human_response",
        NextReply => "next_reply",
        Resolution => "resolution",
        UpdateInterval => "update_interval",
    }
}

vocabulary! {
    /// The promise a measure is held against, as named in config and in the
    /// `measure` label of the promise metrics.
    PromiseMeasure {
        FirstResponse => "first_response",
        NextReply => "next_reply",
        Resolution => "resolution",
        UpdateInterval => "update_interval",
    }
}

vocabulary! {
    /// Where a probe is in its lifecycle (see `lifecycle`).
    State {
        Scheduled => "scheduled",
        Opening => "opening",
        Open => "open",
        Acknowledged => "acknowledged",
        Answered => "answered",
        Resolved => "resolved",
        Expired => "expired",
        Closed => "closed",
        Failed => "failed",
        Skipped => "skipped",
    }
}

vocabulary! {
    /// How a finished probe ended, the `outcome` label of `probes_total`.
    Outcome {
        Resolved => "resolved",
        Unresolved => "unresolved",
        Unanswered => "unanswered",
        Failed => "failed",
        Skipped => "skipped",
    }
}

vocabulary! {
    /// What a notification is about.
    NotifyEvent {
        UnansweredPastPromise => "unanswered_past_promise",
        PromiseBreached => "promise_breached",
        OpenFailed => "open_failed",
        ProbeLost => "probe_lost",
        ChannelFailing => "channel_failing",
        ManualProbeDue => "manual_probe_due",
    }
}

vocabulary! {
    /// A kind of notification target: the table name under `[notify.NAME]`.
    NotifyKind {
        Webhook => "webhook",
        Slack => "slack",
        Feishu => "feishu",
        Dingtalk => "dingtalk",
        Wecom => "wecom",
        Email => "email",
    }
}

impl Measure {
    /// The promise this measure is judged by (the first reply of any kind is
    /// held against the first-response promise only through the first human one).
    pub fn promise(self) -> PromiseMeasure {
        match self {
            Measure::FirstResponse | Measure::FirstHumanResponse => PromiseMeasure::FirstResponse,
            Measure::NextReply => PromiseMeasure::NextReply,
            Measure::Resolution => PromiseMeasure::Resolution,
            Measure::UpdateInterval => PromiseMeasure::UpdateInterval,
        }
    }
}

impl PromiseMeasure {
    /// The measured interval a promise is judged on.
    pub fn measure(self) -> Measure {
        match self {
            PromiseMeasure::FirstResponse => Measure::FirstHumanResponse,
            PromiseMeasure::NextReply => Measure::NextReply,
            PromiseMeasure::Resolution => Measure::Resolution,
            PromiseMeasure::UpdateInterval => Measure::UpdateInterval,
        }
    }
}

impl Priority {
    /// Zendesk's priority field for this probe priority.
    pub fn zendesk(self) -> &'static str {
        match self {
            Priority::P0 => "urgent",
            Priority::P1 => "high",
            Priority::P2 => "normal",
            Priority::P3 => "low",
        }
    }

    pub fn from_zendesk(s: &str) -> Option<Priority> {
        match s {
            "urgent" => Some(Priority::P0),
            "high" => Some(Priority::P1),
            "normal" => Some(Priority::P2),
            "low" => Some(Priority::P3),
            _ => None,
        }
    }
}

impl State {
    /// Final states: nothing more happens to the probe.
    pub fn is_final(self) -> bool {
        matches!(self, State::Closed | State::Failed | State::Skipped)
    }

    /// States in which the probe is waiting on the vendor.
    pub fn is_active(self) -> bool {
        matches!(self, State::Open | State::Acknowledged | State::Answered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for p in Priority::ALL {
            assert_eq!(p.as_str().parse::<Priority>().unwrap(), *p);
            assert_eq!(Priority::from_zendesk(p.zendesk()), Some(*p));
        }
        for s in State::ALL {
            assert_eq!(s.as_str().parse::<State>().unwrap(), *s);
        }
        assert!("P5".parse::<Priority>().unwrap_err().contains("P0, P1, P2, P3"));
    }
}
