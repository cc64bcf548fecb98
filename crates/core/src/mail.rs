//! Reading vendor mail: MIME parsing (multipart, quoted-printable, base64,
//! any charset including GBK/GB18030/Big5/ISO-2022-JP), repair of wrong
//! charset labels and of broken framing (leading blank lines, an mbox
//! `From ` line, CR-only line ends, a missing blank line after the
//! headers), HTML-only bodies reduced to text, and the MIME structure kept
//! (delivery reports are recognised by it). What part of the text is the
//! new reply is the classifier's business, not this module's.
//!
//! Parsing never panics and never stalls: every step is linear in the size
//! of the mail, mail over the size cap is refused before parsing, and a
//! message that cannot be parsed is reported as [`MailError::Unparseable`]
//! so it is recorded, not dropped silently.

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
    pub html_only: bool,
    /// The MIME type of every part, in order (`multipart/report; report-type=delivery-status`,
    /// `message/delivery-status`, `text/plain` …).
    pub parts: Vec<String>,
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

/// Whether `line` (without its line end) is a header field or the
/// continuation of one.
fn header_line(line: &[u8]) -> bool {
    if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
        return true;
    }
    let Some(colon) = line.iter().position(|b| *b == b':') else { return false };
    colon > 0 && line[..colon].iter().all(|b| b.is_ascii_graphic() && *b != b':')
}

/// Repairs framing that real mail gets wrong and parsers stumble on: blank
/// lines or an mbox `From ` line before the headers, CR-only line ends, and
/// a body that starts without the blank line after the headers. Mail that
/// needs none of this is returned as it is. One pass.
pub fn repair(raw: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    use std::borrow::Cow;
    let mut start = 0;
    while start < raw.len() && matches!(raw[start], b'\r' | b'\n' | b' ' | b'\t') {
        start += 1;
    }
    if raw[start..].starts_with(b"From ") {
        start = raw[start..].iter().position(|b| *b == b'\n').map_or(raw.len(), |i| start + i + 1);
    }
    let raw = &raw[start..];
    let lone_cr = raw.iter().enumerate().any(|(i, b)| *b == b'\r' && raw.get(i + 1) != Some(&b'\n'));
    let body: Cow<'_, [u8]> = if lone_cr {
        let mut v = Vec::with_capacity(raw.len() + raw.len() / 16);
        for (i, b) in raw.iter().enumerate() {
            match b {
                b'\r' if raw.get(i + 1) == Some(&b'\n') => {}
                b'\r' => v.push(b'\n'),
                b => v.push(*b),
            }
        }
        Cow::Owned(v)
    } else {
        Cow::Borrowed(raw)
    };
    // Where the header block ends: the first line that is neither a field nor a continuation.
    let mut pos = 0;
    let mut missing_separator = None;
    while pos < body.len() {
        let end = body[pos..].iter().position(|b| *b == b'\n').map_or(body.len(), |i| pos + i);
        let line = body[pos..end].strip_suffix(b"\r").unwrap_or(&body[pos..end]);
        if line.is_empty() {
            break;
        }
        if !header_line(line) {
            missing_separator = (pos > 0).then_some(pos);
            break;
        }
        pos = end + 1;
    }
    match (missing_separator, body) {
        (Some(at), body) => {
            let mut v = Vec::with_capacity(body.len() + 2);
            v.extend_from_slice(&body[..at]);
            v.push(b'\n');
            v.extend_from_slice(&body[at..]);
            Cow::Owned(v)
        }
        (None, body) => body,
    }
}

/// The MIME types of a message's parts (`type/subtype`, with `report-type` for reports).
fn part_types(msg: &mail_parser::Message<'_>) -> Vec<String> {
    msg.parts
        .iter()
        .filter_map(|p| p.content_type())
        .map(|c| {
            let mut t = c.ctype().to_ascii_lowercase();
            if let Some(sub) = c.subtype() {
                t.push('/');
                t.push_str(&sub.to_ascii_lowercase());
            }
            if let Some(r) = c.attribute("report-type") {
                t.push_str("; report-type=");
                t.push_str(&r.to_ascii_lowercase());
            }
            t
        })
        .collect()
}

