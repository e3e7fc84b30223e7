//! The extract's streaming reader: one record element at a time, as a small
//! tree in buffers that are reused from record to record.
//!
//! It refuses what [`crate::xml`] refuses, by the same rules and with the
//! same messages ([`XmlError`]): a `DOCTYPE` (so no external entities and no
//! entity-expansion bombs), entity references other than XML's predefined
//! ones and character references, any encoding but UTF-8, a document that
//! ends before its root closes; an oversized record (in bytes read, or in
//! the memory its tree would take) or stray text between records is skipped
//! and reported, and reading goes on. Nothing here recurses, so no nesting
//! depth can exhaust the stack.
//!
//! It differs from [`XmlRecords`](crate::xml::XmlRecords) in two ways, both
//! for this format's sake:
//!
//! - **Withheld content is never kept.** An `<undanhallet>` element is
//!   stored with its attributes only; everything inside it is read past
//!   (still checked for hostile markup) and never copied anywhere, so it
//!   cannot reach a record, a message or a debug print.
//! - **Nothing is allocated per element.** Names, attribute values and text
//!   of the current record live in one string and a few vectors that are
//!   cleared, not freed, between records; a record costs only the strings
//!   its canonical form owns. This keeps decoding close to the speed of a
//!   bare quick-xml event scan.

use std::io::BufRead;
use std::ops::Range;

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use super::tag;
use crate::xml::{DEFAULT_MAX_RECORD_BYTES, XmlError, XmlErrorKind};

/// The root element: its name and `version` attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Root {
    pub name: String,
    pub version: Option<String>,
    pub line: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Prolog,
    InRoot,
    Done,
}

/// Reads the record elements under a document's root.
pub(super) struct ExtractReader<R> {
    reader: Reader<R>,
    buf: Vec<u8>,
    /// Newlines consumed so far; the current line is `newlines + 1`.
    newlines: u64,
    state: State,
    root: Option<Root>,
    max_record_bytes: usize,
    tree: Tree,
    /// Open elements of the record being read (indices into `tree.nodes`).
    stack: Vec<usize>,
}

/// One record: its elements in document order (the record element first),
/// their attributes, and one string holding every name, value and text.
#[derive(Default)]
pub(super) struct Tree {
    text: String,
    nodes: Vec<Node>,
    attributes: Vec<Attribute>,
}

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

struct Attribute {
    name: Range<usize>,
    value: Range<usize>,
}

/// Index 0 is the record element, which is nobody's child or sibling, so 0
/// also means "none" in the links.
const NONE: usize = 0;

/// One element of the current record.
#[derive(Clone, Copy)]
pub(super) struct El<'t> {
    tree: &'t Tree,
    index: usize,
}

impl<'t> El<'t> {
    fn node(&self) -> &'t Node {
        &self.tree.nodes[self.index]
    }

    fn slice(&self, range: &Range<usize>) -> &'t str {
        self.tree.text.get(range.clone()).unwrap_or_default()
    }

    pub fn name(&self) -> &'t str {
        self.slice(&self.node().name)
    }

    /// The element's own text (for a container: what came before its first
    /// child).
    pub fn text(&self) -> &'t str {
        self.slice(&self.node().text)
    }

    /// Whether the element has non-blank text anywhere besides its text
    /// before the first child.
    pub fn has_stray_text(&self) -> bool {
        self.node().stray_text
    }

    pub fn line(&self) -> u64 {
        self.node().line
    }

    pub fn attributes(&self) -> impl Iterator<Item = (&'t str, &'t str)> + 't {
        let tree = self.tree;
        tree.attributes
            .get(self.node().attributes.clone())
            .unwrap_or_default()
            .iter()
            .map(move |a| {
                (
                    tree.text.get(a.name.clone()).unwrap_or_default(),
                    tree.text.get(a.value.clone()).unwrap_or_default(),
                )
            })
    }

    pub fn attr(&self, name: &str) -> Option<&'t str> {
        self.attributes().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    pub fn first_attribute(&self) -> Option<&'t str> {
        self.attributes().next().map(|(k, _)| k)
    }

    pub fn children(&self) -> Children<'t> {
        Children {
            tree: self.tree,
            next: self.node().first_child,
        }
    }

    pub fn first_child(&self) -> Option<El<'t>> {
        self.children().next()
    }
}

