//! Email: the probe goes out by SMTP to the vendor's support address; the
//! vendor's replies arrive in our IMAP mailbox.
//!
//! Out: a `Message-ID` on our domain carrying the reference
//! (`<SP-XXXXXXXX.<time>.<n>@our.domain>`), a per-probe plus-address
//! `Reply-To` (`probes+SP-XXXXXXXX@our.domain`), the reference in subject and
//! body, and a Bcc to our own mailbox so what we sent is in the mailbox too
//! (crash recovery finds it; follow-ups are timed by it). Follow-ups and the
//! courtesy close go in-thread (`In-Reply-To`, `References`). The ticket's
//! `created_at` is the moment the SMTP server accepted the probe.
//!
//! In: UID-incremental `FETCH` of new mail (a full re-read when the mailbox's
//! UIDVALIDITY changes), reconnecting after errors or a server restart; the
//! arrival time is the message's IMAP `INTERNALDATE` — our own server's clock
//! on both ends, as the design asks for email. An IDLE watcher (when the
//! server offers IDLE) marks the mailbox dirty the moment mail arrives, so a
//! poll when nothing arrived costs nothing. Mail over `max_message_bytes` is
//! read headers-only; mail that cannot be parsed is logged and skipped.
//!
//! Threading — which probe a mail belongs to — in order: a reference in
//! `In-Reply-To`/`References` (our Message-IDs carry it), in the plus-address
//! of `To`/`Delivered-To`, in the subject, in the body. Unmatched mail never
//! counts.

pub mod config;

pub mod smtp;

pub use smtp::smtp_transport;

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_imap::Session;
use async_imap::extensions::idle::IdleResponse;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::ChannelKind;
use crate::classify::AuthorKind;
use crate::mail::{self, Mail, MailError};
use crate::{Channel, ChannelError, Message, OpenRequest, Snapshot, Ticket, TicketStatus};
pub use config::EmailSettings;
use config::ImapTls;

/// What the platform imposes and offers beyond the adapter (see [`crate::Platform`]).
pub const PLATFORM: crate::Platform = crate::Platform {
    // Mail has no request budget.
    rate_per_minute: None,
    // One look at the mailbox.
    requests_per_poll: 1.0,
    poll_gap: None,
    webhooks: None,
};

/// Even with IDLE reporting nothing new, the mailbox is re-read this often
/// (a safety net: IDLE is how replies are noticed at once, not how they are
/// found at all).
const RESYNC: Duration = Duration::from_secs(15);
/// IDLE is renewed before servers' 30-minute limit.
const IDLE_RENEW: Duration = Duration::from_secs(20 * 60);

/// A plain or TLS connection to the IMAP server.
#[derive(Debug)]
enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// What we sent for a probe, as our Bcc copy shows it.
#[derive(Clone, Debug)]
struct Sent {
    message_id: String,
    subject: String,
    at: DateTime<Utc>,
}

#[derive(Default)]
struct Mailbox {
    session: Option<Session<Conn>>,
    uid_validity: Option<u32>,
    last_uid: u32,
    /// Matched mail by probe reference.
    by_reference: HashMap<String, Vec<Message>>,
    /// Our own first message per reference.
    sent: HashMap<String, Sent>,
    /// Message-IDs of matched mail, to their probe.
    ids: HashMap<String, String>,
    /// Vendor ticket tags seen in matched mail's subjects, to their probe (`None`: on several).
    tags: HashMap<String, Option<String>>,
    last_sync: Option<Instant>,
}

pub struct EmailChannel {
    settings: EmailSettings,
    smtp: AsyncSmtpTransport<Tokio1Executor>,
    timeout: Duration,
    mailbox: tokio::sync::Mutex<Mailbox>,
    /// Set by the IDLE watcher when mail arrives (and whenever unsure).
    dirty: Arc<AtomicBool>,
    /// The IDLE watcher is connected and idling.
    idle_ok: Arc<AtomicBool>,
    watcher_started: AtomicBool,
    /// Stops the IDLE watcher when the channel is dropped.
    stop: CancellationToken,
    /// Distinguishes Message-IDs made in the same millisecond.
    sequence: AtomicU64,
    /// Mail that could not be read, not yet reported.
    problems: crate::Problems,
}

