//! The canonical format: Brygga's own records as NDJSON (see
//! [`brygga_mapping::ndjson`]). Reading it is how golden vectors, synthetic
//! data and intermediate files come back in; writing it is the lossless
//! output of every conversion.

use std::io::{BufRead, Write};
use std::sync::Arc;

use brygga_mapping::model::Record;
use brygga_mapping::ndjson::{NdjsonErrorKind, NdjsonReader, NdjsonWriter};
use brygga_mapping::profile::Profile;

use crate::{DecodeError, Decoder, EncodeError, Encoder, Fatal, Format, Position, Reject};

#[derive(Debug)]
pub struct Canonical;

impl Format for Canonical {
    fn name(&self) -> &'static str {
        "canonical"
    }

    fn description(&self) -> &'static str {
        "Brygga's canonical records, one JSON object per line"
    }

    fn extension(&self) -> &'static str {
        "ndjson"
    }

    fn profile_system(&self) -> Option<&'static str> {
        None
    }

    fn decoder(&self, input: Box<dyn BufRead + Send>, _profile: Arc<Profile>) -> Box<dyn Decoder> {
        Box::new(CanonicalDecoder {
            reader: NdjsonReader::new(input),
            records: 0,
            done: false,
        })
    }

    fn encoder(&self, output: Box<dyn Write + Send>, _profile: Arc<Profile>) -> Box<dyn Encoder> {
        Box::new(CanonicalEncoder {
            writer: NdjsonWriter::new(output),
        })
    }
}

struct CanonicalDecoder {
    reader: NdjsonReader<Box<dyn BufRead + Send>>,
    records: u64,
    done: bool,
}

impl Decoder for CanonicalDecoder {
    fn next_record(&mut self) -> Option<Result<Record, DecodeError>> {
        if self.done {
            return None;
        }
        let item = self.reader.next()?;
        self.records += 1;
        Some(item.map_err(|e| {
            let position = Position {
                record: self.records,
                line: Some(e.line),
                offset: Some(e.offset),
            };
            match e.kind {
                NdjsonErrorKind::Io(io) => {
                    self.done = true;
                    DecodeError::Fatal(Fatal {
                        position,
                        reason: format!("read failed: {io}"),
                    })
                }
                NdjsonErrorKind::TooLong { limit } => DecodeError::Reject(Reject {
                    position,
                    record_kind: None,
                    field: None,
                    reason: format!("line longer than {limit} bytes"),
                }),
                NdjsonErrorKind::Invalid {
                    record_type,
                    column,
                    reason,
                } => DecodeError::Reject(Reject {
                    position,
                    record_kind: record_type,
                    field: None,
                    // serde reports column 0 when a value's own check failed.
                    reason: if column > 0 {
                        format!("column {column}: {reason}")
                    } else {
                        reason
                    },
                }),
            }
        }))
    }
}

struct CanonicalEncoder {
    writer: NdjsonWriter<Box<dyn Write + Send>>,
}

impl Encoder for CanonicalEncoder {
    fn encode(&mut self, record: &Record) -> Result<(), EncodeError> {
        Ok(self.writer.write(record)?)
    }

    fn finish(mut self: Box<Self>) -> std::io::Result<()> {
        self.writer.flush()
    }
}
