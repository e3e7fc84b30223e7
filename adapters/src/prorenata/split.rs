//! Cuts a ProRenata export into one record's bytes at a time, without
//! parsing it, so memory is bounded by the largest record whatever the size
//! of the file.
//!
//! Two layouts are read, told apart by the first byte that is not
//! whitespace (after an optional UTF-8 byte-order mark):
//!
//! - `[` — one JSON array of records. The splitter follows strings,
//!   escapes and bracket nesting to find where each element ends, and hands
//!   over that element's bytes; the array as a whole is never parsed. An
//!   element that starts with `{` and whose line ends in `}` or `},` (the
//!   layout Brygga writes) is first offered whole without that scan, as a
//!   *tentative* record: the caller's parse confirms it, or the caller hands
//!   it back ([`Splitter::retry`]) to be cut the careful way.
//! - `{` — NDJSON: one record per line; blank lines are skipped.
//!
//! A record larger than the limit is skipped (its bytes are not kept) and
//! reading goes on. An array element whose end cannot be found — a bracket
//! that closes the wrong thing, a line break inside a string (JSON forbids
//! one, so the string was never closed), an opening bracket that is never
//! closed — is skipped too when the export is laid out one record per line
//! (as Brygga writes it): reading resumes on the line after the one the
//! broken record started on. In any other layout the rest of the file cannot
//! be delimited safely, and it is fatal. So is input that ends inside a
//! record or before the array's `]` (a truncated file).

use std::io::{self, BufRead};

/// The largest record read by default: far above any real record (a note
/// with an attachment of a few MB), far below a memory risk.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

/// Deeper nesting than this is refused; serde_json refuses it too, and a
/// run of `[` must not grow the bracket stack without bound.
const MAX_DEPTH: usize = 128;

/// Where something starts in the input: 1-based line and column (in bytes),
/// and 0-based byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct At {
    pub line: u64,
    pub column: u64,
    pub offset: u64,
}

/// What the splitter found next.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Piece {
    /// One record's bytes are in [`Splitter::record`]. `open_at_end`: the
    /// input ended on this record's line without a line break, so a record
    /// cut short there is a truncated file rather than a broken line.
    /// `tentative`: an array element taken as the rest of its line without
    /// following its brackets; the caller confirms it by parsing it, or
    /// calls [`Splitter::retry`] to have it cut properly.
    Record {
        at: At,
        open_at_end: bool,
        tentative: bool,
    },
    /// Bytes that could not be taken as a record were skipped; reading goes
    /// on.
    Skipped { at: At, reason: String },
    /// The input cannot be read any further.
    Fatal { at: At, reason: String },
    /// The end of the input.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing read yet.
    Start,
    /// NDJSON: one record per line.
    Lines,
    /// Just after the array's `[`.
    ArrayFirst,
    /// After a `,` (or a skipped record): an element or `]` comes next.
    ArrayNext,
    /// After an element: `,` or `]` comes next.
    ArrayAfter,
    /// After the array's `]`: only whitespace may follow.
    ArrayClosed,
    Done,
}

/// The input, with bytes put back in front of it when a broken record is
/// read again from its second line.
struct Source<R> {
    input: R,
    replay: Vec<u8>,
    replay_pos: usize,
}

