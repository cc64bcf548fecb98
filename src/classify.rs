//! The reply classifier: one module, used by every channel, that decides
//! whether a reply is from a person, and records which rule decided.
//!
//! Adapters report facts ([`ReplyFacts`]): who wrote it as the platform
//! describes the author, headers (email), subject and body. The ordered rules
//! below decide; the first match wins:
//!
//! 1. `ours` — the author is our own requester identity.
//! 2. `bounce` — delivery-status reports and mailer-daemon senders.
//! 3. `out_of_office` — vacation headers and subjects.
//! 4. per-vendor `humans` — configured agent identities count as people even
//!    when their helpdesk marks every mail automatic.
//! 5. `auto_ack` — automation headers, no-reply senders, platform automation
//!    (Zendesk triggers), acknowledgement wording in English and Chinese.
//! 6. `bot` — the platform says so, a configured bot identity, or a bot name
//!    or self-introduction.
//! 7. `human` — everything else from the vendor side.

use std::sync::LazyLock;

use serde::Deserialize;

use crate::model::ReplyClass;
use crate::template::Pattern;

/// How the platform itself describes a reply's author.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthorKind {
    /// Our own requester account.
    Requester,
    /// A person on the vendor side, as far as the platform knows.
    Agent,
    /// The platform says a bot or AI agent wrote it.
    Bot,
    /// Platform automation (a trigger, workflow or system message).
    Automation,
    /// The platform does not say.
    Unknown,
}

/// What an adapter knows about one reply.
#[derive(Clone, Debug)]
pub struct ReplyFacts<'a> {
    pub author_id: &'a str,
    pub author_name: &'a str,
    pub author_email: Option<&'a str>,
    pub author_kind: AuthorKind,
    /// The platform field that set `author_kind`, e.g. `via.channel=rule`.
    pub kind_evidence: Option<&'a str>,
    /// Email headers, name and value; empty for API channels.
    pub headers: &'a [(String, String)],
    pub subject: Option<&'a str>,
    /// The reply text with quoted history removed.
    pub body: &'a str,
}

/// Per-vendor overrides from the config (`[vendors.x.classify]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyOverrides {
    /// Author names, ids or emails that are bots (case-insensitive).
    #[serde(default)]
    pub bots: Vec<String>,
    /// Patterns on the author name that mark a bot.
    #[serde(default)]
    pub bot_patterns: Vec<Pattern>,
    /// Author names, ids or emails that are always people.
    #[serde(default)]
    pub humans: Vec<String>,
    /// Extra acknowledgement wording on the body.
    #[serde(default)]
    pub auto_ack_patterns: Vec<Pattern>,
}

/// The decision and the rule that made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classification {
    pub class: ReplyClass,
    pub rule: String,
}

fn decided(class: ReplyClass, rule: impl Into<String>) -> Classification {
    Classification { class, rule: rule.into() }
}

/// Compiles built-in patterns. They are literals in this file, covered by the
/// tests below, so a failure here is a programming error, not bad input.
fn patterns(list: &[&str]) -> Vec<Pattern> {
    list.iter().map(|p| Pattern::new(p).expect("built-in pattern compiles")).collect()
}

static ACK_BODY: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    patterns(&[
        r"(?i)\b(ticket|request|case)\s*(#|no\.?|number)?\s*\[?\w*\d+\]?\s*(has been|was|is)\s*(created|received|opened|logged|submitted)",
        r"(?i)\bwe(\s+have|'ve)?\s+received\s+your\s+(request|ticket|e-?mail|message|enquiry|inquiry)",
        r"(?i)\bwe\s+will\s+(respond|reply|get\s+back\s+to\s+you|be\s+in\s+touch)\s+(within|in|as\s+soon)",
        r"(?i)\bthis\s+is\s+an\s+automated\s+(message|response|reply|notification)",
        r"(?i)\b(please\s+)?do\s+not\s+reply\s+(to\s+this|directly)",
        r"(?i)\byour\s+request\s+\(\d+\)\s+has\s+been\s+received",
        r"工单\s*([#＃]?\s*\d+\s*)?(已|已经)(生成|创建|受理|提交)",
        r"已收到您的(请求|工单|邮件|问题|反馈)",
        r"我们(会|将)在\s*\d+\s*(个)?(小时|工作日|个工作日)内",
        r"请勿(直接)?回复",
        r"(此|本)(邮件|消息)(为|是)系统自动(发送|生成)",
        r"工單\s*([#＃]?\s*\d+\s*)?已(建立|生成|受理)",
        r"已收到您的(請求|工單|郵件|問題)",
        r"我們(會|將)在\s*\d+\s*(個)?(小時|工作天|個工作日)內",
        r"請勿(直接)?回覆",
    ])
});

