//! An external merge sort of (key, value) byte pairs: what lets a
//! county-sized history — tens of millions of entries, far more than fits
//! in memory — be put in order with bounded memory.
//!
//! Pairs are collected in one arena until the memory budget is reached, then
//! sorted by key and written to a run file, which is synced to disk before
//! [`Sorter::spill`] returns (so a checkpoint may name it). A [`Merge`] reads
//! all runs at once, one buffered block per run, and yields the pairs in key
//! order; equal keys come out in run order and, within a run, in the order
//! they were pushed, so the result is deterministic.
//!
//! Run file format: repeated `[key length: u32 LE][value length: u32 LE][key][value]`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Buffer per run while merging: large enough for sequential disk reads,
/// small enough that hundreds of runs stay within the memory budget.
const MERGE_BUFFER_BYTES: usize = 128 * 1024;

/// Collects pairs and spills them to sorted run files.
#[derive(Debug)]
pub struct Sorter {
    dir: PathBuf,
    budget_bytes: usize,
    /// Keys and values, back to back.
    arena: Vec<u8>,
    /// (start in arena, key length, value length) per pair.
    index: Vec<(usize, u32, u32)>,
    runs: Vec<PathBuf>,
}

impl Sorter {
    /// A sorter writing its runs into `dir` (created if missing), holding at
    /// most about `budget_bytes` of pairs in memory. `runs` are runs already
    /// written by an earlier, interrupted sorter (from a checkpoint).
    pub fn new(dir: &Path, budget_bytes: usize, runs: Vec<PathBuf>) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        Ok(Sorter {
            dir: dir.to_path_buf(),
            budget_bytes: budget_bytes.max(1024),
            arena: Vec::new(),
            index: Vec::new(),
            runs,
        })
    }

    /// Adds a pair. Returns the path of a run when this push filled the
    /// budget and the buffer was spilled.
    pub fn push(&mut self, key: &[u8], value: &[u8]) -> io::Result<Option<PathBuf>> {
        let (Ok(key_len), Ok(value_len)) = (u32::try_from(key.len()), u32::try_from(value.len()))
        else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a sort key or value is larger than 4 GiB",
            ));
        };
        self.index.push((self.arena.len(), key_len, value_len));
        self.arena.extend_from_slice(key);
        self.arena.extend_from_slice(value);
        if self.buffered_bytes() >= self.budget_bytes {
            return self.spill();
        }
        Ok(None)
    }

    /// Memory held by buffered pairs, index included.
    pub fn buffered_bytes(&self) -> usize {
        self.arena.len() + self.index.len() * std::mem::size_of::<(usize, u32, u32)>()
    }

    /// Sorts what is buffered and writes it as a run, synced to disk.
    /// Returns `None` when nothing was buffered.
    pub fn spill(&mut self) -> io::Result<Option<PathBuf>> {
        if self.index.is_empty() {
            return Ok(None);
        }
        let arena = &self.arena;
        let key =
            |&(start, key_len, _): &(usize, u32, u32)| &arena[start..start + key_len as usize];
        // Stable: equal keys keep the order they were pushed in.
        self.index.sort_by(|a, b| key(a).cmp(key(b)));
        let path = self.dir.join(format!("run-{:06}.bin", self.runs.len()));
        let file = File::create(&path)?;
        let mut out = BufWriter::with_capacity(MERGE_BUFFER_BYTES, file);
        for &(start, key_len, value_len) in &self.index {
            out.write_all(&key_len.to_le_bytes())?;
            out.write_all(&value_len.to_le_bytes())?;
            let end = start + key_len as usize + value_len as usize;
            out.write_all(&self.arena[start..end])?;
        }
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        self.arena.clear();
        self.index.clear();
        self.runs.push(path.clone());
        Ok(Some(path))
    }

    /// Every run written, in order.
    #[cfg(test)]
    pub fn runs(&self) -> &[PathBuf] {
        &self.runs
    }
}

/// One run being read during the merge.
struct RunReader {
    input: BufReader<File>,
    key: Vec<u8>,
    value: Vec<u8>,
}

impl RunReader {
    /// Reads the next pair into `key`/`value`; `false` at the end.
    fn advance(&mut self, path: &Path) -> io::Result<bool> {
        let mut lengths = [0u8; 8];
        match read_exact_or_eof(&mut self.input, &mut lengths)? {
            0 => return Ok(false),
            8 => {}
            _ => return Err(truncated(path)),
        }
        let [k0, k1, k2, k3, v0, v1, v2, v3] = lengths;
        let key_len = u32::from_le_bytes([k0, k1, k2, k3]) as usize;
        let value_len = u32::from_le_bytes([v0, v1, v2, v3]) as usize;
        self.key.resize(key_len, 0);
        self.value.resize(value_len, 0);
        self.input
            .read_exact(&mut self.key)
            .and_then(|()| self.input.read_exact(&mut self.value))
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => truncated(path),
                _ => e,
            })?;
        Ok(true)
    }
}

