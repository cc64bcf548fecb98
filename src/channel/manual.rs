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

use super::{Channel, ChannelError, OpenRequest, Snapshot, Ticket, TicketStatus};
use crate::config::ManualSettings;
use crate::model::ChannelKind;

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
        Ok(Snapshot { status: TicketStatus::Open, status_at: None, messages: Vec::new() })
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