impl std::fmt::Debug for EmailChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailChannel").field("to", &self.settings.to.to_string()).finish()
    }
}

impl Drop for EmailChannel {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn conn_err(host: &str, e: impl std::fmt::Display) -> ChannelError {
    ChannelError::Connection { host: host.to_string(), message: e.to_string() }
}

fn smtp_err(host: &str, e: lettre::transport::smtp::Error) -> ChannelError {
    if e.is_permanent() {
        ChannelError::Refused { message: format!("SMTP: {e}") }
    } else {
        conn_err(host, format!("SMTP: {e}"))
    }
}

/// TLS to `host`, verified against the system's roots and `extra_roots`.
async fn tls_connect(
    host: &str,
    extra_roots: &[rustls::pki_types::CertificateDer<'static>],
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ChannelError> {
    use rustls_platform_verifier::ConfigVerifierExt;
    crate::client::install_crypto_provider();
    let config = if extra_roots.is_empty() {
        // The system's roots, loaded once for the process.
        static SYSTEM: std::sync::OnceLock<Result<Arc<rustls::ClientConfig>, String>> = std::sync::OnceLock::new();
        SYSTEM
            .get_or_init(|| rustls::ClientConfig::with_platform_verifier().map(Arc::new).map_err(|e| e.to_string()))
            .clone()
            .map_err(|e| conn_err(host, e))?
    } else {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots.iter().cloned(), provider.clone())
                .map_err(|e| conn_err(host, e))?;
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| conn_err(host, e))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth()
            .into()
    };
    let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| conn_err(host, e))?;
    tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.map_err(|e| conn_err(host, e))
}

/// Connects, (upgrades to TLS,) reads the greeting and logs in.
async fn connect(s: &config::ImapSettings, timeout: Duration) -> Result<Session<Conn>, ChannelError> {
    let host = s.host.as_str();
    let work = async {
        let tcp = TcpStream::connect((host, s.port)).await.map_err(|e| conn_err(host, e))?;
        let client = match s.tls {
            ImapTls::None | ImapTls::Tls => {
                let conn = match s.tls {
                    ImapTls::Tls => Conn::Tls(Box::new(tls_connect(host, &s.extra_roots, tcp).await?)),
                    _ => Conn::Plain(tcp),
                };
                let mut c = async_imap::Client::new(conn);
                c.read_response().await.map_err(|e| conn_err(host, e))?;
                c
            }
            ImapTls::Starttls => {
                let mut plain = async_imap::Client::new(Conn::Plain(tcp));
                plain.read_response().await.map_err(|e| conn_err(host, e))?;
                plain.run_command_and_check_ok("STARTTLS", None).await.map_err(|e| conn_err(host, e))?;
                let Conn::Plain(tcp) = plain.into_inner() else {
                    return Err(conn_err(host, "STARTTLS on a TLS connection"));
                };
                // No second greeting after STARTTLS.
                async_imap::Client::new(Conn::Tls(Box::new(tls_connect(host, &s.extra_roots, tcp).await?)))
            }
        };
        client
            .login(&s.username, s.password.expose())
            .await
            .map_err(|(e, _)| ChannelError::Auth { status: None, message: format!("IMAP login refused: {e}") })
    };
    tokio::time::timeout(timeout, work).await.map_err(|_| ChannelError::Timeout(timeout))?
}

fn parse_internal_date(d: Option<chrono::DateTime<chrono::FixedOffset>>) -> DateTime<Utc> {
    d.map_or_else(Utc::now, |d| d.with_timezone(&Utc))
}

impl EmailChannel {
    pub fn new(settings: EmailSettings, timeout: Duration) -> Result<EmailChannel, ChannelError> {
        let smtp = smtp::smtp_transport(&settings.smtp).map_err(|e| smtp_err(&settings.smtp.host, e))?;
        Ok(EmailChannel {
            settings,
            smtp,
            timeout,
            mailbox: tokio::sync::Mutex::new(Mailbox::default()),
            dirty: Arc::new(AtomicBool::new(true)),
            idle_ok: Arc::new(AtomicBool::new(false)),
            watcher_started: AtomicBool::new(false),
            stop: CancellationToken::new(),
            sequence: AtomicU64::new(0),
            problems: crate::Problems::default(),
        })
    }