impl<R: BufRead> Source<R> {
    fn fill(&mut self) -> io::Result<&[u8]> {
        if self.replay_pos < self.replay.len() {
            return Ok(&self.replay[self.replay_pos..]);
        }
        loop {
            match self.input.fill_buf() {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.input.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        if self.replay_pos < self.replay.len() {
            self.replay_pos += n;
            if self.replay_pos >= self.replay.len() {
                self.replay.clear();
                self.replay_pos = 0;
            }
        } else {
            self.input.consume(n);
        }
    }

    /// Puts `bytes` in front of what is still to be read.
    fn put_back(&mut self, bytes: &[u8]) {
        let mut replay = Vec::with_capacity(bytes.len() + self.replay.len() - self.replay_pos);
        replay.extend_from_slice(bytes);
        replay.extend_from_slice(&self.replay[self.replay_pos..]);
        self.replay = replay;
        self.replay_pos = 0;
    }
}

/// Cuts records out of a stream; see the module documentation.
pub(super) struct Splitter<R> {
    source: Source<R>,
    /// The bytes of the record last returned as [`Piece::Record`] (the first
    /// `record_len`; a tentative record's line follows in full).
    record: Vec<u8>,
    record_len: usize,
    max_record: usize,
    /// Line, line start and offset of the next unread byte.
    line: u64,
    line_start: u64,
    offset: u64,
    mode: Mode,
    /// The closing brackets the element being cut still needs, innermost
    /// last.
    closers: Vec<u8>,
    /// Whether every array element so far started on a line of its own and
    /// ended on the line it started on: only then can a broken element be
    /// skipped by skipping lines.
    one_per_line: bool,
    /// The line the previous array element ended on.
    previous_end_line: Option<u64>,
    /// How to undo the last tentative record: its line's length in `record`
    /// (with the line break) and the state before it was read.
    undo: Option<Undo>,
    /// A line whose elements are cut by following their brackets: it did
    /// not hold exactly one record (taking it whole failed or was taken
    /// back). Remembered so a long line is not read twice per element.
    slow_line: Option<u64>,
    /// How many bytes of the input's buffer the current tentative record
    /// occupies when it was taken from there without copying (0 when it is
    /// in `record`); they are consumed when the next piece is asked for.
    held: usize,
}

#[derive(Debug, Clone, Copy)]
struct Undo {
    len: usize,
    line: u64,
    line_start: u64,
    offset: u64,
    mode: Mode,
    previous_end_line: Option<u64>,
    one_per_line: bool,
}

/// How far one scan of a chunk of an array element got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The chunk ended inside the element.
    More,
    /// The element ends at `used`.
    Complete,
    /// The element cannot be delimited; `used` is the offending byte.
    Broken(&'static str),
}

/// What the scan of one chunk found.
struct Scanned {
    /// Bytes of the chunk that belong to the element.
    used: usize,
    /// Line breaks among them, and the index of the last one.
    newlines: u64,
    last_newline: Option<usize>,
    outcome: Outcome,
}

/// The state of cutting one array element, kept across chunks.
#[derive(Debug, Default)]
struct Cut {
    started: bool,
    in_string: bool,
    escaped: bool,
    /// A number, `true`, `false`, `null` or anything else that is neither
    /// string, object nor array: it ends at a delimiter.
    bare: bool,
    /// Index in the record of its first line break (outside strings).
    first_newline: Option<usize>,
    /// The element passed the size limit; its bytes are no longer kept.
    oversize: bool,
}

const NEWLINE_IN_STRING: &str = "a line break inside a string (a `\"` is missing)";
const WRONG_CLOSER: &str = "a closing bracket that does not match the opening one";
const TOO_DEEP: &str = "brackets nested more than 128 levels deep";

impl Cut {
    /// Scans `chunk`, the continuation of an element whose first `base`
    /// bytes are already in the record.
    fn scan(&mut self, chunk: &[u8], closers: &mut Vec<u8>, base: usize) -> Scanned {
        let mut i = 0;
        let mut newlines = 0;
        let mut last_newline = None;
        let outcome = loop {
            let Some(&b) = chunk.get(i) else {
                break Outcome::More;
            };
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    if b == b'\n' {
                        break Outcome::Broken(NEWLINE_IN_STRING);
                    }
                    i += 1;
                    continue;
                }
                // Most of a record is string content: find the next byte
                // that matters in one pass.
                match chunk[i..]
                    .iter()
                    .position(|&b| matches!(b, b'"' | b'\\' | b'\n'))
                {
                    None => i = chunk.len(),
                    Some(p) => {
                        i += p;
                        match chunk[i] {
                            b'"' => {
                                self.in_string = false;
                                i += 1;
                                if closers.is_empty() {
                                    break Outcome::Complete;
                                }
                            }
                            b'\\' => {
                                self.escaped = true;
                                i += 1;
                            }
                            _ => break Outcome::Broken(NEWLINE_IN_STRING),
                        }
                    }
                }
                continue;
            }
            if !self.started {
                self.started = true;
                match b {
                    b'{' => closers.push(b'}'),
                    b'[' => closers.push(b']'),
                    b'"' => self.in_string = true,
                    _ => self.bare = true,
                }
                i += 1;
                continue;
            }
            if self.bare {
                if matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n') {
                    break Outcome::Complete;
                }
                i += 1;
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    if closers.len() >= MAX_DEPTH {
                        break Outcome::Broken(TOO_DEEP);
                    }
                    closers.push(if b == b'{' { b'}' } else { b']' });
                }
                b'}' | b']' => {
                    if closers.pop() != Some(b) {
                        break Outcome::Broken(WRONG_CLOSER);
                    }
                    if closers.is_empty() {
                        i += 1;
                        break Outcome::Complete;
                    }
                }
                b'\n' => {
                    newlines += 1;
                    last_newline = Some(i);
                    if self.first_newline.is_none() {
                        self.first_newline = Some(base + i);
                    }
                }
                _ => {}
            }
            i += 1;
        };
        Scanned {
            used: i,
            newlines,
            last_newline,
            outcome,
        }
    }
}

