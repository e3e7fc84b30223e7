//! Reading profile files: TOML text to checked entries, `extends` followed
//! and merged.
//!
//! Everything here works on the parsed document with its byte spans, so a
//! problem can name the exact line of the key or value at fault. Parsing goes
//! on after a problem where it can, so one run reports every mistake in a file
//! instead of one per attempt.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::UnmappedPolicy;
use super::error::{Issue, Origin, Position, Problem, Source};
use super::normalise::normalise;
use super::targets::Target;
use crate::model::{MeasurementKind, NoteTypeCode, Profession, SecrecyDomain};

/// The source system kinds a profile can be for.
pub(crate) const SYSTEMS: &[&str] = &["pmo", "prorenata", "bhv"];

const TABLES: &[&str] = &[
    "profile",
    "note_types",
    "measurements",
    "secrecy_domains",
    "professions",
    "elements",
];

const PROFILE_KEYS: &[&str] = &[
    "name",
    "system",
    "extends",
    "unmapped_keywords",
    "default_secrecy_domain",
];

const EXTENDS: &str = "profile.extends";

const POLICIES: &[&str] = &["unclassified", "reject"];

/// A profile with thousands of keywords is a few hundred KiB; anything near
/// this is the wrong file.
const MAX_BYTES: u64 = 4 * 1024 * 1024;

/// How many files an `extends` chain may hold; real chains are two or three.
const MAX_DEPTH: usize = 16;

/// A profile as read from one file, or several merged along `extends`.
#[derive(Debug)]
pub(crate) struct Raw {
    pub name: Option<String>,
    pub system: Option<(String, Origin)>,
    pub unmapped: Option<UnmappedPolicy>,
    pub default_secrecy_domain: Option<SecrecyDomain>,
    /// Where `[profile]` starts (or the file's start): where a missing key is
    /// reported.
    pub header: Origin,
    pub note_types: Vec<Entry<NoteTypeCode>>,
    pub measurements: Vec<Entry<MeasurementKind>>,
    pub secrecy_domains: Vec<Entry<SecrecyDomain>>,
    pub professions: Vec<Entry<Profession>>,
    pub elements: Vec<Element>,
}

/// One mapping: the source name as written, its normal form, the code.
#[derive(Debug, Clone)]
pub(crate) struct Entry<T> {
    pub key: String,
    pub normal: String,
    pub target: T,
}

/// One `[elements]` entry. Element keys are the adapter's identifiers and
/// match exactly.
#[derive(Debug, Clone)]
pub(crate) struct Element {
    pub key: String,
    pub value: String,
    pub origin: Origin,
}

/// Reads the profile at `path` and every file it extends. All problems found
/// are returned; a profile with any problem is not used.
pub(crate) fn load(path: &Path) -> Result<Raw, Vec<Issue>> {
    let mut issues = Vec::new();
    let mut chain = Vec::new();
    let raw = load_chain(path, None, &mut chain, &mut issues);
    match raw {
        Some(raw) if issues.is_empty() => Ok(raw),
        _ => Err(issues),
    }
}

/// Reads a profile from text that is not a file (the built-in default), which
/// may not extend anything.
pub(crate) fn from_text(file: &Arc<Path>, text: &str) -> Result<Raw, Vec<Issue>> {
    let mut issues = Vec::new();
    let source = Source { file, text };
    let parsed = parse(source, &mut issues);
    if let Some(Parsed {
        extends: Some((_, span)),
        ..
    }) = &parsed
    {
        issues.push(source.issue(span, Some(EXTENDS.to_owned()), Problem::ExtendsFromBuiltin));
    }
    match parsed {
        Some(parsed) if issues.is_empty() => Ok(parsed.raw),
        _ => Err(issues),
    }
}

/// A file in the `extends` chain being read: its canonical path (to find
/// cycles) and the path as it was named (for messages).
struct Link {
    canonical: PathBuf,
    named: PathBuf,
}