fn truncated(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("sort run {} is truncated", path.display()),
    )
}

/// Like `read_exact`, but a clean end of input before the first byte gives 0.
fn read_exact_or_eof(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The pairs of all runs, in key order.
pub struct Merge {
    paths: Vec<PathBuf>,
    readers: Vec<RunReader>,
    /// (key, run index) of each run's current pair; the smallest on top.
    heap: BinaryHeap<Reverse<(Vec<u8>, usize)>>,
}

impl std::fmt::Debug for Merge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Merge")
            .field("runs", &self.paths.len())
            .finish_non_exhaustive()
    }
}

impl Merge {
    pub fn open(runs: &[PathBuf]) -> io::Result<Self> {
        let mut merge = Merge {
            paths: runs.to_vec(),
            readers: Vec::with_capacity(runs.len()),
            heap: BinaryHeap::with_capacity(runs.len()),
        };
        for (i, path) in runs.iter().enumerate() {
            let file = File::open(path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            let mut reader = RunReader {
                input: BufReader::with_capacity(MERGE_BUFFER_BYTES, file),
                key: Vec::new(),
                value: Vec::new(),
            };
            if reader.advance(path)? {
                merge.heap.push(Reverse((reader.key.clone(), i)));
            }
            merge.readers.push(reader);
        }
        Ok(merge)
    }

    /// Moves the next pair into `key` and `value`; `false` when all runs
    /// are read.
    pub fn next_into(&mut self, key: &mut Vec<u8>, value: &mut Vec<u8>) -> io::Result<bool> {
        let Some(Reverse((top_key, run))) = self.heap.pop() else {
            return Ok(false);
        };
        let reader = &mut self.readers[run];
        *key = top_key;
        std::mem::swap(value, &mut reader.value);
        if reader.advance(&self.paths[run])? {
            self.heap.push(Reverse((reader.key.clone(), run)));
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sorted_by_merge(pairs: &[(Vec<u8>, Vec<u8>)], budget: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sorter = Sorter::new(dir.path(), budget, Vec::new()).expect("sorter");
        for (k, v) in pairs {
            sorter.push(k, v).expect("push");
        }
        sorter.spill().expect("spill");
        let mut merge = Merge::open(sorter.runs()).expect("merge");
        let (mut k, mut v) = (Vec::new(), Vec::new());
        let mut out = Vec::new();
        while merge.next_into(&mut k, &mut v).expect("next") {
            out.push((k.clone(), v.clone()));
        }
        out
    }

    proptest! {
        #[test]
        fn the_merge_is_a_stable_sort_whatever_the_budget(
            pairs in proptest::collection::vec(
                (proptest::collection::vec(0u8..4, 0..4), proptest::collection::vec(any::<u8>(), 0..8)),
                0..300,
            ),
            budget in 1usize..4000,
        ) {
            // Tag each value with its push order so stability is visible.
            let tagged: Vec<(Vec<u8>, Vec<u8>)> = pairs
                .iter()
                .enumerate()
                .map(|(i, (k, v))| {
                    let mut value = (i as u32).to_be_bytes().to_vec();
                    value.extend_from_slice(v);
                    (k.clone(), value)
                })
                .collect();
            let mut expected = tagged.clone();
            expected.sort_by(|a, b| a.0.cmp(&b.0));
            prop_assert_eq!(sorted_by_merge(&tagged, budget), expected);
        }
    }

    #[test]
    fn memory_is_spilled_at_the_budget() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sorter = Sorter::new(dir.path(), 10_000, Vec::new()).expect("sorter");
        let mut spilled = 0;
        for i in 0..10_000u32 {
            if sorter
                .push(&i.to_be_bytes(), &[0u8; 96])
                .expect("push")
                .is_some()
            {
                spilled += 1;
            }
            assert!(sorter.buffered_bytes() < 10_000 + 200);
        }
        assert!(spilled >= 90, "{spilled} runs");
    }

    #[test]
    fn a_truncated_run_is_an_error_not_a_short_result() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sorter = Sorter::new(dir.path(), 1 << 20, Vec::new()).expect("sorter");
        for i in 0..100u32 {
            sorter.push(&i.to_be_bytes(), b"value").expect("push");
        }
        let run = sorter.spill().expect("spill").expect("a run");
        let len = fs::metadata(&run).expect("meta").len();
        let file = fs::OpenOptions::new().write(true).open(&run).expect("open");
        file.set_len(len - 3).expect("truncate");
        let mut merge = Merge::open(&[run]).expect("merge");
        let (mut k, mut v) = (Vec::new(), Vec::new());
        let mut result = Ok(true);
        while matches!(result, Ok(true)) {
            result = merge.next_into(&mut k, &mut v);
        }
        let error = result.expect_err("truncation is reported");
        assert!(error.to_string().contains("truncated"), "{error}");
    }
}
