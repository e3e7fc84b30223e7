//! Canonical NDJSON: one [`Record`] per line, tagged by `"type"`.
//!
//! This is the form Brygga's records take on disk between steps, in golden
//! vectors and in `brygga synth`'s `canonical/` output. The reader streams
//! (one line in memory at a time, with a hard cap on line length so a file
//! without newlines cannot exhaust memory), reports each bad line with its
//! line number and carries on, and knows the byte offset of the next line so
//! a caller can resume where it stopped.

use std::fmt;
use std::io::{self, BufRead, Write};

use crate::model::Record;

/// The longest line the reader accepts by default: far above any real record
/// (a journal note with an attachment of a few MB), far below a memory risk.
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// Reads canonical records from a byte stream.
#[derive(Debug)]
pub struct NdjsonReader<R> {
    inner: R,
    buf: Vec<u8>,
    max_line_bytes: usize,
    /// 1-based number of the line most recently read.
    line: u64,
    /// Byte offset where the next line starts.
    offset: u64,
}

/// A line that could not be read as a canonical record. The rest of the
/// stream can still be read.
#[derive(Debug)]
pub struct NdjsonError {
    /// 1-based line number.
    pub line: u64,
    /// Byte offset where the line starts.
    pub offset: u64,
    pub kind: NdjsonErrorKind,
}

#[derive(Debug)]
pub enum NdjsonErrorKind {
    /// Reading failed; the stream should not be read further.
    Io(io::Error),
    /// The line is longer than the limit; it was skipped.
    TooLong { limit: usize },
    /// The line is not a valid record. `record_type` is the `"type"` tag when
    /// the line had one.
    Invalid {
        record_type: Option<String>,
        column: usize,
        reason: String,
    },
}

impl fmt::Display for NdjsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            NdjsonErrorKind::Io(e) => write!(f, "line {}: read failed: {e}", self.line),
            NdjsonErrorKind::TooLong { limit } => {
                write!(f, "line {}: longer than {limit} bytes; skipped", self.line)
            }
            NdjsonErrorKind::Invalid {
                record_type,
                column,
                reason,
            } => {
                write!(f, "line {}", self.line)?;
                if let Some(t) = record_type {
                    write!(f, " ({t})")?;
                }
                write!(f, ", column {column}: {reason}")
            }
        }
    }
}

impl std::error::Error for NdjsonError {}

impl NdjsonError {
    /// An I/O error ends the stream; every other error only skips its line.
    pub fn is_fatal(&self) -> bool {
        matches!(self.kind, NdjsonErrorKind::Io(_))
    }
}

impl<R: BufRead> NdjsonReader<R> {
    pub fn new(inner: R) -> Self {
        Self::with_max_line_bytes(inner, DEFAULT_MAX_LINE_BYTES)
    }

    pub fn with_max_line_bytes(inner: R, max_line_bytes: usize) -> Self {
        NdjsonReader {
            inner,
            buf: Vec::new(),
            max_line_bytes,
            line: 0,
            offset: 0,
        }
    }

    /// Starts reading at `offset`, which the caller has already positioned
    /// `inner` at, counting lines from `line` (the number of lines before
    /// `offset`). Used to resume from a checkpoint.
    pub fn resume(inner: R, offset: u64, line: u64) -> Self {
        NdjsonReader {
            offset,
            line,
            ..Self::new(inner)
        }
    }

