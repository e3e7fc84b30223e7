//! Safe, streaming reading of record-oriented XML exports.
//!
//! Journal exports are one root element holding a long run of record
//! elements (`<Patient>`, `<Child>`, …), and can be many gigabytes. This
//! module walks such a document with quick-xml and hands the caller one
//! record element at a time as a small tree ([`Tree`], viewed through
//! [`El`]), so memory is bounded by the largest record, never by the file.
//!
//! It refuses what makes XML dangerous or ambiguous, before any record is
//! read from it:
//!
//! - a `DOCTYPE` (so no external entities — XXE — and no entity expansion
//!   bombs: without a DTD no entity can be declared);
//! - entity references other than XML's five predefined ones and character
//!   references;
//! - any encoding but UTF-8 (declared, by byte-order mark, or invalid bytes);
//! - a document that ends before its root element closes (truncated file).
//!
//! A record larger than the limit (in bytes read, or in the memory its tree
//! takes) is skipped and reported, and reading goes on with the next one.
//! Nothing here recurses, so no nesting depth can exhaust the stack.
//!
//! Two things keep reading cheap. A record that lies whole in the input's
//! buffer and is written plainly — elements, plainly written attributes,
//! text with at most the predefined entity references — is read straight
//! from the buffer in one pass (`Tree::read_plain`); anything else, from a
//! comment to a truncated tag, goes through quick-xml's events, so every
//! refusal and every message stays quick-xml's. And nothing is allocated per
//! element or per record: names, attribute values and text of the current
//! record live in one string and a few vectors that are cleared, not freed,
//! between records.

use std::borrow::Cow;
use std::fmt;
use std::io::BufRead;
use std::ops::{Deref, Range};
use std::sync::Arc;

use quick_xml::events::attributes::Attribute as QuickAttribute;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::QName;
use quick_xml::{Reader, XmlVersion};

/// Records larger than this are skipped: far above any real patient's
/// export (thousands of notes), far below a memory risk.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

/// Records nesting elements deeper than this are skipped (the record
/// element itself is the first level) unless the reader is built
/// [`without_depth_limit`](XmlRecords::without_depth_limit): real records
/// nest a few levels, and [`Element`] trees are dropped recursively.
pub const MAX_RECORD_DEPTH: usize = 64;

/// The most capacity the reused buffers keep from one record to the next.
const KEEP_BYTES: usize = 1024 * 1024;

/// An XML element with its attributes, text and child elements, owned.
/// Names are local names: a namespace prefix is dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: Name,
    pub attributes: Vec<(Name, String)>,
    pub children: Vec<Element>,
    /// The element's character data (text, CDATA, references) before its
    /// first child element: all of it for an element without children.
    pub text: String,
    /// Whether non-blank text follows a child element (mixed content),
    /// which is not kept.
    pub stray_text: bool,
    /// 1-based line of the element's start tag.
    pub line: u64,
}

impl Element {
    /// The attribute's value, if present.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first child element with this name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name.as_str() == name)
    }

    /// All child elements with this name, in document order.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children
            .iter()
            .filter(move |c| c.name.as_str() == name)
    }

    /// The text of the first child with this name.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

/// An element or attribute name (a local name) of an [`Element`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Name(Arc<str>);

impl Name {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Name {
    fn default() -> Self {
        Name(Arc::from(""))
    }
}

impl Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Name {
    fn from(name: &str) -> Self {
        Name(Arc::from(name))
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

/// Something wrong with the XML itself (not with what a record means).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError {
    /// 1-based line where the problem was found.
    pub line: u64,
    pub kind: XmlErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XmlErrorKind {
    /// A `<!DOCTYPE …>` declaration: refused.
    Doctype,
    /// A reference to an entity that is not predefined (`&name;`): refused.
    Entity(String),
    /// Not UTF-8: a declared encoding, a UTF-16 byte-order mark, or bytes
    /// that are not valid UTF-8.
    Encoding(String),
    /// Malformed XML (unclosed tag, mismatched end tag, bad attribute, …).
    Syntax(String),
    /// The document ended before its root element was closed.
    Truncated,
    /// The document has no root element.
    Empty,
    /// One record exceeded the size limit and was skipped; reading goes on.
    RecordTooLarge { limit: usize },
    /// One record nested elements deeper than the limit and was skipped;
    /// reading goes on.
    RecordTooDeep { limit: usize },
    /// Non-blank text between records; it was skipped and reading goes on.
    StrayText,
}

impl XmlError {
    /// Whether the document can be read further after this error.
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self.kind,
            XmlErrorKind::RecordTooLarge { .. }
                | XmlErrorKind::RecordTooDeep { .. }
                | XmlErrorKind::StrayText
        )
    }
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: ", self.line)?;
        match &self.kind {
            XmlErrorKind::Doctype => write!(
                f,
                "DOCTYPE declarations are refused (no DTDs or external entities are accepted)"
            ),
            XmlErrorKind::Entity(name) => write!(
                f,
                "entity reference &{name}; is refused (only XML's predefined entities and character references are accepted)"
            ),
            XmlErrorKind::Encoding(why) => write!(f, "not UTF-8: {why}"),
            XmlErrorKind::Syntax(why) => write!(f, "malformed XML: {why}"),
            XmlErrorKind::Truncated => {
                write!(
                    f,
                    "the document ends before its root element is closed (truncated file?)"
                )
            }
            XmlErrorKind::Empty => write!(f, "the document has no root element"),
            XmlErrorKind::RecordTooLarge { limit } => {
                write!(f, "record larger than {limit} bytes; skipped")
            }
            XmlErrorKind::RecordTooDeep { limit } => {
                write!(f, "record nests elements more than {limit} deep; skipped")
            }
            XmlErrorKind::StrayText => write!(f, "text between records; skipped"),
        }
    }
}

impl std::error::Error for XmlError {}

// ---------------------------------------------------------------------------
// The record tree
// ---------------------------------------------------------------------------

/// One record: its elements in document order (the record element first),
/// their attributes, and one string holding every name, value and text.
/// The reader reuses it from record to record.
#[derive(Debug, Default)]
pub struct Tree {
    text: String,
    nodes: Vec<Node>,
    attributes: Vec<Attribute>,
    /// How deep elements nest (the record element alone is 1).
    depth: usize,
    /// Text that [`Tree::read_plain`] had to decode (references, line
    /// ends), until it follows the record's bytes in `text`.
    decoded: String,
}

#[derive(Debug)]
struct Node {
    name: Range<usize>,
    attributes: Range<usize>,
    text: Range<usize>,
    first_child: usize,
    last_child: usize,
    next_sibling: usize,
    line: u64,
    /// Non-blank text after a child element (mixed content).
    stray_text: bool,
}

#[derive(Debug)]
struct Attribute {
    name: Range<usize>,
    value: Range<usize>,
}

/// Index 0 is the record element, which is nobody's child or sibling, so 0
/// also means "none" in the links.
const NONE: usize = 0;

