//! The new part of a message: quoted history, `>` lines and everything after
//! a "reply above this line" marker or a client's quote header removed.
//!
//! Works on normalised text ([`super::text::normalise`]): full-width colons
//! and no-break spaces are already plain.

use std::sync::LazyLock;

use regex::Regex;

/// Where quoted history starts (first matching line), in many clients' styles.
static QUOTE_START: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        // Gmail, Apple Mail, Thunderbird: "On Mon, Nov 23, 2026 at 10:00 AM X <x@y> wrote:".
        r"(?i)^\s*on\s.{3,200}\swrote:\s*$",
        // Outlook, Foxmail, QQ Mail: "-----Original Message-----", "----- 原始邮件 -----".
        r"(?i)^\s*-{2,}\s*original(\s+message)?\s*-{2,}",
        r"^\s*-{2,}\s*(原始邮件|原始郵件|原邮件|邮件原件|郵件原件|元のメッセージ)\s*-{2,}",
        // Zoho: "---- On Mon, 23 Nov 2026 10:14:00 +0800 X <x@y> wrote ----".
        r"(?i)^\s*-{2,}\s*on\s.{3,200}\swrote\s*-{2,}\s*$",
        r"^\s*_{10,}\s*$",
        // Outlook and forwarded headers: "From:", "*From:*", "发件人:", "寄件者:", "差出人:".
        r"(?i)^\s*\*?(from|发件人|發件人|寄件者|差出人|von)\*?:\s*\S.*",
        // Chinese and Japanese clients: "在 2026年11月23日 10:00，X 写道:", "X さんは書きました:".
        r"^\s*在\s?.{4,200}(写道|寫道)\s*:\s*$",
        r"^.{4,200}(書きました|wrote)\s*:\s*$",
        r"^\s*\d{4}年\d{1,2}月\d{1,2}日.{0,200}<[^>\s]+@[^>\s]+>\s*:\s*$",
        r"(?i)^\s*le\s.{3,200}\sa écrit\s*:\s*$",
        r"(?i)^\s*am\s.{3,200}\sschrieb\s.{0,200}:\s*$",
        // Helpdesk reply markers: the new text is above them.
        r"(?i)^\s*#{2,}-?\s*please (type your reply above|do not write below) this line",
        r"(?i)^\s*(-{2,}|={2,}|\*{2,})?\s*(please )?reply above this line",
    ]
    .iter()
    .map(|p| Regex::new(p).expect("built-in pattern compiles"))
    .collect()
});

/// The part of `text` that is the new reply.
pub fn reply_part(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<&str> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        // Gmail wraps long "On … wrote:" lines: try the line joined with the next one too.
        let wrapped = line.trim_start().get(..3).is_some_and(|s| s.eq_ignore_ascii_case("on "))
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
    fn quoted_history_is_stripped() {
        let t = "Please send the SDK logs.\n\nOn Mon, Nov 23, 2026 at 10:00 AM Acme Support <support@acme.example>\nwrote:\n> Your ticket has been created\n";
        assert_eq!(reply_part(t), "Please send the SDK logs.");
        let t = "收到,正在排查.\n\n-----原始邮件-----\n发件人: support@vendor.cn\n您的工单已生成";
        assert_eq!(reply_part(t), "收到,正在排查.");
        let t = "Looking into it.\n\nFrom: Acme Support <support@acme.example>\nSent: Monday\nSubject: ticket created";
        assert_eq!(reply_part(t), "Looking into it.");
        let t = "Fixed in 4.2.1.\n\n---- On Mon, 23 Nov 2026 10:14:00 +0800 POC <poc@x.example> wrote ----\nold";
        assert_eq!(reply_part(t), "Fixed in 4.2.1.");
        let t = "ログを送ってください.\n\n2026年11月23日(月) 10:14 POC <poc@x.example>:\n> old\n";
        assert_eq!(reply_part(t), "ログを送ってください.");
        let t = "ログを送ってください.\n\nPOC さんは書きました:\n> old\n";
        assert_eq!(reply_part(t), "ログを送ってください.");
        let t =
            "Thanks, that works.\n\n##- Please type your reply above this line -##\nYour request (1) has been updated";
        assert_eq!(reply_part(t), "Thanks, that works.");
        let t = "------------------ Original ------------------\nFrom: x";
        assert_eq!(reply_part(t), "");
    }
}
