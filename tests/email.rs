//! The email channel through real servers (OpenSMTPD + Dovecot on loopback,
//! started by scripts/test.sh): a responder harness plays the vendor — it
//! reads the probe in the vendor's mailbox and answers in-thread with an
//! automatic acknowledgement, an out-of-office and then a person. The
//! measured instants equal the harness's truth within a second; the replies
//! are classified; follow-ups and the courtesy close arrive in-thread. Then:
//! SMTP submission and IMAP over STARTTLS and implicit TLS with a private CA
//! and authentication; the IMAP server restarted while a probe waits (nothing
//! is lost); a new UIDVALIDITY; broken mail; mail that only carries the
//! vendor's ticket tag.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use lettre::AsyncTransport;
use supportprobe::channel::{Channel, ChannelError};
use supportprobe::classify::AuthorKind;
use supportprobe::engine::probe::kind;
use supportprobe::model::{ReplyClass, State};
use tokio_util::sync::CancellationToken;

const VENDOR: &str = "vendor@example.test";
const PASS: &str = "probepass";

/// The vendor side: reads its mailbox and answers.
struct Vendor {
    smtp: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    imap: String,
}

struct Received {
    arrived: DateTime<Utc>,
    mail: supportprobe::mail::Mail,
}

impl Vendor {
    fn new(smtp: &str) -> Vendor {
        let (host, port) = smtp.split_once(':').unwrap();
        let smtp = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(host)
            .port(port.parse().unwrap())
            .build();
        Vendor { smtp, imap: common::mail_stack().unwrap().1 }
    }

    /// Mails in the vendor's mailbox whose subject carries `reference`.
    /// (Empty while the IMAP server is restarting: callers poll.)
    async fn mailbox(&self, reference: &str) -> Vec<Received> {
        self.try_mailbox(reference).await.unwrap_or_default()
    }

    async fn try_mailbox(&self, reference: &str) -> Result<Vec<Received>, Box<dyn std::error::Error>> {
        let tcp = tokio::net::TcpStream::connect(&self.imap).await?;
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await?;
        let mut session = client.login(VENDOR, PASS).await.map_err(|(e, _)| e)?;
        session.select("INBOX").await?;
        let uids = session.uid_search(format!("SUBJECT \"{reference}\"")).await?;
        let mut out = Vec::new();
        for uid in uids {
            let fetched: Vec<_> =
                session.uid_fetch(uid.to_string(), "(INTERNALDATE BODY.PEEK[])").await?.try_collect().await?;
            let f = fetched.first().ok_or("no such message")?;
            let mail = supportprobe::mail::parse(f.body().ok_or("no body")?, 1 << 24)?;
            out.push(Received { arrived: f.internal_date().ok_or("no date")?.with_timezone(&Utc), mail });
        }
        let _ = session.logout().await;
        out.sort_by_key(|r| r.arrived);
        Ok(out)
    }

    /// Sends a raw reply and returns when the SMTP server accepted it.
    async fn send(&self, from: &str, to: &str, raw: String) -> DateTime<Utc> {
        let envelope = lettre::address::Envelope::new(Some(from.parse().unwrap()), vec![to.parse().unwrap()]).unwrap();
        self.smtp.send_raw(&envelope, raw.as_bytes()).await.unwrap();
        Utc::now()
    }