    fn our_names(&self) -> Vec<String> {
        let mut v = vec![self.our_address()];
        v.extend(self.settings.from.name.clone().filter(|n| !n.trim().is_empty()));
        v
    }

    fn our_address(&self) -> String {
        self.settings.from.email.to_string().to_ascii_lowercase()
    }

    fn new_message_id(&self, reference: &str) -> String {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        format!("{reference}.{}.{n}@{}", Utc::now().timestamp_millis(), self.settings.message_id_domain)
    }

    fn reply_to(&self, reference: &str) -> Result<lettre::message::Mailbox, ChannelError> {
        let from = &self.settings.from;
        if !self.settings.plus_addressing {
            return Ok(from.clone());
        }
        let address = format!("{}+{reference}@{}", from.email.user(), from.email.domain());
        address
            .parse()
            .map(|email| lettre::message::Mailbox::new(from.name.clone(), email))
            .map_err(|e| ChannelError::Malformed(format!("cannot build the reply-to address: {e}")))
    }

    /// Which probe a mail belongs to, and by which threading rule: our
    /// reference in `In-Reply-To`/`References`, or a Message-ID already
    /// linked to a probe there; the plus address; the reference in subject,
    /// then body; last, a vendor ticket tag (`[rt.example.com #12]`,
    /// `Ticket #4521`, `SD-123`) already seen on one probe's mail.
    fn match_reference(mb: &Mailbox, m: &Mail) -> Option<(String, &'static str)> {
        let find = |s: &str| crate::reference::find(&s.to_ascii_uppercase()).map(str::to_string);
        let ids = || m.in_reply_to.iter().chain(&m.references);
        if let Some(r) = ids().find_map(|id| find(id)) {
            return Some((r, "thread:references"));
        }
        if let Some(r) = ids().find_map(|id| mb.ids.get(id.trim_matches(['<', '>']))) {
            return Some((r.clone(), "thread:references"));
        }
        for addr in m.to.iter().chain(&m.delivered_to) {
            if addr.contains('+')
                && let Some(r) = find(addr)
            {
                return Some((r, "thread:plus-address"));
            }
        }
        if let Some(r) = crate::reference::find(&m.subject) {
            return Some((r.to_string(), "thread:subject"));
        }
        if let Some(r) = crate::reference::find(&m.text) {
            return Some((r.to_string(), "thread:body"));
        }
        ticket_tags(&m.subject)
            .iter()
            .find_map(|t| mb.tags.get(t).cloned().flatten())
            .map(|r| (r, "thread:vendor-ticket"))
    }

    /// Remembers a matched mail's Message-ID and the vendor's ticket tags in its subject.
    fn link(mb: &mut Mailbox, m: &Mail, reference: &str) {
        if let Some(id) = &m.message_id {
            mb.ids.entry(id.clone()).or_insert_with(|| reference.to_string());
        }
        for tag in ticket_tags(&m.subject) {
            let entry = mb.tags.entry(tag).or_insert_with(|| Some(reference.to_string()));
            if entry.as_deref() != Some(reference) {
                // One tag on two probes' mail (a merged ticket, a reused number): trust neither.
                *entry = None;
            }
        }
    }