impl Tree {
    /// The record element.
    pub fn record(&self) -> El<'_> {
        El {
            tree: self,
            index: 0,
        }
    }

    fn clear(&mut self) {
        self.text.clear();
        self.text.shrink_to(KEEP_BYTES);
        self.nodes.clear();
        self.attributes.clear();
        self.depth = 0;
        self.decoded.clear();
        self.decoded.shrink_to(KEEP_BYTES);
    }

    /// Puts `record` (the bytes [`Tree::read_plain`] read) and then the
    /// text it decoded in `text`, and points the decoded ranges there.
    fn store_plain(&mut self, record: &str) {
        self.text.push_str(record);
        if self.decoded.is_empty() {
            return;
        }
        let base = self.text.len();
        self.text.push_str(&self.decoded);
        for node in &mut self.nodes {
            if node.text.start & DECODED != 0 {
                node.text = base + (node.text.start & !DECODED)..base + (node.text.end & !DECODED);
            }
        }
    }

    /// Bytes the tree holds.
    fn memory(&self) -> usize {
        self.text.len()
            + self.nodes.len() * std::mem::size_of::<Node>()
            + self.attributes.len() * std::mem::size_of::<Attribute>()
    }

    fn push_str(&mut self, s: &str) -> Range<usize> {
        let start = self.text.len();
        self.text.push_str(s);
        start..self.text.len()
    }

    /// Adds an element from its start tag, as the last child of `parent`
    /// (ignored for the first). Its line is set by the caller.
    fn add(&mut self, start: &BytesStart<'_>, parent: usize) -> Result<usize, XmlErrorKind> {
        let name = self.push_str(local(start.name().as_ref()));
        let first_attribute = self.attributes.len();
        self.add_attributes(start)?;
        let index = self.nodes.len();
        let end = self.text.len();
        self.nodes.push(Node {
            name,
            attributes: first_attribute..self.attributes.len(),
            text: end..end,
            first_child: NONE,
            last_child: NONE,
            next_sibling: NONE,
            line: 0,
            stray_text: false,
        });
        if index != 0 {
            self.link(parent, index);
        }
        Ok(index)
    }

    /// The attributes of a start tag, `xmlns` declarations left out, values
    /// normalised as XML says.
    fn add_attributes(&mut self, start: &BytesStart<'_>) -> Result<(), XmlErrorKind> {
        let marks = (self.text.len(), self.attributes.len());
        let plain = plain_attributes(start, |key, value| {
            if is_namespace_declaration(key) {
                return Ok(());
            }
            if needs_normalising(value) {
                let value = normalised(&QuickAttribute {
                    key: QName(key),
                    value: Cow::Borrowed(value),
                })?;
                self.add_attribute(key, &value);
            } else {
                self.add_attribute(key, value);
            }
            Ok(())
        })?;
        if plain {
            return Ok(());
        }
        self.text.truncate(marks.0);
        self.attributes.truncate(marks.1);
        for attribute in start.attributes() {
            let attribute = attribute.map_err(|e| XmlErrorKind::Syntax(e.to_string()))?;
            let key = attribute.key.as_ref();
            if !is_namespace_declaration(key) {
                let value = normalised(&attribute)?;
                self.add_attribute(key, &value);
            }
        }
        Ok(())
    }

    fn add_attribute(&mut self, key: &str, value: &str) {
        let name = self.push_str(local(key));
        let value = self.push_str(value);
        self.attributes.push(Attribute { name, value });
    }

    /// Text of `node`: kept while it is contiguous (no child yet), else only
    /// noted when it is not blank.
    fn add_text(&mut self, node: usize, text: &str) {
        let end = self.text.len();
        match self.nodes.get_mut(node) {
            Some(n) if n.first_child == NONE && n.text.end == end => {
                self.text.push_str(text);
                n.text.end = self.text.len();
            }
            Some(n) if !text.trim().is_empty() => n.stray_text = true,
            _ => {}
        }
    }
}

/// What a record may take, for [`Tree::read_plain`].
struct Limits {
    max_record_bytes: usize,
    max_depth: Option<usize>,
    opaque: Option<&'static str>,
}

impl Tree {
    /// Builds the tree of the record whose start tag begins at `b[start]`
    /// (on `line`), if the record lies in `b` whole and is written plainly:
    /// elements with plainly written attributes (see [`plain_attributes`])
    /// whose values need no normalising, text whose only references are
    /// XML's predefined entities, and nothing else — no comments, CDATA,
    /// processing instructions, elements to keep only the attributes of, and
    /// nothing over the limits. That is the tree quick-xml's events would
    /// give.
    ///
    /// Names, values and text are ranges from `start`: the caller puts
    /// `b[start..end]` in `text` once it has checked that it is UTF-8.
    /// Returns `end`, just past the record, and the line there; `None` for
    /// anything else.
    fn read_plain(
        &mut self,
        b: &[u8],
        start: usize,
        mut line: u64,
        limits: &Limits,
        stack: &mut Vec<(usize, Range<usize>)>,
    ) -> Option<(usize, u64)> {
        stack.clear();
        let at = |i: usize| i - start;
        let mut i = start;
        loop {
            if b.get(i) != Some(&b'<') {
                return None;
            }
            match *b.get(i + 1)? {
                b'/' => {
                    let (_, name) = stack.pop()?;
                    let name_end = i + 2 + name.len();
                    if b.get(i + 2..name_end)? != b.get(name)? {
                        return None;
                    }
                    i = skip_blanks(b, name_end, &mut line);
                    if b.get(i) != Some(&b'>') {
                        return None;
                    }
                    i += 1;
                    if stack.is_empty() {
                        break;
                    }
                }
                first if is_name_byte(first) => {
                    let name_start = i + 1;
                    let (name_end, local_start) = scan_name(b, name_start);
                    if limits.opaque.is_some_and(|opaque| {
                        b.get(local_start..name_end) == Some(opaque.as_bytes())
                    }) {
                        return None;
                    }
                    let element_line = line;
                    let first_attribute = self.attributes.len();
                    let (end, empty) = self.read_plain_attributes(b, name_end, start, &mut line)?;
                    let index = self.nodes.len();
                    self.nodes.push(Node {
                        name: at(local_start)..at(name_end),
                        attributes: first_attribute..self.attributes.len(),
                        text: at(end)..at(end),
                        first_child: NONE,
                        last_child: NONE,
                        next_sibling: NONE,
                        line: element_line,
                        stray_text: false,
                    });
                    if let Some(&(parent, _)) = stack.last() {
                        self.link(parent, index);
                    }
                    i = end;
                    if !empty {
                        if limits.max_depth.is_some_and(|max| stack.len() >= max) {
                            return None;
                        }
                        stack.push((index, name_start..name_end));
                        self.depth = self.depth.max(stack.len());
                    } else if stack.is_empty() {
                        self.depth = 1;
                        break;
                    }
                }
                _ => return None,
            }
            // Character data up to the next tag.
            let text = i;
            let mut plain = true;
            loop {
                let c = *b.get(i)?;
                if CLASS[usize::from(c)] & ENDS_TEXT == 0 {
                    i += 1;
                    continue;
                }
                match c {
                    b'<' => break,
                    b'\n' => line += 1,
                    _ => plain = false,
                }
                i += 1;
            }
            if i == text {
                continue;
            }
            let &(parent, _) = stack.last()?;
            let run = b.get(text..i)?;
            let node = self.nodes.get_mut(parent)?;
            if node.first_child == NONE && node.text.end == at(text) {
                node.text = if plain {
                    node.text.start..at(i)
                } else {
                    decode_text(run, &mut self.decoded)?
                };
            } else {
                // Every reference is checked, even where the text is not
                // kept; each stands for a character that is not blank.
                let references = !plain && check_references(run)?;
                if !node.stray_text {
                    node.stray_text = references || !is_blank(run)?;
                }
            }
        }
        if i - start > limits.max_record_bytes {
            return None;
        }
        Some((i, line))
    }

    /// The attributes of a start tag whose name ends at `b[from]`, with
    /// ranges from `start`; then where the tag ends and whether it closes
    /// itself (`/>`). `None` unless every attribute is plain and needs no
    /// normalising.
    fn read_plain_attributes(
        &mut self,
        b: &[u8],
        from: usize,
        start: usize,
        line: &mut u64,
    ) -> Option<(usize, bool)> {
        let mut keys = [(0, 0); PLAIN_ATTRIBUTES];
        let mut count = 0;
        let mut i = from;
        loop {
            i = skip_blanks(b, i, line);
            match *b.get(i)? {
                b'>' => return Some((i + 1, false)),
                b'/' if b.get(i + 1) == Some(&b'>') => return Some((i + 2, true)),
                c if is_name_byte(c) => {}
                _ => return None,
            }
            let key_start = i;
            let (key_end, local_start) = scan_name(b, key_start);
            i = skip_blanks(b, key_end, line);
            if b.get(i) != Some(&b'=') {
                return None;
            }
            i = skip_blanks(b, i + 1, line);
            let quote = *b.get(i).filter(|&&q| q == b'"' || q == b'\'')?;
            let value_start = i + 1;
            i = value_start;
            loop {
                let c = *b.get(i)?;
                if CLASS[usize::from(c)] & ENDS_VALUE == 0 {
                    i += 1;
                } else if c == quote {
                    break;
                } else if c == b'"' || c == b'\'' {
                    i += 1;
                } else {
                    return None;
                }
            }
            let value_end = i;
            i += 1;
            let key = b.get(key_start..key_end)?;
            if count == PLAIN_ATTRIBUTES
                || keys
                    .iter()
                    .take(count)
                    .any(|&(s, e)| b.get(s..e) == Some(key))
            {
                return None;
            }
            if let Some(slot) = keys.get_mut(count) {
                *slot = (key_start, key_end);
            }
            count += 1;
            if key == b"xmlns" || key.starts_with(b"xmlns:") {
                continue;
            }
            self.attributes.push(Attribute {
                name: local_start - start..key_end - start,
                value: value_start - start..value_end - start,
            });
        }
    }

    /// Makes `child` the last child of `parent`.
    fn link(&mut self, parent: usize, child: usize) {
        let Some(parent) = self.nodes.get_mut(parent) else {
            return;
        };
        let previous = parent.last_child;
        parent.last_child = child;
        if previous == NONE {
            parent.first_child = child;
        } else if let Some(previous) = self.nodes.get_mut(previous) {
            previous.next_sibling = child;
        }
    }
}

