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
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A source file the diagnostics point into.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: Arc<str>,
}

impl SourceFile {
    pub fn new(path: &Path, text: String) -> SourceFile {
        SourceFile { path: path.to_path_buf(), text: text.into() }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or(&self.text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = self.text.get(line_start..offset).map_or(1, |s| s.chars().count() + 1);
        (line, col)
    }
}

/// One problem, optionally located in a file.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub file: Option<SourceFile>,
    pub span: Option<Range<usize>>,
    pub message: String,
}

impl Diagnostic {
    pub fn at(file: &SourceFile, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        Diagnostic { file: Some(file.clone()), span: Some(span), message: message.into() }
    }

    pub fn in_file(file: &SourceFile, message: impl Into<String>) -> Diagnostic {
        Diagnostic { file: Some(file.clone()), span: None, message: message.into() }
    }

    pub fn plain(message: impl Into<String>) -> Diagnostic {
        Diagnostic { file: None, span: None, message: message.into() }
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
        writeln!(f, "error: {}", self.message)?;
        let (Some(file), Some(loc)) = (&self.file, self.location()) else {
            return Ok(());
        };
        let Some(span) = &self.span else {
            return writeln!(f, "  --> {loc}");
        };
        let (line, col) = file.line_col(span.start);
        let text = file.text.lines().nth(line - 1).unwrap_or("");
        let gutter = line.to_string().len();
        writeln!(f, "{:gutter$}--> {loc}", "")?;
        writeln!(f, "{:gutter$} |", "")?;
        writeln!(f, "{line} | {text}")?;
        // Underline the span, clipped to the first line it covers.
        let span_text = file.text.get(span.clone()).unwrap_or("");
        let first_line = span_text.split('\n').next().unwrap_or("");
        let width = first_line.chars().count().max(1);
        writeln!(f, "{:gutter$} | {:pad$}{}", "", "", "^".repeat(width), pad = col - 1)
    }
}

/// Every problem found in a config and the scenarios it uses.
#[derive(Debug)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        let n = self.0.len();
        write!(f, "\n{n} problem{} found", if n == 1 { "" } else { "s" })
    }
}

impl std::error::Error for Diagnostics {}

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
    fn columns_count_characters_not_bytes() {
        let file = SourceFile::new(Path::new("x.toml"), "name = \"声网\" x".to_string());
        let off = file.text.find('x').unwrap();
        assert_eq!(file.line_col(off), (1, 13));
    }
}