    fn index(&self, mb: &mut Mailbox, raw: &[u8], at: DateTime<Utc>, uid: u32, headers_only: bool) {
        let parsed = match mail::parse(raw, self.settings.max_message_bytes) {
            Ok(m) => m,
            Err(e) => {
                let kind = if matches!(e, MailError::Unparseable) { "unparseable" } else { "malformed" };
                let message = format!("mail UID {uid} ({} bytes) skipped, left in the mailbox: {e}", raw.len());
                self.problems.push(kind, message);
                return;
            }
        };
        let Some((reference, rule)) = Self::match_reference(mb, &parsed) else {
            debug!(uid, subject = %parsed.subject, "mail matches no probe; not counted");
            return;
        };
        Self::link(mb, &parsed, &reference);
        let ours = parsed.from_addr.as_deref() == Some(self.our_address().as_str());
        // Without a Message-ID, the content names the mail: the same after a
        // UIDVALIDITY change or a re-read, unlike its UID.
        let id = parsed.message_id.clone().unwrap_or_else(|| format!("no-message-id.{:016x}", fnv1a(raw)));
        if ours {
            let sent = Sent { message_id: id.clone(), subject: parsed.subject.clone(), at: parsed.date.unwrap_or(at) };
            mb.sent.entry(reference.clone()).or_insert(sent);
        }
        let list = mb.by_reference.entry(reference).or_default();
        if list.iter().any(|m| m.id == id) {
            return;
        }
        list.push(Message {
            id,
            at,
            author_id: parsed.from_addr.clone().unwrap_or_default(),
            author_name: parsed.from_name.clone().or_else(|| parsed.from_addr.clone()).unwrap_or_default(),
            author_email: parsed.from_addr.clone(),
            author_kind: if ours { AuthorKind::Requester } else { AuthorKind::Unknown },
            kind_evidence: (headers_only || ours).then(|| {
                if ours { "from our address".to_string() } else { "headers only: over max_message_bytes".to_string() }
            }),
            body: parsed.text.clone(),
            headers: parsed.headers.clone(),
            parts: parsed.parts.clone(),
            subject: Some(parsed.subject.clone()),
            matched_by: Some(rule),
        });
    }

    /// Reads new mail into the index, reconnecting if needed.
    async fn sync(&self, mb: &mut Mailbox) -> Result<(), ChannelError> {
        let host = self.settings.imap.host.clone();
        if mb.session.is_none() {
            let mut session = connect(&self.settings.imap, self.timeout).await?;
            let selected = session.select(&self.settings.imap.mailbox).await.map_err(|e| conn_err(&host, e))?;
            if selected.uid_validity != mb.uid_validity {
                if mb.uid_validity.is_some() {
                    warn!(old = ?mb.uid_validity, new = ?selected.uid_validity, "mailbox UIDVALIDITY changed; reading it again");
                }
                mb.uid_validity = selected.uid_validity;
                mb.last_uid = 0;
            }
            mb.session = Some(session);
        }
        let Some(session) = mb.session.as_mut() else { return Ok(()) };
        // A selected session need not see mail that arrived since its last
        // command; NOOP makes the server bring its view up to date first.
        session.noop().await.map_err(|e| conn_err(&host, e))?;
        let range = format!("{}:*", mb.last_uid + 1);
        let metas: Vec<_> = session
            .uid_fetch(&range, "(UID RFC822.SIZE INTERNALDATE)")
            .await
            .map_err(|e| conn_err(&host, e))?
            .try_collect()
            .await
            .map_err(|e| conn_err(&host, e))?;
        let mut new: Vec<(u32, usize, DateTime<Utc>)> = metas
            .iter()
            .filter_map(|f| Some((f.uid?, f.size.unwrap_or(0) as usize, parse_internal_date(f.internal_date()))))
            .filter(|(uid, _, _)| *uid > mb.last_uid)
            .collect();
        new.sort_by_key(|(uid, _, _)| *uid);
        debug!(from = mb.last_uid + 1, new = new.len(), "mailbox read");
        for (uid, size, at) in new {
            let headers_only = size > self.settings.max_message_bytes;
            let what = if headers_only { "(UID BODY.PEEK[HEADER])" } else { "(UID BODY.PEEK[])" };
            let Some(session) = mb.session.as_mut() else { return Ok(()) };
            let fetched: Vec<_> = session
                .uid_fetch(uid.to_string(), what)
                .await
                .map_err(|e| conn_err(&host, e))?
                .try_collect()
                .await
                .map_err(|e| conn_err(&host, e))?;
            if let Some(f) = fetched.first()
                && let Some(raw) = if headers_only { f.header() } else { f.body() }
            {
                let raw = raw.to_vec();
                self.index(mb, &raw, at, uid, headers_only);
            }
            mb.last_uid = uid;
        }
        mb.last_sync = Some(Instant::now());
        Ok(())
    }