static BOT_NAME: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    patterns(&[
        r"(?i)\b(answer\s*bot|chat\s*bot|bot|ai\s+(agent|assistant)|virtual\s+(agent|assistant))\b",
        r"机器人|智能客服|智能助手|AI\s*助手|小助手|機器人|智能助理",
    ])
});

static BOT_BODY: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    patterns(&[
        r"(?i)\bI(\s+am|'m)\s+(an?\s+)?(AI|virtual|automated)\s+(assistant|agent)",
        r"(?i)\bas\s+an\s+AI\b",
        r"我是(智能|AI\s*)?(客服)?(助手|机器人|助理)",
        r"我是(智能|AI\s*)?(客服)?(助手|機器人|助理)",
    ])
});

static OOO_SUBJECT: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    patterns(&[
        r"(?i)^\s*(auto:|automatic\s+reply|out\s+of\s+(the\s+)?office)",
        r"^\s*(自动回复|自動回覆|自动答复|自動答覆)",
    ])
});

static NOREPLY: LazyLock<Vec<Pattern>> =
    LazyLock::new(|| patterns(&[r"(?i)^(no[-_.]?reply|do[-_.]?not[-_.]?reply|notifications?|mailer|automated)[@+]"]));

fn header<'a>(facts: &'a ReplyFacts<'_>, name: &str) -> Option<&'a str> {
    facts.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn identity_matches(list: &[String], facts: &ReplyFacts<'_>) -> bool {
    list.iter().any(|item| {
        item.eq_ignore_ascii_case(facts.author_name)
            || item == facts.author_id
            || facts.author_email.is_some_and(|e| item.eq_ignore_ascii_case(e))
    })
}

/// Decides the class of one reply.
pub fn classify(facts: &ReplyFacts<'_>, overrides: &ClassifyOverrides) -> Classification {
    // 1. Our own messages.
    if facts.author_kind == AuthorKind::Requester {
        return decided(ReplyClass::Ours, "requester");
    }

    // 2. Bounces, before anything that reads Auto-Submitted.
    let content_type = header(facts, "Content-Type").unwrap_or("").to_ascii_lowercase();
    if content_type.contains("multipart/report") && content_type.contains("delivery-status") {
        return decided(ReplyClass::Bounce, "bounce:report-type");
    }
    if let Some(email) = facts.author_email {
        let local = email.split('@').next().unwrap_or("").to_ascii_lowercase();
        if local == "mailer-daemon" || local == "postmaster" {
            return decided(ReplyClass::Bounce, "bounce:sender");
        }
    }

    // 3. Out of office.
    let auto_submitted = header(facts, "Auto-Submitted").map(str::to_ascii_lowercase);
    if let Some(a) = &auto_submitted
        && (a.contains("vacation") || a.contains("auto-replied; owner-email="))
    {
        return decided(ReplyClass::OutOfOffice, "ooo:auto-submitted");
    }
    if header(facts, "X-Apple-Action").is_some_and(|v| v.eq_ignore_ascii_case("vacation")) {
        return decided(ReplyClass::OutOfOffice, "ooo:x-apple-action");
    }
    if header(facts, "Precedence").is_some_and(|v| v.eq_ignore_ascii_case("auto_reply")) {
        return decided(ReplyClass::OutOfOffice, "ooo:precedence");
    }
    if header(facts, "X-Auto-Response-Suppress").is_some_and(|v| v.eq_ignore_ascii_case("all"))
        && header(facts, "X-MS-Exchange-Inbox-Rules-Loop").is_some()
    {
        return decided(ReplyClass::OutOfOffice, "ooo:exchange");
    }
    if let Some(subject) = facts.subject
        && OOO_SUBJECT.iter().any(|p| p.is_match(subject))
    {
        return decided(ReplyClass::OutOfOffice, "ooo:subject");
    }

    // 4. Known people, whatever their helpdesk's headers say.
    if identity_matches(&overrides.humans, facts) {
        return decided(ReplyClass::Human, "vendor:humans");
    }

    // 5. Acknowledgements and automation.
    if facts.author_kind == AuthorKind::Automation {
        let evidence = facts.kind_evidence.unwrap_or("automation");
        return decided(ReplyClass::AutoAck, format!("platform:{evidence}"));
    }
    if let Some(a) = &auto_submitted
        && a.trim() != "no"
    {
        return decided(ReplyClass::AutoAck, "ack:auto-submitted");
    }
    for h in ["X-Autoreply", "X-Autorespond", "X-Auto-Generated"] {
        if header(facts, h).is_some() {
            return decided(ReplyClass::AutoAck, format!("ack:{}", h.to_ascii_lowercase()));
        }
    }
    if header(facts, "Precedence").is_some_and(|v| matches!(v.to_ascii_lowercase().trim(), "bulk" | "junk" | "list")) {
        return decided(ReplyClass::AutoAck, "ack:precedence");
    }
    if facts.author_email.is_some_and(|e| NOREPLY.iter().any(|p| p.is_match(e))) {
        return decided(ReplyClass::AutoAck, "ack:noreply-sender");
    }
    if let Some(i) = overrides.auto_ack_patterns.iter().position(|p| p.is_match(facts.body)) {
        return decided(ReplyClass::AutoAck, format!("vendor:auto_ack_patterns[{i}]"));
    }
    if ACK_BODY.iter().any(|p| p.is_match(facts.body)) {
        return decided(ReplyClass::AutoAck, "ack:body-wording");
    }

    // 6. Bots.
    if facts.author_kind == AuthorKind::Bot {
        let evidence = facts.kind_evidence.unwrap_or("bot");
        return decided(ReplyClass::Bot, format!("platform:{evidence}"));
    }
    if identity_matches(&overrides.bots, facts) {
        return decided(ReplyClass::Bot, "vendor:bots");
    }
    if let Some(i) = overrides.bot_patterns.iter().position(|p| p.is_match(facts.author_name)) {
        return decided(ReplyClass::Bot, format!("vendor:bot_patterns[{i}]"));
    }
    if BOT_NAME.iter().any(|p| p.is_match(facts.author_name)) {
        return decided(ReplyClass::Bot, "bot:author-name");
    }
    if BOT_BODY.iter().any(|p| p.is_match(facts.body)) {
        return decided(ReplyClass::Bot, "bot:self-introduction");
    }

    // 7. A person.
    decided(ReplyClass::Human, "human:default")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(name: &'a str, kind: AuthorKind, body: &'a str) -> ReplyFacts<'a> {
        ReplyFacts {
            author_id: "42",
            author_name: name,
            author_email: None,
            author_kind: kind,
            kind_evidence: None,
            headers: &[],
            subject: None,
            body,
        }
    }

    #[test]
    fn table() {
        let none = ClassifyOverrides::default();
        let cases: Vec<(ReplyFacts<'_>, ReplyClass, &str)> = vec![
            (facts("Me", AuthorKind::Requester, "logs attached"), ReplyClass::Ours, "requester"),
            (
                ReplyFacts {
                    kind_evidence: Some("via.channel=rule"),
                    ..facts("Support", AuthorKind::Automation, "hi")
                },
                ReplyClass::AutoAck,
                "platform:via.channel=rule",
            ),
            (
                facts("Support", AuthorKind::Agent, "Your request (123) has been received and is being reviewed."),
                ReplyClass::AutoAck,
                "ack:body-wording",
            ),
            (
                facts("Support", AuthorKind::Agent, "We have received your request and will respond within 24 hours."),
                ReplyClass::AutoAck,
                "ack:body-wording",
            ),
            (
                facts("客服", AuthorKind::Agent, "您好，您的工单已生成，我们会在24小时内处理。"),
                ReplyClass::AutoAck,
                "ack:body-wording",
            ),
            (
                facts("客服", AuthorKind::Agent, "此邮件为系统自动发送，请勿直接回复。"),
                ReplyClass::AutoAck,
                "ack:body-wording",
            ),
            (
                facts("客服", AuthorKind::Agent, "您好，您的工单 #4521 已生成。"),
                ReplyClass::AutoAck,
                "ack:body-wording",
            ),
            (
                facts("客服", AuthorKind::Agent, "您好，工單已建立，請勿直接回覆此郵件。"),
                ReplyClass::AutoAck,
                "ack:body-wording",
            ),
            (facts("Answer Bot", AuthorKind::Agent, "These articles may help"), ReplyClass::Bot, "bot:author-name"),
            (facts("智能客服小助手", AuthorKind::Agent, "请问有什么可以帮您"), ReplyClass::Bot, "bot:author-name"),
            (
                facts("Helper", AuthorKind::Agent, "Hi! I'm an AI assistant. Have you tried restarting?"),
                ReplyClass::Bot,
                "bot:self-introduction",
            ),
            (facts("Kim", AuthorKind::Bot, "hello"), ReplyClass::Bot, "platform:bot"),
            (
                facts("Alex Chen", AuthorKind::Agent, "Could you send the SDK logs from both devices?"),
                ReplyClass::Human,
                "human:default",
            ),
            (
                facts("王工", AuthorKind::Agent, "您好，麻烦提供一下两台设备的 SDK 日志。"),
                ReplyClass::Human,
                "human:default",
            ),
            // A human mentioning the ticket number is not an acknowledgement.
            (
                facts("Alex Chen", AuthorKind::Agent, "About ticket 123: the fix ships in 4.2.1."),
                ReplyClass::Human,
                "human:default",
            ),
            // "Robert" contains "bot" only inside a word.
            (facts("Abbott Roberts", AuthorKind::Agent, "Looking into it now."), ReplyClass::Human, "human:default"),
        ];
        for (f, class, rule) in cases {
            let got = classify(&f, &none);
            assert_eq!((got.class, got.rule.as_str()), (class, rule), "{} / {}", f.author_name, f.body);
        }
    }

    #[test]
    fn headers_decide_before_wording() {
        let none = ClassifyOverrides::default();
        let h = vec![("Auto-Submitted".to_string(), "auto-replied (vacation)".to_string())];
        let f = ReplyFacts { headers: &h, ..facts("Kim", AuthorKind::Unknown, "I am away") };
        assert_eq!(classify(&f, &none).rule, "ooo:auto-submitted");
        let h = vec![("Content-Type".to_string(), "multipart/report; report-type=delivery-status".to_string())];
        let f = ReplyFacts { headers: &h, ..facts("Mail", AuthorKind::Unknown, "") };
        assert_eq!(classify(&f, &none).class, ReplyClass::Bounce);
        let f =
            ReplyFacts { author_email: Some("no-reply@vendor.example"), ..facts("Vendor", AuthorKind::Unknown, "x") };
        assert_eq!(classify(&f, &none).rule, "ack:noreply-sender");
        let f = ReplyFacts { subject: Some("自动回复: 工单"), ..facts("Li", AuthorKind::Unknown, "x") };
        assert_eq!(classify(&f, &none).class, ReplyClass::OutOfOffice);
    }

    #[test]
    fn vendor_overrides() {
        let o = ClassifyOverrides {
            bots: vec!["Nova".into()],
            bot_patterns: vec![Pattern::new("^Auto").unwrap()],
            humans: vec!["ops@vendor.example".into()],
            auto_ack_patterns: vec![Pattern::new("Thanks for contacting Acme").unwrap()],
        };
        assert_eq!(classify(&facts("nova", AuthorKind::Agent, "hi"), &o).rule, "vendor:bots");
        assert_eq!(classify(&facts("AutoTriage", AuthorKind::Agent, "hi"), &o).rule, "vendor:bot_patterns[0]");
        assert_eq!(
            classify(&facts("S", AuthorKind::Agent, "Thanks for contacting Acme!"), &o).rule,
            "vendor:auto_ack_patterns[0]"
        );
        let h = vec![("Auto-Submitted".to_string(), "auto-generated".to_string())];
        let f = ReplyFacts {
            headers: &h,
            author_email: Some("ops@vendor.example"),
            ..facts("Ops", AuthorKind::Unknown, "x")
        };
        assert_eq!(classify(&f, &o).class, ReplyClass::Human);
    }

    #[test]
    fn builtin_patterns_compile() {
        assert_eq!(ACK_BODY.len(), 15);
        assert_eq!(BOT_NAME.len(), 2);
        assert_eq!(BOT_BODY.len(), 4);
        assert_eq!(OOO_SUBJECT.len(), 2);
        assert!(NOREPLY[0].is_match("noreply@x"));
    }
}