/// A byte [`Tree::read_plain`] takes in names: ASCII letters, digits, `-`,
/// `_`, `.`, `:` and anything beyond ASCII. quick-xml ends a name only at
/// whitespace; a name with other bytes is left to it.
const NAME: u8 = 1;
/// XML whitespace (see [`is_whitespace`]).
const BLANK: u8 = 2;
/// A byte that ends or spoils an attribute value: a quote, `&`, `<`, or
/// whitespace that normalising would change.
const ENDS_VALUE: u8 = 4;
/// A byte that ends text or needs a closer look: `<`, `&`, line feed,
/// carriage return.
const ENDS_TEXT: u8 = 8;

/// The classes of every byte, one table lookup per byte read.
static CLASS: [u8; 256] = {
    let mut class = [0; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':') || b >= 0x80 {
            class[c] |= NAME;
        }
        if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            class[c] |= BLANK;
        }
        if matches!(b, b'"' | b'\'' | b'&' | b'<' | b'\t' | b'\n' | b'\r') {
            class[c] |= ENDS_VALUE;
        }
        if matches!(b, b'<' | b'&' | b'\n' | b'\r') {
            class[c] |= ENDS_TEXT;
        }
        c += 1;
    }
    class
};

fn is_name_byte(c: u8) -> bool {
    CLASS[usize::from(c)] & NAME != 0
}

/// The end of the name starting at `b[from]`, and where its local part
/// starts (after the first `:`).
fn scan_name(b: &[u8], from: usize) -> (usize, usize) {
    let mut local = from;
    let mut i = from;
    while let Some(&c) = b.get(i) {
        if !is_name_byte(c) {
            break;
        }
        if c == b':' && local == from {
            local = i + 1;
        }
        i += 1;
    }
    (i, local)
}

/// Skips XML whitespace from `b[i]`, counting line feeds.
fn skip_blanks(b: &[u8], mut i: usize, line: &mut u64) -> usize {
    while let Some(&c) = b.get(i) {
        if CLASS[usize::from(c)] & BLANK == 0 {
            break;
        }
        *line += u64::from(c == b'\n');
        i += 1;
    }
    i
}

/// Whether text is blank as `str::trim` sees it; `None` when that would
/// take decoding (characters beyond ASCII, none of them ASCII non-blank).
fn is_blank(run: &[u8]) -> Option<bool> {
    let blank = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C);
    if run.iter().any(|&c| c < 0x80 && !blank(c)) {
        Some(false)
    } else if run.is_ascii() {
        Some(true)
    } else {
        None
    }
}

/// Marks a text range of [`Tree::read_plain`] as lying in `decoded`.
const DECODED: usize = 1 << (usize::BITS - 1);

/// Text with references or carriage returns, as quick-xml's events give it:
/// XML's predefined entities resolved, `\r\n` and a lone `\r` read as
/// `\n`. Appended to `decoded`; returns its range there, marked
/// [`DECODED`]. `None` for any other reference (quick-xml then refuses an
/// unknown one, or resolves a character reference).
fn decode_text(run: &[u8], decoded: &mut String) -> Option<Range<usize>> {
    let start = decoded.len();
    let mut rest = run;
    while let Some(at) = rest.iter().position(|&c| c == b'&' || c == b'\r') {
        // Cut at ASCII bytes only, so each piece is whole characters.
        decoded.push_str(std::str::from_utf8(rest.get(..at)?).ok()?);
        rest = rest.get(at..)?;
        if rest.first() == Some(&b'\r') {
            decoded.push('\n');
            rest = rest.get(1..)?;
            if rest.first() == Some(&b'\n') {
                rest = rest.get(1..)?;
            }
            continue;
        }
        let (character, length) = predefined_reference(rest)?;
        decoded.push(character);
        rest = rest.get(length..)?;
    }
    decoded.push_str(std::str::from_utf8(rest).ok()?);
    Some(start | DECODED..decoded.len() | DECODED)
}

/// Whether every `&` in `run` starts one of XML's predefined entity
/// references (`Some(true)` if there is one); `None` otherwise.
fn check_references(run: &[u8]) -> Option<bool> {
    let mut found = false;
    let mut rest = run;
    while let Some(at) = rest.iter().position(|&c| c == b'&') {
        let (_, length) = predefined_reference(rest.get(at..)?)?;
        rest = rest.get(at + length..)?;
        found = true;
    }
    Some(found)
}

/// The character and length of the predefined entity reference `text`
/// starts with (`&amp;` and the like).
fn predefined_reference(text: &[u8]) -> Option<(char, usize)> {
    [
        (&b"&lt;"[..], '<'),
        (b"&gt;", '>'),
        (b"&amp;", '&'),
        (b"&apos;", '\''),
        (b"&quot;", '"'),
    ]
    .into_iter()
    .find(|(reference, _)| text.starts_with(reference))
    .map(|(reference, character)| (character, reference.len()))
}

/// One element of a [`Tree`].
#[derive(Clone, Copy)]
pub struct El<'t> {
    tree: &'t Tree,
    index: usize,
}

impl fmt::Debug for El<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names and line only: text may be note text.
        write!(f, "<{}> (line {})", self.name(), self.line())
    }
}

impl<'t> El<'t> {
    fn node(&self) -> Option<&'t Node> {
        self.tree.nodes.get(self.index)
    }

    fn slice(&self, range: Option<&Range<usize>>) -> &'t str {
        range
            .and_then(|range| self.tree.text.get(range.clone()))
            .unwrap_or_default()
    }

    /// The local name (a namespace prefix dropped).
    pub fn name(&self) -> &'t str {
        self.slice(self.node().map(|n| &n.name))
    }

    /// The element's character data (text, CDATA, references) before its
    /// first child: all of it for an element without children.
    pub fn text(&self) -> &'t str {
        self.slice(self.node().map(|n| &n.text))
    }

    /// Whether the element has non-blank text anywhere besides its text
    /// before the first child.
    pub fn has_stray_text(&self) -> bool {
        self.node().is_some_and(|n| n.stray_text)
    }

    /// 1-based line of the element's start tag.
    pub fn line(&self) -> u64 {
        self.node().map_or(0, |n| n.line)
    }

    /// The attributes (local names, normalised values) in document order.
    pub fn attributes(&self) -> impl Iterator<Item = (&'t str, &'t str)> + 't {
        let tree = self.tree;
        let range = self.node().map_or(0..0, |n| n.attributes.clone());
        tree.attributes
            .get(range)
            .unwrap_or_default()
            .iter()
            .map(move |a| {
                (
                    tree.text.get(a.name.clone()).unwrap_or_default(),
                    tree.text.get(a.value.clone()).unwrap_or_default(),
                )
            })
    }

    /// The attribute's value, if present.
    pub fn attr(&self, name: &str) -> Option<&'t str> {
        self.attributes().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// The name of the first attribute, if any.
    pub fn first_attribute(&self) -> Option<&'t str> {
        self.attributes().next().map(|(k, _)| k)
    }

    /// The child elements in document order.
    pub fn children(&self) -> Children<'t> {
        Children {
            tree: self.tree,
            next: self.node().map_or(NONE, |n| n.first_child),
        }
    }

    pub fn first_child(&self) -> Option<El<'t>> {
        self.children().next()
    }

    /// An owned copy. Recursive: only for trees whose depth is bounded
    /// (see [`XmlRecords::next_record`]).
    fn to_element(self) -> Element {
        Element {
            name: self.name().into(),
            attributes: self
                .attributes()
                .map(|(k, v)| (Name::from(k), v.to_owned()))
                .collect(),
            children: self.children().map(El::to_element).collect(),
            text: self.text().to_owned(),
            stray_text: self.has_stray_text(),
            line: self.line(),
        }
    }
}

/// The child elements of an [`El`].
#[derive(Debug)]
pub struct Children<'t> {
    tree: &'t Tree,
    next: usize,
}

impl<'t> Iterator for Children<'t> {
    type Item = El<'t>;

    fn next(&mut self) -> Option<El<'t>> {
        if self.next == NONE {
            return None;
        }
        let el = El {
            tree: self.tree,
            index: self.next,
        };
        self.next = self
            .tree
            .nodes
            .get(self.next)
            .map_or(NONE, |n| n.next_sibling);
        Some(el)
    }
}

// ---------------------------------------------------------------------------
// Attributes
// ---------------------------------------------------------------------------

/// More attributes than this on one element go through quick-xml's
/// iterator, whose duplicate check stays linear on hostile tags.
const PLAIN_ATTRIBUTES: usize = 8;