/// Reads `path` and what it extends. `via` is the `extends` value that named
/// it, where a file that cannot be opened is reported.
fn load_chain(
    path: &Path,
    via: Option<(Source<'_>, &Range<usize>)>,
    chain: &mut Vec<Link>,
    issues: &mut Vec<Issue>,
) -> Option<Raw> {
    let file: Arc<Path> = Arc::from(path);
    let text = match (read(path), via) {
        (Ok(text), _) => text,
        (Err(Problem::Read(error)), Some((parent, span))) => {
            issues.push(parent.issue(
                span,
                Some(EXTENDS.to_owned()),
                Problem::ExtendsUnreadable {
                    path: path.to_path_buf(),
                    error,
                },
            ));
            return None;
        }
        (Err(problem), _) => {
            issues.push(Issue {
                file: path.to_path_buf(),
                position: None,
                key: None,
                problem,
            });
            return None;
        }
    };
    let source = Source {
        file: &file,
        text: &text,
    };
    let Parsed { raw, extends } = parse(source, issues)?;
    let Some((target, span)) = extends else {
        return Some(raw);
    };
    let key = || Some(EXTENDS.to_owned());

    // Relative to the extending file, not to the working directory.
    let base = path.parent().unwrap_or(Path::new("")).join(&target);
    let canonical = match fs::canonicalize(&base) {
        Ok(canonical) => canonical,
        Err(error) => {
            issues.push(source.issue(
                &span,
                key(),
                Problem::ExtendsUnreadable { path: base, error },
            ));
            return Some(raw);
        }
    };
    if chain.is_empty() {
        chain.push(Link {
            canonical: fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
            named: path.to_path_buf(),
        });
    }
    if let Some(start) = chain.iter().position(|link| link.canonical == canonical) {
        let mut files: Vec<PathBuf> = chain[start..].iter().map(|l| l.named.clone()).collect();
        files.push(base);
        issues.push(source.issue(&span, key(), Problem::ExtendsCycle { files }));
        return Some(raw);
    }
    if chain.len() >= MAX_DEPTH {
        issues.push(source.issue(&span, key(), Problem::ExtendsTooDeep { limit: MAX_DEPTH }));
        return Some(raw);
    }
    chain.push(Link {
        canonical,
        named: base.clone(),
    });
    let parent = load_chain(&base, Some((source, &span)), chain, issues);
    chain.pop();
    Some(match parent {
        Some(parent) => merge(parent, raw),
        None => raw,
    })
}

fn read(path: &Path) -> Result<String, Problem> {
    let file = File::open(path).map_err(Problem::Read)?;
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(Problem::Read)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(Problem::TooLarge {
            limit_kib: MAX_BYTES / 1024,
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| Problem::NotUtf8)?;
    // Windows editors like to start UTF-8 files with a byte-order mark.
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_owned(),
        None => text,
    })
}

/// The TOML parser's message, with a hint for the mistake every profile
/// author makes once: bare keys may hold only ASCII letters, digits, `-` and
/// `_`, so `Längd = "height"` must be written `"Längd" = "height"`.
fn syntax_message(message: &str) -> String {
    let message = message.trim();
    if message.starts_with("invalid unquoted key") {
        format!(
            "{message}; put keys with å, ä, ö, spaces or punctuation in quotes, e.g. \"Längd\" = \"height\""
        )
    } else {
        message.to_owned()
    }
}

/// One file's content, and the `extends` it names (value and span).
struct Parsed {
    raw: Raw,
    extends: Option<(String, Range<usize>)>,
}

