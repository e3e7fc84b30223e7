//! Sources and sinks: the two ends a job (convert, migrate, the service)
//! connects.
//!
//! A [`Source`] is a decoder with a resumable position. The position is the
//! number of input items (records and rejects) already taken; decoding is
//! deterministic, so a source rebuilt on the same input and told to
//! [`resume`](Source::resume) from a saved position yields exactly what the
//! first one would have yielded next. Checkpoints store that number.
//!
//! A [`Sink`] takes records in batches and answers for each record:
//! delivered, failed but worth retrying, or refused for good with a reason.
//! [`EncoderSink`] makes any registered format's encoder a sink; network
//! sinks answer the same way.

use std::any::Any;
use std::io;
use std::sync::Arc;

use brygga_mapping::model::Record;

use crate::{DecodeError, Decoder, EncodeError, Encoder};

/// A decoder that counts what it has yielded, so a job can checkpoint and
/// resume it.
pub struct Source {
    decoder: Box<dyn Decoder>,
    position: u64,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

impl Source {
    pub fn new(decoder: Box<dyn Decoder>) -> Self {
        Source {
            decoder,
            position: 0,
        }
    }

    /// Skips the first `position` items, as a source that had yielded them
    /// would be now. Returns the number actually skipped (fewer when the
    /// input is shorter, e.g. it changed since the checkpoint).
    pub fn resume(&mut self, position: u64) -> u64 {
        let mut skipped = 0;
        while self.position < position {
            if self.next_item().is_none() {
                break;
            }
            skipped += 1;
        }
        skipped
    }

    /// Items (records and rejects) taken so far: the position to save.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The next record or reject, counted; `None` at the end. A fatal error
    /// is not an item: it ends the input and is not counted.
    pub fn next_item(&mut self) -> Option<Result<Record, DecodeError>> {
        let item = self.decoder.next_record()?;
        if !matches!(item, Err(DecodeError::Fatal(_))) {
            self.position += 1;
        }
        Some(item)
    }
}

/// What became of one record handed to a sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// Not delivered this time (destination busy or unreachable); the same
    /// record may be sent again.
    Retryable(String),
    /// The destination refused the record and always will; the reason says
    /// why. It goes to the rejects or the dead letters, never retried.
    Permanent(String),
}

/// A destination for canonical records.
pub trait Sink: Send {
    /// Sends `batch` in order and answers for each record, in the same
    /// order (the result has `batch.len()` entries).
    fn send(&mut self, batch: &[Record]) -> Vec<Delivery>;
    /// Completes the output (closes a document, flushes a file).
    fn close(self: Box<Self>) -> io::Result<()>;
    /// The part of sending a batch that needs nothing of the sink's state
    /// (mapping and serialising, say), for a job to run on other threads
    /// ahead of [`send_prepared`](Sink::send_prepared); `None` (the
    /// default) when the sink has no such part.
    fn preparer(&self) -> Option<Arc<dyn Prepare>> {
        None
    }
    /// Sends `batch`, which this sink's [`preparer`](Sink::preparer) turned
    /// into `prepared`; answers as [`send`](Sink::send) does. The default
    /// sends the batch as it is.
    fn send_prepared(&mut self, batch: &[Record], prepared: Prepared) -> Vec<Delivery> {
        let _ = prepared;
        self.send(batch)
    }
}

/// The state-free part of a sink's work on one batch. Batches may be
/// prepared on any thread and in any order; the sink still takes them in
/// order, each with its own [`Prepared`].
pub trait Prepare: Send + Sync {
    fn prepare(&self, batch: &[Record]) -> Prepared;
}

/// A batch as a [`Prepare`] left it; only the sink (or encoder) that made
/// the preparer reads what is inside.
pub struct Prepared(Box<dyn Any + Send>);

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared").finish_non_exhaustive()
    }
}

impl Prepared {
    pub fn new<T: Any + Send>(value: T) -> Self {
        Prepared(Box::new(value))
    }

    /// What was prepared, if it is a `T`.
    pub fn take<T: Any>(self) -> Option<T> {
        self.0.downcast::<T>().ok().map(|value| *value)
    }
}

/// A format's encoder as a sink: records the format cannot hold are
/// [`Delivery::Permanent`]; once a write fails, that and every later record
/// is [`Delivery::Retryable`] (the output is incomplete and the job must be
/// rerun once the cause is fixed) and [`close`](Sink::close) reports the
/// error.
pub struct EncoderSink {
    encoder: Box<dyn Encoder>,
    failed: Option<io::Error>,
}

impl std::fmt::Debug for EncoderSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncoderSink")
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl EncoderSink {
    pub fn new(encoder: Box<dyn Encoder>) -> Self {
        EncoderSink {
            encoder,
            failed: None,
        }
    }
}

