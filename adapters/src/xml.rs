//! Safe, streaming reading of record-oriented XML exports.
//!
//! Journal exports are one root element holding a long run of record
//! elements (`<Patient>`, `<Child>`, …), and can be many gigabytes. This
//! module walks such a document with quick-xml and hands the caller one
//! record element at a time as a small in-memory tree ([`Element`]), so memory
//! is bounded by the largest record, never by the file.
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
//! A record larger than the limit is skipped and reported, and reading goes
//! on with the next one.

use std::fmt;
use std::io::BufRead;
use std::ops::Deref;
use std::sync::Arc;

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

/// Records larger than this are skipped: far above any real patient's
/// export (thousands of notes), far below a memory risk.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

/// Records nesting elements deeper than this are skipped (the record
/// element itself is the first level): real records nest a few levels, and
/// a bound keeps the tree, and dropping it, from exhausting the stack on
/// hostile input.
pub const MAX_RECORD_DEPTH: usize = 64;

/// An XML element with its attributes, direct text and child elements.
/// Names are local names: a namespace prefix is dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: Name,
    pub attributes: Vec<(Name, String)>,
    pub children: Vec<Element>,
    /// The element's own character data (text and CDATA), concatenated.
    pub text: String,
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

/// An element or attribute name (a local name). Names repeat record after
/// record, so the reader shares one copy of each recently seen name instead
/// of allocating a string per element.
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

/// Slots in the name cache: far more than the distinct names of any
/// record format, so collisions are rare; a fixed size keeps hostile input
/// with endless distinct names from growing it.
const NAME_SLOTS: usize = 1024;

/// The most capacity the reused text buffer keeps between events.
const TEXT_KEEP_BYTES: usize = 1024 * 1024;

/// A direct-mapped cache of recently seen names.
struct Names {
    slots: Box<[Option<Arc<str>>]>,
}

impl Names {
    fn new() -> Self {
        Names {
            slots: (0..NAME_SLOTS).map(|_| None).collect(),
        }
    }

    fn get(&mut self, name: &str) -> Name {
        // Length and three bytes tell the names of a format apart well
        // enough; a collision only costs an allocation.
        let bytes = name.as_bytes();
        let at = |i: usize| u32::from(bytes.get(i).copied().unwrap_or(0));
        let len = bytes.len();
        let hash =
            (len as u32) ^ (at(0) << 8) ^ (at(len / 2) << 16) ^ (at(len.wrapping_sub(1)) << 24);
        let slot = (hash.wrapping_mul(0x9E37_79B9) >> 22) as usize % NAME_SLOTS;
        match self.slots.get_mut(slot) {
            Some(Some(known)) if **known == *name => Name(Arc::clone(known)),
            Some(entry) => {
                let fresh: Arc<str> = Arc::from(name);
                *entry = Some(Arc::clone(&fresh));
                Name(fresh)
            }
            None => Name(Arc::from(name)),
        }
    }
}

impl fmt::Debug for Names {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Names { .. }")
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the root element.
    Prolog,
    /// Inside the root, between records.
    InRoot,
    /// After the root closed, or after a fatal error.
    Done,
}

