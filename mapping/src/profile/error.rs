//! What can be wrong with a mapping profile, one line per problem:
//! `FILE:LINE:COLUMN: KEY: REASON`, the same shape as the service
//! configuration's errors, so an editor or a CI log can jump to the spot.

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a profile could not be loaded, or does not fit the adapter using it:
/// every problem found, each [`Issue`] one line of the `Display`.
#[derive(Debug)]
pub struct ProfileError {
    issues: Vec<Issue>,
}

impl ProfileError {
    pub(crate) fn new(issues: Vec<Issue>) -> Self {
        ProfileError { issues }
    }

    /// The problems, in the order they were found (file by file, top down).
    pub fn issues(&self) -> &[Issue] {
        &self.issues
    }
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ProfileError {}

/// One problem, and where it is.
#[derive(Debug)]
pub struct Issue {
    /// The profile file, as it was named (by the caller or by `extends`).
    pub file: PathBuf,
    /// Where in the file; absent when the problem is the file itself.
    pub position: Option<Position>,
    /// The dotted key, e.g. `note_types."Hälsobesök åk 4"`.
    pub key: Option<String>,
    pub problem: Problem,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(Position { line, column }) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.problem)
    }
}

/// A place in a file, both counted from 1; columns count characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `text`. Offsets past the end or
    /// inside a character are clamped, never a panic.
    pub(crate) fn of(text: &str, offset: usize) -> Position {
        let mut end = offset.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let before = &text[..end];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

/// A file and a place in it, kept for problems found after loading (the
/// adapter's element keys, its system).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub file: Arc<Path>,
    pub position: Position,
}

impl Origin {
    pub fn issue(&self, key: String, problem: Problem) -> Issue {
        Issue {
            file: self.file.to_path_buf(),
            position: Some(self.position),
            key: Some(key),
            problem,
        }
    }
}

/// One file's text, for turning byte spans into issues.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source<'a> {
    pub file: &'a Arc<Path>,
    pub text: &'a str,
}

impl Source<'_> {
    pub fn origin(&self, span: &Range<usize>) -> Origin {
        Origin {
            file: Arc::clone(self.file),
            position: Position::of(self.text, span.start),
        }
    }

    pub fn issue(&self, span: &Range<usize>, key: Option<String>, problem: Problem) -> Issue {
        Issue {
            file: self.file.to_path_buf(),
            position: Some(Position::of(self.text, span.start)),
            key,
            problem,
        }
    }
}

/// What is wrong at one place.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("cannot read: {0}")]
    Read(io::Error),
    #[error("is larger than {limit_kib} KiB, more than any profile needs; is it the right file?")]
    TooLarge { limit_kib: u64 },
    #[error("not UTF-8 text")]
    NotUtf8,
    /// The text is not TOML; the message is the TOML parser's.
    #[error("invalid TOML: {0}")]
    Syntax(String),
    #[error("unknown table; expected one of {}", list(allowed))]
    UnknownTable { allowed: Vec<&'static str> },
    #[error("unknown key; expected one of {}", list(allowed))]
    UnknownKey { allowed: Vec<String> },
    #[error("unknown key; this format has no element names to set")]
    NoElements,
    #[error("wrong type: expected {expected}, found {found}")]
    WrongType {
        expected: &'static str,
        found: &'static str,
    },
    #[error("{value:?} is not {what}; expected one of {}", list(allowed))]
    UnknownCode {
        value: String,
        what: &'static str,
        allowed: Vec<&'static str>,
    },
    #[error(
        "same key as {other_key} on line {other_line} (keys match ignoring case and extra whitespace)"
    )]
    Duplicate {
        other_key: String,
        other_line: usize,
    },
    #[error("key is empty once whitespace is ignored")]
    EmptyKey,
    #[error("must not be empty")]
    Empty,
    #[error("required key is missing; expected one of {}", list(allowed))]
    Missing { allowed: Vec<&'static str> },
    #[error("cannot read {}: {error}", path.display())]
    ExtendsUnreadable { path: PathBuf, error: io::Error },
    #[error("extends itself: {}", chain(files))]
    ExtendsCycle { files: Vec<PathBuf> },
    #[error("profiles extend each other more than {limit} deep")]
    ExtendsTooDeep { limit: usize },
    #[error("the built-in default cannot extend another file")]
    ExtendsFromBuiltin,
    #[error("profile is for {found:?}, but this format reads {expected:?} profiles")]
    WrongSystem { found: String, expected: String },
}

fn list<T: AsRef<str>>(items: &[T]) -> String {
    let quoted: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    quoted.join(", ")
}

fn chain(files: &[PathBuf]) -> String {
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    names.join(" -> ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let text = "a\nåäö = 1\n";
        assert_eq!(Position::of(text, 0), Position { line: 1, column: 1 });
        assert_eq!(Position::of(text, 2), Position { line: 2, column: 1 });
        // "åäö" is six bytes, three characters.
        assert_eq!(Position::of(text, 8), Position { line: 2, column: 4 });
    }

    #[test]
    fn positions_past_the_end_or_inside_a_character_are_clamped() {
        assert_eq!(Position::of("å", 1), Position { line: 1, column: 1 });
        assert_eq!(Position::of("ab", 99), Position { line: 1, column: 3 });
    }

    #[test]
    fn an_issue_is_one_line_file_line_column_key_reason() {
        let issue = Issue {
            file: PathBuf::from("gotene.toml"),
            position: Some(Position { line: 7, column: 1 }),
            key: Some("note_types.Syn".to_owned()),
            problem: Problem::Empty,
        };
        assert_eq!(
            issue.to_string(),
            "gotene.toml:7:1: note_types.Syn: must not be empty"
        );
    }
}