impl EncoderSink {
    /// The delivery an encoder's answer means; the first write failure is
    /// kept, and reported again by [`close`](Sink::close).
    fn answer(&mut self, encoded: Result<(), EncodeError>) -> Delivery {
        match encoded {
            Ok(()) => Delivery::Delivered,
            Err(EncodeError::Unsupported(reason)) => Delivery::Permanent(reason),
            Err(EncodeError::Io(e)) => {
                let delivery = Delivery::Retryable(format!("write failed: {e}"));
                self.failed.get_or_insert(e);
                delivery
            }
        }
    }

    fn failed_earlier(&self, n: usize) -> Option<Vec<Delivery>> {
        let e = self.failed.as_ref()?;
        Some(vec![
            Delivery::Retryable(format!(
                "output failed earlier: {e}"
            ));
            n
        ])
    }
}

impl Sink for EncoderSink {
    fn send(&mut self, batch: &[Record]) -> Vec<Delivery> {
        let mut answers = Vec::with_capacity(batch.len());
        for (i, record) in batch.iter().enumerate() {
            if let Some(rest) = self.failed_earlier(batch.len() - i) {
                answers.extend(rest);
                break;
            }
            let encoded = self.encoder.encode(record);
            answers.push(self.answer(encoded));
        }
        answers
    }

    fn close(self: Box<Self>) -> io::Result<()> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        self.encoder.finish()
    }

    fn preparer(&self) -> Option<Arc<dyn Prepare>> {
        self.encoder.preparer()
    }

    fn send_prepared(&mut self, batch: &[Record], prepared: Prepared) -> Vec<Delivery> {
        if let Some(all) = self.failed_earlier(batch.len()) {
            return all;
        }
        let encoded = self.encoder.encode_prepared(batch, prepared);
        encoded
            .into_iter()
            .map(|encoded| self.answer(encoded))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use brygga_mapping::profile::Profile;

    use super::*;
    use crate::Format;
    use crate::canonical::Canonical;

    const INPUT: &str = concat!(
        r#"{"type":"organisation","id":"a","kind":"care_unit","name":"A"}"#,
        "\n",
        "not json\n",
        r#"{"type":"organisation","id":"b","kind":"care_unit","name":"B"}"#,
        "\n",
        r#"{"type":"organisation","id":"c","kind":"care_unit","name":"C"}"#,
        "\n",
    );

    fn source() -> Source {
        let profile = Arc::new(Profile::builtin("pmo"));
        Source::new(Canonical.decoder(Box::new(INPUT.as_bytes()), profile))
    }

    fn describe(item: Option<Result<Record, DecodeError>>) -> String {
        match item {
            Some(Ok(Record::Organisation(o))) => o.id,
            Some(Ok(other)) => other.type_name().to_owned(),
            Some(Err(e)) => format!("error: {e}"),
            None => "end".to_owned(),
        }
    }

    #[test]
    fn resuming_at_a_saved_position_yields_what_came_next() {
        let mut first = source();
        let mut seen = Vec::new();
        for _ in 0..2 {
            seen.push(describe(first.next_item()));
        }
        assert_eq!(first.position(), 2);
        assert!(seen[1].starts_with("error: record 2"), "{seen:?}");
        let rest_of_first: Vec<String> = (0..3).map(|_| describe(first.next_item())).collect();

        let mut second = source();
        assert_eq!(second.resume(2), 2);
        let rest_of_second: Vec<String> = (0..3).map(|_| describe(second.next_item())).collect();
        assert_eq!(rest_of_second, rest_of_first);
        assert_eq!(rest_of_second, ["b", "c", "end"]);
    }

    #[test]
    fn resuming_past_the_end_says_how_far_it_got() {
        assert_eq!(source().resume(10), 4);
    }

    struct FailingWriter;

    impl Write for FailingWriter {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk full"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::other("disk full"))
        }
    }

    #[test]
    fn an_encoder_sink_answers_per_record_and_fails_closed() {
        let profile = Arc::new(Profile::builtin("pmo"));
        let records: Vec<Record> = {
            let mut source = source();
            std::iter::from_fn(|| source.next_item())
                .filter_map(Result::ok)
                .collect()
        };
        assert_eq!(records.len(), 3);

        let out = Vec::new();
        let mut sink: Box<dyn Sink> = Box::new(EncoderSink::new(
            Canonical.encoder(Box::new(out), profile.clone()),
        ));
        assert_eq!(sink.send(&records), vec![Delivery::Delivered; 3]);
        sink.close().expect("closes");

        // The canonical encoder buffers; the failure shows when it writes.
        let mut sink: Box<dyn Sink> = Box::new(EncoderSink::new(
            Canonical.encoder(Box::new(FailingWriter), profile),
        ));
        let big: Vec<Record> = records.iter().cycle().take(30_000).cloned().collect();
        let answers = sink.send(&big);
        assert_eq!(answers.len(), big.len());
        let first_failure = answers
            .iter()
            .position(|d| *d != Delivery::Delivered)
            .expect("a write fails once the buffer fills");
        assert!(
            answers[first_failure..]
                .iter()
                .all(|d| matches!(d, Delivery::Retryable(reason) if reason.contains("disk full")))
        );
        assert!(sink.close().is_err());
    }
}
