//! Located error messages for config and scenario files:
//!
//! ```text
//! error: unknown vendor `agoar` (defined: agora, twilio)
//!   --> config/supportprobe.toml:31:12
//!    |
//! 31 | vendors = ["agoar"]
//!    |            ^^^^^^^
//! ```

use std::fmt;
use std::ops::Range;

mod recover;
pub use recover::{Pruned, read_all};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A source file the diagnostics point into.
#[derive(Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: Arc<str>,
    /// Byte offset of each line's start, so locating is a binary search
    /// (thousands of problems in a big file stay linear).
    line_starts: Arc<[usize]>,
}

impl fmt::Debug for SourceFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SourceFile({})", self.path.display())
    }
}

/// How much of a long source line is shown around the problem.
const SHOWN_CHARS: usize = 120;

impl SourceFile {
    pub fn new(path: &Path, text: String) -> SourceFile {
        let line_starts: Vec<usize> = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        SourceFile { path: path.to_path_buf(), text: text.into(), line_starts: line_starts.into() }
    }

    /// Reads a file as UTF-8; bytes that are not are a located diagnostic
    /// (`path:line:col`), not a bare "stream did not contain valid UTF-8".
    pub fn read(path: &Path, what: &str) -> Result<SourceFile, Diagnostic> {
        let bytes = std::fs::read(path)
            .map_err(|e| Diagnostic::plain(format!("cannot read {what} {}: {e}", path.display())))?;
        match String::from_utf8(bytes) {
            Ok(text) => Ok(SourceFile::new(path, text)),
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let byte = e.as_bytes().get(at).copied().unwrap_or(0);
                let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
                // The offset in the lossy text is the same up to the first bad byte.
                let file = SourceFile::new(path, lossy);
                let end = file.text.get(at..).and_then(|r| r.chars().next()).map_or(at, |c| at + c.len_utf8());
                Err(Diagnostic::at(
                    &file,
                    at..end,
                    format!("{what} is not valid UTF-8 (byte 0x{byte:02X}); save it as UTF-8"),
                ))
            }
        }
    }

    /// The line (0-based) holding a byte offset.
    fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|s| *s <= offset).saturating_sub(1)
    }

    /// The text of a 0-based line, without its newline.
    fn line_text(&self, line: usize) -> &str {
        let start = self.line_starts.get(line).copied().unwrap_or(self.text.len());
        let end = self.line_starts.get(line + 1).map_or(self.text.len(), |e| e.saturating_sub(1));
        self.text.get(start..end.max(start)).unwrap_or("").trim_end_matches('\r')
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_of(offset);
        let start = self.line_starts.get(line).copied().unwrap_or(0).min(offset);
        let col = self.text.get(start..offset).map_or(1, |s| s.chars().count() + 1);
        (line + 1, col)
    }
}

/// Whether a diagnostic stops the file from being used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    /// Legal, but probably not what was meant.
    Warning,
}

/// One problem, optionally located in a file.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub file: Option<SourceFile>,
    pub span: Option<Range<usize>>,
    pub message: String,
    pub severity: Severity,
    /// Lines shown under the caret: `help: did you mean …`, `note: first defined at …`.
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn at(file: &SourceFile, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: Some(file.clone()),
            span: Some(span),
            message: message.into(),
            severity: Severity::Error,
            notes: Vec::new(),
        }
    }

    pub fn in_file(file: &SourceFile, message: impl Into<String>) -> Diagnostic {
        Diagnostic { span: None, ..Diagnostic::at(file, 0..0, message) }
    }

    pub fn plain(message: impl Into<String>) -> Diagnostic {
        Diagnostic { file: None, span: None, message: message.into(), severity: Severity::Error, notes: Vec::new() }
    }

    /// The same diagnostic as a warning.
    pub fn warning(mut self) -> Diagnostic {
        self.severity = Severity::Warning;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Adds a line under the caret (`help: …`, `note: …`).
    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    /// Adds `help: did you mean `X`?` when a candidate is near `name`.
    pub fn suggest<'a>(self, name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Diagnostic {
        match nearest(name, candidates) {
            Some(n) => self.note(format!("help: did you mean `{n}`?")),
            None => self,
        }
    }

    /// `path:line:col` (or just the path) for one-line summaries.
    pub fn location(&self) -> Option<String> {
        let file = self.file.as_ref()?;
        Some(match &self.span {
            Some(span) => {
                let (l, c) = file.line_col(span.start);
                format!("{}:{l}:{c}", file.path.display())
            }
            None => file.path.display().to_string(),
        })
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(f, "{word}: {}", self.message)?;
        let notes = |f: &mut fmt::Formatter<'_>, blank: &str| -> fmt::Result {
            for n in &self.notes {
                writeln!(f, "{blank} = {n}")?;
            }
            Ok(())
        };
        let (Some(file), Some(loc)) = (&self.file, self.location()) else {
            return notes(f, "  ");
        };
        let Some(span) = &self.span else {
            writeln!(f, "  --> {loc}")?;
            return notes(f, "  ");
        };
        let (line, col) = file.line_col(span.start);
        let text = file.line_text(line - 1);
        let gutter = line.to_string().len();
        let blank = " ".repeat(gutter);
        writeln!(f, "{blank}--> {loc}")?;
        writeln!(f, "{blank} |")?;
        // A long line is shown around the problem, marked where it is cut.
        let chars: Vec<char> = text.chars().collect();
        let first =
            if chars.len() <= SHOWN_CHARS { 0 } else { (col - 1).saturating_sub(SHOWN_CHARS / 3).min(chars.len()) };
        let last = (first + SHOWN_CHARS).min(chars.len());
        let shown: String = chars[first..last].iter().collect();
        let (head, tail) = (if first > 0 { "…" } else { "" }, if last < chars.len() { "…" } else { "" });
        writeln!(f, "{line} | {head}{shown}{tail}")?;
        // Underline the span, clipped to the first line it covers and to what is shown.
        let span_text = file.text.get(span.clone()).unwrap_or("");
        let first_line = span_text.split('\n').next().unwrap_or("");
        let room = (last + 1).saturating_sub(col).max(1);
        let width = first_line.chars().count().clamp(1, room);
        let pad = " ".repeat((col - 1 - first) + head.chars().count());
        writeln!(f, "{blank} | {pad}{}", "^".repeat(width))?;
        notes(f, &blank)
    }
}

