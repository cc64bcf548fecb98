//! The reply classifier: one module, used by every channel, that decides
//! whether a reply is from a person, and records which rule decided.
//!
//! Adapters report facts ([`ReplyFacts`]): who wrote it as the platform
//! describes the author, headers (email), subject and body (quoted history
//! already removed). The ordered rules below decide; the first match wins:
//!
//! 1. `ours` — the author is our own requester identity.
//! 2. `bounce` — delivery-status reports, mailer-daemon senders, bounce
//!    subjects (before anything that reads `Auto-Submitted`: bounces carry it).
//! 3. `out_of_office` — vacation headers, out-of-office subjects, and
//!    out-of-office wording under automatic-reply headers (English, Chinese).
//! 4. per-vendor `humans` — configured agent identities count as people.
//! 5. helpdesk relays — Zendesk, Freshdesk, Jira, ServiceNow and Request
//!    Tracker stamp *every* notification automatic (`Auto-Submitted`,
//!    `Precedence: bulk`), agents' replies included; when the headers show one
//!    of them, the content decides: an acknowledgement or status template is
//!    `auto_ack`, a bot is `bot`, anything else is the agent's relayed reply.
//! 6. platform automation — the channel's API says a trigger or workflow wrote it.
//! 7. `bot` — the platform says so, a configured bot identity or pattern, a bot
//!    name, or an AI self-introduction.
//! 8. `auto_ack` — automation headers, no-reply senders, acknowledgement
//!    subjects and wording in English and Chinese (simplified and traditional).
//! 9. `human` — everything else from the vendor side.
//!
//! Any rule can be switched off per vendor (`classify.ignore_rules`), e.g. a
//! helpdesk that marks its agents' mail `Auto-Submitted` and is not one of the
//! recognised platforms.

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
    /// Rules to skip for this vendor, by name (`ack:auto-submitted`) or
    /// prefix (`ack:*`).
    #[serde(default)]
    pub ignore_rules: Vec<String>,
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
        // "I'm an AI assistant", "I'm the OctoRTC AI assistant", "I am your virtual agent".
        r"(?i)\bI(\s+am|'m)\s+(an?\s+|the\s+|your\s+)?([\w.-]+\s+){0,2}(AI|virtual|automated)\s+(assistant|agent)",
        r"(?i)\bas\s+an\s+AI\b",
        // 我是智能助手 / 我是云信智能助手 / 我是 AI 客服机器人 (and traditional forms).
        r"我是\S{0,8}?(智能|AI\s*|虚拟|虛擬)(客服)?(助手|机器人|機器人|助理)",
        r"我是(客服)?(助手|机器人|機器人)",
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

static BOUNCE_SUBJECT: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    patterns(&[
        r"(?i)^\s*(undeliverable|undelivered mail returned to sender|delivery status notification \(failure\)|mail delivery (failed|failure|subsystem)|returned mail|failure notice|delivery failure)",
        r"^\s*(退信|系统退信|邮件投递失败|無法傳遞)",
    ])
});

static OOO_WORDING: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    patterns(&[
        r"(?i)\b(out of (the )?office|on (annual |sick |parental |maternity )?leave|on (vacation|holiday)|away from (the |my )?(office|desk)|limited access to (e-?mail|my email)|will be back (on|in)|returning on)\b",
        r"(不在办公室|休假|请假|出差|外出|年假|不在辦公室|請假|休假中)",
    ])
});

static ACK_SUBJECT: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    patterns(&[
        r"(?i)^\s*(\[[^\]]*\]\s*)*(re:\s*)?(auto-?reply|request received|ticket received|ticket created|we('ve| have) received|thank you for contacting|your (request|ticket|case) has been (received|created|logged))",
        r"(?i)\b(incident|case|ticket|request)\s+[a-z]*\d+\s+has been (opened|created|logged)",
        r"(工单已(受理|创建|生成|提交)|已收到您的|工單已(受理|建立|生成))",
    ])
});