/// Hands `each` the key and raw value of every attribute of a start tag,
/// in order, as long as the tag is written plainly: `key="value"` or
/// `key='value'`, whitespace around `=` and between attributes, no key
/// twice, at most [`PLAIN_ATTRIBUTES`]. For such a tag that is exactly what
/// quick-xml's attribute iterator yields. At anything else it stops and
/// returns `false`, and the caller starts over with the iterator, which
/// reads the rest (and names the error) its own way.
fn plain_attributes(
    start: &BytesStart<'_>,
    mut each: impl FnMut(&str, &str) -> Result<(), XmlErrorKind>,
) -> Result<bool, XmlErrorKind> {
    let tag: &str = start;
    let b = tag.as_bytes();
    let mut keys = [(0, 0); PLAIN_ATTRIBUTES];
    let mut count = 0;
    let mut i = start.name().as_ref().len();
    loop {
        i = skip_whitespace(b, i);
        let Some(&first) = b.get(i) else {
            return Ok(true);
        };
        if first == b'=' || count == PLAIN_ATTRIBUTES {
            return Ok(false);
        }
        let key_start = i;
        while b.get(i).is_some_and(|&c| c != b'=' && !is_whitespace(c)) {
            i += 1;
        }
        let key_end = i;
        i = skip_whitespace(b, i);
        if b.get(i) != Some(&b'=') {
            return Ok(false);
        }
        i = skip_whitespace(b, i + 1);
        let (Some(&quote @ (b'"' | b'\'')), Some(rest)) = (b.get(i), b.get(i + 1..)) else {
            return Ok(false);
        };
        let Some(length) = rest.iter().position(|&c| c == quote) else {
            return Ok(false);
        };
        let (value_start, value_end) = (i + 1, i + 1 + length);
        i = value_end + 1;
        let key = b.get(key_start..key_end);
        if keys.iter().take(count).any(|&(s, e)| b.get(s..e) == key) {
            return Ok(false);
        }
        if let Some(slot) = keys.get_mut(count) {
            *slot = (key_start, key_end);
        }
        count += 1;
        // Every offset lies at an ASCII delimiter or an end of `tag`, so
        // both slices are on character boundaries.
        each(
            tag.get(key_start..key_end).unwrap_or_default(),
            tag.get(value_start..value_end).unwrap_or_default(),
        )?;
    }
}

/// XML's whitespace, as quick-xml reads it in tags.
fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\r' | b'\n' | b'\t')
}

fn skip_whitespace(b: &[u8], mut i: usize) -> usize {
    while b.get(i).copied().is_some_and(is_whitespace) {
        i += 1;
    }
    i
}

fn is_namespace_declaration(key: &str) -> bool {
    key == "xmlns" || key.starts_with("xmlns:")
}

/// Whether an attribute value changes under XML's normalisation (line ends
/// and tabs become spaces, references are resolved).
fn needs_normalising(value: &str) -> bool {
    value
        .bytes()
        .any(|b| matches!(b, b'\t' | b'\r' | b'\n' | b'&'))
}

fn normalised<'a>(attribute: &QuickAttribute<'a>) -> Result<Cow<'a, str>, XmlErrorKind> {
    attribute
        .normalized_value(XmlVersion::Implicit1_0)
        .map_err(|e| match e {
            quick_xml::Error::Escape(quick_xml::escape::EscapeError::UnrecognizedEntity(
                _,
                name,
            )) => XmlErrorKind::Entity(name),
            other => XmlErrorKind::Syntax(other.to_string()),
        })
}

/// Checks the attributes of a start tag that is read past, for malformed
/// ones and entity references, without keeping them.
fn check_attributes(start: &BytesStart<'_>) -> Result<(), XmlErrorKind> {
    let plain = plain_attributes(start, |key, value| {
        if value.contains('&') {
            normalised(&QuickAttribute {
                key: QName(key),
                value: Cow::Borrowed(value),
            })?;
        }
        Ok(())
    })?;
    if !plain {
        for attribute in start.attributes() {
            let attribute = attribute.map_err(|e| XmlErrorKind::Syntax(e.to_string()))?;
            normalised(&attribute)?;
        }
    }
    Ok(())
}

fn is_opaque(opaque: Option<&str>, start: &BytesStart<'_>) -> bool {
    opaque.is_some_and(|name| local(start.name().as_ref()) == name)
}

fn local(name: &str) -> &str {
    match name.bytes().position(|b| b == b':') {
        // The colon is ASCII, so `i + 1` is a character boundary.
        Some(i) => name.get(i + 1..).unwrap_or(name),
        None => name,
    }
}

fn resolve_reference(reference: &BytesRef<'_>) -> Result<char, XmlErrorKind> {
    if reference.is_char_ref() {
        return match reference.resolve_char_ref() {
            Ok(Some(c)) => Ok(c),
            _ => Err(XmlErrorKind::Syntax(format!(
                "invalid character reference &{};",
                &**reference
            ))),
        };
    }
    match &**reference {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        other => Err(XmlErrorKind::Entity(other.to_owned())),
    }
}

/// Counts line feeds eight bytes at a time: a byte of `x` is zero exactly
/// where the input has `\n`, and the high bit of each byte of `nonzero`
/// says whether that byte of `x` is not zero (no carries cross bytes).
pub(crate) fn newlines_in(bytes: &[u8]) -> u64 {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    const NEWLINES: u64 = 0x0A0A_0A0A_0A0A_0A0A;
    let (words, rest) = bytes.as_chunks::<8>();
    let mut count = 0u64;
    for word in words {
        let x = u64::from_ne_bytes(*word) ^ NEWLINES;
        let nonzero = (((x & LOW7) + LOW7) | x) & !LOW7;
        count += u64::from(8 - nonzero.count_ones());
    }
    count + rest.iter().filter(|&&b| b == b'\n').count() as u64
}

// ---------------------------------------------------------------------------
// The reader
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the root element.
    Prolog,
    /// Inside the root, between records.
    InRoot,
    /// After the root closed, or after a fatal error.
    Done,
}

/// What one event means, decided while the event still borrows the buffer.
enum Step {
    /// An element opened: its node, and whether its content is read past.
    Open(usize, bool),
    /// An element without content (`<x/>`).
    Leaf(usize),
    /// An element opened one level deeper than the limit.
    TooDeep,
    Close,
    /// Character data between records that is not blank.
    Stray,
    Skip,
    Fail(XmlErrorKind),
}

/// Reads the children of a document's root element one by one.
#[derive(Debug)]
pub struct XmlRecords<R> {
    reader: Reader<R>,
    /// The content of every event since the current record began (quick-xml
    /// appends each event's bytes; markup delimiters hold no line feed), so
    /// line feeds are counted in runs rather than event by event.
    raw: Vec<u8>,
    /// Line feeds in `raw[..counted]` are in `newlines` already.
    counted: usize,
    /// Line feeds before `raw[counted]`; the line there is `newlines + 1`.
    newlines: u64,
    state: State,
    root: Option<Element>,
    max_record_bytes: usize,
    max_depth: Option<usize>,
    /// Elements kept with their attributes only (see
    /// [`keeping_only_attributes_of`](Self::keeping_only_attributes_of)).
    opaque: Option<&'static str>,
    tree: Tree,
    /// Open elements of the record being read (indices into the tree).
    stack: Vec<usize>,
    /// The same for [`Tree::read_plain`], with each element's name.
    plain_stack: Vec<(usize, Range<usize>)>,
    /// Whether quick-xml stands just after a record (or the root's start
    /// tag), expecting character data: only there may bytes be taken from
    /// the input past it.
    between_records: bool,
    /// Tests compare both ways of reading a record, and count the plain
    /// ones.
    #[cfg(test)]
    quick_xml_only: bool,
    #[cfg(test)]
    plain_records: usize,
}

impl<R: BufRead> XmlRecords<R> {
    pub fn new(input: R) -> Self {
        Self::with_max_record_bytes(input, DEFAULT_MAX_RECORD_BYTES)
    }

    pub fn with_max_record_bytes(input: R, max_record_bytes: usize) -> Self {
        let mut reader = Reader::from_reader(input);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = false;
        config.trim_text(false);
        XmlRecords {
            reader,
            raw: Vec::with_capacity(8 * 1024),
            counted: 0,
            newlines: 0,
            state: State::Prolog,
            root: None,
            max_record_bytes,
            max_depth: Some(MAX_RECORD_DEPTH),
            opaque: None,
            tree: Tree::default(),
            stack: Vec::with_capacity(8),
            plain_stack: Vec::with_capacity(8),
            between_records: false,
            #[cfg(test)]
            quick_xml_only: false,
            #[cfg(test)]
            plain_records: 0,
        }
    }

