//! Mail that relays someone else's words: helpdesk notifications (Zendesk,
//! Freshdesk, Jira Service Management, ServiceNow, Request Tracker,
//! Salesforce, HubSpot, Help Scout, Front, Zoho Desk and Chinese helpdesks
//! such as Udesk or Sobot), GitHub notifications, forum posts (Discourse)
//! and mailing lists (Mailman, Google Groups, groups.io).
//!
//! Such mail is automatic by its headers whoever wrote the words inside
//! (`Auto-Submitted`, `Precedence: bulk|list`, a no-reply sender): the
//! headers say only that it was relayed. This module finds the platform (by
//! its headers, else by its layout), and takes out of the platform's layout
//! the relayed comment and its author — or finds that the notification
//! carries no one's comment (request received, status changed, survey).
//! The classifier then judges the comment, not the envelope.

use std::sync::LazyLock;

use regex::Regex;

use super::quote::reply_part;

/// What a relay carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// A person's (or a bot's) comment, relayed.
    Comment { author: Option<String>, text: String },
    /// The platform's own notice, no one's comment in it.
    Notice { text: String },
}

/// A recognised relay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relay {
    /// `zendesk`, `jira`, `github`, `list` …: part of the rule name.
    pub platform: &'static str,
    /// How the platform and the comment were recognised.
    pub evidence: Vec<String>,
    pub content: Content,
    /// Whether the layout set one author's comment apart (under its own
    /// header), rather than handing over a body that may quote others.
    pub isolated: bool,
}

/// The envelope of a mail, as the relay finder needs it.
pub struct Envelope<'a> {
    pub headers: &'a [(String, String)],
    pub from_name: &'a str,
    pub from_email: Option<&'a str>,
}

impl Envelope<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn re(p: &str) -> Regex {
    Regex::new(p).expect("built-in pattern compiles")
}

/// The platform whose headers a mail carries, and the header that says so.
pub fn platform_by_headers(env: &Envelope<'_>) -> Option<(&'static str, String)> {
    let from = env.from_email.unwrap_or("").to_ascii_lowercase();
    for (name, value) in env.headers {
        let n = name.to_ascii_lowercase();
        let v = value.to_ascii_lowercase();
        let id = n == "message-id";
        let found = if n.starts_with("x-zendesk")
            || (n == "x-mailer" && v.contains("zendesk"))
            || (id && v.contains("@zendesk.com"))
        {
            "zendesk"
        } else if n.starts_with("x-fd-") || n.starts_with("x-freshdesk") || (id && v.contains("freshdesk")) {
            "freshdesk"
        } else if n == "x-jira-fingerprint" || n.starts_with("x-atlassian") || (id && v.contains("atlassian.jira")) {
            "jira"
        } else if n.starts_with("x-servicenow") || (id && (v.contains("service-now") || v.contains("ref:msg"))) {
            "servicenow"
        } else if n == "rt-ticket" || n == "x-rt-loop-prevention" || n == "rt-originator" {
            "rt"
        } else if n.starts_with("x-sfdc-") || (n == "x-sender" && v.contains("salesforce.com")) {
            "salesforce"
        } else if n.starts_with("x-hubspot") || n.starts_with("x-hs-") || (id && v.contains("hubspot")) {
            "hubspot"
        } else if n.starts_with("x-helpscout") || (id && v.contains("helpscout")) {
            "helpscout"
        } else if n.starts_with("x-front-") || (id && v.contains("frontapp")) {
            "front"
        } else if n.starts_with("x-zohodesk") || (id && v.contains("zohodesk")) {
            "zohodesk"
        } else if n == "x-github-sender" || n == "x-github-reason" {
            "github"
        } else if n.starts_with("x-intercom") || (id && v.contains("intercom-mail")) {
            "intercom"
        } else if n.starts_with("x-zammad")
            || n.starts_with("x-otrs")
            || n.starts_with("x-freescout")
            || n.starts_with("x-kayako")
            || ((n == "x-mailer" || id)
                && [
                    "osticket",
                    "kayako",
                    "zammad",
                    "otrs",
                    "freescout",
                    "uvdesk",
                    "deskpro",
                    "happyfox",
                    "spiceworks",
                    "sysaid",
                ]
                .iter()
                .any(|d| v.contains(d)))
        {
            "helpdesk"
        } else if n.starts_with("x-gitlab-") {
            "gitlab"
        } else if n.starts_with("x-discourse") || (id && v.starts_with("<topic/")) {
            "discourse"
        } else {
            continue;
        };
        return Some((found, format!("header {name}")));
    }
    let domain = from.rsplit('@').next().unwrap_or("");
    let by_sender = [
        ("zendesk.com", "zendesk"),
        ("freshdesk.com", "freshdesk"),
        ("atlassian.net", "jira"),
        ("service-now.com", "servicenow"),
        ("zohodesk.com", "zohodesk"),
        ("zohodesk.com.cn", "zohodesk"),
        ("helpscout.net", "helpscout"),
        ("github.com", "github"),
        ("intercom-mail.com", "intercom"),
        ("slack.com", "slack"),
        ("feishu.cn", "feishu"),
        ("larksuite.com", "feishu"),
        ("teams.microsoft.com", "teams"),
        ("dingtalk.com", "dingtalk"),
    ];
    by_sender
        .iter()
        .find(|(d, _)| domain == *d || domain.ends_with(&format!(".{d}")))
        .map(|(_, p)| (*p, format!("sender domain {domain}")))
}