fn parse(source: Source<'_>, issues: &mut Vec<Issue>) -> Option<Parsed> {
    let doc = match DeTable::parse(source.text) {
        Ok(doc) => doc,
        Err(error) => {
            issues.push(Issue {
                file: source.file.to_path_buf(),
                position: Some(Position::of(
                    source.text,
                    error.span().map_or(0, |span| span.start),
                )),
                key: None,
                problem: Problem::Syntax(syntax_message(error.message())),
            });
            return None;
        }
    };
    let mut parsed = Parsed {
        raw: Raw {
            name: None,
            system: None,
            unmapped: None,
            default_secrecy_domain: None,
            header: source.origin(&(0..0)),
            note_types: Vec::new(),
            measurements: Vec::new(),
            secrecy_domains: Vec::new(),
            professions: Vec::new(),
            elements: Vec::new(),
        },
        extends: None,
    };
    for (key, value) in in_file_order(doc.get_ref()) {
        let name = key.get_ref().as_ref();
        let Some(&table_name) = TABLES.iter().find(|t| **t == name) else {
            issues.push(source.issue(
                &key.span(),
                Some(dotted(&[name])),
                Problem::UnknownTable {
                    allowed: TABLES.to_vec(),
                },
            ));
            continue;
        };
        let DeValue::Table(table) = value.get_ref() else {
            issues.push(source.issue(
                &value.span(),
                Some(dotted(&[name])),
                Problem::WrongType {
                    expected: "a table",
                    found: value.get_ref().type_str(),
                },
            ));
            continue;
        };
        let raw = &mut parsed.raw;
        match table_name {
            "profile" => {
                raw.header = source.origin(&key.span());
                parse_profile(source, table, &mut parsed, issues);
            }
            "note_types" => raw.note_types = parse_codes(source, table_name, table, issues),
            "measurements" => raw.measurements = parse_codes(source, table_name, table, issues),
            "secrecy_domains" => {
                raw.secrecy_domains = parse_codes(source, table_name, table, issues);
            }
            "professions" => raw.professions = parse_codes(source, table_name, table, issues),
            _ => raw.elements = parse_elements(source, table, issues),
        }
    }
    Some(parsed)
}

fn parse_profile(
    source: Source<'_>,
    table: &DeTable<'_>,
    parsed: &mut Parsed,
    issues: &mut Vec<Issue>,
) {
    for (key, value) in in_file_order(table) {
        let name = key.get_ref().as_ref();
        let path = dotted(&["profile", name]);
        if !PROFILE_KEYS.contains(&name) {
            issues.push(source.issue(
                &key.span(),
                Some(path),
                Problem::UnknownKey {
                    allowed: PROFILE_KEYS.iter().map(|k| (*k).to_owned()).collect(),
                },
            ));
            continue;
        }
        let Some(text) = non_empty_string(source, &path, value, issues) else {
            continue;
        };
        let span = value.span();
        let raw = &mut parsed.raw;
        match name {
            "name" => raw.name = Some(text.to_owned()),
            "system" => match SYSTEMS.iter().find(|s| **s == text) {
                Some(system) => raw.system = Some(((*system).to_owned(), source.origin(&span))),
                None => issues.push(source.issue(
                    &span,
                    Some(path),
                    Problem::UnknownCode {
                        value: text.to_owned(),
                        what: "a source system kind",
                        allowed: SYSTEMS.to_vec(),
                    },
                )),
            },
            "extends" => parsed.extends = Some((text.to_owned(), span)),
            "unmapped_keywords" => match text {
                "unclassified" => raw.unmapped = Some(UnmappedPolicy::Unclassified),
                "reject" => raw.unmapped = Some(UnmappedPolicy::Reject),
                _ => issues.push(source.issue(
                    &span,
                    Some(path),
                    Problem::UnknownCode {
                        value: text.to_owned(),
                        what: "an unmapped-keyword policy",
                        allowed: POLICIES.to_vec(),
                    },
                )),
            },
            _ => match SecrecyDomain::from_code_name(text) {
                Some(domain) => raw.default_secrecy_domain = Some(domain),
                None => issues.push(source.issue(
                    &span,
                    Some(path),
                    Problem::UnknownCode {
                        value: text.to_owned(),
                        what: SecrecyDomain::WHAT,
                        allowed: SecrecyDomain::allowed(),
                    },
                )),
            },
        }
    }
}

/// A mapping table: source names to codes, keys unique after normalising.
fn parse_codes<T: Target>(
    source: Source<'_>,
    table_name: &str,
    table: &DeTable<'_>,
    issues: &mut Vec<Issue>,
) -> Vec<Entry<T>> {
    let mut entries = Vec::with_capacity(table.len());
    // Normal form → (the key as written, its span), to name the first of two
    // clashing keys.
    let mut seen: HashMap<String, (String, Range<usize>)> = HashMap::with_capacity(table.len());
    for (key, value) in in_file_order(table) {
        let written = key.get_ref().as_ref();
        let path = dotted(&[table_name, written]);
        let normal = normalise(written).into_owned();
        if normal.is_empty() {
            issues.push(source.issue(&key.span(), Some(path), Problem::EmptyKey));
            continue;
        }
        if let Some((other, other_span)) = seen.get(&normal) {
            issues.push(source.issue(
                &key.span(),
                Some(path),
                Problem::Duplicate {
                    other_key: dotted(&[table_name, other]),
                    other_line: Position::of(source.text, other_span.start).line,
                },
            ));
            continue;
        }
        seen.insert(normal.clone(), (written.to_owned(), key.span()));
        let DeValue::String(code) = value.get_ref() else {
            issues.push(source.issue(
                &value.span(),
                Some(path),
                Problem::WrongType {
                    expected: "a string",
                    found: value.get_ref().type_str(),
                },
            ));
            continue;
        };
        match T::from_code_name(code) {
            Some(target) => entries.push(Entry {
                key: written.to_owned(),
                normal,
                target,
            }),
            None => issues.push(source.issue(
                &value.span(),
                Some(path),
                Problem::UnknownCode {
                    value: code.as_ref().to_owned(),
                    what: T::WHAT,
                    allowed: T::allowed(),
                },
            )),
        }
    }
    entries
}

