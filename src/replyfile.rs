//! Saved replies — an email (`.eml`) or a reply as JSON — classified the way
//! the daemon classifies them, for `supportprobe classify` and for building a
//! corpus of one's own vendors' mail.
//!
//! The JSON form describes one reply as a channel reports it:
//!
//! ```json
//! { "author_name": "Answer Bot", "author_email": null, "author_kind": "agent",
//!   "kind_evidence": null, "subject": null, "headers": { "Auto-Submitted": "auto-generated" },
//!   "body": "These articles may help…" }
//! ```
//!
//! `author_kind` is one of `requester`, `agent`, `bot`, `automation`,
//! `bystander`, `unknown`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::classify::{AuthorKind, Classification, ClassifyOverrides, Explanation, ReplyFacts, explain};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyJson {
    #[serde(default)]
    author_id: Option<String>,
    #[serde(default)]
    author_name: Option<String>,
    #[serde(default)]
    author_email: Option<String>,
    #[serde(default)]
    author_kind: Option<String>,
    #[serde(default)]
    kind_evidence: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: String,
}

fn kind(s: Option<&str>) -> Result<AuthorKind, String> {
    Ok(match s.unwrap_or("unknown") {
        "requester" => AuthorKind::Requester,
        "agent" => AuthorKind::Agent,
        "bot" => AuthorKind::Bot,
        "automation" => AuthorKind::Automation,
        "bystander" => AuthorKind::Bystander,
        "unknown" => AuthorKind::Unknown,
        other => {
            return Err(format!(
                "author_kind `{other}` is not requester, agent, bot, automation, bystander or unknown"
            ));
        }
    })
}

/// Classifies one saved reply.
pub fn classify_file(path: &Path, overrides: &ClassifyOverrides) -> Result<Classification, String> {
    explain_file(path, overrides).map(|e| e.classification)
}

/// Classifies one saved reply and says why (`classify --explain`).
pub fn explain_file(path: &Path, overrides: &ClassifyOverrides) -> Result<Explanation, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
        let r: ReplyJson = serde_json::from_slice(&bytes).map_err(|e| format!("not a reply JSON: {e}"))?;
        let headers: Vec<(String, String)> = r.headers.into_iter().collect();
        let facts = ReplyFacts {
            author_id: r.author_id.as_deref().unwrap_or(""),
            author_name: r.author_name.as_deref().unwrap_or(""),
            author_email: r.author_email.as_deref(),
            author_kind: kind(r.author_kind.as_deref())?,
            kind_evidence: r.kind_evidence.as_deref(),
            headers: &headers,
            subject: r.subject.as_deref(),
            body: &r.body,
            parts: &[],
            ours: &[],
        };
        return Ok(explain(&facts, overrides));
    }
    let mail = crate::mail::parse(&bytes, crate::mail::DEFAULT_MAX_BYTES).map_err(|e| e.to_string())?;
    Ok(explain(&mail.facts(AuthorKind::Unknown), overrides))
}

/// The files to classify, in the order given; a directory stands for every
/// `.eml`/`.json` below it, sorted.
pub fn expand(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            let mut stack = vec![p.clone()];
            while let Some(dir) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else { continue };
                for e in entries.flatten() {
                    let path = e.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path.extension().is_some_and(|x| x == "eml" || x == "json") {
                        found.push(path);
                    }
                }
            }
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    out
}