    /// Brings the index up to date unless IDLE says nothing arrived.
    async fn refresh(&self) -> Result<tokio::sync::MutexGuard<'_, Mailbox>, ChannelError> {
        let mut mb = self.mailbox.lock().await;
        let quiet = self.idle_ok.load(Ordering::Relaxed)
            && !self.dirty.load(Ordering::Relaxed)
            && mb.last_sync.is_some_and(|t| t.elapsed() < RESYNC);
        if !quiet {
            self.dirty.store(false, Ordering::Relaxed);
            let result = tokio::time::timeout(self.timeout, self.sync(&mut mb)).await;
            let result = result.unwrap_or(Err(ChannelError::Timeout(self.timeout)));
            if let Err(e) = result {
                // Start over on the next look: a fresh connection, and a full re-read of what is new.
                mb.session = None;
                self.dirty.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
        self.start_watcher();
        Ok(mb)
    }

    fn start_watcher(&self) {
        if !self.settings.imap.idle || self.watcher_started.swap(true, Ordering::Relaxed) {
            return;
        }
        let (imap, timeout) = (self.settings.imap.clone(), self.timeout);
        let (dirty, idle_ok, stop) = (self.dirty.clone(), self.idle_ok.clone(), self.stop.clone());
        tokio::spawn(async move { watch(imap, timeout, dirty, idle_ok, stop).await });
    }

    async fn send(&self, message: lettre::Message) -> Result<DateTime<Utc>, ChannelError> {
        let host = &self.settings.smtp.host;
        match tokio::time::timeout(self.timeout, self.smtp.send(message)).await {
            Ok(Ok(_)) => Ok(Utc::now()),
            Ok(Err(e)) => Err(smtp_err(host, e)),
            Err(_) => Err(ChannelError::Timeout(self.timeout)),
        }
    }

    fn builder(&self, reference: &str, subject: &str) -> Result<lettre::message::MessageBuilder, ChannelError> {
        let mut b = lettre::Message::builder()
            .from(self.settings.from.clone())
            .to(self.settings.to.clone())
            .reply_to(self.reply_to(reference)?)
            .subject(subject)
            .message_id(Some(format!("<{}>", self.new_message_id(reference))))
            .header(lettre::message::header::ContentType::TEXT_PLAIN);
        if self.settings.bcc_self {
            b = b.bcc(self.settings.from.clone());
        }
        Ok(b)
    }

    /// A message in the probe's thread (follow-up or courtesy close).
    async fn in_thread(&self, ticket: &str, body: &str) -> Result<(), ChannelError> {
        let reference = crate::reference::find(ticket)
            .ok_or_else(|| ChannelError::Malformed(format!("`{ticket}` carries no probe reference")))?
            .to_string();
        let mb = self.refresh().await?;
        let root = mb.sent.get(&reference).map_or_else(|| ticket.to_string(), |s| s.message_id.clone());
        let ours = mb.sent.get(&reference).map_or_else(|| format!("[{reference}]"), |s| s.subject.clone());
        let vendor: Vec<&Message> = mb
            .by_reference
            .get(&reference)
            .map(|l| l.iter().filter(|m| m.author_kind != AuthorKind::Requester).collect())
            .unwrap_or_default();
        // Like a person pressing "reply" on the vendor's last mail: its subject
        // carries the helpdesk's ticket tag (`[rt.example.com #12]`, `[#4521]`),
        // which is how most helpdesks thread incoming mail.
        let subject = match vendor.last().and_then(|m| m.subject.as_deref()).map(strip_reply_prefixes) {
            Some(s) if s.contains(&reference) => s.to_string(),
            Some(s) if !s.trim().is_empty() => format!("{s} [{reference}]"),
            _ => ours,
        };
        let vendor_ids: Vec<String> = vendor.iter().map(|m| m.id.clone()).collect();
        drop(mb);
        let mut references = vec![format!("<{root}>")];
        references.extend(vendor_ids.iter().rev().take(9).rev().map(|id| format!("<{id}>")));
        let in_reply_to = vendor_ids.last().map_or_else(|| format!("<{root}>"), |id| format!("<{id}>"));
        let subject = format!("Re: {}", strip_reply_prefixes(&subject));
        let message = self
            .builder(&reference, &subject)?
            .in_reply_to(in_reply_to)
            .references(references.join(" "))
            .body(body.to_string())
            .map_err(|e| ChannelError::Malformed(format!("cannot build the message: {e}")))?;
        self.send(message).await.map(drop)
    }
}

/// The vendor's ticket tags in a subject, normalised: helpdesk subject tags
/// (`[rt.example.com #12]`, `[#4521]`, `[Ticket #4521]`), `Ticket #4521` /
/// `Case #4521` / `工单号：YX-123`, and issue keys (`SD-123`). Never our own
/// reference.
fn ticket_tags(subject: &str) -> Vec<String> {
    static TAGS: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(
            r"(?ix)
              \[ [^\[\]]{0,60}? \#\s?\d{1,12} \]
            | \b(?:ticket|case|request|incident|issue)\s*(?:\#|no\.?|number)\s?[a-z]{0,6}-?\d{1,12}\b
            | (?:工单|工單|案例)(?:号|號|编号|編號)?\s*[:：\#]?\s*[a-z]{0,6}-?\d{1,12}
            | (?-i:\b[A-Z][A-Z0-9]{1,9}-\d{1,7}\b)",
        )
        .expect("built-in pattern compiles")
    });
    TAGS.find_iter(subject)
        .map(|m| m.as_str())
        .filter(|t| crate::reference::find(t).is_none())
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase())
        .collect()
}

/// FNV-1a, 64 bits: a hash that is the same in every build and on every run.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// A subject without its leading reply/forward markers (`Re:`, `AW:`, `回复：`, …).
fn strip_reply_prefixes(subject: &str) -> &str {
    const PREFIXES: [&str; 9] = ["re:", "aw:", "sv:", "fw:", "fwd:", "回复:", "回复：", "答复:", "答复："];
    let mut s = subject.trim_start();
    'outer: loop {
        for p in PREFIXES {
            if s.len() >= p.len() && s.is_char_boundary(p.len()) && s[..p.len()].eq_ignore_ascii_case(p) {
                s = s[p.len()..].trim_start();
                continue 'outer;
            }
        }
        return s;
    }
}