/// Templates helpdesks send as notifications: acknowledgements and status changes.
static HELPDESK_TEMPLATE: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    patterns(&[
        r"(?i)this message has been automatically generated in response to the creation of a\s+trouble ticket",
        r"(?i)a support (representative|agent) will (be reviewing|review|respond)",
        r"(?i)(incident|request|case)\s+[a-z]*\d+\s+has been (opened|created|logged) on your behalf",
        r"(?i)your (request|ticket|case|incident)\s*(\(?#?\w*\d+\)?)?\s*has been (solved|closed|resolved|updated|received)",
        r"(?i)\b(status|request status)\s+(has\s+)?changed\s+(from\s+.{1,60}?\s+)?to\b",
        r"(?i)we('ve| have) received your (request|ticket|message|email)",
        r"(?i)\bticket received\b",
    ])
});

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

/// Which helpdesk relayed a mail, from its headers.
pub fn helpdesk(headers: &[(String, String)]) -> Option<&'static str> {
    for (name, value) in headers {
        let n = name.to_ascii_lowercase();
        let v = value.to_ascii_lowercase();
        let found = if n.starts_with("x-zendesk") || (n == "x-mailer" && v.contains("zendesk")) {
            "zendesk"
        } else if n.starts_with("x-fd-")
            || n.starts_with("x-freshdesk")
            || (n == "message-id" && v.contains("freshdesk"))
        {
            "freshdesk"
        } else if n == "x-jira-fingerprint" || n.starts_with("x-atlassian") || (n == "message-id" && v.contains("jira"))
        {
            "jira"
        } else if n.starts_with("x-servicenow") || (n == "message-id" && v.contains("service-now")) {
            "servicenow"
        } else if n == "rt-ticket" || n == "x-rt-loop-prevention" || n == "rt-originator" {
            "rt"
        } else {
            continue;
        };
        return Some(found);
    }
    None
}

/// Whether any header marks the mail as automatic.
fn automatic_headers(facts: &ReplyFacts<'_>) -> bool {
    header(facts, "Auto-Submitted").is_some_and(|v| !v.trim().eq_ignore_ascii_case("no"))
        || ["X-Autoreply", "X-Autorespond", "X-Auto-Generated", "AutoSubmitted", "X-Auto-Response-Suppress"]
            .iter()
            .any(|h| header(facts, h).is_some())
        || header(facts, "Precedence")
            .is_some_and(|v| matches!(v.to_ascii_lowercase().trim(), "bulk" | "junk" | "list" | "auto_reply"))
}

struct Rules<'a> {
    facts: &'a ReplyFacts<'a>,
    overrides: &'a ClassifyOverrides,
}