/// The mailing list or forum that relayed the mail, by its headers.
fn list_by_headers(env: &Envelope<'_>) -> Option<String> {
    ["List-Id", "List-Post", "X-Mailman-Version", "Mailing-list", "X-Google-Group-Id", "X-BeenThere"]
        .iter()
        .find(|h| env.header(h).is_some())
        .map(|h| format!("header {h}"))
}

/// The person behind a relay's display name: `'Alex Chen' via acme-users`,
/// `Sam Rivera (Jira)`, `Wang Agent via RT` → the name.
pub fn person_of(display: &str) -> String {
    static VIA: LazyLock<Regex> =
        LazyLock::new(|| re(r"(?i)^\s*['\x22]?(.+?)['\x22]?\s+(via|through|通过|經由)\s+.+$"));
    static PAREN: LazyLock<Regex> =
        LazyLock::new(|| re(r"^\s*(.+?)\s*\((jira|confluence|github|zendesk|rt|support|helpdesk|[^)]{1,40})\)\s*$"));
    let d = display.trim().trim_matches(['"', '\'']);
    if let Some(c) = VIA.captures(d) {
        return c[1].trim().to_string();
    }
    if let Some(c) = PAREN.captures(d) {
        return c[1].trim().to_string();
    }
    d.to_string()
}

const DATE: &str = r"(\p{L}{3,9}\.?\s+\d{1,2},\s+\d{4}|\d{1,2}\s+\p{L}{3,9}\.?\s+\d{4}|\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})";