    /// Elements named `name` are kept with their attributes only: what they
    /// wrap is read past — still checked for hostile markup — and never
    /// stored, not even in the reader's buffers beyond the event at hand.
    pub fn keeping_only_attributes_of(mut self, name: &'static str) -> Self {
        self.opaque = Some(name);
        self
    }

    /// Reads records nested to any depth ([`next_tree`](Self::next_tree)
    /// never recurses).
    pub fn without_depth_limit(mut self) -> Self {
        self.max_depth = None;
        self
    }

    /// The root element (attributes only, no children). Reads the prolog if
    /// that has not happened yet.
    pub fn root(&mut self) -> Result<&Element, XmlError> {
        if self.state == State::Prolog {
            self.read_prolog()?;
        }
        self.root.as_ref().ok_or(XmlError {
            line: self.newlines + 1,
            kind: XmlErrorKind::Empty,
        })
    }

    /// The next record as an owned tree; see [`next_tree`](Self::next_tree).
    /// A record nesting deeper than [`MAX_RECORD_DEPTH`] is refused even
    /// without a depth limit, because an owned tree is dropped recursively.
    pub fn next_record(&mut self) -> Option<Result<Element, XmlError>> {
        let tree = match self.next_tree()? {
            Ok(tree) => tree,
            Err(e) => return Some(Err(e)),
        };
        let record = tree.record();
        if tree.depth > MAX_RECORD_DEPTH {
            return Some(Err(XmlError {
                line: record.line(),
                kind: XmlErrorKind::RecordTooDeep {
                    limit: MAX_RECORD_DEPTH,
                },
            }));
        }
        Some(Ok(record.to_element()))
    }

    /// The next record element, an error, or `None` after the root closes.
    /// The tree is valid until the next call. After a fatal error it
    /// returns `None`.
    pub fn next_tree(&mut self) -> Option<Result<&Tree, XmlError>> {
        if self.state == State::Prolog
            && let Err(e) = self.read_prolog()
        {
            return Some(Err(e));
        }
        if self.state == State::Done {
            return None;
        }
        self.start_afresh();
        if self.between_records && self.read_plain_record() {
            return Some(Ok(&self.tree));
        }
        match self.read_next() {
            Ok(true) => Some(Ok(&self.tree)),
            Ok(false) => None,
            Err(e) => {
                if e.is_fatal() {
                    self.state = State::Done;
                }
                Some(Err(e))
            }
        }
    }

    /// Reads the next record straight from the input's buffer when it lies
    /// there whole and is written plainly (see [`Tree::read_plain`]): the
    /// common case, at a fraction of the cost of quick-xml's events. Returns
    /// `false`, having consumed nothing, for anything else; quick-xml then
    /// reads it, so every refusal and message is quick-xml's. Either way
    /// quick-xml is left where it expects to be: between two records.
    fn read_plain_record(&mut self) -> bool {
        #[cfg(test)]
        if self.quick_xml_only {
            return false;
        }
        let limits = Limits {
            max_record_bytes: self.max_record_bytes,
            max_depth: self.max_depth,
            opaque: self.opaque,
        };
        let Ok(buffer) = self.reader.get_mut().fill_buf() else {
            return false;
        };
        let start = skip_whitespace(buffer, 0);
        let line = self.newlines + 1 + newlines_in(buffer.get(..start).unwrap_or_default());
        let record = self
            .tree
            .read_plain(buffer, start, line, &limits, &mut self.plain_stack)
            .and_then(|(end, line)| {
                let record = std::str::from_utf8(buffer.get(start..end)?).ok()?;
                Some((end, line, record))
            });
        let Some((end, line, record)) = record else {
            self.tree.clear();
            return false;
        };
        self.tree.store_plain(record);
        if self.tree.memory() > self.max_record_bytes {
            self.tree.clear();
            return false;
        }
        self.newlines = line - 1;
        self.reader.get_mut().consume(end);
        #[cfg(test)]
        {
            self.plain_records += 1;
        }
        true
    }

    /// Forgets the previous record, counting the line feeds it held.
    fn start_afresh(&mut self) {
        self.newlines += newlines_in(self.raw.get(self.counted..).unwrap_or_default());
        self.raw.clear();
        self.raw.shrink_to(KEEP_BYTES);
        self.counted = 0;
        self.tree.clear();
    }

    /// The line at `raw[at]`, counting the line feeds up to there.
    fn line_at(&mut self, at: usize) -> u64 {
        if let Some(bytes) = self.raw.get(self.counted..at) {
            self.newlines += newlines_in(bytes);
            self.counted = at;
        }
        self.newlines + 1
    }

    fn set_line(&mut self, node: usize, at: usize) {
        let line = self.line_at(at);
        if let Some(node) = self.tree.nodes.get_mut(node) {
            node.line = line;
        }
    }

