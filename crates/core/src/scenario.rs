//! Scenarios: what a probe says and how it is followed, one TOML file per
//! scenario in the probes directory (`probes/p0-call-drops.toml` has id
//! `p0-call-drops`).

use std::path::Path;

use serde::Deserialize;

use crate::diag::{Diagnostic, SourceFile};
use crate::duration::Dur;
use crate::model::Priority;
use crate::template::{Pattern, Template, Vars};

/// When a follow-up message is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpAfter {
    /// `delay` after the ticket was opened.
    Opened,
    /// `delay` after the vendor's first human reply (e.g. "please send logs").
    FirstHumanResponse,
    /// `delay` after the vendor's human reply to the previous follow-up.
    PreviousReply,
}

/// How resolution can be recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionSignal {
    /// The vendor set the ticket to solved or closed.
    Status,
    /// A human reply matched the scenario's `pattern`.
    Pattern,
    /// A person recorded it (`supportprobe record REF --event resolved`).
    Manual,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUp {
    pub after: FollowUpAfter,
    #[serde(default = "zero")]
    pub delay: Dur,
    pub body: Template,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    #[serde(default = "all_signals")]
    pub on: Vec<ResolutionSignal>,
    pub pattern: Option<Pattern>,
}

impl Default for Resolution {
    fn default() -> Self {
        Resolution { on: all_signals(), pattern: None }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Close {
    /// The courtesy message posted when the probe ends.
    pub body: Template,
    /// Also mark the ticket solved where the channel allows it.
    #[serde(default = "yes")]
    pub solve: bool,
}

fn zero() -> Dur {
    Dur::ZERO
}
fn yes() -> bool {
    true
}
fn all_signals() -> Vec<ResolutionSignal> {
    vec![ResolutionSignal::Status, ResolutionSignal::Pattern, ResolutionSignal::Manual]
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    id: Option<String>,
    priority: Priority,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    description: Option<String>,
    subject: Template,
    body: Template,
    give_up_after: Dur,
    #[serde(default)]
    follow_ups: Vec<FollowUp>,
    #[serde(default)]
    resolution: Resolution,
    close: Close,
}

/// A validated scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub id: String,
    pub priority: Priority,
    pub language: String,
    pub description: String,
    pub subject: Template,
    pub body: Template,
    pub give_up_after: Dur,
    pub follow_ups: Vec<FollowUp>,
    pub resolution: Resolution,
    pub close: Close,
}

/// A rendered opening message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub body: String,
}

impl Scenario {
    /// The subject as written (placeholders unrendered), cut to 60 characters, for messages.
    pub fn subject_preview(&self) -> String {
        let s = self.subject.source();
        if s.chars().count() <= 60 { s.to_string() } else { format!("{}…", s.chars().take(60).collect::<String>()) }
    }

    /// Reads and validates `dir/ID.toml`.
    pub fn load(dir: &Path, id: &str) -> Result<Scenario, Vec<Diagnostic>> {
        let path = dir.join(format!("{id}.toml"));
        let file = SourceFile::read(&path, &format!("scenario `{id}`")).map_err(|d| vec![d])?;
        Scenario::parse(&file, id)
    }

    pub fn parse(file: &SourceFile, id: &str) -> Result<Scenario, Vec<Diagnostic>> {
        let (raw, mut errors, _) = crate::diag::read_all::<RawScenario>(file);
        let Some(raw) = raw else { return Err(errors) };
        if let Some(declared) = &raw.id
            && declared != id
        {
            errors.push(Diagnostic::in_file(
                file,
                format!("scenario id `{declared}` does not match its file name `{id}.toml`"),
            ));
        }
        if raw.resolution.on.contains(&ResolutionSignal::Pattern) && raw.resolution.pattern.is_none() {
            // Pattern matching without a pattern is simply off; say so only if it is the sole signal.
            if raw.resolution.on.len() == 1 {
                errors.push(Diagnostic::in_file(file, "resolution.on = [\"pattern\"] needs resolution.pattern"));
            }
        }
        if raw.give_up_after.is_zero() {
            errors.push(Diagnostic::in_file(file, "give_up_after must be longer than 0s"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Scenario {
            id: id.to_string(),
            priority: raw.priority,
            language: raw.language.unwrap_or_else(|| "en".into()),
            description: raw.description.unwrap_or_default(),
            subject: raw.subject,
            body: raw.body,
            give_up_after: raw.give_up_after,
            follow_ups: raw.follow_ups,
            resolution: raw.resolution,
            close: raw.close,
        })
    }

    /// The opening message. The reference is always in the subject and the
    /// body, whether or not the templates place it, so replies can be matched.
    pub fn render_open(&self, vars: &Vars<'_>) -> Message {
        let mut subject = self.subject.render(vars);
        if !self.subject.uses("reference") {
            subject = format!("[{}] {subject}", vars.reference);
        }
        let mut body = self.body.render(vars);
        if !self.body.uses("reference") {
            body = format!("{}\n\nReference: {}", body.trim_end(), vars.reference);
        }
        Message { subject, body }
    }

    /// A follow-up or close body with the probe marker appended, so our own
    /// message can be recognised in the channel's history after a crash.
    pub fn render_marked(template: &Template, vars: &Vars<'_>, marker: &str) -> String {
        format!("{}\n\n[{marker}]", template.render(vars).trim_end())
    }

    pub fn accepts(&self, signal: ResolutionSignal) -> bool {
        self.resolution.on.contains(&signal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, Vec<Diagnostic>> {
        Scenario::parse(&SourceFile::new(Path::new("probes/x.toml"), text.to_string()), "x")
    }

    const MINIMAL: &str = r#"
priority = "P1"
subject = "Messages delayed"
body = "Hello"
give_up_after = "1d"
[close]
body = "Thanks, closing."
"#;

    #[test]
    fn reference_is_always_inserted() {
        let s = parse(MINIMAL).unwrap();
        let m = s.render_open(&Vars { reference: "SP-AB12CD34", ..Vars::default() });
        assert_eq!(m.subject, "[SP-AB12CD34] Messages delayed");
        assert!(m.body.ends_with("Reference: SP-AB12CD34"));
    }

    #[test]
    fn errors_are_located() {
        let err = parse(&MINIMAL.replace("\"1d\"", "\"a day\"")).unwrap_err();
        let s = err[0].to_string();
        assert!(s.contains("probes/x.toml:5:17"), "{s}");
        assert!(s.contains("invalid duration"), "{s}");
        let err = parse(&MINIMAL.replace("Hello", "Hello {nmae}")).unwrap_err();
        assert!(err[0].to_string().contains("unknown placeholder `{nmae}`"));
    }
}