/// Zendesk: a `##- … -##` marker, the notice, a rule of dashes, then the
/// newest comment headed `Author, Nov 23, 2026, 10:31 GMT+8` (or the author
/// on one line and the date on the next), then older comments.
fn zendesk(text: &str) -> Option<(Content, Vec<String>)> {
    // The marker is localised ("##- 请在此行上方输入回复 -##"): its shape and a word about replying or the line.
    static MARKER: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"(?i)^\s*#{2,}-?\s*\S.{0,100}?(reply|write|line|回复|回覆|返信|行|ライン|zeile|antwort|ligne|r[ée]pond|l[ií]nea|respuesta).{0,100}?\s*-?#{2,}\s*$",
        )
    });
    static RULE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*-{10,}\s*$"));
    static ONE_LINE: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"^\s*(?P<name>.{{1,80}}?),\s+{DATE}.*$")));
    static DATE_LINE: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"^\s*{DATE}")));
    let lines: Vec<&str> = text.lines().collect();
    let at = lines.iter().take(12).position(|l| MARKER.is_match(l))?;
    let mut evidence = vec![format!("zendesk marker {:?}", lines[at].trim())];
    let mut blocks: Vec<Vec<&str>> = vec![Vec::new()];
    for l in &lines[at + 1..] {
        if RULE.is_match(l) {
            blocks.push(Vec::new());
        } else if let Some(b) = blocks.last_mut() {
            b.push(l);
        }
    }
    // A comment starts at its header; in the first block (the HTML layout has no rules,
    // and some triggers show no notice) the notice is what comes before it.
    let header = |block: &[&str]| -> Option<(usize, Option<String>, String)> {
        for (i, l) in block.iter().enumerate() {
            if l.trim().is_empty() {
                continue;
            }
            if let Some(c) = ONE_LINE.captures(l) {
                return Some((i, Some(c["name"].trim().to_string()), block[i + 1..].join("\n")));
            }
            let next = block[i + 1..].iter().position(|n| !n.trim().is_empty()).map(|j| i + 1 + j);
            if let Some(j) = next
                && l.trim().chars().count() <= 80
                && block[j].trim().chars().count() <= 60
                && DATE_LINE.is_match(block[j])
            {
                return Some((i, Some(person_of(l)), block[j + 1..].join("\n")));
            }
        }
        None
    };
    let (notice, comment) = match header(&blocks[0]) {
        Some((at, author, text)) => (blocks[0][..at].join("\n").trim().to_string(), Some((author, text))),
        None => (
            blocks[0].join("\n").trim().to_string(),
            blocks.get(1).map(|b| header(b).map_or((None, b.join("\n")), |(_, a, t)| (a, t))),
        ),
    };
    // "Your request has been received": the only comment shown is the requester's own;
    // a satisfaction survey shows the last comment as a reminder.
    let received = super::wording::said(&super::wording::ACK, &notice)
        .iter()
        .chain(super::wording::said(&super::wording::NOTICE, &notice).iter())
        .any(|n| matches!(*n, "ack:received" | "ack:ticket-created" | "notice:survey"));
    if received {
        evidence.push(format!("zendesk notice shows no new comment: {:?}", first_line(&notice)));
        return Some((Content::Notice { text: notice }, evidence));
    }
    let comment = comment.filter(|(_, t)| !t.trim_start().starts_with("This email is a service from"));
    let Some((author, text)) = comment else {
        evidence.push("no comment below the notice".into());
        return Some((Content::Notice { text: notice }, evidence));
    };
    if let Some(a) = &author {
        evidence.push(format!("zendesk comment header names {a:?}"));
    }
    let comment = reply_part(&text);
    if comment.is_empty() {
        return Some((Content::Notice { text: notice }, evidence));
    }
    Some((Content::Comment { author, text: comment }, evidence))
}

fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim()
}

/// Jira Service Management: `Reply above this line.`, then
/// `Name commented:` and the comment, up to `View request` / `This is
/// shared with` / the footer; Jira's own notifications `Name commented on KEY-1:`.
fn jira(text: &str) -> Option<(Content, Vec<String>)> {
    static MARKER: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)^\s*(-+\s*)?reply above this line\.?\s*$"));
    static END: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"(?i)^\s*(view request\b|this is shared with\b|-{10,}\s*$|_{10,}\s*$|powered by jira|this message was sent by atlassian|jsm help center|查看请求|查看請求)",
        )
    });
    static COMMENTED: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"(?i)^\s*(?P<name>.{1,80}?)\s+(commented|replied|responded|added a comment)(\s+on\s+[A-Z][A-Z0-9]+-\d+)?\s*:?\s*$|^\s*(?P<zh>.{1,40}?)\s*(发表了评论|發表了評論|评论了|評論了|已评论|回复了|回覆了)\s*:?\s*$",
        )
    });
    let lines: Vec<&str> = text.lines().collect();
    let (start, seen) = match lines.iter().take(8).position(|l| MARKER.is_match(l)) {
        Some(i) => (i + 1, format!("jira marker {:?}", lines[i].trim())),
        // Jira's own notifications have no marker but a "commented on KEY-1" header.
        None => {
            let i = lines.iter().take(6).position(|l| COMMENTED.is_match(l) && l.contains(" on "))?;
            (i, "jira issue notification".to_string())
        }
    };
    let content: Vec<&str> = lines[start..].iter().take_while(|l| !END.is_match(l)).copied().collect();
    let first = content.iter().position(|l| !l.trim().is_empty())?;
    let mut evidence = vec![seen];
    if let Some(c) = COMMENTED.captures(content[first]) {
        let name = c.name("name").or_else(|| c.name("zh")).map(|m| m.as_str().trim().to_string());
        evidence.push(format!("jira comment header {:?}", content[first].trim()));
        let comment = reply_part(&content[first + 1..].join("\n"));
        if !comment.is_empty() {
            return Some((Content::Comment { author: name, text: comment }, evidence));
        }
    }
    evidence.push("no comment header: the content decides".into());
    Some((Content::Comment { author: None, text: reply_part(&content.join("\n")) }, evidence))
}