/// Parses a raw message.
pub fn parse(raw: &[u8], max_bytes: usize) -> Result<Mail, MailError> {
    if raw.len() > max_bytes {
        return Err(MailError::TooLarge { size: raw.len(), limit: max_bytes });
    }
    let raw = repair(raw);
    let msg = MessageParser::default().parse(&raw[..]).ok_or(MailError::Unparseable)?;
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
    let parts = part_types(&msg);
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
        html_only,
        parts,
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
            body: &self.text,
            parts: &self.parts,
            ours: &[],
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Reduces HTML to text: drops head, style, script, comments and quoted
/// blocks (`<blockquote>`, Gmail's `gmail_quote`, Outlook's reply header and
/// what follows it), keeps line structure, decodes character references
/// with the full HTML table. One pass over the markup.
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
    // Open elements whose content is not text; only their count matters.
    let mut skip: Vec<&'static str> = Vec::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        if skip.is_empty() {
            out.push_str(&rest[..lt]);
        }
        let after = &rest[lt + 1..];
        if let Some(comment) = after.strip_prefix("!--") {
            rest = comment.find("-->").map_or("", |e| &comment[e + 3..]);
            continue;
        }
        let Some(gt) = after.find('>') else {
            rest = "";
            break;
        };
        let tag = &after[..gt];
        rest = &after[gt + 1..];
        let closing = tag.starts_with('/');
        let name_len = tag.trim_start_matches('/').bytes().take_while(u8::is_ascii_alphanumeric).count();
        let name = &tag.trim_start_matches('/')[..name_len];
        let skipped =
            ["head", "style", "script", "blockquote", "title"].into_iter().find(|n| name.eq_ignore_ascii_case(n));
        if let Some(n) = skipped {
            if closing {
                if skip.last() == Some(&n) {
                    skip.pop();
                }
            } else if !tag.ends_with('/') {
                skip.push(n);
            }
            continue;
        }
        let breaks = ["br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "hr", "table"];
        if skip.is_empty() && breaks.iter().any(|b| name.eq_ignore_ascii_case(b)) {
            out.push('\n');
        }
    }
    if skip.is_empty() {
        out.push_str(rest);
    }
    let text = crate::classify::text::decode_entities(&out);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_reduced_and_quotes_dropped() {
        let html = "<html><head><style>p{}</style></head><body><p>Hi,&nbsp;please send logs &amp; the version.</p>\
                    <div>Thanks<br>Alex</div><blockquote>Your ticket has been created</blockquote>\
                    <div class=\"gmail_quote\">On Mon wrote: old</div></body></html>";
        let t = html_to_text(html);
        assert_eq!(t, "Hi,\u{a0}please send logs & the version.\n\nThanks\nAlex");
        assert_eq!(html_to_text("a<!-- <p>x</p> -->b&eacute;&#24037;<br/>c<"), "abé工\nc");
    }

    #[test]
    fn size_cap_and_garbage() {
        assert_eq!(parse(&[b'x'; 100], 10), Err(MailError::TooLarge { size: 100, limit: 10 }));
        assert!(parse(b"", DEFAULT_MAX_BYTES).is_err());
        assert!(parse(&[0xff, 0xfe, 0x00, 0x01], DEFAULT_MAX_BYTES).is_err());
    }

    #[test]
    fn broken_framing_is_repaired() {
        let ok = |raw: &[u8]| {
            let m = parse(raw, DEFAULT_MAX_BYTES).unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(raw)));
            (m.from_addr.unwrap_or_default(), m.subject, m.text.trim().to_string())
        };
        let want = ("a@b.example".to_string(), "Hi".to_string(), "Body line 1\nline 2".to_string());
        assert_eq!(ok(b"From: a@b.example\r\nSubject: Hi\r\n\r\nBody line 1\r\nline 2\r\n"), want);
        assert_eq!(ok(b"\r\n\nFrom: a@b.example\nSubject: Hi\n\nBody line 1\nline 2\n"), want, "leading blank lines");
        assert_eq!(ok(b"From: a@b.example\rSubject: Hi\r\rBody line 1\rline 2\r"), want, "CR-only line ends");
        assert_eq!(ok(b"From: a@b.example\r\nSubject: Hi\n\r\nBody line 1\nline 2\r\n"), want, "mixed line ends");
        assert_eq!(
            ok(b"From: a@b.example\nSubject: Hi\nBody line 1\nline 2\n"),
            want,
            "no blank line after the headers"
        );
        assert_eq!(
            ok(b"From MAILER-DAEMON Mon Nov 23 10:00:00 2026\nFrom: a@b.example\nSubject: Hi\n\nBody line 1\nline 2\n"),
            want
        );
        assert!(matches!(repair(b"From: a@b\r\n\r\nx"), std::borrow::Cow::Borrowed(_)), "good mail is not copied");
    }

    #[test]
    fn mime_structure_is_kept() {
        let raw = b"From: MAILER-DAEMON@mx.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nfailed\r\n\
--b1\r\nContent-Type: message/delivery-status\r\n\r\nStatus: 5.1.1\r\n--b1--\r\n";
        let m = parse(raw, DEFAULT_MAX_BYTES).unwrap();
        assert_eq!(m.parts, ["multipart/mixed", "text/plain", "message/delivery-status"]);
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