impl<R: BufRead> Splitter<R> {
    pub fn new(input: R, max_record: usize) -> Self {
        Splitter {
            source: Source {
                input,
                replay: Vec::new(),
                replay_pos: 0,
            },
            record: Vec::new(),
            max_record,
            line: 1,
            line_start: 0,
            offset: 0,
            mode: Mode::Start,
            closers: Vec::new(),
            one_per_line: true,
            previous_end_line: None,
            undo: None,
            slow_line: None,
            held: 0,
            record_len: 0,
        }
    }

    /// The bytes of the record last returned as [`Piece::Record`].
    pub fn record(&mut self) -> &[u8] {
        if self.held > 0 {
            // Still in the input's buffer: filling a buffer that holds
            // unconsumed bytes returns them without reading.
            return match self.source.fill() {
                Ok(buffer) => buffer.get(..self.record_len).unwrap_or_default(),
                Err(_) => &[],
            };
        }
        self.record.get(..self.record_len).unwrap_or_default()
    }

    /// Takes back the tentative record just returned: its line is read
    /// again, and the element cut by following its brackets.
    pub fn retry(&mut self) {
        if let Some(undo) = self.undo.take() {
            if self.held > 0 {
                self.held = 0;
            } else {
                let line = self.record.get(..undo.len).unwrap_or_default();
                self.source.put_back(line);
            }
            self.line = undo.line;
            self.line_start = undo.line_start;
            self.offset = undo.offset;
            self.mode = undo.mode;
            self.previous_end_line = undo.previous_end_line;
            self.one_per_line = undo.one_per_line;
            self.slow_line = Some(undo.line);
        }
    }

    /// The next record, skipped stretch, fatal error or the end. After
    /// [`Piece::Fatal`] only [`Piece::End`] follows.
    pub fn next_piece(&mut self) -> Piece {
        self.undo = None;
        if self.held > 0 {
            self.source.consume(self.held);
            self.held = 0;
        }
        let piece = self.step().unwrap_or_else(|e| Piece::Fatal {
            at: self.at(),
            reason: format!("read failed: {e}"),
        });
        if matches!(piece, Piece::Fatal { .. }) {
            self.mode = Mode::Done;
        }
        piece
    }

    fn at(&self) -> At {
        At {
            line: self.line,
            column: self.offset - self.line_start + 1,
            offset: self.offset,
        }
    }

    fn fatal(&self, reason: impl Into<String>) -> Piece {
        Piece::Fatal {
            at: self.at(),
            reason: reason.into(),
        }
    }

    /// Consumes `n` bytes that hold no line break.
    fn advance(&mut self, n: usize) {
        self.source.consume(n);
        self.offset += n as u64;
    }

    fn step(&mut self) -> io::Result<Piece> {
        const UNCLOSED: &str =
            "the input ends before the array is closed with `]`: the file is truncated";
        loop {
            match self.mode {
                Mode::Done => return Ok(Piece::End),
                Mode::Start => {
                    if !self.skip_byte_order_mark()? {
                        return Ok(self.fatal(
                            "invalid UTF-8 at the start of the input; a ProRenata export is UTF-8",
                        ));
                    }
                    match self.skip_whitespace()? {
                        None => {
                            self.mode = Mode::Done;
                            return Ok(Piece::End);
                        }
                        Some(b'[') => {
                            self.advance(1);
                            self.mode = Mode::ArrayFirst;
                        }
                        Some(b'{') => self.mode = Mode::Lines,
                        Some(b) => {
                            return Ok(self.fatal(format!(
                                "expected a JSON array (`[`) or one JSON object per line (`{{`), found {}",
                                shown_byte(b)
                            )));
                        }
                    }
                }
                Mode::Lines => return self.line_record(),
                Mode::ArrayFirst | Mode::ArrayNext => match self.skip_whitespace()? {
                    None => return Ok(self.fatal(UNCLOSED)),
                    Some(b']') => {
                        // `,]`: a trailing comma is tolerated.
                        self.advance(1);
                        self.mode = Mode::ArrayClosed;
                    }
                    Some(b'{') if self.slow_line != Some(self.line) => {
                        if let Some(piece) = self.line_element()? {
                            return Ok(piece);
                        }
                        return self.element();
                    }
                    Some(_) => return self.element(),
                },
                Mode::ArrayAfter => match self.skip_whitespace()? {
                    None => return Ok(self.fatal(UNCLOSED)),
                    Some(b',') => {
                        self.advance(1);
                        self.mode = Mode::ArrayNext;
                    }
                    Some(b']') => {
                        self.advance(1);
                        self.mode = Mode::ArrayClosed;
                    }
                    Some(b'{') if self.previous_end_line.is_some_and(|end| self.line > end) => {
                        // A missing comma between records on lines of their
                        // own: where each starts is clear, so it is read.
                        return self.element();
                    }
                    Some(b) => return self.stray(b),
                },
                Mode::ArrayClosed => match self.skip_whitespace()? {
                    None => {
                        self.mode = Mode::Done;
                        return Ok(Piece::End);
                    }
                    Some(b) => {
                        return Ok(
                            self.fatal(format!("{} after the array's closing `]`", shown_byte(b)))
                        );
                    }
                },
            }
        }
    }