/// ServiceNow: `Comments added by Name:`, `X updated your request with the
/// following comments:` (with `Reply from: …`), or journal lines
/// `2026-11-23 10:31:00 CST - Name (Additional comments)`, up to the
/// template's `Ref:MSG…` watermark or its boilerplate.
fn servicenow(text: &str) -> Option<(Content, Vec<String>)> {
    static HEAD: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"(?i)^\s*(additional\s+)?comments?\s+(added|updated)\s+by\s+(?P<a>.+?)\s*:\s*$|^\s*(?P<b>.{1,60}?)\s+updated\s+your\s+(request|incident|case|ticket)\s+with\s+the\s+following\s+comments?\s*:?\s*$|^\s*\d{4}-\d{2}-\d{2}\s+\d{2}:\d{2}(:\d{2})?(\s+[A-Z]{2,5})?\s+-\s+(?P<c>[^()\n]{1,60}?)(\s+\((additional\s+comments|comments)\))?\s*$",
        )
    });
    static REPLY_FROM: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)^\s*reply\s+from\s*:\s*(?P<who>\S.*?)\s*$"));
    static END: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"(?i)^\s*(\*?how can i track|ref:msg\d+|to respond,?\s+reply|you can view all the details|click here to view|view (the )?(incident|request|case)|unsubscribe|\d{4}-\d{2}-\d{2}\s+\d{2}:\d{2})",
        )
    });
    let lines: Vec<&str> = text.lines().collect();
    let at = lines.iter().position(|l| HEAD.is_match(l))?;
    let c = HEAD.captures(lines[at])?;
    let mut author = c.name("a").or(c.name("b")).or(c.name("c")).map(|m| m.as_str().trim().to_string());
    let mut evidence = vec![format!("servicenow comment header {:?}", lines[at].trim())];
    let mut body = Vec::new();
    for l in &lines[at + 1..] {
        if END.is_match(l) {
            break;
        }
        if let Some(r) = REPLY_FROM.captures(l) {
            author = Some(r["who"].to_string());
            evidence.push(format!("servicenow {:?}", l.trim()));
            continue;
        }
        body.push(*l);
    }
    let comment = reply_part(&body.join("\n"));
    (!comment.is_empty()).then_some((Content::Comment { author, text: comment }, evidence))
}

/// Request Tracker: `<URL: https://rt…/Ticket/Display.html?id=12 >` above the correspondence.
fn rt(text: &str) -> Option<(Content, Vec<String>)> {
    static URL: LazyLock<Regex> =
        LazyLock::new(|| re(r"^\s*<URL:\s*https?://\S+/Ticket/Display\.html\?id=\d+\s*>\s*$"));
    let lines: Vec<&str> = text.lines().collect();
    let at = lines.iter().take(4).position(|l| URL.is_match(l))?;
    let rest = reply_part(&lines[at + 1..].join("\n"));
    Some((Content::Comment { author: None, text: rest }, vec![format!("rt ticket link {:?}", lines[at].trim())]))
}