    /// Waits for the probe, then answers: acknowledgement, out-of-office, a person.
    /// Returns (probe arrival, ack sent, ooo sent, human sent).
    async fn answer(&self, reference: &str, restart_imap_before_human: bool) -> [DateTime<Utc>; 4] {
        let probe = common::wait_for("the probe in the vendor's mailbox", Duration::from_secs(30), || async {
            self.mailbox(reference).await.into_iter().next()
        })
        .await;
        let m = &probe.mail;
        let id = m.message_id.clone().unwrap();
        let reply_to = m.header("Reply-To").unwrap().to_string();
        let to = reply_to.rsplit('<').next().unwrap().trim_end_matches('>').to_string();
        assert!(to.contains(&format!("+{reference}@")), "plus-address Reply-To: {reply_to}");
        let thread = format!("In-Reply-To: <{id}>\r\nReferences: <{id}>\r\n");
        let date = Utc::now().to_rfc2822();
        let ack = self
            .send(
                "noreply@example.test",
                &to,
                format!(
                    "From: MailCo Helpdesk <noreply@example.test>\r\nTo: {to}\r\nDate: {date}\r\nSubject: Ticket received: {}\r\n\
                     Message-ID: <ack.{reference}@example.test>\r\n{thread}Auto-Submitted: auto-replied\r\n\r\n\
                     Thank you for contacting MailCo. Your ticket #4521 has been created and we will respond within 24 hours.\r\n",
                    m.subject
                ),
            )
            .await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let ooo = self
            .send(
                "li.ming@example.test",
                &to,
                format!(
                    "From: =?UTF-8?B?5p2O5piO?= <li.ming@example.test>\r\nTo: {to}\r\nDate: {date}\r\n\
                     Subject: =?UTF-8?B?6Ieq5Yqo5Zue5aSNOg==?= {}\r\nMessage-ID: <ooo.{reference}@example.test>\r\n{thread}\
                     Auto-Submitted: auto-replied\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
                     您好，我目前休假中，下周一返回办公室。\r\n",
                    reference
                ),
            )
            .await;
        if restart_imap_before_human {
            let status = std::process::Command::new(format!("{}/scripts/mail-stack.sh", common::MANIFEST))
                .args(["restart-imap", "2"])
                .status()
                .unwrap();
            assert!(status.success(), "restart the IMAP server");
        }
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let human = self
            .send(
                "wang@example.test",
                &to,
                format!(
                    "From: Wang Agent <wang@example.test>\r\nTo: {to}\r\nDate: {date}\r\nSubject: Re: {}\r\n\
                     Message-ID: <human.{reference}@example.test>\r\nIn-Reply-To: <ack.{reference}@example.test>\r\n\
                     References: <{id}> <ack.{reference}@example.test>\r\n\r\n\
                     Hi, this is Wang from MailCo support. Could you send the SDK logs from both devices?\r\n\r\n\
                     On Mon, MailCo Helpdesk wrote:\r\n> Your ticket #4521 has been created\r\n",
                    m.subject
                ),
            )
            .await;
        [probe.arrived, ack, ooo, human]
    }
}

fn within_a_second(a: DateTime<Utc>, b: DateTime<Utc>, what: &str) {
    let d = (a - b).num_milliseconds().abs();
    assert!(d <= 1000, "{what}: measured {a} vs truth {b} ({d} ms apart)");
}