    /// Reads up to and through the next record; `false` when the root
    /// closed instead.
    fn read_next(&mut self) -> Result<bool, XmlError> {
        loop {
            let at = self.raw.len();
            let from = self.reader.buffer_position();
            let step = match next_event(&mut self.reader, &mut self.raw) {
                Err(kind) => Step::Fail(kind),
                Ok(Event::Start(start)) => match self.tree.add(&start, NONE) {
                    Ok(index) => Step::Open(index, is_opaque(self.opaque, &start)),
                    Err(kind) => Step::Fail(kind),
                },
                Ok(Event::Empty(start)) => match self.tree.add(&start, NONE) {
                    Ok(index) => Step::Leaf(index),
                    Err(kind) => Step::Fail(kind),
                },
                Ok(Event::End(_)) => Step::Close,
                Ok(Event::Text(text)) if text.trim().is_empty() => Step::Skip,
                Ok(Event::CData(data)) if data.trim().is_empty() => Step::Skip,
                Ok(Event::Text(_) | Event::CData(_)) => Step::Stray,
                Ok(Event::GeneralRef(reference)) => match resolve_reference(&reference) {
                    Ok(c) if c.is_whitespace() => Step::Skip,
                    Ok(_) => Step::Stray,
                    Err(kind) => Step::Fail(kind),
                },
                Ok(Event::Eof) => Step::Fail(XmlErrorKind::Truncated),
                Ok(Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_)) => {
                    Step::Skip
                }
            };
            let line = self.line_at(at);
            // Whatever else happens, quick-xml is left after the record.
            self.between_records = matches!(step, Step::Open(..) | Step::Leaf(_));
            match step {
                Step::Open(index, opaque) => {
                    self.set_line(index, at);
                    self.tree.depth = 1;
                    if opaque {
                        self.skip(1)?;
                        if self.over_limit(from) {
                            return Err(self.too_large(line));
                        }
                    } else {
                        self.read_record(from, line)?;
                    }
                    return Ok(true);
                }
                Step::Leaf(index) => {
                    self.set_line(index, at);
                    self.tree.depth = 1;
                    return Ok(true);
                }
                Step::Close => {
                    self.read_epilog()?;
                    return Ok(false);
                }
                Step::Stray => {
                    return Err(XmlError {
                        line,
                        kind: XmlErrorKind::StrayText,
                    });
                }
                Step::Skip | Step::TooDeep => {}
                Step::Fail(kind) => return Err(XmlError { line, kind }),
            }
        }
    }

    /// Reads the rest of the record whose start tag (node 0, on `line`)
    /// began at byte `from` of the input.
    fn read_record(&mut self, from: u64, line: u64) -> Result<(), XmlError> {
        self.stack.clear();
        self.stack.push(0);
        loop {
            if self.over_limit(from) {
                let depth = self.stack.len();
                self.skip(depth)?;
                return Err(self.too_large(line));
            }
            let at = self.raw.len();
            let parent = self.stack.last().copied().unwrap_or(NONE);
            let too_deep = self.max_depth.is_some_and(|max| self.stack.len() >= max);
            let step = match next_event(&mut self.reader, &mut self.raw) {
                Err(kind) => Step::Fail(kind),
                Ok(Event::Start(start)) if too_deep => match check_attributes(&start) {
                    Ok(()) => Step::TooDeep,
                    Err(kind) => Step::Fail(kind),
                },
                Ok(Event::Start(start)) => match self.tree.add(&start, parent) {
                    Ok(index) => Step::Open(index, is_opaque(self.opaque, &start)),
                    Err(kind) => Step::Fail(kind),
                },
                Ok(Event::Empty(start)) => match self.tree.add(&start, parent) {
                    Ok(index) => Step::Leaf(index),
                    Err(kind) => Step::Fail(kind),
                },
                Ok(Event::Text(text)) => {
                    self.tree.add_text(parent, &text.xml10_content());
                    Step::Skip
                }
                Ok(Event::CData(data)) => {
                    self.tree.add_text(parent, &data.xml10_content());
                    Step::Skip
                }
                Ok(Event::GeneralRef(reference)) => match resolve_reference(&reference) {
                    Ok(c) => {
                        self.tree.add_text(parent, c.encode_utf8(&mut [0; 4]));
                        Step::Skip
                    }
                    Err(kind) => Step::Fail(kind),
                },
                Ok(Event::End(_)) => Step::Close,
                Ok(Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_)) => {
                    Step::Skip
                }
                Ok(Event::Eof) => Step::Fail(XmlErrorKind::Truncated),
            };
            match step {
                Step::TooDeep => {
                    let depth = self.stack.len() + 1;
                    self.skip(depth)?;
                    return Err(XmlError {
                        line,
                        kind: XmlErrorKind::RecordTooDeep {
                            limit: self.max_depth.unwrap_or(MAX_RECORD_DEPTH),
                        },
                    });
                }
                Step::Open(index, opaque) => {
                    self.set_line(index, at);
                    if opaque {
                        self.skip(1)?;
                    } else {
                        self.stack.push(index);
                        self.tree.depth = self.tree.depth.max(self.stack.len());
                    }
                }
                Step::Leaf(index) => self.set_line(index, at),
                Step::Close => {
                    self.stack.pop();
                    if self.stack.is_empty() {
                        return Ok(());
                    }
                }
                Step::Stray | Step::Skip => {}
                Step::Fail(kind) => {
                    let line = self.line_at(at);
                    return Err(XmlError { line, kind });
                }
            }
        }
    }

    fn too_large(&self, line: u64) -> XmlError {
        XmlError {
            line,
            kind: XmlErrorKind::RecordTooLarge {
                limit: self.max_record_bytes,
            },
        }
    }

    /// Whether the record that began at input byte `from` has grown past
    /// the limit, in the bytes read or in the memory its tree takes (a
    /// record of many tiny elements takes far more memory than bytes).
    fn over_limit(&self, from: u64) -> bool {
        let read = self.reader.buffer_position().saturating_sub(from);
        usize::try_from(read).map_or(true, |read| read > self.max_record_bytes)
            || self.tree.memory() > self.max_record_bytes
    }

    /// Reads past events, storing nothing, until `depth` open elements
    /// close. Attributes and entity references are still checked: hostile
    /// markup is refused wherever it stands. Each event's bytes leave the
    /// buffer once their line feeds are counted.
    fn skip(&mut self, mut depth: usize) -> Result<(), XmlError> {
        while depth > 0 {
            let at = self.raw.len();
            let outcome = match next_event(&mut self.reader, &mut self.raw) {
                Err(kind) => Err(kind),
                Ok(Event::Start(start)) => check_attributes(&start).map(|()| depth + 1),
                Ok(Event::Empty(start)) => check_attributes(&start).map(|()| depth),
                Ok(Event::End(_)) => Ok(depth - 1),
                Ok(Event::GeneralRef(reference)) => resolve_reference(&reference).map(|_| depth),
                Ok(Event::Eof) => Err(XmlErrorKind::Truncated),
                Ok(
                    Event::Text(_)
                    | Event::CData(_)
                    | Event::Comment(_)
                    | Event::PI(_)
                    | Event::Decl(_)
                    | Event::DocType(_),
                ) => Ok(depth),
            };
            let line = self.line_at(at);
            self.newlines += newlines_in(self.raw.get(at..).unwrap_or_default());
            self.raw.truncate(at);
            depth = outcome.map_err(|kind| XmlError { line, kind })?;
        }
        Ok(())
    }

    fn read_prolog(&mut self) -> Result<(), XmlError> {
        let outcome = self.read_root();
        if outcome.is_err() {
            // Every error of the prolog ends the document.
            self.state = State::Done;
        }
        outcome
    }

    fn read_root(&mut self) -> Result<(), XmlError> {
        self.refuse_foreign_bom()?;
        loop {
            let at = self.raw.len();
            let step = match next_event(&mut self.reader, &mut self.raw) {
                Err(kind) => Step::Fail(kind),
                Ok(Event::Start(start)) => match self.tree.add(&start, NONE) {
                    Ok(index) => Step::Open(index, false),
                    Err(kind) => Step::Fail(kind),
                },
                Ok(Event::Empty(start)) => match self.tree.add(&start, NONE) {
                    Ok(index) => Step::Leaf(index),
                    Err(kind) => Step::Fail(kind),
                },
                Ok(Event::Text(text)) if text.trim().is_empty() => Step::Skip,
                Ok(Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_)) => {
                    Step::Skip
                }
                Ok(Event::Eof) => Step::Fail(XmlErrorKind::Empty),
                Ok(Event::GeneralRef(reference)) => match resolve_reference(&reference) {
                    Err(kind) => Step::Fail(kind),
                    Ok(_) => Step::Stray,
                },
                Ok(Event::Text(_) | Event::CData(_) | Event::End(_)) => Step::Stray,
            };
            let line = self.line_at(at);
            let (index, empty) = match step {
                Step::Open(index, _) => (index, false),
                Step::Leaf(index) => (index, true),
                Step::Skip | Step::Close | Step::TooDeep => continue,
                Step::Stray => {
                    let why = "content before the root element".to_owned();
                    return Err(XmlError {
                        line,
                        kind: XmlErrorKind::Syntax(why),
                    });
                }
                Step::Fail(kind) => return Err(XmlError { line, kind }),
            };
            self.set_line(index, at);
            self.root = Some(self.tree.record().to_element());
            self.tree.clear();
            self.state = if empty { State::Done } else { State::InRoot };
            self.between_records = true;
            return Ok(());
        }
    }

    /// After the root closed, only blanks, comments and PIs may follow.
    fn read_epilog(&mut self) -> Result<(), XmlError> {
        loop {
            let at = self.raw.len();
            let outcome = match next_event(&mut self.reader, &mut self.raw) {
                Err(kind) => Err(kind),
                Ok(Event::Eof) => Ok(true),
                Ok(Event::Text(text)) if text.trim().is_empty() => Ok(false),
                Ok(Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_)) => {
                    Ok(false)
                }
                Ok(Event::GeneralRef(reference)) => resolve_reference(&reference).and(Err(
                    XmlErrorKind::Syntax("content after the root element".into()),
                )),
                Ok(_) => Err(XmlErrorKind::Syntax(
                    "content after the root element".into(),
                )),
            };
            let line = self.line_at(at);
            match outcome {
                Ok(true) => {
                    self.state = State::Done;
                    return Ok(());
                }
                Ok(false) => {}
                Err(kind) => {
                    self.state = State::Done;
                    return Err(XmlError { line, kind });
                }
            }
        }
    }

    /// A UTF-16 or UTF-32 byte-order mark means the file is not UTF-8.
    fn refuse_foreign_bom(&mut self) -> Result<(), XmlError> {
        let fail = |kind| XmlError { line: 1, kind };
        let head = match self.reader.get_mut().fill_buf() {
            Ok(head) => head,
            Err(e) => return Err(fail(XmlErrorKind::Syntax(format!("read failed: {e}")))),
        };
        if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
            return Err(fail(XmlErrorKind::Encoding(
                "the file starts with a UTF-16 byte-order mark".into(),
            )));
        }
        if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
            self.reader.get_mut().consume(3);
        }
        Ok(())
    }
}

/// Reads one event into `raw`, refusing DOCTYPEs and foreign encodings and
/// naming quick-xml's errors.
#[inline]
fn next_event<'b, R: BufRead>(
    reader: &mut Reader<R>,
    raw: &'b mut Vec<u8>,
) -> Result<Event<'b>, XmlErrorKind> {
    match reader.read_event_into(raw) {
        Ok(Event::DocType(_)) => Err(XmlErrorKind::Doctype),
        Ok(Event::Decl(decl)) => match decl.encoding() {
            Some(Ok(encoding))
                if !encoding.eq_ignore_ascii_case("utf-8")
                    && !encoding.eq_ignore_ascii_case("utf8") =>
            {
                Err(XmlErrorKind::Encoding(format!(
                    "the declaration says encoding=\"{encoding}\"; convert the file to UTF-8 first"
                )))
            }
            Some(Err(e)) => Err(XmlErrorKind::Syntax(e.to_string())),
            _ => Ok(Event::Decl(decl)),
        },
        Ok(event) => Ok(event),
        Err(quick_xml::Error::Encoding(e)) => Err(XmlErrorKind::Encoding(e.to_string())),
        Err(quick_xml::Error::Io(e)) => Err(XmlErrorKind::Syntax(format!("read failed: {e}"))),
        Err(quick_xml::Error::Syntax(_)) if at_eof(reader) => Err(XmlErrorKind::Truncated),
        Err(other) => Err(XmlErrorKind::Syntax(other.to_string())),
    }
}