/// GitHub: the comment, then `-- ` and "Reply to this email directly …".
fn github(text: &str) -> Option<(Content, Vec<String>)> {
    static FOOTER: LazyLock<Regex> =
        LazyLock::new(|| re(r"(?im)^\s*(--|-)\s*\n\s*(you are receiving this because|reply to this email directly)"));
    let m = FOOTER.find(text)?;
    let comment = reply_part(&text[..m.start()]);
    Some((Content::Comment { author: None, text: comment }, vec!["github notification footer".into()]))
}

/// Discourse: the post, then `---` and "[Visit Topic](…) or reply to this email to respond".
fn discourse(text: &str) -> Option<(Content, Vec<String>)> {
    static FOOTER: LazyLock<Regex> = LazyLock::new(|| {
        re(r"(?im)^\s*-{3,}\s*\n+\s*\[?visit (topic|message)\]?|^.{0,200}\bor reply to this email to respond\b")
    });
    let m = FOOTER.find(text)?;
    let comment = reply_part(&text[..m.start()]);
    Some((Content::Comment { author: None, text: comment }, vec!["discourse footer \"Visit Topic\"".into()]))
}

/// Chinese helpdesks (Udesk, Sobot, Meiqia style): "您的工单【#123】有新的回复",
/// then `客服 王工 回复:` and the reply, up to "请勿直接回复" or "查看工单".
fn cn_helpdesk(text: &str) -> Option<(Content, Vec<String>)> {
    static NOTICE: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"(工单|工單|服务单|服務單).{0,40}(有新的回复|有新回复|有新的回覆|有新回覆|收到新回复|收到新的回复|已被回复|已被回覆)",
        )
    });
    static WHO: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"^\s*(客服|工程师|工程師|技术支持|技術支持|坐席|处理人|處理人|回复人|回覆人)?\s*[\[(]?(?P<name>[^\s:()\[\]]{1,20}?)[\])]?\s*((于|於)\s*\S.{0,30}?)?\s*(回复|答复|回覆|答覆)(了您|了工单|了工單|了您的工单)?\s*:?\s*$|^\s*(回复人|回覆人|处理人|處理人|回复客服|回覆客服)\s*:\s*(客服|工程师|工程師|技术支持|技術支持)?\s*(?P<name2>\S.{0,19}?)\s*$",
        )
    });
    static END: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"^\s*(请勿直接回复|請勿直接回覆|请勿回复|請勿回覆|查看工单|查看工單|点击查看|點擊查看|-{3,}|此邮件由|此郵件由|本邮件由|本郵件由|如需补充|如需補充)",
        )
    });
    let lines: Vec<&str> = text.lines().collect();
    let notice_at = lines.iter().take(8).position(|l| NOTICE.is_match(l))?;
    let who_at = lines[notice_at + 1..].iter().position(|l| WHO.is_match(l)).map(|i| i + notice_at + 1)?;
    let c = WHO.captures(lines[who_at])?;
    let author = c.name("name").or(c.name("name2")).map(|m| m.as_str().to_string());
    static CONTENT: LazyLock<Regex> =
        LazyLock::new(|| re(r"^\s*(回复内容|回覆內容|最新回复|最新回覆|回复|回覆)\s*:\s*"));
    let body: Vec<&str> = lines[who_at + 1..]
        .iter()
        .take_while(|l| !END.is_match(l))
        .map(|l| CONTENT.find(l).map_or(*l, |m| &l[m.end()..]))
        .collect();
    let comment = reply_part(&body.join("\n"));
    let evidence = vec![
        format!("helpdesk notice {:?}", lines[notice_at].trim()),
        format!("reply header {:?}", lines[who_at].trim()),
    ];
    (!comment.is_empty()).then_some((Content::Comment { author, text: comment }, evidence))
}

