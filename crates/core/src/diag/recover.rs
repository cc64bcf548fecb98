//! Reading a TOML file so that *every* problem is found in one run.
//!
//! Serde stops at the first error. So the file is read in two passes: the
//! TOML parser first recovers from syntax errors and keeps every key's and
//! value's span (`DeTable::parse_recoverable`); then the typed read runs
//! again and again, each time taking out the entry its error points at (an
//! unknown key, a bad value, then a table missing a required key), until
//! it succeeds. An unknown key in one table does not hide a bad cron in
//! another, and what was taken out is kept ([`Pruned`]) so that later checks
//! stay quiet about the references it breaks.

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use super::{Diagnostic, SourceFile};

/// At most this many typed errors are collected from one file: each costs a
/// re-read, and a file with more is not worth reading further.
const MAX_ERRORS: usize = 200;

/// What the typed read took out of the file, by path (`vendors.acme.channels.zd`,
/// `schedules.2`), so that checks of references can tell "unknown" from "broken".
#[derive(Clone, Debug, Default)]
pub struct Pruned(Vec<Vec<String>>);

impl Pruned {
    /// Whether `path`, or a table holding it, was taken out.
    pub fn covers(&self, path: &[&str]) -> bool {
        self.0.iter().any(|p| p.len() <= path.len() && p.iter().zip(path).all(|(a, b)| a == b))
    }

    /// The names of the entries taken out right under `table` (`["calendars"]` → `cn-business`).
    pub fn names_under<'a>(&'a self, table: &'a [&str]) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |p| p.len() == table.len() + 1 && p.iter().zip(table).all(|(a, b)| a == b))
            .map(|p| p[table.len()].as_str())
    }

    /// As [`names_under`](Self::names_under), `*` in `table` matching any name.
    pub fn names_under_any<'a>(&'a self, table: &'a [&str]) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |p| p.len() == table.len() + 1 && p.iter().zip(table).all(|(a, b)| *b == "*" || a == b))
            .map(|p| p[table.len()].as_str())
    }

    /// Whether anything at or under `prefix` was taken out.
    pub fn touches(&self, prefix: &[&str]) -> bool {
        self.0
            .iter()
            .any(|p| p.iter().zip(prefix).all(|(a, b)| a == b) && (p.len() >= prefix.len() || self.covers(prefix)))
    }

    /// The index in the file of item `index` of what is left of array `array`.
    pub fn original_index(&self, array: &str, index: usize) -> usize {
        let mut removed: Vec<usize> =
            self.0.iter().filter(|p| p.len() == 2 && p[0] == array).filter_map(|p| p[1].parse().ok()).collect();
        removed.sort_unstable();
        let mut i = index;
        for r in removed {
            if r <= i {
                i += 1;
            }
        }
        i
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Reads `file` as a `T`, collecting every syntax and type error. Returns the
/// value read from what was left of the file (`None` when nothing could be
/// read), the errors in file order, and what was taken out.
pub fn read_all<T: DeserializeOwned>(file: &SourceFile) -> (Option<T>, Vec<Diagnostic>, Pruned) {
    let (mut doc, syntax) = DeTable::parse_recoverable(&file.text);
    let mut diags: Vec<Diagnostic> = syntax.iter().map(|e| enrich(file, e)).collect();
    let mut pruned = Pruned::default();
    // Keys already taken out (their table's path, the key, the key it was near), so the
    // "missing field" that follows from taking one out is not reported again.
    let mut taken: Vec<(Vec<String>, String, Option<String>)> = Vec::new();
    // Where each syntax error is: a typed error that follows one in the same
    // table (before the next `[header]`) is most likely caused by it (an
    // unclosed header puts its keys at the top level) and is not reported.
    let syntax_at: Vec<usize> = syntax.iter().filter_map(|e| e.span()).map(|r| r.start).collect();
    let after_syntax_error = |at: usize| {
        syntax_at.iter().any(|&p| {
            p <= at && {
                let between = file.text.get(p..at).unwrap_or("");
                // Skip the broken line itself, then look for a header line.
                !between.split('\n').skip(1).any(|l| l.trim_start().starts_with('['))
            }
        })
    };
    for _ in 0..MAX_ERRORS {
        let de = toml::de::Deserializer::from(doc.clone());
        let err = match T::deserialize(de) {
            Ok(v) => return (Some(v), sorted(diags), pruned),
            Err(e) => e,
        };
        // A key missing because its bad value was taken out: that error is already in.
        let caused_in = |table: &[String]| {
            missing_field(err.message()).is_some_and(|m| {
                taken.iter().any(|(t, key, near)| t.as_slice() == table && (key == m || near.as_deref() == Some(m)))
            })
        };
        let Some(span) = err.span() else {
            if !caused_in(&[]) {
                diags.push(enrich(file, &err));
            }
            return (None, sorted(diags), pruned);
        };
        // A missing key points at the table that lacks it (the top level when none holds the span).
        let tables_only = missing_field(err.message()).is_some();
        let Some(path) = take_out(doc.get_mut(), &span, tables_only) else {
            if !caused_in(&[]) && !after_syntax_error(span.start) {
                diags.push(enrich(file, &err));
            }
            return (None, sorted(diags), pruned);
        };
        let d = enrich(file, &err);
        let caused = caused_in(&path) || after_syntax_error(span.start);
        if let Some((key, table)) = path.split_last() {
            let near = d.notes.iter().find_map(|n| n.strip_prefix("help: did you mean `")?.strip_suffix("`?"));
            taken.push((table.to_vec(), key.clone(), near.map(str::to_string)));
        }
        if !caused {
            diags.push(d);
        }
        pruned.0.push(path);
    }
    diags.push(Diagnostic::in_file(file, format!("more than {MAX_ERRORS} problems; fix these first")));
    (None, sorted(diags), pruned)
}

fn sorted(mut diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diags.sort_by_key(|d| d.span.as_ref().map_or(usize::MAX, |s| s.start));
    diags
}

/// `missing field `x`` → `x`.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end && outer.start < outer.end.max(outer.start + 1)
}