async fn run(restart_imap: bool) {
    if std::env::var_os("DEBUG_EMAIL").is_some() {
        let _ = tracing_subscriber::fmt().with_env_filter("supportprobe=debug").with_test_writer().try_init();
    }
    let Some((smtp, imap)) = common::mail_stack() else { return };
    let config = common::one_channel_config(
        "mailco",
        "support",
        &common::email_kind(&format!("MailCo Support <{VENDOR}>"), &smtp, &imap),
    );
    let h = common::harness(&config, &common::test_probes()).await;
    let ctx = h.ctx();
    let scenario = h.config.scenario("t-follow").unwrap();
    let engine = tokio::spawn(async move {
        supportprobe::engine::once(&ctx, &scenario, "mailco", "support", None, true, CancellationToken::new())
            .await
            .unwrap()
    });
    let store = h.store.clone();
    let reference = common::wait_for("the probe to be opened", Duration::from_secs(20), || {
        let store = store.clone();
        async move { store.all_probes().ok()?.into_iter().find(|p| p.opened_at.is_some()).map(|p| p.reference) }
    })
    .await;
    let vendor = Arc::new(Vendor::new(&smtp));
    let [probe_arrived, ack_sent, _ooo_sent, human_sent] = vendor.answer(&reference, restart_imap).await;

    // The follow-up (after the first human reply) reaches the vendor in-thread; a person answers it.
    let follow = common::wait_for("our follow-up at the vendor", Duration::from_secs(30), || async {
        vendor.mailbox(&reference).await.into_iter().find(|r| r.mail.text.contains(&format!("[{reference}/f1]")))
    })
    .await;
    assert!(
        follow.mail.in_reply_to.iter().any(|i| i == &format!("human.{reference}@example.test")),
        "in-thread: {:?}",
        follow.mail.in_reply_to
    );
    let next_sent = vendor
        .send(
            "wang@example.test",
            &format!("probe+{reference}@example.test"),
            format!(
                "From: Wang Agent <wang@example.test>\r\nTo: probe+{reference}@example.test\r\nSubject: Re: [{reference}] logs\r\n\
                 Message-ID: <next.{reference}@example.test>\r\nIn-Reply-To: <{}>\r\n\r\nThanks, the logs show the problem. I am marking this as solved: fixed in 4.2.1.\r\n",
                follow.mail.message_id.clone().unwrap()
            ),
        )
        .await;

    let id = engine.await.unwrap();
    let p = h.store.probe(id).unwrap().unwrap();
    assert_eq!(p.state, State::Closed, "{p:#?}");
    within_a_second(p.opened_at.unwrap(), probe_arrived, "opened (SMTP acceptance vs arrival at the vendor)");
    within_a_second(p.first_response_at.unwrap(), ack_sent, "first response (the acknowledgement)");
    within_a_second(p.first_human_response_at.unwrap(), human_sent, "first human response");
    assert_eq!(p.bot_turns, 1, "the acknowledgement came before the person; the out-of-office is not a turn");
    assert_eq!(p.resolved_by.as_deref(), Some("pattern"));
    within_a_second(p.resolved_at.unwrap(), next_sent, "resolution (a reply matching the pattern)");
    let events = h.store.events(id).unwrap();
    let classes: Vec<(ReplyClass, String)> = events
        .iter()
        .filter(|e| e.kind == kind::REPLY)
        .map(|e| (e.class.unwrap(), e.rule.clone().unwrap_or_default()))
        .collect();
    assert_eq!(classes.len(), 4, "{classes:?}");
    assert_eq!(classes[0].0, ReplyClass::AutoAck, "{classes:?}");
    assert_eq!(classes[1], (ReplyClass::OutOfOffice, "ooo:subject".into()));
    assert_eq!(classes[2], (ReplyClass::Human, "human:default".into()));
    let measures = h.store.measures_of(id).unwrap();
    let nr = measures.iter().find(|m| m.measure == supportprobe::model::Measure::NextReply).unwrap();
    assert!(nr.wall_secs.is_some_and(|s| s >= 0.0), "next reply measured: {nr:?}");
    // The courtesy close reached the vendor, in-thread, once. It was accepted
    // by SMTP before the probe finished; delivery into the vendor's mailbox
    // can lag on a loaded machine, so wait for it (at most 10 s).
    let close_tag = format!("[{reference}/close]");
    let mut mails = vendor.mailbox(&reference).await;
    for _ in 0..50 {
        if mails.iter().any(|r| r.mail.text.contains(&close_tag)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        mails = vendor.mailbox(&reference).await;
    }
    let closes: Vec<_> = mails.iter().filter(|r| r.mail.text.contains(&close_tag)).collect();
    assert_eq!(closes.len(), 1);
    assert!(!closes[0].mail.references.is_empty());
    let errors = h.store.error_counts().unwrap();
    if restart_imap {
        // The poll noticed the outage (a connection error, nothing worse) and reconnected.
        assert!(errors.iter().any(|e| e.operation == "poll" && e.kind == "unreachable" && e.count >= 1), "{errors:?}");
        assert!(
            errors.iter().all(|e| e.operation == "read" || e.kind == "unreachable" || e.kind == "timeout"),
            "{errors:?}"
        );
    } else {
        // (Broken mail left in the shared mailbox by earlier runs is reported under `read`.)
        assert!(errors.iter().all(|e| e.operation == "read"), "{errors:?}");
    }
}

/// The channel on its own: replies read, then the mailbox gets a new
/// UIDVALIDITY and every connection drops; the mailbox is read again from the
/// start and every reply is still there once, and a reply arriving after the
/// change is read too.
async fn uidvalidity_change() {
    let Some((smtp, imap)) = common::mail_stack() else { return };
    let config = common::one_channel_config("mailco", "support", &common::email_kind(VENDOR, &smtp, &imap));
    let h = common::harness(&config, &common::test_probes()).await;
    let spec = h.config.vendor("mailco").unwrap().channels.values().next().unwrap().clone();
    let channel = supportprobe::channel::build(&spec, Vec::new()).unwrap();
    let reference = supportprobe::reference::generate("uidvalidity");
    let request = supportprobe::channel::OpenRequest {
        reference: &reference,
        subject: &format!("[{reference}] UIDVALIDITY"),
        body: &format!("Reference {reference}."),
        priority: supportprobe::model::Priority::P2,
    };
    let ticket = channel.open(&request).await.unwrap();
    let vendor = Vendor::new(&smtp);
    let to = format!("probe+{reference}@example.test");
    // The vendor's helpdesk tags its subjects with its own ticket number.
    let number =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() % 1_000_000_000;
    let tag = format!("[MailCo #{number}]");
    let reply = |n: u32, message_id: bool| {
        let id = if message_id { format!("Message-ID: <r{n}.{reference}@example.test>\r\n") } else { String::new() };
        format!(
            "From: Kim <kim@example.test>\r\nTo: {to}\r\nSubject: {tag} Re: [{reference}] UIDVALIDITY\r\n{id}\r\nAnswer {n}.\r\n"
        )
    };
    vendor.send("kim@example.test", &to, reply(1, true)).await;
    vendor.send("kim@example.test", &to, reply(2, false)).await;
    let vendor_ids = || async {
        let snap = channel.poll(&ticket.id).await.ok()?;
        Some(
            snap.messages
                .into_iter()
                .filter(|m| m.author_kind != AuthorKind::Requester)
                .map(|m| m.id)
                .collect::<Vec<_>>(),
        )
    };
    let before = common::wait_for("two replies", Duration::from_secs(20), || async {
        vendor_ids().await.filter(|ids| ids.len() == 2)
    })
    .await;

    let status = std::process::Command::new(format!("{}/scripts/mail-stack.sh", common::MANIFEST))
        .args(["new-uidvalidity", "probe@example.test"])
        .status()
        .unwrap();
    assert!(status.success(), "a new UIDVALIDITY");
    vendor.send("kim@example.test", &to, reply(3, true)).await;
    let after = common::wait_for("the third reply", Duration::from_secs(30), || async {
        vendor_ids().await.filter(|ids| ids.len() >= 3)
    })
    .await;
    assert_eq!(after.len(), 3, "read again, nothing twice: {after:?}");
    assert_eq!(&after[..2], &before[..], "the same ids after the re-read");
    assert_eq!(after[2], format!("r3.{reference}@example.test"));
    // OpenSMTPD gave the reply without a Message-ID one of its own, on submission.
    assert!(before.iter().any(|id| id.ends_with("@mail.example.test")), "{before:?}");

    // Broken mail in the mailbox: reported once as a problem, never a failed read.
    let mut save = std::process::Command::new(format!("{}/scripts/mail-stack.sh", common::MANIFEST))
        .args(["save", "probe@example.test"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    let garbage = format!("X-Not-A-Mail: {reference}\r\n\r\n\u{0}\u{1}\u{2} binary garbage \u{ff}\r\n");
    save.stdin.take().unwrap().write_all(garbage.as_bytes()).unwrap();
    assert!(save.wait().unwrap().success(), "saved the broken mail");
    let _ = channel.drain_problems();
    let problems = common::wait_for("the broken mail to be reported", Duration::from_secs(20), || async {
        channel.poll(&ticket.id).await.expect("a broken mail does not fail the read");
        Some(channel.drain_problems()).filter(|p| !p.is_empty())
    })
    .await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].0, "unparseable", "{problems:?}");
    assert_eq!(vendor_ids().await.unwrap(), after, "nothing else changed");
    assert!(channel.drain_problems().is_empty(), "reported once");

    // A mail that carries only the vendor's ticket tag (no reference, no
    // thread headers, our plain address) joins the probe whose mail had the tag.
    let plain = format!(
        "From: Kim <kim@example.test>\r\nTo: probe@example.test\r\nSubject: {tag} An update on your case\r\n\r\nWe are still looking.\r\n"
    );
    vendor.send("kim@example.test", "probe@example.test", plain).await;
    let joined = common::wait_for("the tag-only mail", Duration::from_secs(20), || async {
        let snap = channel.poll(&ticket.id).await.ok()?;
        snap.messages.into_iter().find(|m| m.subject.as_deref().is_some_and(|s| s.contains("An update on your case")))
    })
    .await;
    assert_eq!(joined.matched_by, Some("thread:vendor-ticket"));
}

/// One test, its parts in turn: the later ones restart the shared IMAP
/// server, which must not happen under another part's feet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_probes_are_measured_to_the_second_even_across_an_imap_restart() {
    run(false).await;
    tls_and_authentication_on_both_protocols().await;
    run(true).await;
    uidvalidity_change().await;
    zendesk_notifications().await;
}