impl Rules<'_> {
    fn on(&self, rule: &str) -> bool {
        !self.overrides.ignore_rules.iter().any(|i| match i.strip_suffix('*') {
            Some(prefix) => rule.starts_with(prefix),
            None => i == rule,
        })
    }

    fn any(&self, list: &[Pattern], text: &str) -> bool {
        list.iter().any(|p| p.is_match(text))
    }

    fn bot_rule(&self) -> Option<String> {
        let f = self.facts;
        if f.author_kind == AuthorKind::Bot {
            return Some(format!("platform:{}", f.kind_evidence.unwrap_or("bot")));
        }
        if identity_matches(&self.overrides.bots, f) {
            return Some("vendor:bots".into());
        }
        if let Some(i) = self.overrides.bot_patterns.iter().position(|p| p.is_match(f.author_name)) {
            return Some(format!("vendor:bot_patterns[{i}]"));
        }
        if self.any(&BOT_NAME, f.author_name) {
            return Some("bot:author-name".into());
        }
        if self.any(&BOT_BODY, f.body) {
            return Some("bot:self-introduction".into());
        }
        None
    }

    fn decide(&self) -> Classification {
        let f = self.facts;
        let subject = f.subject.unwrap_or("");
        // 1. Our own messages.
        if f.author_kind == AuthorKind::Requester {
            return decided(ReplyClass::Ours, "requester");
        }
        // 2. Bounces.
        let content_type = header(f, "Content-Type").unwrap_or("").to_ascii_lowercase();
        if content_type.contains("multipart/report")
            && content_type.contains("delivery-status")
            && self.on("bounce:report-type")
        {
            return decided(ReplyClass::Bounce, "bounce:report-type");
        }
        let local = f.author_email.and_then(|e| e.split('@').next()).unwrap_or("").to_ascii_lowercase();
        if (local == "mailer-daemon" || local == "postmaster") && self.on("bounce:sender") {
            return decided(ReplyClass::Bounce, "bounce:sender");
        }
        if self.any(&BOUNCE_SUBJECT, subject) && self.on("bounce:subject") {
            return decided(ReplyClass::Bounce, "bounce:subject");
        }
        // 3. Out of office.
        let auto_submitted = header(f, "Auto-Submitted").map(str::to_ascii_lowercase);
        if auto_submitted.as_deref().is_some_and(|a| a.contains("vacation") || a.contains("auto-replied; owner-email="))
            && self.on("ooo:auto-submitted")
        {
            return decided(ReplyClass::OutOfOffice, "ooo:auto-submitted");
        }
        if header(f, "X-Apple-Action").is_some_and(|v| v.eq_ignore_ascii_case("vacation"))
            && self.on("ooo:x-apple-action")
        {
            return decided(ReplyClass::OutOfOffice, "ooo:x-apple-action");
        }
        if header(f, "Precedence").is_some_and(|v| v.trim().eq_ignore_ascii_case("auto_reply"))
            && self.on("ooo:precedence")
        {
            return decided(ReplyClass::OutOfOffice, "ooo:precedence");
        }
        if header(f, "X-Auto-Response-Suppress").is_some_and(|v| v.trim().eq_ignore_ascii_case("all"))
            && header(f, "X-MS-Exchange-Inbox-Rules-Loop").is_some()
            && self.on("ooo:exchange")
        {
            return decided(ReplyClass::OutOfOffice, "ooo:exchange");
        }
        if self.any(&OOO_SUBJECT, subject) && self.on("ooo:subject") {
            return decided(ReplyClass::OutOfOffice, "ooo:subject");
        }
        if automatic_headers(f)
            && self.any(&OOO_WORDING, f.body)
            && helpdesk(f.headers).is_none()
            && self.on("ooo:wording")
        {
            return decided(ReplyClass::OutOfOffice, "ooo:wording");
        }
        // 4. Known people.
        if identity_matches(&self.overrides.humans, f) && self.on("vendor:humans") {
            return decided(ReplyClass::Human, "vendor:humans");
        }
        // 5. Helpdesk relays: their headers say "automatic" for everything; the content decides.
        if let Some(desk) = helpdesk(f.headers) {
            let rule = format!("helpdesk:{desk}");
            if self.on(&rule) {
                let template = self.any(&HELPDESK_TEMPLATE, f.body)
                    || self.any(&ACK_BODY, f.body)
                    || self.any(&ACK_SUBJECT, subject)
                    || self.overrides.auto_ack_patterns.iter().any(|p| p.is_match(f.body));
                if template || f.body.trim().is_empty() {
                    return decided(ReplyClass::AutoAck, format!("{rule}:template"));
                }
                if let Some(bot) = self.bot_rule() {
                    return decided(ReplyClass::Bot, format!("{rule}:{bot}"));
                }
                return decided(ReplyClass::Human, format!("{rule}:relayed-reply"));
            }
        }
        // 6. Platform automation (API channels).
        if f.author_kind == AuthorKind::Automation {
            let rule = format!("platform:{}", f.kind_evidence.unwrap_or("automation"));
            if self.on(&rule) {
                return decided(ReplyClass::AutoAck, rule);
            }
        }
        // 7. Bots.
        if let Some(rule) = self.bot_rule().filter(|r| self.on(r)) {
            return decided(ReplyClass::Bot, rule);
        }
        // 8. Acknowledgements and automation.
        if auto_submitted.as_deref().is_some_and(|a| a.trim() != "no") && self.on("ack:auto-submitted") {
            return decided(ReplyClass::AutoAck, "ack:auto-submitted");
        }
        for h in ["X-Autoreply", "X-Autorespond", "X-Auto-Generated", "AutoSubmitted"] {
            let rule = format!("ack:{}", h.to_ascii_lowercase());
            if header(f, h).is_some() && self.on(&rule) {
                return decided(ReplyClass::AutoAck, rule);
            }
        }
        if header(f, "Precedence").is_some_and(|v| matches!(v.to_ascii_lowercase().trim(), "bulk" | "junk" | "list"))
            && self.on("ack:precedence")
        {
            return decided(ReplyClass::AutoAck, "ack:precedence");
        }
        if f.author_email.is_some_and(|e| self.any(&NOREPLY, e)) && self.on("ack:noreply-sender") {
            return decided(ReplyClass::AutoAck, "ack:noreply-sender");
        }
        if let Some(i) = self.overrides.auto_ack_patterns.iter().position(|p| p.is_match(f.body)) {
            let rule = format!("vendor:auto_ack_patterns[{i}]");
            if self.on(&rule) {
                return decided(ReplyClass::AutoAck, rule);
            }
        }
        if self.any(&ACK_SUBJECT, subject) && self.on("ack:subject") {
            return decided(ReplyClass::AutoAck, "ack:subject");
        }
        if self.any(&ACK_BODY, f.body) && self.on("ack:body-wording") {
            return decided(ReplyClass::AutoAck, "ack:body-wording");
        }
        // 9. A person.
        decided(ReplyClass::Human, "human:default")
    }
}