/// Where in the tree an error points: the entry whose key or value holds
/// the span, the smallest such, the deepest on a tie.
struct Hit {
    path: Vec<String>,
    size: usize,
}

fn consider(best: &mut Option<Hit>, span: &Range<usize>, path: &[String], own: &Range<usize>) {
    if contains(own, span) {
        let size = own.end - own.start;
        if best.as_ref().is_none_or(|b| size < b.size || (size == b.size && path.len() > b.path.len())) {
            *best = Some(Hit { path: path.to_vec(), size });
        }
    }
}

fn find(value: &DeValue<'_>, span: &Range<usize>, path: &mut Vec<String>, best: &mut Option<Hit>, tables_only: bool) {
    let eligible = |v: &DeValue<'_>| !tables_only || matches!(v, DeValue::Table(_));
    match value {
        DeValue::Table(t) => {
            for (k, v) in t.iter() {
                path.push(k.get_ref().to_string());
                if eligible(v.get_ref()) {
                    consider(best, span, path, &k.span());
                    consider(best, span, path, &v.span());
                }
                find(v.get_ref(), span, path, best, tables_only);
                path.pop();
            }
        }
        DeValue::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                path.push(i.to_string());
                if eligible(v.get_ref()) {
                    consider(best, span, path, &v.span());
                }
                find(v.get_ref(), span, path, best, tables_only);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Takes out the entry an error at `span` points at (only a table, with
/// `tables_only`); its path.
fn take_out(root: &mut DeTable<'_>, span: &Range<usize>, tables_only: bool) -> Option<Vec<String>> {
    let mut best = None;
    let whole = DeValue::Table(std::mem::take(root));
    find(&whole, span, &mut Vec::new(), &mut best, tables_only);
    let DeValue::Table(mut table) = whole else { unreachable!("a table stays a table") };
    let removed = best.as_ref().is_some_and(|hit| remove_path(&mut table, &hit.path));
    *root = table;
    best.filter(|_| removed).map(|hit| hit.path)
}

fn remove_path(table: &mut DeTable<'_>, path: &[String]) -> bool {
    let Some((first, rest)) = path.split_first() else { return false };
    if rest.is_empty() {
        return table.remove(first.as_str()).is_some();
    }
    match table.get_mut(first.as_str()).map(Spanned::get_mut) {
        Some(value) => remove_in(value, rest),
        None => false,
    }
}

fn remove_in(value: &mut DeValue<'_>, path: &[String]) -> bool {
    match value {
        DeValue::Table(t) => remove_path(t, path),
        DeValue::Array(a) => {
            let Some((first, rest)) = path.split_first() else { return false };
            let Ok(i) = first.parse::<usize>() else { return false };
            if rest.is_empty() {
                if i >= a.len() {
                    return false;
                }
                let mut kept = DeArray::new();
                for (j, item) in std::mem::replace(a, DeArray::new()).iter().enumerate() {
                    if j != i {
                        kept.push(item.clone());
                    }
                }
                *a = kept;
                return true;
            }
            a.get_mut(i).is_some_and(|item| remove_in(item.get_mut(), rest))
        }
        _ => false,
    }
}

/// A TOML error as a diagnostic, with what helps: the near name of an
/// unknown key or variant, where a duplicated key was first defined.
fn enrich(file: &SourceFile, err: &toml::de::Error) -> Diagnostic {
    let message = err.message().trim().to_string();
    let Some(span) = err.span() else { return Diagnostic::in_file(file, message) };
    let text = file.text.get(span.clone()).unwrap_or("").to_string();
    if message == "duplicate key" {
        let line_start = file.text.get(..span.start).and_then(|b| b.rfind('\n')).map_or(0, |i| i + 1);
        let line = file.text.get(line_start..).and_then(|l| l.lines().next()).unwrap_or("").trim();
        let key = if line.starts_with('[') {
            line.split('#').next().unwrap_or(line).trim().trim_matches(['[', ']']).trim().to_string()
        } else {
            text.trim_matches(['"', '\'']).to_string()
        };
        let d = Diagnostic::at(file, span.clone(), format!("duplicate key `{key}`"));
        return match first_definition(file, span.start, &text) {
            Some(at) => {
                let (l, c) = file.line_col(at);
                d.note(format!("note: first defined at {}:{l}:{c}", file.path.display()))
            }
            None => d,
        };
    }
    let mut d = Diagnostic::at(file, span, message.clone());
    for prefix in ["unknown field `", "unknown variant `"] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((name, expected)) = rest.split_once('`')
        {
            let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
            d = d.suggest(name, candidates);
        }
    }
    d
}

/// Where a key or table header that is defined again at `dup` was first
/// defined: the same header earlier in the file, or the same key earlier in
/// the same table.
fn first_definition(file: &SourceFile, dup: usize, text: &str) -> Option<usize> {
    let before = file.text.get(..dup)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = file.text.get(line_start..)?.lines().next()?.trim();
    let norm = |h: &str| h.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let mut offset = 0;
    let lines: Vec<(usize, &str)> = before
        .split_inclusive('\n')
        .map(|l| {
            let at = offset;
            offset += l.len();
            (at, l)
        })
        .collect();
    if line.starts_with('[') {
        let header = norm(line.split('#').next().unwrap_or(line));
        return lines
            .iter()
            .find(|(_, l)| norm(l.split('#').next().unwrap_or(l)) == header)
            .map(|(at, l)| at + (l.len() - l.trim_start().len()));
    }
    // A key: look back within the current table (up to its header).
    let key = text.trim();
    for (at, l) in lines.iter().rev() {
        let t = l.trim_start();
        if t.starts_with('[') {
            break;
        }
        let name = t.split(['=', '.']).next().unwrap_or("").trim().trim_matches(['"', '\'']);
        if name == key.trim_matches(['"', '\'']) && t.contains('=') {
            return Some(at + (l.len() - t.len()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use serde::Deserialize;

    use super::*;

    // The fields are read through Debug only: the test looks at what was kept.
    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Root {
        #[serde(default)]
        daemon: Option<Daemon>,
        #[serde(default)]
        vendors: BTreeMap<String, Vendor>,
        #[serde(default)]
        schedules: Vec<Schedule>,
    }
    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Daemon {
        listen: Option<String>,
        workers: Option<u32>,
    }
    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Vendor {
        name: String,
    }
    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Schedule {
        cron: u32,
        scenario: String,
    }

    fn read(text: &str) -> (Option<Root>, Vec<Diagnostic>, Pruned) {
        read_all(&SourceFile::new(Path::new("t.toml"), text.to_string()))
    }

    #[test]
    fn every_problem_of_every_table_is_found_in_one_read() {
        let text = "[daemon]\nlisen = \"x\"\nworkers = \"many\"\n\n[vendors.a]\nnam = \"A\"\n\n[vendors.b]\nname = \"B\"\n\n[[schedules]]\ncron = \"bad\"\nscenario = \"s\"\n\n[[schedules]]\ncron = 5\nscenario = \"t\"\n";
        let (root, diags, pruned) = read(text);
        let messages: Vec<String> = diags.iter().map(|d| format!("{} {}", d.location().unwrap(), d.message)).collect();
        assert_eq!(diags.len(), 4, "{messages:#?}");
        assert!(messages[0].starts_with("t.toml:2:1 unknown field `lisen`"), "{messages:#?}");
        assert!(diags[0].notes.iter().any(|n| n == "help: did you mean `listen`?"), "{:?}", diags[0].notes);
        assert!(messages[1].starts_with("t.toml:3:11 invalid type"), "{messages:#?}");
        assert!(messages[2].starts_with("t.toml:6:1 unknown field `nam`"), "{messages:#?}");
        assert!(messages[3].starts_with("t.toml:12:8 invalid type"), "{messages:#?}");
        // `vendors.a` lost its only key and then its table: the "missing field name" that follows is not reported.
        assert!(!messages.iter().any(|m| m.contains("missing field")), "{messages:#?}");
        let root = root.unwrap();
        assert_eq!(root.vendors.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(root.schedules.len(), 1);
        assert_eq!(root.schedules[0].scenario, "t");
        assert!(pruned.covers(&["vendors", "a"]) && pruned.covers(&["vendors", "a", "channels"]));
        assert!(!pruned.covers(&["vendors", "b"]));
        assert_eq!(pruned.original_index("schedules", 0), 1);
    }

    #[test]
    fn a_missing_key_is_reported_when_nothing_caused_it() {
        let (_, diags, _) = read("[vendors.a]\n\n[vendors.b]\nname = \"B\"\n");
        assert_eq!(diags.len(), 1);
        assert!(diags[0].message.contains("missing field `name`"), "{}", diags[0].message);
        assert_eq!(diags[0].location().unwrap(), "t.toml:1:1");
    }

    #[test]
    fn syntax_errors_and_type_errors_come_together_and_duplicates_name_the_first() {
        let text = "[daemon]\nlisten = \"a\"\nlisten = \"b\"\n\n[vendors.a]\nname = \"A\"\n[vendors.a]\nname = \"B\"\n\n[[schedules]]\ncron = \"x\"\nscenario = \"s\"\n";
        let (_, diags, _) = read(text);
        let dup = diags.iter().find(|d| d.message == "duplicate key `listen`").expect("duplicate key");
        assert_eq!(dup.location().unwrap(), "t.toml:3:1");
        assert_eq!(dup.notes, ["note: first defined at t.toml:2:1"]);
        let table = diags.iter().find(|d| d.message.starts_with("duplicate key `vendors.a`")).expect("duplicate table");
        assert_eq!(table.notes, ["note: first defined at t.toml:5:1"]);
        assert!(diags.iter().any(|d| d.message.contains("invalid type") && d.location().unwrap() == "t.toml:11:8"));
    }

    #[test]
    fn a_hostile_file_ends_with_a_bounded_list() {
        let text: String = (0..500).map(|i| format!("[vendors.v{i}]\nnam = 1\n")).collect();
        let (_, diags, _) = read(&text);
        assert!(diags.len() <= MAX_ERRORS + 1, "{}", diags.len());
        assert!(diags.last().unwrap().message.contains("more than"));
    }
}