    /// Skips a UTF-8 byte-order mark; `false` when the input starts like one
    /// but is not.
    fn skip_byte_order_mark(&mut self) -> io::Result<bool> {
        for (index, expected) in [0xEF_u8, 0xBB, 0xBF].into_iter().enumerate() {
            let next = self.source.fill()?.first().copied();
            if next == Some(expected) {
                self.advance(1);
            } else {
                return Ok(index == 0);
            }
        }
        self.line_start = self.offset;
        Ok(true)
    }

    /// Skips whitespace; returns the next byte (not consumed), or `None` at
    /// the end of the input.
    fn skip_whitespace(&mut self) -> io::Result<Option<u8>> {
        loop {
            let chunk = self.source.fill()?;
            if chunk.is_empty() {
                return Ok(None);
            }
            let mut found = None;
            let mut i = 0;
            while let Some(&b) = chunk.get(i) {
                match b {
                    b'\n' => {
                        self.line += 1;
                        self.line_start = self.offset + i as u64 + 1;
                    }
                    b' ' | b'\t' | b'\r' => {}
                    _ => {
                        found = Some(b);
                        break;
                    }
                }
                i += 1;
            }
            self.source.consume(i);
            self.offset += i as u64;
            if found.is_some() {
                return Ok(found);
            }
        }
    }

    /// Skips through the next line break (or to the end of the input).
    fn skip_line(&mut self) -> io::Result<()> {
        loop {
            let chunk = self.source.fill()?;
            if chunk.is_empty() {
                return Ok(());
            }
            match find_byte(chunk, b'\n') {
                Some(p) => {
                    self.source.consume(p + 1);
                    self.offset += p as u64 + 1;
                    self.line += 1;
                    self.line_start = self.offset;
                    return Ok(());
                }
                None => {
                    let n = chunk.len();
                    self.advance(n);
                }
            }
        }
    }

    /// One NDJSON line, skipping blank ones.
    fn line_record(&mut self) -> io::Result<Piece> {
        loop {
            let at = self.at();
            self.record.clear();
            let mut too_long = false;
            let mut ended = false;
            let mut read_any = false;
            loop {
                let chunk = self.source.fill()?;
                if chunk.is_empty() {
                    break;
                }
                read_any = true;
                let (content, take) = match find_byte(chunk, b'\n') {
                    Some(p) => (p, p + 1),
                    None => (chunk.len(), chunk.len()),
                };
                if !too_long {
                    if self.record.len() + content > self.max_record {
                        too_long = true;
                    } else {
                        self.record.extend_from_slice(&chunk[..content]);
                    }
                }
                self.source.consume(take);
                self.offset += take as u64;
                if take > content {
                    self.line += 1;
                    self.line_start = self.offset;
                    ended = true;
                    break;
                }
            }
            if !read_any {
                self.mode = Mode::Done;
                return Ok(Piece::End);
            }
            if too_long {
                self.record.clear();
                return Ok(Piece::Skipped {
                    at,
                    reason: format!(
                        "the line is longer than the limit of {} bytes; it was skipped",
                        self.max_record
                    ),
                });
            }
            if self
                .record
                .iter()
                .all(|b| matches!(b, b' ' | b'\t' | b'\r'))
            {
                if ended {
                    continue;
                }
                self.mode = Mode::Done;
                return Ok(Piece::End);
            }
            self.record_len = self.record.len();
            return Ok(Piece::Record {
                at,
                open_at_end: !ended,
                tentative: false,
            });
        }
    }

