//! The manual channel: the phone hotline, the account manager — a person
//! makes the contact and records what happened.
//!
//! Opening a probe tells the operator, through the notifiers, that a manual
//! probe is due and what to say (`manual_probe_due`); the operator records
//! `answered` (a machine or queue picked up), `human` and `resolved` with
//! `supportprobe record` or `POST /api/v1/probes/{reference}/events`. The
//! channel itself reads nothing: the recorded events are the replies, and a
//! probe nobody records anything for expires like any other. Follow-ups need
//! a person too and are refused (use scenarios without follow-ups here); the
//! courtesy close is left to the operator.

pub mod config;

use crate::ChannelKind;
use crate::{Channel, ChannelError, OpenRequest, Snapshot, Ticket, TicketStatus};
pub use config::ManualSettings;

/// What the platform imposes and offers beyond the adapter (see [`crate::Platform`]).
pub const PLATFORM: crate::Platform = crate::Platform {
    // A person answers: nothing is requested.
    rate_per_minute: None,
    // Nothing is polled at a platform.
    requests_per_poll: 1.0,
    poll_gap: None,
    webhooks: None,
};

#[derive(Debug)]
pub struct ManualChannel {
    pub settings: ManualSettings,
}

impl Channel for ManualChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Manual
    }

    async fn open(&self, req: &OpenRequest<'_>) -> Result<Ticket, ChannelError> {
        // The probe starts when the operator is told (the worker notifies at once).
        Ok(Ticket { id: req.reference.to_string(), url: None, created_at: chrono::Utc::now() })
    }

    async fn find(&self, _reference: &str) -> Result<Option<Ticket>, ChannelError> {
        // Nothing was sent anywhere: opening again only repeats the (deduplicated) notice.
        Ok(None)
    }

    async fn poll(&self, _ticket: &str) -> Result<Snapshot, ChannelError> {
        Ok(Snapshot { status: TicketStatus::Open, status_at: None, messages: Vec::new(), team: None })
    }

    async fn reply(&self, _ticket: &str, _body: &str) -> Result<(), ChannelError> {
        Err(ChannelError::Rejected {
            status: 0,
            message: "the manual channel sends no follow-ups; use a scenario without follow_ups".into(),
        })
    }

    async fn close(&self, _ticket: &str, _body: Option<&str>, _solve: bool) -> Result<(), ChannelError> {
        Ok(())
    }
}

/// The adapter for a configured channel (the registry's constructor).
pub(crate) fn build(
    _http: crate::client::Http,
    settings: &ManualSettings,
    _timeout: std::time::Duration,
) -> Result<ManualChannel, crate::ChannelError> {
    Ok(ManualChannel { settings: settings.clone() })
}