/// Reads the children of a document's root element one by one.
#[derive(Debug)]
pub struct XmlRecords<R> {
    reader: Reader<R>,
    buf: Vec<u8>,
    /// The character data of the last `Ev::Text`, reused from event to event.
    text: String,
    names: Names,
    /// Newlines consumed so far; the current line is `newlines + 1`.
    newlines: u64,
    state: State,
    root: Option<Element>,
    max_record_bytes: usize,
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
            buf: Vec::with_capacity(8 * 1024),
            text: String::new(),
            names: Names::new(),
            newlines: 0,
            state: State::Prolog,
            root: None,
            max_record_bytes,
        }
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

    /// The next record element, an error, or `None` after the root closes.
    /// After a fatal error it returns `None`.
    pub fn next_record(&mut self) -> Option<Result<Element, XmlError>> {
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
            let event = match self.read_event() {
                Ok(event) => event,
                Err(e) => return Some(Err(e)),
            };
            match event {
                Ev::Start(element) => return Some(self.read_record(element, line)),
                Ev::Empty(element) => return Some(Ok(element)),
                Ev::End => {
                    // The root closed; only blanks, comments and PIs may follow.
                    return match self.read_epilog() {
                        Ok(()) => None,
                        Err(e) => Some(Err(e)),
                    };
                }
                Ev::Text => {
                    if !self.text.trim().is_empty() {
                        return Some(Err(XmlError {
                            line,
                            kind: XmlErrorKind::StrayText,
                        }));
                    }
                }
                Ev::Other => {}
                Ev::Eof => return Some(Err(self.fatal(XmlErrorKind::Truncated))),
            }
        }
    }

    fn read_prolog(&mut self) -> Result<(), XmlError> {
        self.refuse_foreign_bom()?;
        loop {
            match self.read_event()? {
                Ev::Start(root) => {
                    self.root = Some(root);
                    self.state = State::InRoot;
                    return Ok(());
                }
                Ev::Empty(root) => {
                    self.root = Some(root);
                    self.state = State::Done;
                    return Ok(());
                }
                Ev::Text if self.text.trim().is_empty() => {}
                Ev::Other => {}
                Ev::Eof => return Err(self.fatal(XmlErrorKind::Empty)),
                Ev::Text | Ev::End => {
                    return Err(self.fatal(XmlErrorKind::Syntax(
                        "content before the root element".into(),
                    )));
                }
            }
        }
    }

    fn read_epilog(&mut self) -> Result<(), XmlError> {
        loop {
            match self.read_event()? {
                Ev::Eof => {
                    self.state = State::Done;
                    return Ok(());
                }
                Ev::Text if self.text.trim().is_empty() => {}
                Ev::Other => {}
                Ev::Start(_) | Ev::Empty(_) | Ev::End | Ev::Text => {
                    return Err(self.fatal(XmlErrorKind::Syntax(
                        "content after the root element".into(),
                    )));
                }
            }
        }
    }

    /// Builds the tree of one record whose start tag was just read.
    fn read_record(&mut self, top: Element, line: u64) -> Result<Element, XmlError> {
        let mut stack = vec![top];
        let mut bytes = 0usize;
        loop {
            let before = self.reader.buffer_position();
            let event = self.read_event()?;
            bytes = bytes.saturating_add((self.reader.buffer_position() - before) as usize);
            if bytes > self.max_record_bytes {
                let depth = stack.len() + usize::from(matches!(event, Ev::Start(_)))
                    - usize::from(matches!(event, Ev::End));
                self.skip_to_depth_zero(depth)?;
                return Err(XmlError {
                    line,
                    kind: XmlErrorKind::RecordTooLarge {
                        limit: self.max_record_bytes,
                    },
                });
            }
            match event {
                Ev::Start(_) if stack.len() >= MAX_RECORD_DEPTH => {
                    self.skip_to_depth_zero(stack.len() + 1)?;
                    return Err(XmlError {
                        line,
                        kind: XmlErrorKind::RecordTooDeep {
                            limit: MAX_RECORD_DEPTH,
                        },
                    });
                }
                Ev::Start(element) => stack.push(element),
                Ev::Empty(element) => {
                    if let Some(parent) = stack.last_mut() {
                        parent.children.push(element);
                    }
                }
                Ev::Text => {
                    if let Some(current) = stack.last_mut() {
                        current.text.push_str(&self.text);
                    }
                }
                Ev::End => {
                    let Some(done) = stack.pop() else {
                        return Err(self.fatal(XmlErrorKind::Syntax("unbalanced end tag".into())));
                    };
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(done),
                        None => return Ok(done),
                    }
                }
                Ev::Other => {}
                Ev::Eof => return Err(self.fatal(XmlErrorKind::Truncated)),
            }
        }
    }

    /// Skips events until `depth` open elements (within the record) close.
    fn skip_to_depth_zero(&mut self, mut depth: usize) -> Result<(), XmlError> {
        while depth > 0 {
            match self.read_event()? {
                Ev::Start(_) => depth += 1,
                Ev::End => depth -= 1,
                Ev::Eof => return Err(self.fatal(XmlErrorKind::Truncated)),
                Ev::Empty(_) | Ev::Text | Ev::Other => {}
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
                return Err(self.fatal(kind));
            }
        };
        let (utf16, utf8_bom) = (
            head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]),
            head.starts_with(&[0xEF, 0xBB, 0xBF]),
        );
        if utf16 {
            return Err(self.fatal(XmlErrorKind::Encoding(
                "the file starts with a UTF-16 byte-order mark".into(),
            )));
        }
        if utf8_bom {
            self.reader.get_mut().consume(3);
        }
        Ok(())
    }

    /// Reads one event, refusing DOCTYPEs, foreign entities and encodings,
    /// and converts it to the small owned form the record builder needs.
    fn read_event(&mut self) -> Result<Ev, XmlError> {
        self.buf.clear();
        if self.text.capacity() > TEXT_KEEP_BYTES {
            // Do not hold on to the memory of one huge text run.
            self.text = String::new();
        }
        let line = self.newlines + 1;
        let event = match self.reader.read_event_into(&mut self.buf) {
            Ok(event) => event,
            Err(e) => {
                let kind = match e {
                    quick_xml::Error::Encoding(e) => XmlErrorKind::Encoding(e.to_string()),
                    quick_xml::Error::Io(e) => XmlErrorKind::Syntax(format!("read failed: {e}")),
                    quick_xml::Error::Syntax(_) if self.reader_at_eof() => XmlErrorKind::Truncated,
                    other => XmlErrorKind::Syntax(other.to_string()),
                };
                self.state = State::Done;
                return Err(XmlError { line, kind });
            }
        };
        let newlines = count_newlines(&event);
        let result = match event {
            Event::Start(start) => convert_start(&start, line, &mut self.names).map(Ev::Start),
            Event::Empty(start) => convert_start(&start, line, &mut self.names).map(Ev::Empty),
            Event::End(_) => Ok(Ev::End),
            Event::Text(text) => {
                self.text.clear();
                push_normalised(&mut self.text, &text.xml10_content());
                Ok(Ev::Text)
            }
            Event::CData(data) => {
                self.text.clear();
                push_normalised(&mut self.text, &data.xml10_content());
                Ok(Ev::Text)
            }
            Event::GeneralRef(reference) => {
                self.text.clear();
                resolve_reference(&reference, &mut self.text).map(|()| Ev::Text)
            }
            Event::DocType(_) => Err(XmlErrorKind::Doctype),
            Event::Decl(decl) => match decl.encoding() {
                Some(Ok(encoding))
                    if !encoding.eq_ignore_ascii_case("utf-8")
                        && !encoding.eq_ignore_ascii_case("utf8") =>
                {
                    Err(XmlErrorKind::Encoding(format!(
                        "the declaration says encoding=\"{encoding}\"; convert the file to UTF-8 first"
                    )))
                }
                Some(Err(e)) => Err(XmlErrorKind::Syntax(e.to_string())),
                _ => Ok(Ev::Other),
            },
            Event::Comment(_) | Event::PI(_) => Ok(Ev::Other),
            Event::Eof => Ok(Ev::Eof),
        };
        self.newlines += newlines;
        result.map_err(|kind| {
            self.state = State::Done;
            XmlError { line, kind }
        })
    }

    fn reader_at_eof(&mut self) -> bool {
        self.reader
            .get_mut()
            .fill_buf()
            .map(|b| b.is_empty())
            .unwrap_or(false)
    }

    fn fatal(&mut self, kind: XmlErrorKind) -> XmlError {
        self.state = State::Done;
        XmlError {
            line: self.newlines + 1,
            kind,
        }
    }
}

