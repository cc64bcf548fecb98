//! Reading vendor mail: MIME parsing (multipart, quoted-printable, base64,
//! any charset including GBK/GB18030/Big5/ISO-2022-JP), repair of wrong
//! charset labels, HTML-only bodies reduced to text, quoted history and
//! helpdesk boilerplate removed before classification.
//!
//! Parsing never panics and never stalls: mail over the size cap is refused
//! before parsing, and a message that cannot be parsed is reported as
//! [`MailError::Unparseable`] so it is recorded, not dropped silently.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use mail_parser::{Encoding, HeaderValue, MessageParser, MimeHeaders, PartType};
use regex::Regex;

use crate::classify::{AuthorKind, ReplyFacts};

/// Mail larger than this is not parsed (the default of the email channel's `max_message_bytes`).
pub const DEFAULT_MAX_BYTES: usize = 10 << 20;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MailError {
    #[error("message of {size} bytes is over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("not a parseable message")]
    Unparseable,
}

/// What supportprobe needs from one mail.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mail {
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub from_name: Option<String>,
    pub from_addr: Option<String>,
    pub to: Vec<String>,
    pub delivered_to: Vec<String>,
    pub subject: String,
    pub date: Option<DateTime<Utc>>,
    /// Every header, name and unfolded value (encoded words decoded where the parser did).
    pub headers: Vec<(String, String)>,
    /// The whole body as text (HTML reduced to text when there is no text part).
    pub text: String,
    /// The body without quoted history and helpdesk boilerplate: what is classified.
    pub reply_text: String,
    pub html_only: bool,
}

fn ids(v: &HeaderValue<'_>) -> Vec<String> {
    match v {
        HeaderValue::Text(t) => {
            t.split([' ', ',']).filter(|s| !s.is_empty()).map(|s| s.trim_matches(['<', '>']).to_string()).collect()
        }
        HeaderValue::TextList(l) => l.iter().map(|s| s.trim_matches(['<', '>']).to_string()).collect(),
        _ => Vec::new(),
    }
}

fn unfold(v: &str) -> String {
    v.split(['\r', '\n']).map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Decodes a part's raw bytes in the declared charset, or — when that
/// yields replacement characters — in the CJK charset that fits best.
fn decode_text(raw: &[u8], encoding: Encoding, declared: Option<&str>) -> Option<String> {
    let bytes = match encoding {
        Encoding::Base64 => mail_parser::decoders::base64::base64_decode(raw)?,
        Encoding::QuotedPrintable => mail_parser::decoders::quoted_printable::quoted_printable_decode(raw)?,
        Encoding::None => raw.to_vec(),
    };
    let declared = declared.and_then(|c| encoding_rs::Encoding::for_label(c.as_bytes())).unwrap_or(encoding_rs::UTF_8);
    let candidates = [declared, encoding_rs::UTF_8, encoding_rs::GB18030, encoding_rs::BIG5, encoding_rs::SHIFT_JIS];
    candidates
        .iter()
        .map(|enc| {
            let (text, _, _) = enc.decode(&bytes);
            let bad = text.chars().filter(|c| *c == '\u{FFFD}').count();
            (bad, text.into_owned())
        })
        .min_by_key(|(bad, _)| *bad)
        .map(|(_, t)| t)
}

/// Parses a raw message.
pub fn parse(raw: &[u8], max_bytes: usize) -> Result<Mail, MailError> {
    if raw.len() > max_bytes {
        return Err(MailError::TooLarge { size: raw.len(), limit: max_bytes });
    }
    let msg = MessageParser::default().parse(raw).ok_or(MailError::Unparseable)?;
    // The parser is lenient: without any of From, Subject or Message-ID this is not mail.
    if msg.from().is_none() && msg.subject().is_none() && msg.message_id().is_none() {
        return Err(MailError::Unparseable);
    }
    let mut headers = Vec::new();
    for (name, value) in msg.headers_raw() {
        headers.push((name.to_string(), unfold(value)));
    }
    let from = msg.from().and_then(|a| a.first());
    let addrs = |a: Option<&mail_parser::Address<'_>>| -> Vec<String> {
        a.map(|a| a.iter().filter_map(|x| x.address().map(str::to_ascii_lowercase)).collect()).unwrap_or_default()
    };
    let delivered_to = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Delivered-To") || n.eq_ignore_ascii_case("X-Original-To"))
        .map(|(_, v)| v.trim_matches(['<', '>', ' ']).to_ascii_lowercase())
        .collect();

    // The body: text parts, repaired if their charset label was wrong; else HTML reduced to text.
    let mut text = String::new();
    for part in msg.text_bodies() {
        let body = match &part.body {
            PartType::Text(t) => {
                let t = t.to_string();
                if t.contains('\u{FFFD}') {
                    let raw_part =
                        msg.raw_message().get(part.offset_body as usize..part.offset_end as usize).unwrap_or(&[]);
                    let declared = part.content_type().and_then(|c| c.attribute("charset"));
                    decode_text(raw_part, part.encoding, declared).unwrap_or(t)
                } else {
                    t
                }
            }
            PartType::Html(h) => html_to_text(h),
            _ => continue,
        };
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&body);
    }
    let html_only = msg.text_body_count() == 0 || msg.text_bodies().all(|p| matches!(p.body, PartType::Html(_)));
    if text.trim().is_empty()
        && let Some(h) = msg.body_html(0)
    {
        text = html_to_text(&h);
    }
    let text = text.replace("\r\n", "\n");
    let reply_text = reply_part(&text);
    Ok(Mail {
        message_id: msg.message_id().map(|s| s.trim_matches(['<', '>']).to_string()),
        in_reply_to: ids(msg.in_reply_to()),
        references: ids(msg.references()),
        from_name: from.and_then(|a| a.name()).map(str::to_string),
        from_addr: from.and_then(|a| a.address()).map(str::to_ascii_lowercase),
        to: addrs(msg.to()),
        delivered_to,
        subject: msg.subject().unwrap_or("").to_string(),
        date: msg.date().and_then(|d| DateTime::parse_from_rfc3339(&d.to_rfc3339()).ok()).map(|d| d.to_utc()),
        headers,
        text,
        reply_text,
        html_only,
    })
}

