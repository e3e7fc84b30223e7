//! What can be wrong with a configuration file, and the one line that says so:
//! `FILE:LINE:COLUMN: KEY: REASON`.
//!
//! Parsing and validation report a [`Spot`] (a byte span, the dotted key and
//! the [`Problem`]); only [`Spot::locate`], which has the file's name and text,
//! turns it into the [`ConfigError`] the user sees. That keeps the parsing and
//! checking code free of file names and line arithmetic.

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::PathBuf;

use serde_path_to_error::Segment;

use super::tagged::Tagged;

/// Why a configuration could not be loaded. `Display` is one line naming the
/// file and, when the problem is inside it, the line, column and key.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read: it is missing, a directory, or not readable
    /// by this user.
    Read { file: PathBuf, source: io::Error },
    /// The file was read, but something in it is wrong. Boxed because errors
    /// travel up through every `Result` while the success path stays small.
    Invalid(Box<Invalid>),
}

/// What is wrong in a configuration file, and where.
#[derive(Debug)]
pub struct Invalid {
    pub file: PathBuf,
    /// Where in the file; absent only if the parser could not say.
    pub position: Option<Position>,
    /// The dotted key, e.g. `store.pool_size`; absent for syntax errors.
    pub key: Option<String>,
    pub problem: Problem,
}

/// A place in the file, both counted from 1. Columns count characters, as
/// editors do, not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { file, source } => {
                write!(f, "{}: cannot read: {source}", file.display())
            }
            ConfigError::Invalid(invalid) => invalid.fmt(f),
        }
    }
}

impl fmt::Display for Invalid {
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

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { source, .. } => Some(source),
            ConfigError::Invalid(_) => None,
        }
    }
}

/// What is wrong at one place in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error(
        "is larger than {limit_kib} KiB, more than any configuration needs; is it the right file?"
    )]
    TooLarge { limit_kib: u64 },
    #[error("not UTF-8 text")]
    NotUtf8,
    /// The text is not TOML; the message is the TOML parser's.
    #[error("invalid TOML: {0}")]
    Syntax(String),
    #[error("unknown key; {}", expected_keys(allowed))]
    UnknownKey { allowed: Vec<String> },
    #[error("required key is missing")]
    Missing,
    #[error("wrong type: expected {expected}, found {found}")]
    WrongType { expected: String, found: String },
    #[error("{value:?} is not one of {}", allowed.join(", "))]
    NotOneOf { value: String, allowed: Vec<String> },
    #[error("must not be empty")]
    Empty,
    /// `~` is a shell feature; a service reading this file gets no shell.
    #[error("starts with `~`, which is not expanded here; write the full path")]
    HomeRelative,
    /// The reason is fixed text: the URL itself may hold a password, so it is
    /// never repeated in a message.
    #[error("not a PostgreSQL URL: {0}")]
    NotPostgresUrl(&'static str),
    #[error("must be from {min} to {max}, not {value}")]
    OutOfRange { value: i64, min: i64, max: i64 },
    /// A deserializer message we have no better words for.
    #[error("{0}")]
    Other(String),
}

impl Problem {
    pub(super) fn wrong_type(expected: &str, found: &str) -> Self {
        Problem::WrongType {
            expected: expected.to_owned(),
            found: found.to_owned(),
        }
    }
}

fn expected_keys(allowed: &[String]) -> String {
    if allowed.is_empty() {
        "this table takes no keys".to_owned()
    } else {
        format!("expected one of: {}", allowed.join(", "))
    }
}

/// A problem at a byte span of the text, before it is given a file name and
/// a line number.
#[derive(Debug)]
pub(super) struct Spot {
    pub span: Option<Range<usize>>,
    pub key: Option<String>,
    pub problem: Problem,
}

impl Spot {
    pub(super) fn at(span: Range<usize>, key: impl Into<String>, problem: Problem) -> Self {
        Spot {
            span: Some(span),
            key: Some(key.into()),
            problem,
        }
    }

    pub(super) fn syntax(error: &toml::de::Error) -> Self {
        Spot {
            span: error.span(),
            key: None,
            problem: Problem::Syntax(error.message().trim_end().to_owned()),
        }
    }

    /// Invalid UTF-8 after `valid_up_to` bytes of good text.
    pub(super) fn not_utf8(valid_up_to: usize) -> Self {
        Spot {
            span: Some(valid_up_to..valid_up_to),
            key: None,
            problem: Problem::NotUtf8,
        }
    }