fn at_eof<R: BufRead>(reader: &mut Reader<R>) -> bool {
    reader
        .get_mut()
        .fill_buf()
        .map(|b| b.is_empty())
        .unwrap_or(false)
}
#[cfg(test)]
mod tests {
    use super::*;

    fn records(xml: &str) -> Vec<Result<Element, XmlError>> {
        let mut reader = XmlRecords::new(xml.as_bytes());
        let mut out = Vec::new();
        while let Some(item) = reader.next_record() {
            out.push(item);
        }
        out
    }

    #[test]
    fn reads_records_with_attributes_text_and_children() {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Export v=\"1\">\n  <Patient id=\"p1\">\n    <Name>Anna &amp; Bo &#x41;</Name>\n    <Note><![CDATA[a < b]]></Note>\n  </Patient>\n  <Unit hsa=\"x\"/>\n</Export>\n";
        let mut reader = XmlRecords::new(xml.as_bytes());
        assert_eq!(reader.root().expect("root").attr("v"), Some("1"));
        let patient = reader.next_record().expect("one").expect("ok");
        assert_eq!(patient.name, "Patient");
        assert_eq!(patient.line, 3);
        assert_eq!(patient.attr("id"), Some("p1"));
        assert_eq!(patient.child_text("Name"), Some("Anna & Bo A"));
        assert_eq!(patient.child_text("Note"), Some("a < b"));
        assert_eq!(patient.child("Note").map(|n| n.line), Some(5));
        let unit = reader.next_record().expect("two").expect("ok");
        assert_eq!((unit.name.as_str(), unit.line), ("Unit", 7));
        assert!(reader.next_record().is_none());
    }

    #[test]
    fn doctype_is_refused_before_any_record() {
        let xxe = "<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n<r><p>&x;</p></r>";
        let out = records(xxe);
        assert_eq!(out.len(), 1);
        let e = out[0].as_ref().expect_err("refused");
        assert_eq!(e.kind, XmlErrorKind::Doctype);
        assert!(e.is_fatal());
        let bomb = "<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]><lolz>&lol2;</lolz>";
        let e = records(bomb).remove(0).expect_err("refused");
        assert_eq!(e.kind, XmlErrorKind::Doctype);
    }

    #[test]
    fn undeclared_entities_are_refused_in_text_and_attributes() {
        let e = records("<r><p>&nbsp;</p></r>")
            .remove(0)
            .expect_err("refused");
        assert_eq!(e.kind, XmlErrorKind::Entity("nbsp".into()));
        let e = records("<r><p a=\"&foo;\"/></r>")
            .remove(0)
            .expect_err("refused");
        assert_eq!(e.kind, XmlErrorKind::Entity("foo".into()));
    }

    #[test]
    fn foreign_encodings_are_refused() {
        let e = records("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r/>")
            .remove(0)
            .expect_err("refused");
        assert!(matches!(e.kind, XmlErrorKind::Encoding(_)), "{e}");
        let mut bytes = b"<r><p>".to_vec();
        bytes.extend_from_slice(&[0xC3, 0x28]);
        bytes.extend_from_slice(b"</p></r>");
        let mut reader = XmlRecords::new(&bytes[..]);
        let e = reader.next_record().expect("item").expect_err("bad utf-8");
        assert!(e.is_fatal(), "{e}");
        let utf16 = [0xFF, 0xFE, b'<', 0, b'r', 0, b'/', 0, b'>', 0];
        let e = XmlRecords::new(&utf16[..])
            .next_record()
            .expect("item")
            .expect_err("utf-16");
        assert!(matches!(e.kind, XmlErrorKind::Encoding(_)), "{e}");
    }

    #[test]
    fn a_utf8_bom_is_accepted() {
        let xml = "\u{feff}<r><p/></r>";
        let out = records(xml);
        assert_eq!(out.len(), 1);
        assert!(out[0].is_ok());
    }

    #[test]
    fn truncation_is_fatal_and_reported() {
        for xml in ["<r><p>text", "<r><p>a</p>", "<r><p a=\"1", "<r><p>a</p"] {
            let out = records(xml);
            let last = out.last().expect("an item");
            let e = last.as_ref().expect_err(xml);
            assert!(e.is_fatal(), "{xml}: {e}");
        }
        let out = records("<r><p>a</p>");
        assert!(out[0].is_ok());
        assert_eq!(
            out[1].as_ref().expect_err("eof").kind,
            XmlErrorKind::Truncated
        );
    }

    #[test]
    fn mismatched_tags_are_syntax_errors() {
        let e = records("<r><p></q></r>").remove(0).expect_err("mismatch");
        assert!(matches!(e.kind, XmlErrorKind::Syntax(_)), "{e}");
    }

    #[test]
    fn an_oversized_record_is_skipped_and_the_next_is_read() {
        let big = "x".repeat(2000);
        let xml = format!("<r>\n<p><q>{big}</q><q/></p>\n<p id=\"2\"/>\n</r>");
        let mut reader = XmlRecords::with_max_record_bytes(xml.as_bytes(), 500);
        let e = reader.next_record().expect("item").expect_err("too big");
        assert_eq!(e.kind, XmlErrorKind::RecordTooLarge { limit: 500 });
        assert!(!e.is_fatal());
        let next = reader.next_record().expect("item").expect("ok");
        assert_eq!((next.attr("id"), next.line), (Some("2"), 3));
        assert!(reader.next_record().is_none());
    }

    #[test]
    fn content_after_the_root_is_an_error() {
        let out = records("<r><p/></r><r2/>");
        assert!(out[0].is_ok());
        assert!(out[1].as_ref().expect_err("after root").is_fatal());
    }

    #[test]
    fn a_record_nested_a_million_deep_is_skipped_without_exhausting_the_stack() {
        let depth = 1_000_000;
        let mut xml = String::from("<export><r>");
        xml.push_str(&"<a>".repeat(depth));
        xml.push_str(&"</a>".repeat(depth));
        xml.push_str("</r><r><ok/></r></export>");
        let got = records(&xml);
        assert_eq!(got.len(), 2);
        let e = got[0].as_ref().expect_err("too deep");
        assert_eq!(
            e.kind,
            XmlErrorKind::RecordTooDeep {
                limit: MAX_RECORD_DEPTH
            }
        );
        assert!(!e.is_fatal());
        let next = got[1].as_ref().expect("the next record is read");
        assert_eq!(next.children[0].name, "ok");
    }

    #[test]
    fn line_ends_are_normalised_as_xml_says() {
        let out = records("<r><p a=\"x\r\ny\">1\r\n2</p></r>");
        let p = out[0].as_ref().expect("ok");
        assert_eq!(p.text, "1\n2");
        // Attribute-value normalisation turns line ends into spaces.
        assert_eq!(p.attr("a"), Some("x y"));
    }

