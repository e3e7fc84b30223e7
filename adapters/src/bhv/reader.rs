//! The extract's streaming reader: [`XmlRecords`] — one record element at a
//! time, as a small tree in buffers that are reused from record to record,
//! with [`crate::xml`]'s refusals and messages ([`XmlError`]) — set up for
//! this format:
//!
//! - **Withheld content is never kept.** An `<undanhallet>` element is
//!   stored with its attributes only; everything inside it is read past
//!   (still checked for hostile markup) and never copied anywhere, so it
//!   cannot reach a record, a message or a debug print.
//! - **No depth limit.** Nothing in the reader or the decoder recurses, so
//!   a deeply nested record is refused by the decoder, naming the element,
//!   and reading goes on.

use std::io::BufRead;

use super::tag;
use crate::xml::{DEFAULT_MAX_RECORD_BYTES, XmlError, XmlRecords};

pub(super) use crate::xml::{El, Tree};

#[cfg(test)]
pub(super) use crate::xml::newlines_in;

/// The root element: its name and `version` attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Root {
    pub name: String,
    pub version: Option<String>,
    pub line: u64,
}

/// Reads the record elements under a document's root.
pub(super) struct ExtractReader<R> {
    records: XmlRecords<R>,
    root: Option<Root>,
}

impl<R: BufRead> ExtractReader<R> {
    pub fn new(input: R) -> Self {
        Self::with_max_record_bytes(input, DEFAULT_MAX_RECORD_BYTES)
    }

    pub fn with_max_record_bytes(input: R, max_record_bytes: usize) -> Self {
        ExtractReader {
            records: XmlRecords::with_max_record_bytes(input, max_record_bytes)
                .keeping_only_attributes_of(tag::WITHHELD)
                .without_depth_limit(),
            root: None,
        }
    }

    /// The root element. Reads the prolog if that has not happened yet.
    pub fn root(&mut self) -> Result<&Root, XmlError> {
        let root = match self.root.take() {
            Some(root) => root,
            None => {
                let element = self.records.root()?;
                Root {
                    name: element.name.to_string(),
                    version: element.attr(tag::VERSION).map(str::to_owned),
                    line: element.line,
                }
            }
        };
        Ok(self.root.insert(root))
    }

    /// The next record, an error, or `None` after the root closes. The tree
    /// is valid until the next call. After a fatal error it returns `None`.
    pub fn next_record(&mut self) -> Option<Result<&Tree, XmlError>> {
        self.records.next_tree()
    }
}