impl Mail {
    /// The facts the classifier decides on.
    pub fn facts(&self, author_kind: AuthorKind) -> ReplyFacts<'_> {
        ReplyFacts {
            author_id: self.from_addr.as_deref().unwrap_or(""),
            author_name: self.from_name.as_deref().unwrap_or(""),
            author_email: self.from_addr.as_deref(),
            author_kind,
            kind_evidence: None,
            headers: &self.headers,
            subject: Some(&self.subject),
            body: &self.reply_text,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Reduces HTML to text: drops head, style, script and quoted blocks
/// (`<blockquote>`, Gmail's `gmail_quote`, Outlook's reply header and what
/// follows it), keeps line structure, decodes entities.
pub fn html_to_text(html: &str) -> String {
    static CUT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"(?is)<div[^>]*(id="(divRplyFwdMsg|appendonsend)"|class="(gmail_quote|yahoo_quoted)")"#)
            .expect("built-in pattern compiles")
    });
    let html = match CUT.find(html) {
        Some(m) => &html[..m.start()],
        None => html,
    };
    let mut out = String::with_capacity(html.len() / 2);
    let mut skip: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        if skip.is_empty() {
            out.push_str(&rest[..lt]);
        }
        let Some(gt) = rest[lt..].find('>') else { break };
        let tag = &rest[lt + 1..lt + gt];
        rest = &rest[lt + gt + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if matches!(name.as_str(), "head" | "style" | "script" | "blockquote" | "title") {
            if closing {
                if skip.last() == Some(&name) {
                    skip.pop();
                }
            } else if !tag.ends_with('/') {
                skip.push(name.clone());
            }
            continue;
        }
        if skip.is_empty()
            && matches!(name.as_str(), "br" | "p" | "div" | "tr" | "li" | "h1" | "h2" | "h3" | "hr" | "table")
        {
            out.push('\n');
        }
    }
    if skip.is_empty() {
        out.push_str(rest);
    }
    let text = decode_entities(&out);
    // Collapse runs of blank lines and trailing spaces.
    let mut lines: Vec<&str> = Vec::new();
    for l in text.lines().map(str::trim_end) {
        if l.trim().is_empty() && lines.last().is_some_and(|p| p.trim().is_empty()) {
            continue;
        }
        lines.push(l);
    }
    lines.join("\n").trim().to_string()
}

fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail.find(';').filter(|e| *e <= 10);
        let decoded = end.and_then(|e| {
            let ent = &tail[1..e];
            let c = match ent {
                "nbsp" => Some(' '),
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ if ent.starts_with("#x") || ent.starts_with("#X") => {
                    u32::from_str_radix(&ent[2..], 16).ok().and_then(char::from_u32)
                }
                _ if ent.starts_with('#') => ent[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &tail[e + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Where quoted history starts (first matching line), in many clients' styles.
static QUOTE_START: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"(?i)^\s*on\s.{3,200}\swrote:\s*$",
        r"(?i)^\s*-{2,}\s*original message\s*-{2,}",
        r"^\s*-{2,}\s*(原始邮件|原始郵件|原邮件)\s*-{2,}",
        r"^\s*_{10,}\s*$",
        r"(?i)^\s*(from|发件人|寄件者):\s.+",
        r"^\s*在\s?.{4,200}(写道|寫道)\s*[:：]\s*$",
        r"(?i)^\s*le\s.{3,200}\sa écrit\s*:\s*$",
    ]
    .iter()
    .map(|p| Regex::new(p).expect("built-in pattern compiles"))
    .collect()
});

/// The part of a body that is the new reply: helpdesk markers honoured,
/// quoted history and `>` lines removed.
pub fn reply_part(text: &str) -> String {
    let mut body = text;
    // Zendesk and Jira put the new comment below a "reply above this line" marker.
    for marker in ["##- Please type your reply above this line -##", "Reply above this line."] {
        if let Some(i) = body.find(marker) {
            body = &body[i + marker.len()..];
            // Zendesk separates the latest comment from the history with a rule.
            if let Some(j) = body.find("\n----") {
                body = &body[..j];
            }
        }
    }
    let lines: Vec<&str> = body.lines().collect();
    let mut out: Vec<&str> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        // Gmail wraps long "On … wrote:" lines: try the line joined with the next one too.
        let wrapped = line.trim_start().to_ascii_lowercase().starts_with("on ")
            && lines.get(i + 1).is_some_and(|n| QUOTE_START[0].is_match(&format!("{line} {}", n.trim())));
        if wrapped || QUOTE_START.iter().any(|r| r.is_match(line)) {
            break;
        }
        if !line.trim_start().starts_with('>') {
            out.push(line);
        }
    }
    out.join("\n").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_reduced_and_quotes_dropped() {
        let html = "<html><head><style>p{}</style></head><body><p>Hi,&nbsp;please send logs &amp; the version.</p>\
                    <div>Thanks<br>Alex</div><blockquote>Your ticket has been created</blockquote>\
                    <div class=\"gmail_quote\">On Mon wrote: old</div></body></html>";
        let t = html_to_text(html);
        assert_eq!(t, "Hi, please send logs & the version.\n\nThanks\nAlex");
        assert_eq!(decode_entities("&#24037;&#x5355; &lt;x&gt; &bogus; a&b"), "工单 <x> &bogus; a&b");
    }

    #[test]
    fn quoted_history_is_stripped() {
        let t = "Please send the SDK logs.\n\nOn Mon, Nov 23, 2026 at 10:00 AM Acme Support <support@acme.example>\nwrote:\n> Your ticket has been created\n";
        assert_eq!(reply_part(t), "Please send the SDK logs.");
        let t = "收到，正在排查。\n\n-----原始邮件-----\n发件人: support@vendor.cn\n您的工单已生成";
        assert_eq!(reply_part(t), "收到，正在排查。");
        let t = "Looking into it.\n\nFrom: Acme Support <support@acme.example>\nSent: Monday\nSubject: ticket created";
        assert_eq!(reply_part(t), "Looking into it.");
        let t = "##- Please type your reply above this line -##\n\nAlex (Acme)\n\nPlease restart the SDK.\n\n--------------------------------\n\nYour request (123) has been received";
        assert_eq!(reply_part(t), "Alex (Acme)\n\nPlease restart the SDK.");
    }

    #[test]
    fn size_cap_and_garbage() {
        assert_eq!(parse(&[b'x'; 100], 10), Err(MailError::TooLarge { size: 100, limit: 10 }));
        assert!(parse(b"", DEFAULT_MAX_BYTES).is_err());
        assert!(parse(&[0xff, 0xfe, 0x00, 0x01], DEFAULT_MAX_BYTES).is_err());
    }

    #[test]
    fn mislabelled_charset_is_repaired() {
        // GBK bytes labelled utf-8.
        let (gbk, _, _) = encoding_rs::GBK.encode("您好，工单已收到，正在处理。");
        let mut raw = b"From: a@b.c\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n".to_vec();
        raw.extend_from_slice(&gbk);
        let m = parse(&raw, DEFAULT_MAX_BYTES).unwrap();
        assert_eq!(m.text.trim(), "您好，工单已收到，正在处理。");
    }
}