/// Keeps an IDLE connection open and marks the mailbox dirty when mail arrives.
///
/// One IDLE per connection: when it reports anything the connection is
/// dropped and a new one opened, which keeps the state simple. Once an IDLE is
/// established the mailbox is marked dirty, so mail that arrived while
/// reconnecting is read by the next poll.
async fn watch(
    imap: config::ImapSettings,
    timeout: Duration,
    dirty: Arc<AtomicBool>,
    idle_ok: Arc<AtomicBool>,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_secs(1);
    while !stop.is_cancelled() {
        let session = match connect(&imap, timeout).await {
            Ok(mut s) => match s.capabilities().await {
                Ok(caps) if caps.has_str("IDLE") => match s.select(&imap.mailbox).await {
                    Ok(m) => {
                        debug!(exists = m.exists, "IDLE connection selected");
                        Some(s)
                    }
                    Err(_) => None,
                },
                Ok(_) => {
                    debug!("the IMAP server has no IDLE; polling only");
                    idle_ok.store(false, Ordering::Relaxed);
                    return;
                }
                Err(_) => None,
            },
            Err(_) => None,
        };
        let Some(session) = session else {
            idle_ok.store(false, Ordering::Relaxed);
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(60));
            continue;
        };
        let mut handle = session.idle();
        if let Err(e) = handle.init().await {
            debug!(error = %crate::error_chain(&e), "IDLE could not start");
            idle_ok.store(false, Ordering::Relaxed);
            continue;
        }
        backoff = Duration::from_secs(1);
        dirty.store(true, Ordering::Relaxed);
        idle_ok.store(true, Ordering::Relaxed);
        let response = {
            let (wait, _interrupt) = handle.wait_with_timeout(IDLE_RENEW);
            tokio::select! {
                r = wait => r,
                () = stop.cancelled() => return,
            }
        };
        match response {
            Ok(IdleResponse::NewData(d)) => debug!(response = ?d.parsed(), "IDLE: new mail"),
            Ok(IdleResponse::Timeout | IdleResponse::ManualInterrupt) => {}
            Err(e) => debug!(error = %crate::error_chain(&e), "IDLE connection lost"),
        }
        // Whatever woke us, the next poll reads the mailbox; the connection is dropped here.
        dirty.store(true, Ordering::Relaxed);
    }
}