/// Chat platforms' email notifications (Slack, Feishu/Lark, Teams, DingTalk):
/// "New message from NAME", "NAME 给你发送了一条消息", then the message, then
/// "View in Slack" / "打开飞书查看".
fn chat_notice(subject: &str, text: &str) -> Option<(Content, Vec<String>)> {
    static FROM: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"(?i)new\s+(direct\s+)?messages?\s+from\s+(?P<a>.+?)(\s+in\s+#?\S+)?\s*$|(?P<b>[^\s].{0,40}?)\s+sent\s+you\s+a\s+message|messages?\s+from\s+(?P<c>.+?)\s*$|^\s*(?P<d>\S.{0,30}?)\s*(给你|给您|給你|給您)\s*发(送)?了\s*(一条|\d+\s*条)?\s*(新)?消息",
        )
    });
    static END: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"(?i)^\s*(view\s+in\s+slack|reply\s+in\s+teams|open\s+in\s+teams|打开飞书查看|打开钉钉查看|在飞书中查看|查看消息|view\s+(the\s+)?message)",
        )
    });
    let author = FROM
        .captures(subject)
        .or_else(|| text.lines().take(3).find_map(|l| FROM.captures(l)))
        .and_then(|c| ["a", "b", "c", "d"].iter().find_map(|n| c.name(n)).map(|m| m.as_str().trim().to_string()))?;
    let lines: Vec<&str> = text.lines().collect();
    let mut body: Vec<&str> = Vec::new();
    for l in &lines {
        if END.is_match(l) {
            break;
        }
        // The notice's own lines: "You have a new message…", "NAME 10:36 AM", "NAME:".
        let t = l.trim();
        if FROM.is_match(t) || t.to_ascii_lowercase().starts_with("you have") {
            continue;
        }
        if let Some(rest) = t.strip_prefix(author.as_str()) {
            let rest = rest.trim_start_matches([' ', ':']).trim();
            let clock = rest.is_empty() || rest.chars().all(|c| c.is_ascii_digit() || " :APMapm".contains(c));
            if clock {
                continue;
            }
        }
        body.push(l);
    }
    let comment = reply_part(body.join("\n").trim().trim_matches('"'));
    let evidence = vec![format!("chat notification naming {author:?}")];
    (!comment.is_empty()).then_some((Content::Comment { author: Some(author), text: comment }, evidence))
}

/// Mailing-list footers: Google Groups' "You received this message because
/// you are subscribed…", groups.io's `-=-=-=-`, Mailman's rule (handled by
/// the quote stripper).
fn strip_list_footer(text: &str) -> &str {
    static FOOTER: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"(?im)^\s*--\s*\n\s*you received this (message|topic) because you are subscribed|^\s*-=(-=)+-?\s*$|^\s*to unsubscribe from this group",
        )
    });
    FOOTER.find(text).map_or(text, |m| &text[..m.start()])
}