    /// The fast way to an array element that starts with `{`: the rest of
    /// its line, when that ends with `}` or `},` (as in Brygga's own
    /// output), offered as a tentative record. `None` (with nothing
    /// consumed) when the line does not look like one record.
    fn line_element(&mut self) -> io::Result<Option<Piece>> {
        let undo = Undo {
            len: 0,
            line: self.line,
            line_start: self.line_start,
            offset: self.offset,
            mode: self.mode,
            previous_end_line: self.previous_end_line,
            one_per_line: self.one_per_line,
        };
        let at = self.at();
        self.record.clear();
        // Most often the whole line is in the input's buffer already: look
        // at it there, without copying.
        let chunk = self.source.fill()?;
        if let Some(newline) = find_byte(chunk, b'\n')
            && newline < self.max_record
        {
            let line = &chunk[..=newline];
            let (end, comma) = record_end(line);
            if end == 0 || line[end - 1] != b'}' {
                self.slow_line = Some(at.line);
                return Ok(None);
            }
            let len = line.len();
            self.held = len;
            self.record_len = end;
            self.undo = Some(Undo { len, ..undo });
            return Ok(Some(self.tentative(at, len, comma)));
        }
        let mut ended = false;
        loop {
            let chunk = self.source.fill()?;
            if chunk.is_empty() {
                break;
            }
            let (take, found) = match find_byte(chunk, b'\n') {
                Some(p) => (p + 1, true),
                None => (chunk.len(), false),
            };
            if self.record.len() + take > self.max_record {
                break;
            }
            self.record.extend_from_slice(&chunk[..take]);
            self.source.consume(take);
            if found {
                ended = true;
                break;
            }
        }
        let (end, comma) = record_end(&self.record);
        if !ended || end == 0 || self.record[end - 1] != b'}' {
            // Not one record on one line: read it again, carefully.
            self.slow_line = Some(at.line);
            self.source.put_back(&self.record);
            self.record.clear();
            return Ok(None);
        }
        self.undo = Some(Undo {
            len: self.record.len(),
            ..undo
        });
        self.record_len = end;
        Ok(Some(self.tentative(at, self.record.len(), comma)))
    }

    /// Moves past a tentative record of `len` bytes (its line, with the line
    /// break) and offers it.
    fn tentative(&mut self, at: At, len: usize, comma: bool) -> Piece {
        self.offset += len as u64;
        self.line += 1;
        self.line_start = self.offset;
        if self
            .previous_end_line
            .is_some_and(|previous| previous >= at.line)
        {
            self.one_per_line = false;
        }
        self.previous_end_line = Some(at.line);
        self.mode = if comma {
            Mode::ArrayNext
        } else {
            Mode::ArrayAfter
        };
        Piece::Record {
            at,
            open_at_end: false,
            tentative: true,
        }
    }

    /// One array element, starting at the next byte, cut by following its
    /// strings and brackets.
    fn element(&mut self) -> io::Result<Piece> {
        let at = self.at();
        self.record.clear();
        self.closers.clear();
        let mut cut = Cut::default();
        loop {
            let chunk = self.source.fill()?;
            if chunk.is_empty() {
                return self.unclosed(at, &cut);
            }
            let base = self.record.len();
            let scanned = cut.scan(chunk, &mut self.closers, base);
            let used = scanned.used;
            if !cut.oversize {
                if base + used > self.max_record {
                    if let Some(first) = cut.first_newline
                        && self.can_resync(at, true)
                    {
                        // Several lines and no end within the limit: most
                        // likely a bracket never closed swallowed the
                        // records after it.
                        self.resync(at, Some(first))?;
                        return Ok(Piece::Skipped {
                            at,
                            reason: format!(
                                "no end of the record within the limit of {} bytes (a `}}` or `]` is missing); skipped to line {}",
                                self.max_record, self.line
                            ),
                        });
                    }
                    cut.oversize = true;
                    self.record.clear();
                } else {
                    self.record.extend_from_slice(&chunk[..used]);
                }
            }
            let offset_before = self.offset;
            self.source.consume(used);
            self.offset += used as u64;
            self.line += scanned.newlines;
            if let Some(last) = scanned.last_newline {
                self.line_start = offset_before + last as u64 + 1;
            }
            match scanned.outcome {
                Outcome::More => {}
                Outcome::Complete => {
                    self.element_ended(at);
                    if cut.oversize {
                        self.record.clear();
                        return Ok(Piece::Skipped {
                            at,
                            reason: format!(
                                "the record is larger than the limit of {} bytes; it was skipped",
                                self.max_record
                            ),
                        });
                    }
                    self.record_len = self.record.len();
                    return Ok(Piece::Record {
                        at,
                        open_at_end: false,
                        tentative: false,
                    });
                }
                Outcome::Broken(why) => {
                    let first = if cut.oversize {
                        None
                    } else {
                        cut.first_newline
                    };
                    let on_first_line = self.line == at.line;
                    if (first.is_some() || on_first_line) && self.can_resync(at, first.is_some()) {
                        self.resync(at, first)?;
                        return Ok(Piece::Skipped {
                            at,
                            reason: format!(
                                "malformed JSON: {why}; the record was skipped up to line {}",
                                self.line
                            ),
                        });
                    }
                    return Ok(Piece::Fatal {
                        at,
                        reason: format!(
                            "malformed JSON at line {}: {why}; the records are not one per line, so where the next one starts cannot be found",
                            self.line
                        ),
                    });
                }
            }
        }
    }