pub(super) struct Children<'t> {
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

impl Tree {
    fn clear(&mut self) {
        self.text.clear();
        self.nodes.clear();
        self.attributes.clear();
    }

    /// Bytes the tree holds.
    fn memory(&self) -> usize {
        self.text.len()
            + self.nodes.len() * std::mem::size_of::<Node>()
            + self.attributes.len() * std::mem::size_of::<Attribute>()
    }

    /// The record element.
    pub fn record(&self) -> El<'_> {
        El {
            tree: self,
            index: 0,
        }
    }

    fn push_str(&mut self, s: &str) -> Range<usize> {
        let start = self.text.len();
        self.text.push_str(s);
        start..self.text.len()
    }

    /// Adds an element, as a child of `parent` (ignored for the first).
    fn add(
        &mut self,
        start: &BytesStart<'_>,
        line: u64,
        parent: usize,
    ) -> Result<usize, XmlErrorKind> {
        let name = self.push_str(local(start.name().as_ref()));
        let first_attribute = self.attributes.len();
        for attribute in start.attributes() {
            let attribute = attribute.map_err(|e| XmlErrorKind::Syntax(e.to_string()))?;
            let key = attribute.key.as_ref();
            if key == "xmlns" || key.starts_with("xmlns:") {
                continue;
            }
            let value = attribute
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| match e {
                    quick_xml::Error::Escape(
                        quick_xml::escape::EscapeError::UnrecognizedEntity(_, name),
                    ) => XmlErrorKind::Entity(name),
                    other => XmlErrorKind::Syntax(other.to_string()),
                })?;
            let name = self.push_str(local(key));
            let value = self.push_str(&value);
            self.attributes.push(Attribute { name, value });
        }
        let index = self.nodes.len();
        let end = self.text.len();
        self.nodes.push(Node {
            name,
            attributes: first_attribute..self.attributes.len(),
            text: end..end,
            first_child: NONE,
            last_child: NONE,
            next_sibling: NONE,
            line,
            stray_text: false,
        });
        if index != 0
            && let Some(parent) = self.nodes.get_mut(parent)
        {
            let previous = parent.last_child;
            parent.last_child = index;
            if previous == NONE {
                parent.first_child = index;
            } else if let Some(previous) = self.nodes.get_mut(previous) {
                previous.next_sibling = index;
            }
        }
        Ok(index)
    }

    /// Text of `node`: kept while it is contiguous (no child yet), else only
    /// noted when it is not blank.
    fn add_text(&mut self, node: usize, text: &str) {
        let contiguous = self
            .nodes
            .get(node)
            .is_some_and(|n| n.first_child == NONE && n.text.end == self.text.len());
        if contiguous {
            self.text.push_str(text);
            let end = self.text.len();
            if let Some(n) = self.nodes.get_mut(node) {
                n.text.end = end;
            }
        } else if !text.trim().is_empty()
            && let Some(n) = self.nodes.get_mut(node)
        {
            n.stray_text = true;
        }
    }
}

impl<R: BufRead> ExtractReader<R> {
    pub fn new(input: R) -> Self {
        Self::with_max_record_bytes(input, DEFAULT_MAX_RECORD_BYTES)
    }

    pub fn with_max_record_bytes(input: R, max_record_bytes: usize) -> Self {
        let mut reader = Reader::from_reader(input);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = false;
        config.trim_text(false);
        ExtractReader {
            reader,
            buf: Vec::with_capacity(8 * 1024),
            newlines: 0,
            state: State::Prolog,
            root: None,
            max_record_bytes,
            tree: Tree::default(),
            stack: Vec::with_capacity(8),
        }
    }

    /// The root element. Reads the prolog if that has not happened yet.
    pub fn root(&mut self) -> Result<&Root, XmlError> {
        if self.state == State::Prolog {
            self.read_prolog()?;
        }
        self.root.as_ref().ok_or(XmlError {
            line: self.newlines + 1,
            kind: XmlErrorKind::Empty,
        })
    }