/// A Zendesk notification as Zendesk mails it: the marker, the notice, a rule,
/// then the newest comment under its `Author, date` header and the older ones.
fn zendesk_mail(to: &str, id: &str, thread: &str, subject: &str, notice: &str, comments: &[(&str, &str)]) -> String {
    let rule = "-".repeat(46);
    let mut body = format!("##- Please type your reply above this line -##\r\n\r\n{notice}\r\n\r\n");
    for (author, text) in comments {
        body.push_str(&format!("{rule}\r\n\r\n{author}, Nov 23, 2026, 10:31 GMT+8\r\n\r\n{text}\r\n\r\n"));
    }
    body.push_str("--------------------------------\r\nThis email is a service from Acme RTC Support.\r\n");
    format!(
        "From: \"Acme RTC Support\" <support@acme-rtc.zendesk.example>\r\nTo: {to}\r\nDate: {}\r\n\
         Subject: [Acme RTC] Re: {subject}\r\nMessage-ID: <{id}@zendesk.example>\r\n{thread}\
         Auto-Submitted: auto-generated\r\nX-Auto-Response-Suppress: All\r\nX-Mailer: Zendesk Mailer\r\n\
         X-Zendesk-From-Account-Id: a1b2c3\r\nPrecedence: bulk\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}",
        Utc::now().to_rfc2822()
    )
}

