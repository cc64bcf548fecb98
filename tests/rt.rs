//! Request Tracker 5, a real helpdesk (started by scripts/test.sh, with the
//! mail stack routing rt@example.test through rt-mailgate):
//!
//! - the `rt` channel over REST2: the probe is opened as the requester; RT's
//!   own auto-reply, an agent's out-of-office mailed into the ticket and the
//!   agent's correspondence through REST2 are told apart; resolving the
//!   ticket in RT is the resolution;
//! - the email channel aimed at RT's address: the ticket is made by
//!   rt-mailgate, RT's acknowledgement and the agent's relayed
//!   correspondence come back by mail, and our follow-up lands in the same
//!   ticket (RT threads by its subject tag).
//!
//! Every measured instant equals the harness's truth within a second.

mod common;

use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use lettre::AsyncTransport;
use serde_json::{Value, json};
use supportprobe::engine::probe::kind;
use supportprobe::model::{ReplyClass, State};
use supportprobe::store::{Probe, Store};
use tokio_util::sync::CancellationToken;

const ROOT: (&str, &str) = ("root", "rtrootpw");
const PASS: &str = "rt-test-pass-1";

/// The vendor side of RT: root for set-up and reading the truth, agents for answering.
struct Rt {
    http: reqwest::Client,
    api: String,
}

#[derive(Debug, Clone)]
struct Txn {
    kind: String,
    creator: String,
    created: DateTime<Utc>,
    content: String,
}

impl Rt {
    fn new(base: &str) -> Rt {
        supportprobe::channel::client::install_crypto_provider();
        Rt { http: reqwest::Client::new(), api: format!("{base}/REST/2.0") }
    }