/// Every problem found in a config and the scenarios it uses (errors and
/// the warnings found beside them).
#[derive(Debug)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Sorted for reading: file by file in the order files first appear,
    /// by position within a file, unlocated ones last; duplicates dropped.
    pub fn sorted(mut list: Vec<Diagnostic>) -> Diagnostics {
        let mut files: Vec<PathBuf> = Vec::new();
        for d in &list {
            if let Some(f) = &d.file
                && !files.contains(&f.path)
            {
                files.push(f.path.clone());
            }
        }
        let key = |d: &Diagnostic| {
            let file = d.file.as_ref().and_then(|f| files.iter().position(|p| *p == f.path)).unwrap_or(usize::MAX);
            (file, d.span.as_ref().map_or(usize::MAX, |s| s.start))
        };
        list.sort_by_key(key);
        let mut seen = std::collections::HashSet::new();
        list.retain(|d| seen.insert((key(d), d.message.clone())));
        Diagnostics(list)
    }

    pub fn errors(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        let n = self.errors();
        let w = self.0.len() - n;
        write!(f, "\n{n} problem{} found", if n == 1 { "" } else { "s" })?;
        if w > 0 {
            write!(f, ", and {w} warning{}", if w == 1 { "" } else { "s" })?;
        }
        Ok(())
    }
}

/// The candidate nearest to `name` by edit distance (letter case aside),
/// if it is near enough to be a typo: at most a third of the name's letters
/// differ. `lisen` → `listen`, `Zendsk` → `zendesk`, `us-busines` → `us-business`.
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_lowercase();
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (edit_distance(&lower, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

impl std::error::Error for Diagnostics {}

/// Turns a TOML parse or type error into a located diagnostic.
pub fn toml_diagnostic(file: &SourceFile, err: &toml::de::Error) -> Diagnostic {
    let message = err.message().trim().to_string();
    match err.span() {
        Some(span) => Diagnostic::at(file, span, message),
        None => Diagnostic::in_file(file, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_and_caret() {
        let file = SourceFile::new(Path::new("x.toml"), "[daemon]\nlisen = \"a\"\n".to_string());
        let d = Diagnostic::at(&file, 9..14, "unknown field `lisen`");
        let s = d.to_string();
        assert!(s.contains("--> x.toml:2:1"), "{s}");
        assert!(s.contains("2 | lisen = \"a\""), "{s}");
        assert!(s.contains("  | ^^^^^"), "{s}");
    }

    #[test]
    fn a_problem_past_column_65535_is_shown_around_its_place() {
        let line = format!("name = \"{}\" oops", "x".repeat(70_000));
        let file = SourceFile::new(Path::new("x.toml"), format!("[v]\n{line}\n"));
        let at = file.text.find("oops").unwrap();
        let s = Diagnostic::at(&file, at..at + 4, "unexpected `oops`").to_string();
        assert!(s.contains(&format!("--> x.toml:2:{}", 70_000 + 11)), "{s}");
        let shown = s.lines().find(|l| l.starts_with("2 | ")).unwrap();
        assert!(shown.contains("…x") && shown.ends_with("oops"), "{shown}");
        assert!(shown.chars().count() < 200, "clipped: {}", shown.chars().count());
        let caret = s.lines().last().unwrap();
        let col = |l: &str, pat: &str| {
            l.char_indices().find(|(_, c)| pat.starts_with(*c)).map(|(i, _)| l[..i].chars().count())
        };
        assert_eq!(col(caret, "^"), shown.rfind("oops").map(|i| shown[..i].chars().count()), "{shown}\n{caret}");
    }

    #[test]
    fn invalid_utf8_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, b"[daemon]\nname = \"ok\"\nnote = \"caf\xe9\"\n").unwrap();
        let d = SourceFile::read(&path, "config").unwrap_err();
        assert_eq!(d.location(), Some(format!("{}:3:12", path.display())));
        assert!(d.to_string().contains("not valid UTF-8 (byte 0xE9)"), "{d}");
    }

    #[test]
    fn many_problems_in_a_big_file_are_located_by_the_line_index() {
        // 20,000 problems in a 20,000-line file: each located by binary search.
        let text: String = (0..20_000).map(|i| format!("k{i} = {i}\n")).collect();
        let file = SourceFile::new(Path::new("big.toml"), text);
        let offsets: Vec<usize> = file.text.match_indices('=').map(|(i, _)| i).collect();
        let rendered: usize = offsets.iter().map(|o| Diagnostic::at(&file, *o..o + 1, "x").to_string().len()).sum();
        assert!(rendered > 0);
        assert_eq!(file.line_col(*offsets.last().unwrap()), (20_000, 8));
        assert_eq!(file.line_of(file.text.len() - 1), 19_999);
        assert_eq!(file.line_text(12_345), "k12345 = 12345");
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let file = SourceFile::new(Path::new("x.toml"), "name = \"声网\" x".to_string());
        let off = file.text.find('x').unwrap();
        assert_eq!(file.line_col(off), (1, 13));
    }
}