/// Finds the relay in a mail, if it is one. `text` is the normalised body.
pub fn find(env: &Envelope<'_>, subject: &str, text: &str) -> Option<Relay> {
    let by_header = platform_by_headers(env);
    type Parser = fn(&str) -> Option<(Content, Vec<String>)>;
    let layouts: [(&'static str, Parser); 7] = [
        ("zendesk", zendesk),
        ("jira", jira),
        ("servicenow", servicenow),
        ("rt", rt),
        ("github", github),
        ("discourse", discourse),
        ("cn-helpdesk", cn_helpdesk),
    ];
    // The platform the headers name is tried first; any unmistakable layout is recognised on its own.
    let ordered = layouts
        .iter()
        .filter(|(p, _)| by_header.as_ref().is_some_and(|(h, _)| h == p))
        .chain(layouts.iter().filter(|(p, _)| by_header.as_ref().is_none_or(|(h, _)| h != p)));
    for (platform, parse) in ordered {
        if let Some((content, mut evidence)) = parse(text) {
            if let Some((h, e)) = &by_header
                && h == platform
            {
                evidence.insert(0, e.clone());
            }
            let isolated = isolated(&evidence);
            return Some(Relay { platform, evidence, content: with_author(env, content), isolated });
        }
    }
    if let Some((platform, e)) =
        by_header.as_ref().filter(|(p, _)| matches!(*p, "slack" | "feishu" | "teams" | "dingtalk"))
        && let Some((content, mut evidence)) = chat_notice(subject, text)
    {
        evidence.insert(0, e.clone());
        let isolated = isolated(&evidence);
        return Some(Relay { platform, evidence, content, isolated });
    }
    let list = list_by_headers(env);
    if let Some((platform, e)) = by_header {
        // A helpdesk sending the agent's words as the body (Freshdesk, Salesforce, Help Scout …).
        let text = reply_part(strip_list_footer(text));
        let evidence = vec![e, "no notification layout: the body is the relayed reply".into()];
        return Some(Relay {
            platform,
            evidence,
            content: with_author(env, Content::Comment { author: None, text }),
            isolated: false,
        });
    }
    let e = list?;
    // The list's own mail (held for moderation, subscription notices) relays nobody.
    let local = env.from_email.unwrap_or("").split('@').next().unwrap_or("").to_ascii_lowercase();
    if ["-owner", "-bounces", "-request", "-admin"].iter().any(|s| local.ends_with(s)) || local == "mailman" {
        let evidence = vec![e, format!("sent by the list itself ({local}@)")];
        return Some(Relay {
            platform: "list",
            evidence,
            content: Content::Notice { text: reply_part(text) },
            isolated: false,
        });
    }
    let text = reply_part(strip_list_footer(text));
    Some(Relay {
        platform: "list",
        evidence: vec![e],
        content: with_author(env, Content::Comment { author: None, text }),
        isolated: false,
    })
}

/// Whether a layout's evidence says it set one author's comment apart.
fn isolated(evidence: &[String]) -> bool {
    evidence
        .iter()
        .any(|e| e.contains("comment header") || e.starts_with("reply header") || e.starts_with("chat notification"))
}

/// A comment whose layout did not name its author is the sender's (behind the relay's name).
fn with_author(env: &Envelope<'_>, content: Content) -> Content {
    match content {
        Content::Comment { author: None, text } => {
            let author = env
                .header("X-GitHub-Sender")
                .or_else(|| env.header("RT-Originator"))
                .map(str::to_string)
                .or_else(|| (!env.from_name.trim().is_empty()).then(|| person_of(env.from_name)));
            Content::Comment { author, text }
        }
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(headers: &'a [(String, String)], name: &'a str) -> Envelope<'a> {
        Envelope { headers, from_name: name, from_email: None }
    }

    #[test]
    fn zendesk_both_markers_and_header_forms() {
        let h = vec![("X-Zendesk-From-Account-Id".to_string(), "x".to_string())];
        let t = "## Please do not write below this line ##\n\nYour request has been updated.\n\nYou can add a comment by replying to this email.\n\n----------------------------------------------\n\nGitHub, Sep 29, 2026, 6:01 PM UTC\n\nHello,\n\nPlease remove the file.\n\nRegards\n\n----------------------------------------------\n\nme, Sep 11, 2026\n\nold";
        let r = find(&env(&h, "GitHub Developer Support"), "", t).unwrap();
        assert_eq!(r.platform, "zendesk");
        assert_eq!(
            r.content,
            Content::Comment {
                author: Some("GitHub".into()),
                text: "Hello,\n\nPlease remove the file.\n\nRegards".into()
            }
        );
        let t = "##- Please type your reply above this line -##\n\nYour request (35436) has been updated.\n\n------------\n\nAlex Chen (Acme RTC)\n\nNov 23, 2026, 10:31 GMT+8\n\nPlease send the logs.\n";
        let r = find(&env(&[], "Acme"), "", t).unwrap();
        assert_eq!(
            r.content,
            Content::Comment { author: Some("Alex Chen".into()), text: "Please send the logs.".into() }
        );
        let t = "##- Please type your reply above this line -##\n\nYour request (35436) has been solved.\n\n--------------------------------\nThis email is a service from Acme.\n";
        assert!(matches!(find(&env(&[], "Acme"), "", t).unwrap().content, Content::Notice { .. }));
    }

    #[test]
    fn names_behind_relays() {
        assert_eq!(person_of("'Alex Chen' via acme-users"), "Alex Chen");
        assert_eq!(person_of("Sam Rivera (Jira)"), "Sam Rivera");
        assert_eq!(person_of("Wang Agent via RT"), "Wang Agent");
        assert_eq!(person_of("Acme Support"), "Acme Support");
    }
}