    async fn call(&self, who: (&str, &str), method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut rb = self.http.request(method.clone(), format!("{}/{path}", self.api)).basic_auth(who.0, Some(who.1));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(status.is_success(), "{method} {path} as {}: HTTP {status}: {text}", who.0);
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn user(&self, name: &str, privileged: bool) -> String {
        let email = format!("{name}@example.test");
        let body =
            json!({ "Name": name, "EmailAddress": email, "Password": PASS, "Privileged": i32::from(privileged) });
        self.call(ROOT, reqwest::Method::POST, "user", Some(body)).await;
        email
    }

    async fn ticket(&self, id: &str) -> Value {
        self.call(ROOT, reqwest::Method::GET, &format!("ticket/{id}"), None).await
    }

    /// Tickets whose subject carries `reference`.
    async fn tickets_with(&self, reference: &str) -> Vec<String> {
        let q = format!("Subject LIKE '{reference}'");
        let url = format!("tickets?query={}&fields=Subject", urlencode(&q));
        let v = self.call(ROOT, reqwest::Method::GET, &url, None).await;
        v["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect()
    }

    /// The ticket's whole history, as staff see it, with each transaction's text.
    async fn history(&self, id: &str) -> Vec<Txn> {
        let v = self
            .call(
                ROOT,
                reqwest::Method::GET,
                &format!("ticket/{id}/history?per_page=100&fields=Type,Creator,Created"),
                None,
            )
            .await;
        let mut out = Vec::new();
        for t in v["items"].as_array().unwrap() {
            let tid = t["id"].as_str().unwrap();
            let parts = self
                .call(ROOT, reqwest::Method::GET, &format!("transaction/{tid}/attachments?fields=Content"), None)
                .await;
            let content = parts["items"]
                .as_array()
                .map(|a| a.iter().filter_map(|p| p["Content"].as_str()).collect::<Vec<_>>().join("\n"))
                .unwrap_or_default();
            out.push(Txn {
                kind: t["Type"].as_str().unwrap().to_string(),
                creator: t["Creator"]["id"].as_str().unwrap().to_string(),
                created: common::parse(t["Created"].as_str().unwrap()),
                content,
            });
        }
        out
    }

    async fn correspond(&self, agent: &str, id: &str, text: &str) -> Call {
        let before = Utc::now();
        let body = json!({ "Content": text, "ContentType": "text/plain" });
        self.call((agent, PASS), reqwest::Method::POST, &format!("ticket/{id}/correspond"), Some(body)).await;
        Call { before, after: Utc::now() }
    }

    async fn resolve(&self, agent: &str, id: &str) -> Call {
        let before = Utc::now();
        let v = self
            .call((agent, PASS), reqwest::Method::PUT, &format!("ticket/{id}"), Some(json!({ "Status": "resolved" })))
            .await;
        assert!(v.to_string().contains("resolved"), "{v}");
        Call { before, after: Utc::now() }
    }

    /// Waits until the ticket's history has a transaction `pick` accepts.
    async fn wait_txn(&self, id: &str, what: &str, pick: impl Fn(&Txn) -> bool) -> Txn {
        common::wait_for(what, Duration::from_secs(30), || async {
            self.history(id).await.into_iter().find(|t| pick(t))
        })
        .await
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}{:x}", nanos % (1 << 40))
}

/// When the harness asked RT to write something: the moment RT wrote it lies between the two.
#[derive(Clone, Copy, Debug)]
struct Call {
    before: DateTime<Utc>,
    after: DateTime<Utc>,
}

/// The measured instant falls inside the harness's call to RT. RT stamps times (and its mail's `Date`) to
/// the whole second, so the lower bound is the call's start truncated to the second; RT writes the mail
/// inside the request, so the upper bound is the response. A loaded machine stretches the call, never the
/// bracket's honesty: a figure outside it is wrong.
fn during(a: DateTime<Utc>, call: Call, what: &str) {
    let floor = call.before.with_nanosecond(0).unwrap();
    assert!(floor <= a && a <= call.after, "{what}: measured {a}, outside the call to RT {floor} .. {}", call.after);
}

fn within_a_second(a: DateTime<Utc>, b: DateTime<Utc>, what: &str) {
    let d = (a - b).num_milliseconds().abs();
    assert!(d <= 1000, "{what}: measured {a} vs truth {b} ({d} ms apart)");
}

/// Sends a raw mail through the test MTA.
async fn mail(smtp: &str, from: &str, to: &str, raw: String) -> DateTime<Utc> {
    let (host, port) = smtp.split_once(':').unwrap();
    let t = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(host)
        .port(port.parse().unwrap())
        .build();
    let envelope = lettre::address::Envelope::new(Some(from.parse().unwrap()), vec![to.parse().unwrap()]).unwrap();
    t.send_raw(&envelope, raw.as_bytes()).await.unwrap();
    Utc::now()
}

/// An agent's out-of-office, mailed into the ticket the way a mail client's
/// auto-reply to an RT notification would be.
async fn mail_ooo_into_rt(smtp: &str, ticket: &str, reference: &str) -> DateTime<Utc> {
    let raw = format!(
        "From: =?UTF-8?B?5p2O5piO?= <li.ming@example.test>\r\nTo: rt@example.test\r\nDate: {}\r\n\
         Subject: =?UTF-8?B?6Ieq5Yqo5Zue5aSNOg==?= [rt.example.test #{ticket}] {reference}\r\n\
         Message-ID: <ooo.{reference}@example.test>\r\nAuto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         您好，我目前休假中，下周一返回办公室。紧急问题请联系值班同事。\r\n",
        Utc::now().to_rfc2822()
    );
    mail(smtp, "li.ming@example.test", "rt@example.test", raw).await
}

fn stacks() -> Option<(String, String, String)> {
    let rt = common::rt_stack()?;
    let (smtp, imap) = common::mail_stack()?;
    Some((rt, smtp, imap))
}

async fn opened(store: &Store) -> Probe {
    common::wait_for("the probe to be opened", Duration::from_secs(30), || async {
        store.all_probes().ok()?.into_iter().find(|p| p.opened_at.is_some() && p.ticket_id.is_some())
    })
    .await
}

fn reply_classes(store: &Store, id: i64) -> Vec<(ReplyClass, String)> {
    let events = store.events(id).unwrap();
    events
        .iter()
        .filter(|e| e.kind == kind::REPLY)
        .map(|e| (e.class.unwrap(), e.rule.clone().unwrap_or_default()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rt_channel_over_rest2_tells_rt_autoreply_and_mailed_out_of_office_from_the_agent() {
    let Some((base, smtp, _)) = stacks() else { return };
    let rt = Rt::new(&base);
    let requester = unique("sp-req-");
    let agent = unique("sp-agent-");
    let requester_email = rt.user(&requester, false).await;
    rt.user(&agent, true).await;
    let kind = format!(
        "\n[rt]\nbase_url = \"{base}/\"\nqueue = \"General\"\nrequestor = \"{requester_email}\"\n\
         username = \"{requester}\"\npassword = \"{PASS}\""
    );
    let template = common::one_channel_config("rtco", "desk", &kind);
    let h = common::harness(&template, &common::test_probes()).await;
    let ctx = h.ctx();
    let scenario = h.config.scenario("t-follow").unwrap();
    let engine = tokio::spawn(async move {
        supportprobe::engine::once(&ctx, &scenario, "rtco", "desk", None, true, CancellationToken::new()).await.unwrap()
    });
    let probe = opened(&h.store).await;
    let (reference, ticket) = (probe.reference.clone(), probe.ticket_id.clone().unwrap());
    let created = common::parse(rt.ticket(&ticket).await["Created"].as_str().unwrap());

    // RT's own auto-reply to the requester, recorded as an EmailRecord.
    let ack = rt.wait_txn(&ticket, "RT's auto-reply", |t| t.kind == "EmailRecord" && t.creator == "RT_System").await;
    // An agent's out-of-office reaches the ticket by mail.
    let ooo_sent = mail_ooo_into_rt(&smtp, &ticket, &reference).await;
    let ooo = rt
        .wait_txn(&ticket, "the mailed out-of-office", |t| t.kind == "Correspond" && t.creator.starts_with("li.ming"))
        .await;
    // Mail goes MTA → rt-mailgate → RT: RT records it after we sent it and before we saw it.
    during(ooo.created, Call { before: ooo_sent, after: Utc::now() }, "RT recorded the out-of-office");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let human_sent = rt
        .correspond(
            &agent,
            &ticket,
            "Hi, this is Wang from RtCo support. Could you send the SDK logs from both devices?",
        )
        .await;
    let human =
        rt.wait_txn(&ticket, "the agent's correspondence", |t| t.kind == "Correspond" && t.creator == agent).await;

    // Our follow-up arrives as the requester's correspondence; the agent then resolves the ticket.
    let marker = format!("[{reference}/f1]");
    let follow = rt.wait_txn(&ticket, "our follow-up", |t| t.kind == "Correspond" && t.content.contains(&marker)).await;
    assert_eq!(follow.creator, requester);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let resolved_sent = rt.resolve(&agent, &ticket).await;

    let id = engine.await.unwrap();
    let p = h.store.probe(id).unwrap().unwrap();
    assert_eq!(p.state, State::Closed, "{p:#?}");
    assert_eq!(p.opened_at.unwrap(), created, "opened at RT's Created");
    assert_eq!(p.first_response_at.unwrap(), ack.created, "first response = RT's auto-reply");
    assert_eq!(p.first_human_response_at.unwrap(), human.created, "first human response = the agent's correspondence");
    during(p.first_human_response_at.unwrap(), human_sent, "first human response vs the harness's clock");
    let resolved = common::parse(rt.ticket(&ticket).await["Resolved"].as_str().unwrap());
    assert_eq!(p.resolved_at.unwrap(), resolved, "resolution = RT's Resolved");
    during(p.resolved_at.unwrap(), resolved_sent, "resolution vs the harness's clock");
    assert_eq!(p.resolved_by.as_deref(), Some("status"));
    assert_eq!(p.bot_turns, 1, "RT's auto-reply came before the person; the out-of-office is not a turn");

    let classes = reply_classes(&h.store, id);
    assert_eq!(classes.len(), 3, "{classes:?}");
    assert_eq!(classes[0], (ReplyClass::AutoAck, "relay:rt:template".into()), "{classes:?}");
    assert_eq!(classes[1].0, ReplyClass::OutOfOffice, "{classes:?}");
    assert_eq!(classes[2], (ReplyClass::Human, "human:default".into()), "{classes:?}");
    // The vendor resolved: no courtesy comment that would reopen the ticket.
    let history = rt.history(&ticket).await;
    assert!(!history.iter().any(|t| t.content.contains(&format!("[{reference}/close]"))), "{history:#?}");
    assert_eq!(rt.tickets_with(&reference).await, vec![ticket.clone()], "one ticket per probe");
    assert!(h.store.error_counts().unwrap().is_empty(), "{:?}", h.store.error_counts().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_channel_to_rt_gets_rts_acknowledgement_and_the_relayed_agent_reply_by_mail() {
    let Some((base, smtp, imap)) = stacks() else { return };
    let rt = Rt::new(&base);
    let agent = unique("sp-agent-");
    rt.user(&agent, true).await;
    let template = common::one_channel_config(
        "rtmail",
        "mail",
        &common::email_kind("RtMail Support <rt@example.test>", &smtp, &imap),
    );
    let h = common::harness(&template, &common::test_probes()).await;
    let ctx = h.ctx();
    let scenario = h.config.scenario("t-follow").unwrap();
    let engine = tokio::spawn(async move {
        supportprobe::engine::once(&ctx, &scenario, "rtmail", "mail", None, true, CancellationToken::new())
            .await
            .unwrap()
    });
    let probe = opened(&h.store).await;
    let reference = probe.reference.clone();
    // rt-mailgate made the ticket; RT mailed its acknowledgement back.
    let ticket = common::wait_for("RT's ticket for the probe", Duration::from_secs(30), || async {
        rt.tickets_with(&reference).await.into_iter().next()
    })
    .await;
    let ack = rt.wait_txn(&ticket, "RT's auto-reply", |t| t.kind == "EmailRecord" && t.creator == "RT_System").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let human_sent =
        rt.correspond(&agent, &ticket, "Hi, this is Wang from RtMail support. Which SDK version are you on?").await;

    // Our follow-up, a reply to RT's mail, lands in the same ticket.
    let marker = format!("[{reference}/f1]");
    rt.wait_txn(&ticket, "our follow-up in the ticket", |t| t.kind == "Correspond" && t.content.contains(&marker))
        .await;
    let solved_sent =
        rt.correspond(&agent, &ticket, "Thanks, the logs show it. I am marking this as solved: fixed in 4.2.1.").await;
    let close = format!("[{reference}/close]");
    rt.wait_txn(&ticket, "the courtesy close in the ticket", |t| t.kind == "Correspond" && t.content.contains(&close))
        .await;

    let id = engine.await.unwrap();
    let p = h.store.probe(id).unwrap().unwrap();
    assert_eq!(p.state, State::Closed, "{p:#?}");
    within_a_second(p.first_response_at.unwrap(), ack.created, "first response = RT's acknowledgement, by mail");
    during(p.first_human_response_at.unwrap(), human_sent, "first human response = the agent's reply, relayed by RT");
    during(p.resolved_at.unwrap(), solved_sent, "resolution = the agent's reply matching the pattern");
    assert_eq!(p.resolved_by.as_deref(), Some("pattern"));
    let classes = reply_classes(&h.store, id);
    assert_eq!(
        classes,
        vec![
            (ReplyClass::AutoAck, "relay:rt:template".to_string()),
            (ReplyClass::Human, "relay:rt:comment".to_string()),
            (ReplyClass::Human, "relay:rt:comment".to_string()),
        ]
    );
    assert_eq!(rt.tickets_with(&reference).await, vec![ticket], "follow-up and close threaded into one ticket");
}
