//! Message templates with `{placeholder}` substitution, and validated regular
//! expressions. Both are checked when the file is read, so a typo in a
//! placeholder or pattern is a located config error, not a surprise at 3 a.m.

use std::fmt;

use serde::Deserialize;

/// Placeholders a template may use.
pub const PLACEHOLDERS: &[&str] = &["reference", "vendor", "vendor_id", "priority", "scenario", "channel", "date"];

/// A message template: literal text with `{name}` placeholders; `{{` and `}}`
/// stand for literal braces.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Template(String);

/// Values for a template's placeholders.
#[derive(Clone, Debug, Default)]
pub struct Vars<'a> {
    pub reference: &'a str,
    pub vendor: &'a str,
    pub vendor_id: &'a str,
    pub priority: &'a str,
    pub scenario: &'a str,
    pub channel: &'a str,
    pub date: &'a str,
}

impl Vars<'_> {
    fn get(&self, name: &str) -> &str {
        match name {
            "reference" => self.reference,
            "vendor" => self.vendor,
            "vendor_id" => self.vendor_id,
            "priority" => self.priority,
            "scenario" => self.scenario,
            "channel" => self.channel,
            "date" => self.date,
            _ => "",
        }
    }
}

enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

fn pieces(s: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("{{") {
            out.push(Piece::Text("{"));
            rest = r;
        } else if let Some(r) = rest.strip_prefix("}}") {
            out.push(Piece::Text("}"));
            rest = r;
        } else if let Some(r) = rest.strip_prefix('{') {
            let end = r.find('}').ok_or("unclosed `{` (write `{{` for a literal brace)")?;
            let name = &r[..end];
            if !PLACEHOLDERS.contains(&name) {
                return Err(format!("unknown placeholder `{{{name}}}` (available: {})", PLACEHOLDERS.join(", ")));
            }
            out.push(Piece::Var(name));
            rest = &r[end + 1..];
        } else if rest.starts_with('}') {
            return Err("unmatched `}` (write `}}` for a literal brace)".into());
        } else {
            let end = rest.find(['{', '}']).unwrap_or(rest.len());
            out.push(Piece::Text(&rest[..end]));
            rest = &rest[end..];
        }
    }
    Ok(out)
}

impl Template {
    pub fn new(s: &str) -> Result<Template, String> {
        pieces(s)?;
        Ok(Template(s.to_string()))
    }

    pub fn uses(&self, name: &str) -> bool {
        pieces(&self.0).is_ok_and(|ps| ps.iter().any(|p| matches!(p, Piece::Var(n) if *n == name)))
    }

    pub fn render(&self, vars: &Vars<'_>) -> String {
        let mut out = String::with_capacity(self.0.len() + 32);
        // Validated at construction, so this cannot fail; an empty render would be visible.
        for p in pieces(&self.0).unwrap_or_default() {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => out.push_str(vars.get(v)),
            }
        }
        out
    }

    pub fn source(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Template {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Template::new(&s)
    }
}

/// A regular expression, compiled and size-limited when the file is read.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct Pattern(regex::Regex);

impl Pattern {
    pub fn new(s: &str) -> Result<Pattern, String> {
        regex::RegexBuilder::new(s)
            .size_limit(1 << 20)
            .build()
            .map(Pattern)
            .map_err(|e| format!("invalid regular expression: {e}"))
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.0.is_match(text)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl TryFrom<String> for Pattern {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Pattern::new(&s)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.0.as_str())
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_placeholders_and_escapes() {
        let t = Template::new("[{reference}] {vendor}: {{literal}} {priority}").unwrap();
        let vars = Vars { reference: "SP-1", vendor: "Agora", priority: "P0", ..Vars::default() };
        assert_eq!(t.render(&vars), "[SP-1] Agora: {literal} P0");
        assert!(t.uses("reference"));
        assert!(!t.uses("date"));
    }

    #[test]
    fn rejects_unknown_and_unbalanced() {
        assert!(Template::new("{refrence}").unwrap_err().contains("unknown placeholder `{refrence}`"));
        assert!(Template::new("a { b").unwrap_err().contains("unclosed"));
        assert!(Template::new("a } b").unwrap_err().contains("unmatched"));
        assert!(Pattern::new("(unclosed").unwrap_err().contains("invalid regular expression"));
    }

    #[test]
    fn renders_non_ascii_text() {
        let t = Template::new("【{reference}】通话在 Wi-Fi 切换 4G 时中断").unwrap();
        let vars = Vars { reference: "SP-2", ..Vars::default() };
        assert_eq!(t.render(&vars), "【SP-2】通话在 Wi-Fi 切换 4G 时中断");
    }
}