    /// The next record, an error, or `None` after the root closes. The tree
    /// is valid until the next call. After a fatal error it returns `None`.
    pub fn next_record(&mut self) -> Option<Result<&Tree, XmlError>> {
        if self.state == State::Prolog
            && let Err(e) = self.read_prolog()
        {
            return Some(Err(e));
        }
        if self.state == State::Done {
            return None;
        }
        loop {
            let line = self.newlines + 1;
            let before = self.reader.buffer_position();
            let event = match next_event(&mut self.reader, &mut self.buf, &mut self.newlines) {
                Ok(event) => event,
                Err(e) => return Some(Err(self.fail(e))),
            };
            match event {
                Event::Start(start) => {
                    self.tree.clear();
                    if let Err(kind) = self.tree.add(&start, line, NONE) {
                        return Some(Err(self.fatal_at(line, kind)));
                    }
                    let withheld = local(start.name().as_ref()) == tag::WITHHELD;
                    let outcome = if withheld {
                        self.skip_withheld(before, line)
                    } else {
                        self.read_record(before, line)
                    };
                    return Some(match outcome {
                        Ok(()) => Ok(&self.tree),
                        Err(e) => Err(self.fail(e)),
                    });
                }
                Event::Empty(start) => {
                    self.tree.clear();
                    return Some(match self.tree.add(&start, line, NONE) {
                        Ok(_) => Ok(&self.tree),
                        Err(kind) => Err(self.fatal_at(line, kind)),
                    });
                }
                Event::End(_) => {
                    return match self.read_epilog() {
                        Ok(()) => None,
                        Err(e) => Some(Err(e)),
                    };
                }
                Event::Text(text) => {
                    if !text.trim().is_empty() {
                        return Some(Err(XmlError {
                            line,
                            kind: XmlErrorKind::StrayText,
                        }));
                    }
                }
                Event::CData(data) => {
                    if !data.trim().is_empty() {
                        return Some(Err(XmlError {
                            line,
                            kind: XmlErrorKind::StrayText,
                        }));
                    }
                }
                Event::GeneralRef(reference) => match resolve_reference(&reference) {
                    Err(kind) => return Some(Err(self.fatal_at(line, kind))),
                    Ok(c) if c.is_whitespace() => {}
                    Ok(_) => {
                        return Some(Err(XmlError {
                            line,
                            kind: XmlErrorKind::StrayText,
                        }));
                    }
                },
                Event::Eof => return Some(Err(self.fatal_at(line, XmlErrorKind::Truncated))),
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => {}
            }
        }
    }