    /// The input ended inside an element.
    fn unclosed(&mut self, at: At, cut: &Cut) -> io::Result<Piece> {
        if !cut.oversize
            && let Some(first) = cut.first_newline
            && self.can_resync(at, true)
        {
            self.resync(at, Some(first))?;
            return Ok(Piece::Skipped {
                at,
                reason: format!(
                    "the record is never closed (a `}}` or `]` is missing); skipped to line {}",
                    self.line
                ),
            });
        }
        Ok(Piece::Fatal {
            at,
            reason: "the input ends inside this record: the file is truncated".to_owned(),
        })
    }

    /// Whether a broken element starting at `at` may be skipped line-wise.
    /// A first element that already runs over several lines is not: the
    /// layout may be pretty-printed, where lines are not records.
    fn can_resync(&self, at: At, spans_lines: bool) -> bool {
        self.one_per_line
            && match self.previous_end_line {
                Some(end) => at.line > end,
                None => !spans_lines,
            }
    }

    /// Goes on reading at the start of the line after `at`'s: the record's
    /// bytes after its first line break (`first`, an index into the record)
    /// are read again, or the rest of its line is skipped when that break is
    /// still to come.
    fn resync(&mut self, at: At, first: Option<usize>) -> io::Result<()> {
        match first {
            Some(first) if first < self.record.len() => {
                let next = first + 1;
                let rest = self.record.get(next..).unwrap_or_default();
                self.source.put_back(rest);
                self.offset = at.offset + next as u64;
                self.line = at.line + 1;
                self.line_start = self.offset;
            }
            Some(first) => {
                // The line break is in the chunk still waiting in the source.
                let skip = first + 1 - self.record.len();
                self.source.consume(skip);
                self.offset = at.offset + first as u64 + 1;
                self.line = at.line + 1;
                self.line_start = self.offset;
            }
            None => self.skip_line()?,
        }
        self.record.clear();
        self.previous_end_line = Some(self.line - 1);
        self.mode = Mode::ArrayNext;
        Ok(())
    }

    fn element_ended(&mut self, at: At) {
        if self.line != at.line || self.previous_end_line.is_some_and(|end| end >= at.line) {
            self.one_per_line = false;
        }
        self.previous_end_line = Some(self.line);
        self.mode = Mode::ArrayAfter;
    }

    /// Something other than `,` or `]` after an element.
    fn stray(&mut self, b: u8) -> io::Result<Piece> {
        let at = self.at();
        let what = format!(
            "expected `,` or `]` after the previous record, found {}",
            shown_byte(b)
        );
        if !self.one_per_line {
            return Ok(Piece::Fatal { at, reason: what });
        }
        self.skip_line()?;
        self.previous_end_line = Some(self.line - 1);
        self.mode = Mode::ArrayNext;
        Ok(Piece::Skipped {
            at,
            reason: format!("{what}; the rest of the line was skipped"),
        })
    }
}

/// Where a record on a line of its own ends: the length without trailing
/// whitespace and a trailing comma, and whether there was a comma.
fn record_end(line: &[u8]) -> (usize, bool) {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r' | b' ' | b'\t') {
        end -= 1;
    }
    let comma = end > 0 && line[end - 1] == b',';
    if comma {
        end -= 1;
    }
    (end, comma)
}

/// The index of the first `needle` in `haystack`, eight bytes at a time.
fn find_byte(haystack: &[u8], needle: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let pattern = ONES * u64::from(needle);
    let mut words = haystack.chunks_exact(8);
    let mut start = 0;
    for word in &mut words {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(word);
        // A byte of `x` is zero where the needle is; the lowest flagged
        // byte is always a true match.
        let x = u64::from_le_bytes(bytes) ^ pattern;
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
        if found != 0 {
            return Some(start + (found.trailing_zeros() / 8) as usize);
        }
        start += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|p| start + p)
}