    /// Byte offset at which the next line starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Number of lines read so far.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Reads the next line into `self.buf` without its line ending.
    /// Returns `Ok(false)` at the end of the stream.
    fn next_line(&mut self) -> Result<bool, NdjsonError> {
        self.buf.clear();
        let start = self.offset;
        let limit = self.max_line_bytes;
        // Read at most limit + 1 bytes so an endless line cannot grow `buf`.
        let line = self.line;
        let read = io::Read::take(&mut self.inner, limit as u64 + 1)
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| error_at(line, start, NdjsonErrorKind::Io(e)))?;
        if read == 0 {
            return Ok(false);
        }
        self.line += 1;
        self.offset += read as u64;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
            return Ok(true);
        }
        if read > limit {
            // Skip the rest of the oversized line.
            let mut skipped = 0u64;
            loop {
                let line = self.line;
                let chunk = self
                    .inner
                    .fill_buf()
                    .map_err(|e| error_at(line, start, NdjsonErrorKind::Io(e)))?;
                if chunk.is_empty() {
                    break;
                }
                let (used, done) = match chunk.iter().position(|&b| b == b'\n') {
                    Some(i) => (i + 1, true),
                    None => (chunk.len(), false),
                };
                self.inner.consume(used);
                skipped += used as u64;
                if done {
                    break;
                }
            }
            self.offset += skipped;
            self.buf.clear();
            return Err(self.error(start, NdjsonErrorKind::TooLong { limit }));
        }
        // Last line without a trailing newline.
        Ok(true)
    }

    fn error(&self, offset: u64, kind: NdjsonErrorKind) -> NdjsonError {
        error_at(self.line, offset, kind)
    }
}

fn error_at(line: u64, offset: u64, kind: NdjsonErrorKind) -> NdjsonError {
    NdjsonError { line, offset, kind }
}

impl<R: BufRead> Iterator for NdjsonReader<R> {
    type Item = Result<Record, NdjsonError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let start = self.offset;
            match self.next_line() {
                Ok(false) => return None,
                Ok(true) => {}
                Err(e) => return Some(Err(e)),
            }
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if let Some(record) = parse_tagged_first(&mut self.buf) {
                return Some(Ok(record));
            }
            return Some(serde_json::from_slice::<Record>(&self.buf).map_err(|e| {
                let kind = NdjsonErrorKind::Invalid {
                    record_type: record_type_of(&self.buf),
                    column: e.column(),
                    reason: strip_position(&e.to_string()),
                };
                self.error(start, kind)
            }));
        }
    }
}

/// The fast path for lines as [`NdjsonWriter`] writes them, with `"type"`
/// first: the tag is read by hand and the rest goes straight into the
/// variant's struct. serde's internally tagged enums otherwise buffer every
/// line into an intermediate tree first, which costs about half the time.
/// Anything unusual — the tag elsewhere, an unknown tag, any error — returns
/// `None` (with `line` unchanged) and the caller takes the general path,
/// which gives the same records and the one set of error messages.
fn parse_tagged_first(line: &mut [u8]) -> Option<Record> {
    const PREFIX: &[u8] = b"{\"type\":\"";
    let rest = line.strip_prefix(PREFIX)?;
    let tag_len = rest
        .iter()
        .position(|&b| !(b.is_ascii_lowercase() || b == b'_'))?;
    if rest.get(tag_len..tag_len + 2) != Some(b"\",".as_slice()) {
        return None;
    }
    // The variant's fields start after the comma; the byte before them
    // becomes the object's opening brace for a moment.
    let brace = PREFIX.len() + tag_len + 1;
    let tag = std::str::from_utf8(&line[PREFIX.len()..PREFIX.len() + tag_len])
        .ok()?
        .to_owned();
    let saved = std::mem::replace(&mut line[brace], b'{');
    let body = &line[brace..];
    let record = match tag.as_str() {
        "person" => serde_json::from_slice(body).map(Record::Person),
        "organisation" => serde_json::from_slice(body).map(Record::Organisation),
        "placement" => serde_json::from_slice(body).map(Record::Placement),
        "grade" => serde_json::from_slice(body).map(Record::Grade),
        "absence" => serde_json::from_slice(body).map(Record::Absence),
        "attendance" => serde_json::from_slice(body).map(Record::Attendance),
        "contact" => serde_json::from_slice(body).map(Record::Contact),
        "journal_entry" => serde_json::from_slice(body).map(Record::JournalEntry),
        "measurement" => serde_json::from_slice(body).map(Record::Measurement),
        "immunization" => serde_json::from_slice(body).map(Record::Immunization),
        "consent" => serde_json::from_slice(body).map(Record::Consent),
        "survey_response" => serde_json::from_slice(body).map(Record::SurveyResponse),
        _ => {
            line[brace] = saved;
            return None;
        }
    };
    line[brace] = saved;
    record.ok()
}