/// A vendor on Zendesk answering by its default email notifications: the
/// "received" notice (our own words relayed back) is the first response;
/// the "updated" notification carrying an agent's comment is the first human
/// response, to the second, though the mail is automatic by every header; a
/// notification that relays the same comment again is no new reply; the
/// agent's next comment answers our follow-up and resolves by its words.
async fn zendesk_notifications() {
    let Some((smtp, imap)) = common::mail_stack() else { return };
    let config = common::one_channel_config(
        "acme",
        "support",
        &common::email_kind(&format!("Acme RTC Support <{VENDOR}>"), &smtp, &imap),
    );
    let h = common::harness(&config, &common::test_probes()).await;
    let ctx = h.ctx();
    let scenario = h.config.scenario("t-follow").unwrap();
    let engine = tokio::spawn(async move {
        supportprobe::engine::once(&ctx, &scenario, "acme", "support", None, true, CancellationToken::new())
            .await
            .unwrap()
    });
    let store = h.store.clone();
    let reference = common::wait_for("the probe to be opened", Duration::from_secs(20), || {
        let store = store.clone();
        async move { store.all_probes().ok()?.into_iter().find(|p| p.opened_at.is_some()).map(|p| p.reference) }
    })
    .await;
    let vendor = Vendor::new(&smtp);
    let probe = common::wait_for("the probe in the vendor's mailbox", Duration::from_secs(30), || async {
        vendor.mailbox(&reference).await.into_iter().next()
    })
    .await;
    let id = probe.mail.message_id.clone().unwrap();
    let subject = probe.mail.subject.clone();
    let to = format!("probe+{reference}@example.test");
    let thread = format!("In-Reply-To: <{id}>\r\nReferences: <{id}>\r\n");
    let ours = ("POC Team", "Calls drop on handover.");
    let received = "Your request (35436) has been received and is being reviewed by our support staff.";
    let updated = "Your request (35436) has been updated. To add additional comments, reply to this email.";
    let ack_sent = vendor
        .send(
            "support@acme-rtc.zendesk.example",
            &to,
            zendesk_mail(&to, &format!("recv.{reference}"), &thread, &subject, received, &[ours]),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let first =
        ("Dana Whitfield", "Hi, we see the ICE restart timing out. Could you send the SDK logs from both devices?");
    let human_sent = vendor
        .send(
            "support@acme-rtc.zendesk.example",
            &to,
            zendesk_mail(&to, &format!("upd1.{reference}"), &thread, &subject, updated, &[first, ours]),
        )
        .await;

    // Our follow-up goes out after the first human response; Zendesk then relays Dana's comment
    // once more (a CC notification), and only later her answer.
    common::wait_for("our follow-up at the vendor", Duration::from_secs(30), || async {
        vendor.mailbox(&reference).await.into_iter().find(|r| r.mail.text.contains(&format!("[{reference}/f1]")))
    })
    .await;
    let cc = "You are registered as a CC on this request (35436). Reply to this email to add a comment to the request.";
    vendor
        .send(
            "support@acme-rtc.zendesk.example",
            &to,
            zendesk_mail(&to, &format!("cc.{reference}"), &thread, &subject, cc, &[first, ours]),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let answer = (
        "Dana Whitfield",
        "Thanks for the logs: the TURN allocation was not refreshed. Fixed on our side; I am marking this as solved.",
    );
    let answer_sent = vendor
        .send(
            "support@acme-rtc.zendesk.example",
            &to,
            zendesk_mail(&to, &format!("upd2.{reference}"), &thread, &subject, updated, &[answer, first, ours]),
        )
        .await;

    let pid = engine.await.unwrap();
    let p = h.store.probe(pid).unwrap().unwrap();
    within_a_second(p.first_response_at.unwrap(), ack_sent, "first response (Zendesk's received notice)");
    within_a_second(p.first_human_response_at.unwrap(), human_sent, "first human response (Dana's relayed comment)");
    assert_eq!(p.bot_turns, 1);
    assert_eq!(p.resolved_by.as_deref(), Some("pattern"));
    within_a_second(p.resolved_at.unwrap(), answer_sent, "resolution (Dana's comment, by its words)");
    let events = h.store.events(pid).unwrap();
    let replies: Vec<(ReplyClass, String, bool)> = events
        .iter()
        .filter(|e| e.kind == kind::REPLY)
        .map(|e| (e.class.unwrap(), e.rule.clone().unwrap_or_default(), e.detail["repeat_of"].is_string()))
        .collect();
    assert_eq!(
        replies,
        [
            (ReplyClass::AutoAck, "relay:zendesk:notice".to_string(), false),
            (ReplyClass::Human, "relay:zendesk:comment".to_string(), false),
            (ReplyClass::Human, "relay:zendesk:comment".to_string(), true),
            (ReplyClass::Human, "relay:zendesk:comment".to_string(), false),
        ],
        "the CC notification relays Dana's first comment again"
    );
    let nr = h
        .store
        .measures_of(pid)
        .unwrap()
        .into_iter()
        .find(|m| m.measure == supportprobe::model::Measure::NextReply)
        .unwrap();
    let follow_up = events.iter().find(|e| e.kind == kind::FOLLOW_UP || e.kind == kind::FOLLOW_UP_SENT).unwrap().at;
    let expected = (answer_sent - follow_up).num_milliseconds() as f64 / 1000.0;
    assert!(
        nr.wall_secs.is_some_and(|s| (s - expected).abs() <= 1.0),
        "next reply is the answer, not the repeat: {nr:?} vs {expected}"
    );
}

/// The test mail stack's CA (`SUPPORTPROBE_MAIL_CA`, set by scripts/test.sh).
fn mail_ca() -> String {
    std::env::var("SUPPORTPROBE_MAIL_CA").expect("SUPPORTPROBE_MAIL_CA (scripts/test.sh sets it with the mail stack)")
}

fn tls_kind(smtp: (&str, u16), imap: (&str, u16), smtp_password: &str, ca: Option<&str>) -> String {
    let ca = ca.map(|c| format!("ca_file = \"{c}\"\n")).unwrap_or_default();
    format!(
        "\n[email]\nto = \"{VENDOR}\"\nfrom = \"POC Team <probe@example.test>\"\n\
         [email.smtp]\nhost = \"localhost\"\nport = {}\ntls = \"{}\"\nusername = \"probe@example.test\"\npassword = \"{smtp_password}\"\n{ca}\
         [email.imap]\nhost = \"localhost\"\nport = {}\ntls = \"{}\"\nusername = \"probe@example.test\"\npassword = \"{PASS}\"\n{ca}",
        smtp.1, smtp.0, imap.1, imap.0
    )
}

async fn tls_channel(kind: &str) -> (common::Harness, supportprobe::channel::AnyChannel) {
    let h = common::harness(&common::one_channel_config("mailco", "support", kind), &common::test_probes()).await;
    let spec = h.config.vendor("mailco").unwrap().channels.values().next().unwrap().clone();
    let channel = supportprobe::channel::build(&spec, Vec::new()).unwrap();
    (h, channel)
}

/// SMTP with STARTTLS and with implicit TLS, both with AUTH, and IMAP over
/// implicit TLS and STARTTLS, verified against the mail stack's own CA given
/// as `ca_file`; without it, or with a wrong password, the errors say so.
async fn tls_and_authentication_on_both_protocols() {
    let Some((smtp, _)) = common::mail_stack() else { return };
    let ca = mail_ca();
    let vendor = Vendor::new(&smtp);
    for (smtp_tls, imap_tls) in [(("starttls", 2587), ("tls", 1993)), (("tls", 2465), ("starttls", 1143))] {
        let (_h, channel) = tls_channel(&tls_kind(smtp_tls, imap_tls, PASS, Some(&ca))).await;
        let reference = supportprobe::reference::generate("tls");
        let subject = format!("[{reference}] over TLS");
        let request = supportprobe::channel::OpenRequest {
            reference: &reference,
            subject: &subject,
            body: "Sent over TLS.",
            priority: supportprobe::model::Priority::P3,
        };
        let ticket = channel.open(&request).await.unwrap_or_else(|e| panic!("SMTP {smtp_tls:?}: {e}"));
        common::wait_for("the probe at the vendor", Duration::from_secs(20), || async {
            vendor.mailbox(&reference).await.into_iter().next()
        })
        .await;
        let to = format!("probe+{reference}@example.test");
        let raw = format!("From: Kim <kim@example.test>\r\nTo: {to}\r\nSubject: Re: {subject}\r\n\r\nAnswered.\r\n");
        vendor.send("kim@example.test", &to, raw).await;
        let snap = common::wait_for("the reply over IMAP", Duration::from_secs(20), || async {
            let snap = channel.poll(&ticket.id).await.unwrap_or_else(|e| panic!("IMAP {imap_tls:?}: {e}"));
            snap.messages.iter().any(|m| m.author_email.as_deref() == Some("kim@example.test")).then_some(snap)
        })
        .await;
        assert!(snap.messages.iter().any(|m| m.author_kind == AuthorKind::Requester), "our Bcc copy is read too");
    }

    // The system does not trust the test CA: without `ca_file` both fail, and say why.
    let (_h, channel) = tls_channel(&tls_kind(("tls", 2465), ("tls", 1993), PASS, None)).await;
    let reference = supportprobe::reference::generate("untrusted");
    let subject = format!("[{reference}] untrusted");
    let request = supportprobe::channel::OpenRequest {
        reference: &reference,
        subject: &subject,
        body: "x",
        priority: supportprobe::model::Priority::P3,
    };
    let e = channel.open(&request).await.unwrap_err().to_string();
    assert!(e.to_lowercase().contains("certificate"), "{e}");
    let e = channel.poll(&format!("{reference}.1@example.test")).await.unwrap_err().to_string();
    assert!(e.to_lowercase().contains("certificate"), "{e}");

    // A wrong SMTP password is refused, and the password appears nowhere in the error.
    let (_h, channel) = tls_channel(&tls_kind(("starttls", 2587), ("tls", 1993), "wrong-pass-4711", Some(&ca))).await;
    let e = channel.open(&request).await.unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(matches!(e, ChannelError::Refused { .. }), "{text}");
    assert!(text.contains("535") && !text.contains("wrong-pass-4711"), "{text}");
}