/// A byte as a message shows it: the character when it is printable ASCII.
fn shown_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("`{}`", char::from(b))
    } else {
        format!("byte 0x{b:02X}")
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufReader, Cursor};

    use super::*;

    /// Every piece of `input`, read through a buffer of `capacity` bytes,
    /// with records as text.
    fn pieces_with(input: &str, capacity: usize, max: usize) -> Vec<String> {
        let reader = BufReader::with_capacity(capacity, Cursor::new(input.as_bytes().to_vec()));
        let mut splitter = Splitter::new(reader, max);
        let mut out = Vec::new();
        loop {
            match splitter.next_piece() {
                Piece::End => return out,
                Piece::Record {
                    at,
                    open_at_end,
                    tentative,
                } => {
                    // As the decoder does: a tentative record that is not
                    // one JSON value goes back to be cut carefully.
                    if tentative
                        && serde_json::from_slice::<serde::de::IgnoredAny>(splitter.record())
                            .is_err()
                    {
                        splitter.retry();
                        continue;
                    }
                    out.push(format!(
                        "{}:{}{} {}",
                        at.line,
                        at.column,
                        if open_at_end { " open" } else { "" },
                        String::from_utf8_lossy(splitter.record())
                    ));
                }
                Piece::Skipped { at, reason } => {
                    out.push(format!("{}:{} skipped: {reason}", at.line, at.column));
                }
                Piece::Fatal { at, reason } => {
                    out.push(format!("{}:{} fatal: {reason}", at.line, at.column));
                }
            }
        }
    }

    /// The same pieces whatever the buffer size: state carries over chunk
    /// boundaries, including inside escapes.
    fn pieces(input: &str) -> Vec<String> {
        let whole = pieces_with(input, 1 << 16, DEFAULT_MAX_RECORD_BYTES);
        for capacity in [1, 2, 3, 7] {
            assert_eq!(
                pieces_with(input, capacity, DEFAULT_MAX_RECORD_BYTES),
                whole,
                "capacity {capacity}"
            );
        }
        whole
    }

    #[test]
    fn an_array_is_cut_into_its_elements() {
        let input = "[\n{\"a\":\"x]}\\\"{\"},\n{\"b\":[1,{\"c\":2}]}\n]\n";
        assert_eq!(
            pieces(input),
            [r#"2:1 {"a":"x]}\"{"}"#, r#"3:1 {"b":[1,{"c":2}]}"#]
        );
    }

    #[test]
    fn whitespace_may_stand_anywhere_and_elements_may_span_lines() {
        let input = "\u{feff}  \r\n [ { \"a\" :\n 1 } ,\t{\"b\":2}\n\n, {}]  \n";
        assert_eq!(
            pieces(input),
            ["2:4 { \"a\" :\n 1 }", "3:8 {\"b\":2}", "5:3 {}"]
        );
    }

    #[test]
    fn empty_inputs_hold_no_records() {
        assert!(pieces("").is_empty());
        assert!(pieces(" \n ").is_empty());
        assert!(pieces("[]").is_empty());
        assert!(pieces("[\n]\n").is_empty());
    }

    #[test]
    fn ndjson_is_read_line_by_line_skipping_blank_lines() {
        let input = "\n{\"a\":1}\r\n   \n{\"b\":\"[\"}\n{\"c\":";
        assert_eq!(
            pieces(input),
            ["2:1 {\"a\":1}\r", "4:1 {\"b\":\"[\"}", "5:1 open {\"c\":"]
        );
    }

    #[test]
    fn scalars_are_elements_too() {
        assert_eq!(
            pieces("[1, \"x,y\" ,null,{}]"),
            ["1:2 1", "1:5 \"x,y\"", "1:12 null", "1:17 {}"]
        );
    }

    #[test]
    fn a_truncated_array_is_fatal() {
        assert_eq!(
            pieces("[\n{\"a\":1},\n{\"b\":\"tru"),
            [
                "2:1 {\"a\":1}",
                "3:1 fatal: the input ends inside this record: the file is truncated"
            ]
        );
        assert_eq!(
            pieces("[\n{\"a\":1},\n"),
            [
                "2:1 {\"a\":1}",
                "3:1 fatal: the input ends before the array is closed with `]`: the file is truncated"
            ]
        );
    }

    #[test]
    fn content_after_the_array_is_fatal() {
        assert_eq!(
            pieces("[{\"a\":1}] x"),
            [
                "1:2 {\"a\":1}",
                "1:11 fatal: `x` after the array's closing `]`"
            ]
        );
        assert_eq!(
            pieces("x"),
            ["1:1 fatal: expected a JSON array (`[`) or one JSON object per line (`{`), found `x`"]
        );
    }

    #[test]
    fn a_broken_record_on_its_own_line_is_skipped_to_the_next_line() {
        // Unclosed string, wrong closing bracket, stray bytes, and a record
        // whose missing `}` would swallow the ones after it.
        let input = concat!(
            "[\n",
            "{\"a\":1},\n",
            "{\"b\":\"open},\n",
            "{\"c\":[1}],\n",
            "{\"d\":1}},\n",
            "{\"e\":{\"x\":1},\n",
            "{\"f\":1}\n",
            "]\n",
        );
        assert_eq!(
            pieces(input),
            [
                "2:1 {\"a\":1}",
                "3:1 skipped: malformed JSON: a line break inside a string (a `\"` is missing); the record was skipped up to line 4",
                "4:1 skipped: malformed JSON: a closing bracket that does not match the opening one; the record was skipped up to line 5",
                "5:1 {\"d\":1}",
                "5:8 skipped: expected `,` or `]` after the previous record, found `}`; the rest of the line was skipped",
                "6:1 skipped: malformed JSON: a closing bracket that does not match the opening one; the record was skipped up to line 7",
                "7:1 {\"f\":1}",
            ]
        );
    }

    #[test]
    fn an_unclosed_record_is_skipped_when_the_input_ends() {
        let input = "[\n{\"a\":1},\n{\"b\":{\n{\"c\":1}\n";
        assert_eq!(
            pieces(input),
            [
                "2:1 {\"a\":1}",
                "3:1 skipped: the record is never closed (a `}` or `]` is missing); skipped to line 4",
                "4:1 {\"c\":1}",
                "5:1 fatal: the input ends before the array is closed with `]`: the file is truncated",
            ]
        );
    }

    #[test]
    fn a_trailing_comma_is_tolerated() {
        assert_eq!(pieces("[\n{\"a\":1},\n]\n"), ["2:1 {\"a\":1}"]);
    }

    #[test]
    fn a_missing_comma_between_lines_is_tolerated() {
        assert_eq!(
            pieces("[\n{\"a\":1}\n{\"b\":2}\n]"),
            ["2:1 {\"a\":1}", "3:1 {\"b\":2}"]
        );
    }

    #[test]
    fn a_broken_record_in_a_pretty_printed_array_is_fatal() {
        let input = "[\n  {\n    \"a\": 1\n  },\n  {\n    \"b\": [1}\n  }\n]\n";
        assert_eq!(
            pieces(input),
            [
                "2:3 {\n    \"a\": 1\n  }",
                "5:3 fatal: malformed JSON at line 6: a closing bracket that does not match the opening one; the records are not one per line, so where the next one starts cannot be found",
            ]
        );
    }

    #[test]
    fn oversize_records_are_skipped_without_keeping_them() {
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(100));
        let input = format!("[\n{big},\n{{\"b\":1}}\n]");
        assert_eq!(
            pieces_with(&input, 8, 50),
            [
                "2:1 skipped: the record is larger than the limit of 50 bytes; it was skipped",
                "3:1 {\"b\":1}"
            ]
        );
        let input = format!("{big}\n{{\"b\":1}}\n");
        assert_eq!(
            pieces_with(&input, 8, 50),
            [
                "1:1 skipped: the line is longer than the limit of 50 bytes; it was skipped",
                "2:1 {\"b\":1}"
            ]
        );
    }

    #[test]
    fn an_unclosed_record_past_the_limit_is_skipped_to_its_second_line() {
        let filler = format!("{{\"f\":\"{}\"}},\n", "x".repeat(20));
        let input = format!(
            "[\n{{\"a0\":1}},\n{{\"a\":[\n{}{{\"z\":1}}\n]",
            filler.repeat(5)
        );
        let got = pieces_with(&input, 4, 64);
        assert_eq!(got.len(), 8, "{got:#?}");
        assert_eq!(got[0], "2:1 {\"a0\":1}");
        assert_eq!(
            got[1],
            "3:1 skipped: no end of the record within the limit of 64 bytes (a `}` or `]` is missing); skipped to line 4"
        );
        assert_eq!(got[7], "9:1 {\"z\":1}");
    }

    #[test]
    fn find_byte_finds_the_first_match() {
        let text = b"abcdefgh\nijklmnopq\n";
        for start in 0..text.len() {
            let expected = text[start..].iter().position(|&b| b == b'\n');
            assert_eq!(find_byte(&text[start..], b'\n'), expected, "from {start}");
        }
        assert_eq!(find_byte(b"\xff\x0a\x0a", b'\n'), Some(1));
        assert_eq!(find_byte(b"", b'\n'), None);
    }

    #[test]
    fn a_tentative_line_taken_back_is_cut_carefully() {
        let input = "[\n{\"a\":1}, {\"b\":2},\n{\"c\":3}\n]";
        // A small buffer copies the line; a large one lends it.
        for capacity in [4, 1 << 16] {
            let reader = BufReader::with_capacity(capacity, Cursor::new(input.as_bytes().to_vec()));
            let mut splitter = Splitter::new(reader, DEFAULT_MAX_RECORD_BYTES);
            let mut out = Vec::new();
            loop {
                match splitter.next_piece() {
                    Piece::End => break,
                    Piece::Record { at, tentative, .. } => {
                        let text = String::from_utf8_lossy(splitter.record()).into_owned();
                        // Stands in for the parse that fails on two records.
                        if tentative && text.contains("}, {") {
                            splitter.retry();
                            continue;
                        }
                        out.push(format!("{}:{} {tentative} {text}", at.line, at.column));
                    }
                    other => out.push(format!("{other:?}")),
                }
            }
            assert_eq!(
                out,
                [
                    "2:1 false {\"a\":1}",
                    "2:10 false {\"b\":2}",
                    "3:1 true {\"c\":3}"
                ],
                "capacity {capacity}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let input = format!("[\n{}\n]", "[".repeat(200));
        let got = pieces(&input);
        assert!(got[0].contains("nested more than 128 levels"), "{got:?}");
    }
}