/// The `"type"` tag of a line that failed to parse, when it has one, so the
/// error can name the kind of record.
fn record_type_of(line: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Tag {
        #[serde(rename = "type")]
        record_type: String,
    }
    serde_json::from_slice::<Tag>(line)
        .ok()
        .map(|t| t.record_type)
}

/// serde_json appends " at line L column C"; the reader reports its own line.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Writes canonical records, one per line.
#[derive(Debug)]
pub struct NdjsonWriter<W: Write> {
    inner: W,
}

impl<W: Write> NdjsonWriter<W> {
    pub fn new(inner: W) -> Self {
        NdjsonWriter { inner }
    }

    pub fn write(&mut self, record: &Record) -> io::Result<()> {
        serde_json::to_writer(&mut self.inner, record)?;
        self.inner.write_all(b"\n")
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{HsaId, Identifier, PersonId};
    use crate::model::*;
    use crate::time::ClinicalTime;

    fn pupil() -> Identifier {
        // Skatteverket's published test number 640823-3234.
        Identifier::Person(PersonId::parse_normalized("196408233234").expect("test number"))
    }

    fn entry() -> Record {
        Record::JournalEntry(JournalEntry {
            source: SourceRef {
                system: "pmo:test".into(),
                record_id: "n-1".into(),
                version: 2,
            },
            patient: pupil(),
            event_time: ClinicalTime::parse("2024-10-27T02:30:00+01:00").expect("time"),
            author_time: Some(ClinicalTime::parse("2024-10-27").expect("date")),
            signing_time: None,
            record_time: None,
            author: Some(Practitioner {
                hsa_id: Some(HsaId::parse("SE2321000131-E000000000001").expect("hsa")),
                name: Some("Syster Test".into()),
                profession: Some(Profession::Nurse),
            }),
            signer: None,
            care_provider: None,
            care_unit: None,
            contact: None,
            note_type: NoteType {
                code: NoteTypeCode::HealthVisit,
                original: Some("Hälsobesök åk 4".into()),
            },
            title: None,
            content: NoteContent::Keywords {
                sections: vec![KeywordSection {
                    keyword: "Tillväxt".into(),
                    text: "Följer sin kurva.\n\"citat\"".into(),
                }],
            },
            status: EntryStatus::Amended {
                supersedes: SourceRef {
                    system: "pmo:test".into(),
                    record_id: "n-1".into(),
                    version: 1,
                },
            },
            secrecy_domain: SecrecyDomain::EmiMedical,
            approved_for_patient: false,
            patient_block: true,
            withheld: vec![],
        })
    }

    fn measurement() -> Record {
        Record::Measurement(Measurement {
            source: SourceRef {
                system: "bhv:test".into(),
                record_id: "m-1".into(),
                version: 1,
            },
            patient: pupil(),
            kind: MeasurementKind::Height,
            time: ClinicalTime::parse("2015-03-29").expect("date"),
            value: MeasurementValue::Quantity {
                value: 112.5,
                unit: "cm".into(),
            },
            performer: None,
            care_unit: None,
            contact: None,
            secrecy_domain: SecrecyDomain::EmiMedical,
            original_code: None,
        })
    }

    #[test]
    fn records_round_trip_through_ndjson() {
        let records = vec![entry(), measurement()];
        let mut writer = NdjsonWriter::new(Vec::new());
        for r in &records {
            writer.write(r).expect("write");
        }
        let bytes = writer.into_inner();
        assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 2);
        let back: Vec<Record> = NdjsonReader::new(&bytes[..])
            .collect::<Result<_, _>>()
            .expect("read back");
        assert_eq!(back, records);
    }