    fn read_prolog(&mut self) -> Result<(), XmlError> {
        self.refuse_foreign_bom()?;
        loop {
            let line = self.newlines + 1;
            let event = match next_event(&mut self.reader, &mut self.buf, &mut self.newlines) {
                Ok(event) => event,
                Err(e) => {
                    // Every error of the prolog and epilog ends the document.
                    self.state = State::Done;
                    return Err(e);
                }
            };
            let (start, empty) = match event {
                Event::Start(start) => (start, false),
                Event::Empty(start) => (start, true),
                Event::Text(text) if text.trim().is_empty() => continue,
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => continue,
                Event::Eof => return Err(self.fatal_at(line, XmlErrorKind::Empty)),
                Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) | Event::End(_) => {
                    return Err(self.fatal_at(
                        line,
                        XmlErrorKind::Syntax("content before the root element".into()),
                    ));
                }
            };
            self.tree.clear();
            if let Err(kind) = self.tree.add(&start, line, NONE) {
                return Err(self.fatal_at(line, kind));
            }
            let root = self.tree.record();
            self.root = Some(Root {
                name: root.name().to_owned(),
                version: root.attr(tag::VERSION).map(str::to_owned),
                line,
            });
            self.state = if empty { State::Done } else { State::InRoot };
            return Ok(());
        }
    }

    fn read_epilog(&mut self) -> Result<(), XmlError> {
        loop {
            let line = self.newlines + 1;
            let event = match next_event(&mut self.reader, &mut self.buf, &mut self.newlines) {
                Ok(event) => event,
                Err(e) => {
                    // Every error of the prolog and epilog ends the document.
                    self.state = State::Done;
                    return Err(e);
                }
            };
            match event {
                Event::Eof => {
                    self.state = State::Done;
                    return Ok(());
                }
                Event::Text(text) if text.trim().is_empty() => {}
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => {}
                _ => {
                    return Err(self.fatal_at(
                        line,
                        XmlErrorKind::Syntax("content after the root element".into()),
                    ));
                }
            }
        }
    }

    /// Reads the rest of the record whose start tag (node 0, on `line`)
    /// began at byte `from`.
    fn read_record(&mut self, from: u64, line: u64) -> Result<(), XmlError> {
        self.stack.clear();
        self.stack.push(0);
        loop {
            if self.over_limit(from) {
                let depth = self.stack.len();
                self.skip_to_depth_zero(depth)?;
                return Err(self.too_large(line));
            }
            let at = self.newlines + 1;
            let fail = |kind| XmlError { line: at, kind };
            let parent = self.stack.last().copied().unwrap_or(NONE);
            match next_event(&mut self.reader, &mut self.buf, &mut self.newlines)? {
                Event::Start(start) => {
                    let index = self.tree.add(&start, at, parent).map_err(fail)?;
                    if local(start.name().as_ref()) == tag::WITHHELD {
                        self.skip_to_depth_zero(1)?;
                    } else {
                        self.stack.push(index);
                    }
                }
                Event::Empty(start) => {
                    self.tree.add(&start, at, parent).map_err(fail)?;
                }
                Event::Text(text) => self.tree.add_text(parent, &text.xml10_content()),
                Event::CData(data) => self.tree.add_text(parent, &data.xml10_content()),
                Event::GeneralRef(reference) => {
                    let resolved = resolve_reference(&reference).map_err(fail)?;
                    let mut utf8 = [0; 4];
                    self.tree.add_text(parent, resolved.encode_utf8(&mut utf8));
                }
                Event::End(_) => {
                    self.stack.pop();
                    if self.stack.is_empty() {
                        return Ok(());
                    }
                }
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => {}
                Event::Eof => return Err(fail(XmlErrorKind::Truncated)),
            }
        }
    }

    /// A record that is `<undanhallet>` itself: read past, keeping only its
    /// start tag (node 0).
    fn skip_withheld(&mut self, from: u64, line: u64) -> Result<(), XmlError> {
        self.skip_to_depth_zero(1)?;
        if self.over_limit(from) {
            return Err(self.too_large(line));
        }
        Ok(())
    }

    fn too_large(&self, line: u64) -> XmlError {
        XmlError {
            line,
            kind: XmlErrorKind::RecordTooLarge {
                limit: self.max_record_bytes,
            },
        }
    }

    /// Whether the record has grown past the limit, in the bytes read or in
    /// the memory its tree takes (a record of many tiny elements takes far
    /// more memory than bytes).
    fn over_limit(&self, from: u64) -> bool {
        let read = self.reader.buffer_position().saturating_sub(from);
        usize::try_from(read).map_or(true, |read| read > self.max_record_bytes)
            || self.tree.memory() > self.max_record_bytes
    }

    /// Reads past events, storing nothing, until `depth` open elements
    /// close. Entity references are still checked: hostile markup is
    /// refused wherever it stands.
    fn skip_to_depth_zero(&mut self, mut depth: usize) -> Result<(), XmlError> {
        while depth > 0 {
            let at = self.newlines + 1;
            let fail = |kind| XmlError { line: at, kind };
            match next_event(&mut self.reader, &mut self.buf, &mut self.newlines)? {
                Event::Start(start) => {
                    check_attributes(&start).map_err(fail)?;
                    depth += 1;
                }
                Event::Empty(start) => check_attributes(&start).map_err(fail)?,
                Event::End(_) => depth -= 1,
                Event::GeneralRef(reference) => {
                    resolve_reference(&reference).map_err(fail)?;
                }
                Event::Eof => return Err(fail(XmlErrorKind::Truncated)),
                Event::Text(_)
                | Event::CData(_)
                | Event::Comment(_)
                | Event::PI(_)
                | Event::Decl(_)
                | Event::DocType(_) => {}
            }
        }
        Ok(())
    }

    /// A UTF-16 or UTF-32 byte-order mark means the file is not UTF-8.
    fn refuse_foreign_bom(&mut self) -> Result<(), XmlError> {
        let head = match self.reader.get_mut().fill_buf() {
            Ok(head) => head,
            Err(e) => {
                let kind = XmlErrorKind::Syntax(format!("read failed: {e}"));
                return Err(self.fatal_at(1, kind));
            }
        };
        let utf16 = head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]);
        let utf8_bom = head.starts_with(&[0xEF, 0xBB, 0xBF]);
        if utf16 {
            return Err(self.fatal_at(
                1,
                XmlErrorKind::Encoding("the file starts with a UTF-16 byte-order mark".into()),
            ));
        }
        if utf8_bom {
            self.reader.get_mut().consume(3);
        }
        Ok(())
    }

    /// An error from reading: fatal ones end the document.
    fn fail(&mut self, e: XmlError) -> XmlError {
        if e.is_fatal() {
            self.state = State::Done;
        }
        e
    }

    fn fatal_at(&mut self, line: u64, kind: XmlErrorKind) -> XmlError {
        self.state = State::Done;
        XmlError { line, kind }
    }
}