fn parse_elements(
    source: Source<'_>,
    table: &DeTable<'_>,
    issues: &mut Vec<Issue>,
) -> Vec<Element> {
    let mut elements = Vec::with_capacity(table.len());
    for (key, value) in in_file_order(table) {
        let name = key.get_ref().as_ref();
        let path = dotted(&["elements", name]);
        if let Some(text) = non_empty_string(source, &path, value, issues) {
            elements.push(Element {
                key: name.to_owned(),
                value: text.to_owned(),
                origin: source.origin(&key.span()),
            });
        }
    }
    elements
}

fn non_empty_string<'v>(
    source: Source<'_>,
    path: &str,
    value: &'v Spanned<DeValue<'_>>,
    issues: &mut Vec<Issue>,
) -> Option<&'v str> {
    match value.get_ref() {
        DeValue::String(text) if text.trim().is_empty() => {
            issues.push(source.issue(&value.span(), Some(path.to_owned()), Problem::Empty));
            None
        }
        DeValue::String(text) => Some(text.as_ref()),
        other => {
            issues.push(source.issue(
                &value.span(),
                Some(path.to_owned()),
                Problem::WrongType {
                    expected: "a string",
                    found: other.type_str(),
                },
            ));
            None
        }
    }
}

/// A table's entries in the order they are written; the TOML map itself may
/// sort them.
fn in_file_order<'t, 'i>(
    table: &'t DeTable<'i>,
) -> Vec<(
    &'t Spanned<std::borrow::Cow<'i, str>>,
    &'t Spanned<DeValue<'i>>,
)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    entries
}

/// A dotted key as TOML writes it: bare where it may be, quoted otherwise.
pub(crate) fn dotted(parts: &[&str]) -> String {
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        let bare = !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if bare {
            out.push_str(part);
        } else {
            out.push_str(&format!("{part:?}"));
        }
    }
    out
}

/// `child` over `parent`: the child's settings win, tables are merged with
/// the child's entries first (so "first in file order" prefers the most
/// specific file), and a parent entry the child maps again is dropped.
fn merge(parent: Raw, child: Raw) -> Raw {
    Raw {
        // A name describes one file; it is not inherited.
        name: child.name,
        system: child.system.or(parent.system),
        unmapped: child.unmapped.or(parent.unmapped),
        default_secrecy_domain: child
            .default_secrecy_domain
            .or(parent.default_secrecy_domain),
        header: child.header,
        note_types: merge_entries(child.note_types, parent.note_types),
        measurements: merge_entries(child.measurements, parent.measurements),
        secrecy_domains: merge_entries(child.secrecy_domains, parent.secrecy_domains),
        professions: merge_entries(child.professions, parent.professions),
        elements: {
            let mut elements = child.elements;
            let parent_only: Vec<Element> = parent
                .elements
                .into_iter()
                .filter(|p| !elements.iter().any(|c| c.key == p.key))
                .collect();
            elements.extend(parent_only);
            elements
        },
    }
}

fn merge_entries<T>(mut child: Vec<Entry<T>>, parent: Vec<Entry<T>>) -> Vec<Entry<T>> {
    let overridden: std::collections::HashSet<String> =
        child.iter().map(|e| e.normal.clone()).collect();
    child.extend(
        parent
            .into_iter()
            .filter(|e| !overridden.contains(&e.normal)),
    );
    child
}