    #[test]
    fn the_tag_anywhere_in_the_object_reads_the_same_as_tag_first() {
        for record in [entry(), measurement()] {
            let written = serde_json::to_string(&record).expect("serialise");
            let mut value: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&written).expect("object");
            let tag = value.remove("type").expect("tag");
            value.insert("type".to_owned(), tag);
            let moved = serde_json::to_string(&value).expect("serialise");
            assert!(!moved.starts_with("{\"type\""), "{moved}");
            let input = format!("{written}\n{moved}\n");
            let read: Vec<Record> = NdjsonReader::new(input.as_bytes())
                .collect::<Result<_, _>>()
                .expect("both lines read");
            assert_eq!(read, vec![record.clone(), record]);
        }
    }

    #[test]
    fn a_tag_first_line_with_a_bad_field_gets_the_general_message() {
        let input = r#"{"type":"organisation","id":"a","kind":"care_unit","name":"A","colour":1}"#;
        let errors: Vec<String> = NdjsonReader::new(input.as_bytes())
            .map(|r| r.expect_err("rejected").to_string())
            .collect();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].contains("organisation") && errors[0].contains("unknown field `colour`"),
            "{errors:?}"
        );
    }

    #[test]
    fn tag_and_optional_fields_are_as_documented() {
        let mut writer = NdjsonWriter::new(Vec::new());
        writer.write(&measurement()).expect("write");
        let text = String::from_utf8(writer.into_inner()).expect("utf-8");
        assert!(
            text.starts_with(r#"{"type":"measurement","source":"#),
            "{text}"
        );
        assert!(text.contains(r#""time":"2015-03-29""#), "{text}");
        assert!(
            !text.contains("performer"),
            "absent options are omitted: {text}"
        );
    }

    #[test]
    fn bad_lines_are_reported_with_line_and_type_and_the_rest_is_read() {
        let mut writer = NdjsonWriter::new(Vec::new());
        writer.write(&measurement()).expect("write");
        let good = String::from_utf8(writer.into_inner()).expect("utf-8");
        let input = format!(
            "{good}\n{{\"type\":\"measurement\",\"bogus\":1}}\nnot json\n{good}{}",
            good.trim_end()
        );
        let results: Vec<_> = NdjsonReader::new(input.as_bytes()).collect();
        assert_eq!(
            results.len(),
            5,
            "blank line skipped, last line without newline read"
        );
        assert!(results[0].is_ok());
        let e = results[1].as_ref().expect_err("unknown field");
        assert_eq!(e.line, 3);
        let text = e.to_string();
        assert!(text.starts_with("line 3 (measurement), column"), "{text}");
        assert!(text.contains("bogus"), "{text}");
        let e = results[2].as_ref().expect_err("not json");
        assert_eq!(e.line, 4);
        assert!(!e.is_fatal());
        assert!(results[3].is_ok() && results[4].is_ok());
    }

    #[test]
    fn invalid_identifier_is_rejected_naming_the_reason() {
        let line = r#"{"type":"placement","pupil":{"system":"personnummer","value":"196408233235"},"school_unit":"skolenhet:1","start":"2020-08-17"}"#;
        let e = NdjsonReader::new(line.as_bytes())
            .next()
            .expect("one item")
            .expect_err("bad check digit");
        let text = e.to_string();
        assert!(text.contains("(placement)"), "{text}");
        assert!(
            !text.contains("196408233235"),
            "full number must not leak: {text}"
        );
    }

    #[test]
    fn an_oversized_line_is_skipped_and_offsets_stay_exact() {
        let mut writer = NdjsonWriter::new(Vec::new());
        writer.write(&measurement()).expect("write");
        let good = String::from_utf8(writer.into_inner()).expect("utf-8");
        let long = "x".repeat(5000);
        let input = format!("{long}\n{good}");
        let mut reader = NdjsonReader::with_max_line_bytes(input.as_bytes(), 1000);
        let e = reader.next().expect("item").expect_err("too long");
        assert!(matches!(e.kind, NdjsonErrorKind::TooLong { limit: 1000 }));
        assert_eq!(reader.offset(), 5001);
        assert!(reader.next().expect("item").is_ok());
        assert_eq!(reader.offset(), input.len() as u64);
        assert!(reader.next().is_none());
    }

    #[test]
    fn resume_continues_at_an_offset() {
        let mut writer = NdjsonWriter::new(Vec::new());
        writer.write(&measurement()).expect("write");
        writer.write(&entry()).expect("write");
        let bytes = writer.into_inner();
        let mut reader = NdjsonReader::new(&bytes[..]);
        reader.next().expect("first").expect("ok");
        let (offset, line) = (reader.offset(), reader.line());
        let rest: Vec<_> = NdjsonReader::resume(&bytes[offset as usize..], offset, line)
            .collect::<Result<_, _>>()
            .expect("rest");
        assert_eq!(rest, vec![entry()]);
    }
}