/// The owned, simplified events the reader works with.
enum Ev {
    Start(Element),
    Empty(Element),
    End,
    /// Character data, left in `XmlRecords::text`.
    Text,
    Other,
    Eof,
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
    count_newline_bytes(text.as_bytes())
}

/// Counts in 32-byte blocks with a byte-wide counter, which the compiler
/// turns into a few vector instructions per block.
fn count_newline_bytes(bytes: &[u8]) -> u64 {
    let mut blocks = bytes.chunks_exact(32);
    let mut total = 0u64;
    for block in &mut blocks {
        let mut n = 0u8;
        for &b in block {
            n += u8::from(b == b'\n');
        }
        total += u64::from(n);
    }
    for &b in blocks.remainder() {
        total += u64::from(b == b'\n');
    }
    total
}

fn local(name: &str) -> &str {
    match name.bytes().position(|b| b == b':') {
        // The colon is ASCII, so `i + 1` is a character boundary.
        Some(i) => name.get(i + 1..).unwrap_or(name),
        None => name,
    }
}

fn convert_start(
    start: &BytesStart<'_>,
    line: u64,
    names: &mut Names,
) -> Result<Element, XmlErrorKind> {
    let name = names.get(local(start.name().as_ref()));
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| XmlErrorKind::Syntax(e.to_string()))?;
        let key = attribute.key.as_ref();
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| match e {
                quick_xml::Error::Escape(quick_xml::escape::EscapeError::UnrecognizedEntity(
                    _,
                    name,
                )) => XmlErrorKind::Entity(name),
                other => XmlErrorKind::Syntax(other.to_string()),
            })?;
        let value = if value.contains('\r') {
            let mut owned = String::with_capacity(value.len());
            push_normalised(&mut owned, &value);
            owned
        } else {
            value.into_owned()
        };
        attributes.push((names.get(local(key)), value));
    }
    Ok(Element {
        name,
        attributes,
        children: Vec::new(),
        text: String::new(),
        line,
    })
}

fn resolve_reference(
    reference: &quick_xml::events::BytesRef<'_>,
    out: &mut String,
) -> Result<(), XmlErrorKind> {
    if reference.is_char_ref() {
        return match reference.resolve_char_ref() {
            Ok(Some(c)) => {
                out.push(c);
                Ok(())
            }
            _ => Err(XmlErrorKind::Syntax(format!(
                "invalid character reference &{};",
                &**reference
            ))),
        };
    }
    let predefined = match &**reference {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "apos" => "'",
        "quot" => "\"",
        other => return Err(XmlErrorKind::Entity(other.to_owned())),
    };
    out.push_str(predefined);
    Ok(())
}

/// XML treats CR LF and lone CR in text as LF; so do we, so text compares
/// equal whichever platform wrote the file.
fn push_normalised(out: &mut String, text: &str) {
    if text.contains('\r') {
        out.push_str(&text.replace("\r\n", "\n").replace('\r', "\n"));
    } else {
        out.push_str(text);
    }
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
}