/// Decides the class of one reply.
pub fn classify(facts: &ReplyFacts<'_>, overrides: &ClassifyOverrides) -> Classification {
    Rules { facts, overrides }.decide()
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
            ignore_rules: vec!["ack:*".into()],
        };
        assert_eq!(classify(&facts("nova", AuthorKind::Agent, "hi"), &o).rule, "vendor:bots");
        assert_eq!(classify(&facts("AutoTriage", AuthorKind::Agent, "hi"), &o).rule, "vendor:bot_patterns[0]");
        // `ack:*` is ignored for this vendor: its patterns are too (they are `vendor:` rules).
        assert_eq!(
            classify(&facts("S", AuthorKind::Agent, "Thanks for contacting Acme!"), &o).rule,
            "vendor:auto_ack_patterns[0]"
        );
        let h = vec![("Auto-Submitted".to_string(), "auto-generated".to_string())];
        let f = ReplyFacts { headers: &h, ..facts("Agent Li", AuthorKind::Unknown, "Please send logs.") };
        assert_eq!(classify(&f, &o).rule, "human:default", "ack:auto-submitted is ignored for this vendor");
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
        assert_eq!(HELPDESK_TEMPLATE.len(), 7);
        assert_eq!(OOO_WORDING.len(), 2);
        assert_eq!(BOT_NAME.len(), 2);
        assert_eq!(BOT_BODY.len(), 4);
        let bot = |t: &str| BOT_BODY.iter().any(|p| p.is_match(t));
        assert!(bot("您好，我是云信智能助手。") && bot("I'm the OctoRTC AI assistant.") && bot("我是客服机器人"));
        assert!(!bot("我是客户经理助理小王") && !bot("I'm the AI team lead") && !bot("我是技术支持王工"));
        assert_eq!(OOO_SUBJECT.len(), 2);
        assert!(NOREPLY[0].is_match("noreply@x"));
    }
}