    /// Translates a serde error into our words. serde reports unknown keys,
    /// missing keys and wrong types only as text in a stable format (the one
    /// `serde::de::Error`'s provided methods write), so that text is read back
    /// here; anything unrecognised is passed on unchanged as [`Problem::Other`].
    pub(super) fn from_serde(
        error: serde_path_to_error::Error<toml::de::Error>,
        tagged: &[Tagged],
    ) -> Self {
        let mut keys: Vec<String> = Vec::new();
        // Set when the error is inside a retagged table's variant: its tag is
        // then one of the keys the user may write there.
        let mut tag_of_variant = None;
        for segment in error.path().iter() {
            match segment {
                // `toml::Spanned` wraps a value in a private struct; not a key.
                Segment::Map { key } if key.starts_with("$__serde_spanned_private") => {}
                Segment::Map { key } => keys.push(key_for_message(key)),
                Segment::Seq { index } => match keys.last_mut() {
                    Some(last) => last.push_str(&format!("[{index}]")),
                    None => keys.push(format!("[{index}]")),
                },
                // The variant is the tag's value, not a key the user wrote.
                Segment::Enum { .. } => tag_of_variant = tag_of(tagged, &keys),
                Segment::Unknown => keys.push("?".to_owned()),
            }
        }
        let span = error.inner().span();
        let message = error.inner().message();
        let problem = if let Some(rest) = message.strip_prefix("unknown field `") {
            let mut allowed = match rest.rsplit_once("`, expected ") {
                Some((_, expected)) => backticked(expected),
                None => Vec::new(),
            };
            if let Some(tag) = tag_of_variant {
                allowed.insert(0, tag.to_owned());
            }
            Problem::UnknownKey { allowed }
        } else if let Some((value, expected)) = message
            .strip_prefix("unknown variant `")
            .and_then(|rest| rest.rsplit_once("`, expected "))
        {
            // Only retagged tables are enums, and their variant is the tag's value.
            if let Some(tag) = tag_of(tagged, &keys) {
                keys.push(tag.to_owned());
            }
            Problem::NotOneOf {
                value: value.to_owned(),
                allowed: backticked(expected),
            }
        } else if let Some(field) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            keys.push(key_for_message(field));
            Problem::Missing
        } else if let Some((found, expected)) = message
            .strip_prefix("invalid type: ")
            .and_then(|rest| rest.rsplit_once(", expected "))
        {
            Problem::WrongType {
                expected: plain_expected(expected).to_owned(),
                found: plain_found(found).to_owned(),
            }
        } else {
            Problem::Other(message.trim_end().to_owned())
        };
        Spot {
            span,
            key: (!keys.is_empty()).then(|| keys.join(".")),
            problem,
        }
    }

    /// Names the file and turns the byte span into a line and column of `text`.
    pub(super) fn locate(self, file: PathBuf, text: &str) -> ConfigError {
        ConfigError::Invalid(Box::new(Invalid {
            file,
            position: self.span.map(|span| position(text, span.start)),
            key: self.key,
            problem: self.problem,
        }))
    }
}

fn tag_of(tagged: &[Tagged], keys: &[String]) -> Option<&'static str> {
    match keys {
        [table] => tagged.iter().find(|t| t.table == table).map(|t| t.tag),
        _ => None,
    }
}

/// The names serde lists as `` `a`, `b` `` in an "expected" clause.
fn backticked(expected: &str) -> Vec<String> {
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// serde names Rust types in "expected"; users wrote TOML.
fn plain_expected(expected: &str) -> &str {
    match expected {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" => "an integer",
        "f32" | "f64" => "a number",
        "a boolean" | "bool" => "true or false",
        other if other.starts_with("struct ") || other.starts_with("enum ") => "a table",
        other => other,
    }
}

fn plain_found(found: &str) -> &str {
    match found {
        "map" => "a table",
        "sequence" => "an array",
        other => other,
    }
}

/// A key as it must be written in TOML: bare when it can be, quoted otherwise.
fn key_for_message(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

/// The 1-based line and character column of byte `offset` in `text`.
fn position(text: &str, offset: usize) -> Position {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let mut line_text = &before[line_start..];
    if line_start == 0 {
        // A byte-order mark (Windows editors write one) is not a column.
        line_text = line_text.strip_prefix('\u{feff}').unwrap_or(line_text);
    }
    Position {
        line: before.matches('\n').count() + 1,
        column: line_text.chars().count() + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters_from_one() {
        let text = "a = 1\nbå = \"ö\"\r\nc";
        assert_eq!(position(text, 0), Position { line: 1, column: 1 });
        assert_eq!(position(text, 4), Position { line: 1, column: 5 });
        // "bå = " is six bytes but five characters.
        assert_eq!(position(text, 6 + 6), Position { line: 2, column: 6 });
        assert_eq!(
            position(text, text.len() - 1),
            Position { line: 3, column: 1 }
        );
    }

    #[test]
    fn positions_never_panic_past_the_end_or_inside_a_character() {
        let text = "å";
        assert_eq!(position(text, 1), Position { line: 1, column: 1 });
        assert_eq!(position(text, 99), Position { line: 1, column: 2 });
        assert_eq!(position("", 5), Position { line: 1, column: 1 });
    }

    #[test]
    fn a_byte_order_mark_is_not_a_column() {
        let text = "\u{feff}[log]";
        assert_eq!(position(text, 4), Position { line: 1, column: 2 });
    }

    #[test]
    fn odd_keys_are_quoted_as_toml_would_need() {
        assert_eq!(key_for_message("pool_size"), "pool_size");
        assert_eq!(key_for_message("a b"), "\"a b\"");
        assert_eq!(key_for_message(""), "\"\"");
    }

    #[test]
    fn serde_expectations_are_read_back() {
        assert_eq!(backticked("one of `a`, `b`, `c`"), ["a", "b", "c"]);
        assert_eq!(backticked("`a` or `b`"), ["a", "b"]);
        assert!(backticked("nothing").is_empty());
    }

    #[test]
    fn read_errors_name_the_file_and_the_cause() {
        let error = ConfigError::Read {
            file: PathBuf::from("conf/b.toml"),
            source: io::Error::new(io::ErrorKind::NotFound, "gone"),
        };
        assert_eq!(error.to_string(), "conf/b.toml: cannot read: gone");
        assert!(std::error::Error::source(&error).is_some());
    }
}