/// Reads one event, counting its newlines, refusing DOCTYPEs and foreign
/// encodings, and naming quick-xml's errors as [`crate::xml`] does. The
/// error's line is where the event started.
fn next_event<'b, R: BufRead>(
    reader: &mut Reader<R>,
    buf: &'b mut Vec<u8>,
    newlines: &mut u64,
) -> Result<Event<'b>, XmlError> {
    buf.clear();
    let line = *newlines + 1;
    let fail = |kind| XmlError { line, kind };
    let event = match reader.read_event_into(buf) {
        Ok(event) => event,
        Err(e) => {
            let kind = match e {
                quick_xml::Error::Encoding(e) => XmlErrorKind::Encoding(e.to_string()),
                quick_xml::Error::Io(e) => XmlErrorKind::Syntax(format!("read failed: {e}")),
                quick_xml::Error::Syntax(_) if at_eof(reader) => XmlErrorKind::Truncated,
                other => XmlErrorKind::Syntax(other.to_string()),
            };
            return Err(fail(kind));
        }
    };
    *newlines += count_newlines(&event);
    match &event {
        Event::DocType(_) => Err(fail(XmlErrorKind::Doctype)),
        Event::Decl(decl) => match decl.encoding() {
            Some(Ok(encoding))
                if !encoding.eq_ignore_ascii_case("utf-8")
                    && !encoding.eq_ignore_ascii_case("utf8") =>
            {
                Err(fail(XmlErrorKind::Encoding(format!(
                    "the declaration says encoding=\"{encoding}\"; convert the file to UTF-8 first"
                ))))
            }
            Some(Err(e)) => Err(fail(XmlErrorKind::Syntax(e.to_string()))),
            _ => Ok(event),
        },
        _ => Ok(event),
    }
}

fn at_eof<R: BufRead>(reader: &mut Reader<R>) -> bool {
    reader
        .get_mut()
        .fill_buf()
        .map(|b| b.is_empty())
        .unwrap_or(false)
}

fn count_newlines(event: &Event<'_>) -> u64 {
    let text: &str = match event {
        Event::Start(e) | Event::Empty(e) => e,
        Event::End(e) => e,
        Event::Text(e) | Event::Comment(e) | Event::DocType(e) => e,
        Event::CData(e) => e,
        Event::PI(e) => e,
        Event::Decl(e) => e,
        Event::GeneralRef(_) | Event::Eof => return 0,
    };
    newlines_in(text.as_bytes())
}

/// Counts line feeds eight bytes at a time: a byte of `x` is zero exactly
/// where the input has `\n`, and the high bit of each byte of `nonzero`
/// says whether that byte of `x` is not zero (no carries cross bytes).
pub(super) fn newlines_in(bytes: &[u8]) -> u64 {
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

fn local(name: &str) -> &str {
    match name.split_once(':') {
        Some((_, local)) => local,
        None => name,
    }
}

/// Checks the attribute values of a start tag that is read past (inside
/// withheld content) for entity references, without keeping them.
fn check_attributes(start: &BytesStart<'_>) -> Result<(), XmlErrorKind> {
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| XmlErrorKind::Syntax(e.to_string()))?;
        attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| match e {
                quick_xml::Error::Escape(quick_xml::escape::EscapeError::UnrecognizedEntity(
                    _,
                    name,
                )) => XmlErrorKind::Entity(name),
                other => XmlErrorKind::Syntax(other.to_string()),
            })?;
    }
    Ok(())
}

fn resolve_reference(reference: &quick_xml::events::BytesRef<'_>) -> Result<char, XmlErrorKind> {
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