impl Channel for EmailChannel {
    fn drain_problems(&self) -> Vec<(&'static str, String)> {
        self.problems.drain()
    }

    fn identity(&self) -> Vec<String> {
        self.our_names()
    }

    fn kind(&self) -> ChannelKind {
        ChannelKind::Email
    }

    async fn open(&self, req: &OpenRequest<'_>) -> Result<Ticket, ChannelError> {
        let message_id = self.new_message_id(req.reference);
        let message = self
            .builder(req.reference, req.subject)?
            .message_id(Some(format!("<{message_id}>")))
            .body(req.body.to_string())
            .map_err(|e| ChannelError::Malformed(format!("cannot build the message: {e}")))?;
        let accepted = self.send(message).await?;
        Ok(Ticket { id: message_id, url: None, created_at: accepted })
    }

    async fn find(&self, reference: &str) -> Result<Option<Ticket>, ChannelError> {
        let mb = self.refresh().await?;
        Ok(mb.sent.get(reference).map(|s| Ticket { id: s.message_id.clone(), url: None, created_at: s.at }))
    }

    async fn poll(&self, ticket: &str) -> Result<Snapshot, ChannelError> {
        let reference = crate::reference::find(ticket)
            .ok_or_else(|| ChannelError::Malformed(format!("`{ticket}` carries no probe reference")))?
            .to_string();
        let mb = self.refresh().await?;
        let mut messages = mb.by_reference.get(&reference).cloned().unwrap_or_default();
        messages.sort_by_key(|m| m.at);
        Ok(Snapshot { status: TicketStatus::Open, status_at: None, messages, team: None })
    }

    async fn reply(&self, ticket: &str, body: &str) -> Result<(), ChannelError> {
        self.in_thread(ticket, body).await
    }

    async fn close(&self, ticket: &str, body: Option<&str>, _solve: bool) -> Result<(), ChannelError> {
        match body {
            Some(b) => self.in_thread(ticket, b).await,
            None => Ok(()),
        }
    }
}

/// The adapter for a configured channel (the registry's constructor).
pub(crate) fn build(
    _http: crate::client::Http,
    settings: &EmailSettings,
    timeout: std::time::Duration,
) -> Result<EmailChannel, crate::ChannelError> {
    EmailChannel::new(settings.clone(), timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_ticket_tags() {
        assert_eq!(
            ticket_tags("Re: [rt.example.test #3] AutoReply: [SP-7K3Q9X2M] hello"),
            vec!["[rt.example.test #3]"]
        );
        assert_eq!(ticket_tags("[#4521] Calls drop"), vec!["[#4521]"]);
        assert_eq!(ticket_tags("Ticket #4521 has been updated"), vec!["ticket #4521"]);
        assert_eq!(ticket_tags("工单号：YX-1234 已更新"), vec!["工单号：yx-1234"]);
        assert_eq!(ticket_tags("[JIRA] (SD-123) Calls drop"), vec!["sd-123"]);
        assert!(ticket_tags("[SP-7K3Q9X2M] Calls drop on handover").is_empty(), "our own reference is not theirs");
        assert!(ticket_tags("Re: Calls drop on handover").is_empty());
    }

    #[test]
    fn content_ids_are_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(fnv1a(b"mail one"), fnv1a(b"mail two"));
    }

    #[test]
    fn reply_prefixes_are_stripped() {
        assert_eq!(
            strip_reply_prefixes("Re: RE: [rt.example.test #3] AutoReply: x"),
            "[rt.example.test #3] AutoReply: x"
        );
        assert_eq!(strip_reply_prefixes("回复： 回复:工单 #12"), "工单 #12");
        assert_eq!(strip_reply_prefixes("AW: Fwd: hello"), "hello");
        assert_eq!(strip_reply_prefixes("Regarding your ticket"), "Regarding your ticket");
        assert_eq!(strip_reply_prefixes("réponse"), "réponse");
    }
}