    type Buffered<'a> = XmlRecords<std::io::BufReader<&'a [u8]>>;
    type Setup = dyn for<'a> Fn(Buffered<'a>) -> Buffered<'a>;

    /// Everything a reader gives for `input`: the root, then each record
    /// (owned) or error, until it stops.
    fn outcome(
        input: &[u8],
        capacity: usize,
        setup: &Setup,
        quick_xml_only: bool,
    ) -> Vec<Result<Element, XmlError>> {
        let mut reader = setup(XmlRecords::new(std::io::BufReader::with_capacity(
            capacity, input,
        )));
        reader.quick_xml_only = quick_xml_only;
        let mut out = vec![reader.root().cloned()];
        while let Some(item) = reader.next_record() {
            out.push(item);
            assert!(out.len() < 10_000, "the reader does not stop");
        }
        out
    }

    /// Reads `input` both ways — plainly written records straight from the
    /// buffer, and everything through quick-xml's events — in several
    /// set-ups, and requires the same records, lines and errors.
    fn assert_both_ways_agree(input: &[u8]) {
        let setups: [&Setup; 4] = [
            &|r| r,
            &|r| r.keeping_only_attributes_of("w").without_depth_limit(),
            &|r| XmlRecords {
                max_record_bytes: 40,
                ..r
            },
            &|r| XmlRecords {
                max_depth: Some(2),
                ..r
            },
        ];
        for setup in setups {
            for capacity in [1 << 16, 1, 7, 64] {
                let plain = outcome(input, capacity, setup, false);
                let quick = outcome(input, capacity, setup, true);
                assert_eq!(
                    plain,
                    quick,
                    "capacity {capacity}, input {:?}",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }

    const SAMPLES: &[&str] = &[
        "<r>\n <p id=\"1\" a='x'>\n  <q>text</q>\n  <e/>\n  <e b=\"2\" />\n </p>\n <p/>\n</r>\n",
        "<?xml version=\"1.0\"?>\n<!-- c -->\n<x:r xmlns:x=\"u\" xmlns=\"d\">\n<x:p x:k=\"v\" xmlns:y=\"w\"><x:q>1</x:q></x:p>\n</x:r>",
        "<r><p>a &amp; b &lt; c &#65;&#x42;</p><p a=\"&quot;q&quot;\"/></r>",
        "<r>\r\n<p>\r\n<q>line\r\nend\r</q>\r\n</p>\r\n</r>\r\n",
        "<r><p><![CDATA[x < y]]><!-- no --><?pi x?>tail</p></r>",
        "<r><p>x<c/>y</p><p> <c/> \u{a0} </p><p>\u{a0}<c/></p></r>",
        "<r><p>x<c/>y<c/>&bogus;</p><p>x<c/>y<c/>&#65;<c/>&lt;</p></r>",
        "<r><p a=\"1\"b='2'/><p a = \"1\"\tb\n=\n'2'/><p a=\"1\" a=\"2\"/></r>",
        "<r><p a=\"x\ty\nz\"/><p a=\"1\" b=\"2\" c=\"3\" d=\"4\" e=\"5\" f=\"6\" g=\"7\" h=\"8\" i=\"9\"/></r>",
        "<r><w d=\"x\"><s>secret</s>&amp;</w><p><w d=\"y\">secret<i/></w><q/></p></r>",
        "<r><p><a><b><c/></b></a></p><p><a><b/></a></p></r>",
        "<r>stray<p/>&#65;<p/>&#32;<p/></r>",
        "<r><p>0123456789012345678901234567890123456789</p><p>ok</p></r>",
        "<r><p></q></p><p/></r>",
        "<r><p a=\"1>2\" b='<'/></r>",
        "<r><p a=\"1>2\">]]> and -- and ]] in text</p></r>",
        "<r><p></p >< p/></r>",
        "<r><p>caf\u{e9} \u{2014} \u{1F600}</p><\u{e5}\u{e4}\u{f6} \u{e5}=\"\u{f6}\"/></r>",
        "<r><p>",
        "<r><p a=\"1",
        "<r><p/></r><after/>",
        "<r><p/></r>\n<!-- after -->\n",
        "<r/>",
        "",
    ];

    #[test]
    fn plain_records_read_as_quick_xml_reads_them() {
        for sample in SAMPLES {
            assert_both_ways_agree(sample.as_bytes());
        }
        let vectors =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance-tests/vectors");
        let mut read = 0;
        for format in ["pmo", "bhv"] {
            for entry in std::fs::read_dir(vectors.join(format)).expect("vectors") {
                let dir = entry.expect("entry").path();
                for name in ["input.xml", "reencoded.xml"] {
                    if let Ok(bytes) = std::fs::read(dir.join(name)) {
                        assert_both_ways_agree(&bytes);
                        read += 1;
                    }
                }
            }
        }
        assert!(read > 20, "{read} vector files");
    }

    #[test]
    fn plain_records_read_as_quick_xml_reads_them_after_random_edits() {
        // xorshift64: the same edits on every run.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move |below: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % below as u64) as usize
        };
        let pieces: &[&[u8]] = &[
            b"<",
            b">",
            b"/",
            b"=",
            b"\"",
            b"'",
            b"&",
            b";",
            b":",
            b"!",
            b"?",
            b" ",
            b"\n",
            b"\r",
            b"\t",
            b"x",
            b"p",
            b"w",
            b"</p>",
            b"<p>",
            b"<w>",
            b"&amp;",
            b"&#",
            b"-->",
            b"\xC3",
            b"\xA9",
            b"\xE2\x80\x94",
            b"\x00",
            b"]]>",
            b"&lt;",
            b"&quot",
            b"<p a='1'>",
            b"<!--",
            b"<![CDATA[",
            b"<?x?>",
        ];
        for round in 0..10_000 {
            let mut bytes = SAMPLES[round % SAMPLES.len()].as_bytes().to_vec();
            for _ in 0..=next(3) {
                let at = next(bytes.len() + 1);
                match next(3) {
                    0 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    1 if at < bytes.len() => {
                        let end = (at + 1 + next(6)).min(bytes.len());
                        let copy = bytes[at..end].to_vec();
                        bytes.splice(at..at, copy);
                    }
                    _ => {
                        let piece = pieces[next(pieces.len())];
                        bytes.splice(at..at, piece.iter().copied());
                    }
                }
            }
            assert_both_ways_agree(&bytes);
        }
    }

    #[test]
    fn withheld_content_never_enters_the_buffers() {
        let secret = "HEMLIG";
        let xml = format!(
            "<r>\n<p a=\"1\"><w d=\"x\">{secret}<s k=\"{secret}\">{secret}</s></w><q>ok</q></p>\n<w d=\"y\">{secret}</w>\n</r>"
        );
        let mut reader = XmlRecords::new(xml.as_bytes()).keeping_only_attributes_of("w");
        let mut seen = 0;
        while let Some(item) = reader.next_tree() {
            let tree = item.expect("well-formed");
            assert!(!tree.text.contains(secret), "{:?}", tree.text);
            assert!(!String::from_utf8_lossy(&reader.raw).contains(secret));
            seen += 1;
        }
        assert_eq!(seen, 2);
    }

    #[test]
    fn lines_are_counted_through_tags_comments_and_skipped_content() {
        let xml = "<r>\n<!--\n\n-->\n<p\n a=\"1\">\n<q/><w>\n\n</w>\n<q\n/>\n</p>\n\n<p/>\n</r>";
        for quick_xml_only in [false, true] {
            let mut reader = XmlRecords::new(xml.as_bytes()).keeping_only_attributes_of("w");
            reader.quick_xml_only = quick_xml_only;
            let first = reader.next_record().expect("one").expect("ok");
            let lines: Vec<u64> = first.children.iter().map(|c| c.line).collect();
            assert_eq!((first.line, lines), (5, vec![7, 7, 10]));
            let second = reader.next_record().expect("two").expect("ok");
            assert_eq!(second.line, 14);
        }
    }

    #[test]
    fn plain_attributes_are_what_quick_xml_reads() {
        // Every tag of up to six characters from this alphabet after the
        // name, plus longer plain ones: where `plain_attributes` reads a
        // tag, quick-xml's iterator yields the same keys and raw values.
        let alphabet = ['a', 'b', ':', '=', '"', '\'', ' ', '/', '&'];
        let mut tags = vec![String::new()];
        let mut all = Vec::new();
        for _ in 0..6 {
            tags = tags
                .iter()
                .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
                .collect();
            all.extend(tags.iter().cloned());
        }
        all.push(" a=\"1\" b:c='2' xmlns:d=\"3\"".into());
        all.push(" a=\"1\"b=\"2\"\n\tc =\r\n'x>y'".into());
        let mut plain_tags = 0;
        for rest in all {
            let start = BytesStart::from_content(format!("t{rest}"), 1);
            let mut ours = Vec::new();
            let plain = plain_attributes(&start, |k, v| {
                ours.push((k.to_owned(), v.to_owned()));
                Ok(())
            })
            .expect("no callback error");
            if !plain {
                continue;
            }
            plain_tags += 1;
            let theirs: Result<Vec<(String, String)>, _> = start
                .attributes()
                .map(|a| a.map(|a| (a.key.as_ref().to_owned(), a.value.into_owned())))
                .collect();
            assert_eq!(Ok(ours), theirs, "tag {rest:?}");
        }
        assert!(plain_tags > 1000, "{plain_tags}");
    }

    #[test]
    fn references_and_crlf_line_ends_take_the_plain_way() {
        let xml = "<r>\r\n<p a=\"1\">\r\n  <q>a &amp; b &lt;c&gt; &quot;d&apos;\r\nrad tv\u{e5}\r</q>\r\n  <s/>\r\n</p>\r\n<p>x<c/>&amp;</p>\r\n</r>\r\n";
        assert_both_ways_agree(xml.as_bytes());
        let mut reader = XmlRecords::new(xml.as_bytes());
        let first = reader.next_record().expect("one").expect("ok");
        assert_eq!(first.children[0].text, "a & b <c> \"d'\nrad tv\u{e5}\n");
        assert_eq!(first.text, "\n  ");
        let second = reader.next_record().expect("two").expect("ok");
        assert!(second.stray_text);
        assert!(reader.next_record().is_none());
        assert_eq!(reader.plain_records, 2);
    }
}
