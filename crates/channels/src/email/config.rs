//! The `[vendors.VENDOR.channels.CHANNEL.email]` table: what it holds, how it
//! is checked (every problem located), and the line `check` prints for it.

use std::path::PathBuf;

use serde::Deserialize;
use supportprobe_core::secret::Secret;
use toml::Spanned;

use crate::check::{Checker, ca_from, mailbox, secret_from, yes};

/// The email channel: probes go out by SMTP to the vendor's support
/// address; replies come back to our mailbox, read over IMAP.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmailChannel {
    /// The vendor's support address.
    pub to: Spanned<String>,
    /// Our address (and the IMAP mailbox replies arrive in).
    pub from: Spanned<String>,
    /// Reply-To `local+REFERENCE@domain`, so replies carry the probe.
    #[serde(default = "yes")]
    pub plus_addressing: bool,
    /// Bcc our own mailbox, so crash recovery and follow-up timing can see what we sent.
    #[serde(default = "yes")]
    pub bcc_self: bool,
    /// Domain of our Message-IDs (default: `from`'s domain).
    pub message_id_domain: Option<String>,
    /// Mail larger than this is not parsed (default 10 MiB).
    pub max_message_bytes: Option<u64>,
    pub smtp: Spanned<RawSmtp>,
    pub imap: Spanned<RawImap>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmtp {
    pub host: String,
    pub port: Option<u16>,
    #[serde(default = "default_tls")]
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Spanned<String>>,
    pub password_file: Option<Spanned<PathBuf>>,
    /// PEM CA certificates trusted besides the system's (a private CA).
    pub ca_file: Option<Spanned<PathBuf>>,
}

/// How to talk to the IMAP server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImapTls {
    /// Plain IMAP (loopback servers only).
    None,
    /// STARTTLS on port 143.
    Starttls,
    /// Implicit TLS on port 993.
    Tls,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawImap {
    pub host: String,
    pub port: Option<u16>,
    #[serde(default = "default_imap_tls")]
    pub tls: ImapTls,
    pub username: String,
    pub password: Option<Spanned<String>>,
    pub password_file: Option<Spanned<PathBuf>>,
    /// PEM CA certificates trusted besides the system's (a private CA).
    pub ca_file: Option<Spanned<PathBuf>>,
    #[serde(default = "default_mailbox")]
    pub mailbox: String,
    /// Use IDLE when the server offers it (replies noticed at once).
    #[serde(default = "yes")]
    pub idle: bool,
}

fn default_imap_tls() -> ImapTls {
    ImapTls::Tls
}

fn default_mailbox() -> String {
    "INBOX".into()
}

/// How to talk to the SMTP server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain SMTP (loopback relays only).
    None,
    /// STARTTLS on the submission port (587).
    Starttls,
    /// Implicit TLS (465).
    Tls,
}

pub fn default_tls() -> SmtpTls {
    SmtpTls::Starttls
}

/// An SMTP server and how to log in to it.
#[derive(Clone, Debug)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// CA certificates trusted besides the system's.
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
}

#[derive(Clone, Debug)]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    pub tls: ImapTls,
    pub username: String,
    pub password: Secret,
    pub mailbox: String,
    pub idle: bool,
    /// CA certificates trusted besides the system's.
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
}

#[derive(Clone, Debug)]
pub struct EmailSettings {
    /// The vendor's support address.
    pub to: lettre::message::Mailbox,
    /// Our address; replies arrive in its IMAP mailbox.
    pub from: lettre::message::Mailbox,
    pub plus_addressing: bool,
    pub bcc_self: bool,
    pub message_id_domain: String,
    pub max_message_bytes: usize,
    pub smtp: SmtpSettings,
    pub imap: ImapSettings,
}

pub(crate) fn from_raw(cx: &mut Checker<'_>, re: &Spanned<RawEmailChannel>) -> Option<EmailSettings> {
    let e = re.get_ref();
    let to = mailbox(cx, &e.to);
    let from = mailbox(cx, &e.from);
    let s = e.smtp.get_ref();
    let smtp_password = secret_from(cx, &s.password, &s.password_file, "password").map(|(p, _)| p);
    if smtp_password.is_some() && s.username.is_none() {
        cx.err(&e.smtp, "smtp: `password` needs `username`");
    }
    let i = e.imap.get_ref();
    let imap_password = secret_from(cx, &i.password, &i.password_file, "password").map(|(p, _)| p);
    if imap_password.is_none() && i.password.is_none() && i.password_file.is_none() {
        cx.err(&e.imap, "imap: set `password` or `password_file`");
    }
    let (to, from, imap_password) = (to?, from?, imap_password?);
    let domain = from.email.domain().to_string();
    Some(EmailSettings {
        message_id_domain: e.message_id_domain.clone().unwrap_or(domain),
        to,
        from,
        plus_addressing: e.plus_addressing,
        bcc_self: e.bcc_self,
        max_message_bytes: e
            .max_message_bytes
            .map_or(crate::mail::DEFAULT_MAX_BYTES, |b| usize::try_from(b).unwrap_or(usize::MAX)),
        smtp: SmtpSettings {
            host: s.host.clone(),
            port: s.port.unwrap_or_else(|| smtp_port(s.tls)),
            tls: s.tls,
            username: s.username.clone(),
            password: smtp_password,
            extra_roots: ca_from(cx, &s.ca_file),
        },
        imap: ImapSettings {
            host: i.host.clone(),
            port: i.port.unwrap_or(match i.tls {
                ImapTls::Tls => 993,
                _ => 143,
            }),
            tls: i.tls,
            username: i.username.clone(),
            password: imap_password,
            mailbox: i.mailbox.clone(),
            idle: i.idle,
            extra_roots: ca_from(cx, &i.ca_file),
        },
    })
}

impl EmailSettings {
    /// How `check` shows the channel (secrets only as where they come from).
    pub fn describe(&self) -> String {
        let e = self;
        let tls = |t: &str| if t == "none" { "plain".to_string() } else { t.to_string() };
        format!(
            "to {} from {} (smtp {}:{} {}, imap {}:{} {} {}{})",
            e.to,
            e.from,
            e.smtp.host,
            e.smtp.port,
            tls(&format!("{:?}", e.smtp.tls).to_ascii_lowercase()),
            e.imap.host,
            e.imap.port,
            tls(&format!("{:?}", e.imap.tls).to_ascii_lowercase()),
            e.imap.mailbox,
            if e.imap.idle { ", IDLE" } else { "" }
        )
    }
}

/// The port SMTP listens on for each kind of TLS when none is given.
pub fn smtp_port(tls: SmtpTls) -> u16 {
    match tls {
        SmtpTls::None => 25,
        SmtpTls::Starttls => 587,
        SmtpTls::Tls => 465,
    }
}
