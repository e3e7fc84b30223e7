//! An external merge sort of (key, value) byte pairs: what lets a
//! county-sized history — tens of millions of entries, far more than fits
//! in memory — be put in order with bounded memory.
//!
//! Every pair carries an `order` number, and pairs are sorted by key and
//! then by `order`. The caller numbers pairs in the order it read them, so
//! which of two pairs with equal keys comes first is decided by the data,
//! never by how the input happened to be split into runs — runs written by
//! different sorters (or the same sorter before and after a restart) merge
//! into one exact order.
//!
//! Pairs are collected in memory until half the budget is reached, then
//! handed to a background thread that sorts them and writes a run file,
//! synced to disk, while the next half fills; [`Sorter::seal`] says when a
//! run is complete (so a checkpoint may name it). A [`Merge`] reads any set
//! of runs at once, one buffered block per run, and yields the pairs in
//! (key, order) order.
//!
//! Run file format: repeated
//! `[key length: u32 LE][value length: u32 LE][order: u64 LE][key][value]`.

use std::cmp::Ordering;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Buffer per run while merging: large enough for sequential disk reads,
/// small enough that hundreds of runs stay within the memory budget.
pub const MERGE_BUFFER_BYTES: usize = 128 * 1024;

/// Where one pair sits in the arena.
#[derive(Debug, Clone, Copy)]
struct Slot {
    start: usize,
    key_len: u32,
    value_len: u32,
    order: u64,
}

/// Pairs held in memory: keys and values back to back, and where each is.
#[derive(Debug, Default)]
struct Buffer {
    arena: Vec<u8>,
    index: Vec<Slot>,
}

impl Buffer {
    fn bytes(&self) -> usize {
        self.arena.len() + self.index.len() * std::mem::size_of::<Slot>()
    }

    /// Sorts the pairs and writes them to `path`, synced; returns the
    /// buffer emptied, its memory kept for the next run.
    fn write_run(mut self, path: &Path) -> io::Result<Buffer> {
        let arena = &self.arena;
        let key = |slot: &Slot| &arena[slot.start..slot.start + slot.key_len as usize];
        self.index
            .sort_unstable_by(|a, b| key(a).cmp(key(b)).then(a.order.cmp(&b.order)));
        let file = File::create(path)?;
        let mut out = BufWriter::with_capacity(MERGE_BUFFER_BYTES, file);
        for slot in &self.index {
            let key_end = slot.start + slot.key_len as usize;
            let end = key_end + slot.value_len as usize;
            write_pair(
                &mut out,
                &self.arena[slot.start..key_end],
                slot.order,
                &self.arena[key_end..end],
            )?;
        }
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        self.arena.clear();
        self.index.clear();
        Ok(self)
    }
}

fn too_large() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "a sort key or value is larger than 4 GiB",
    )
}

/// Writes one pair in the run format.
fn write_pair(out: &mut impl Write, key: &[u8], order: u64, value: &[u8]) -> io::Result<()> {
    let (Ok(key_len), Ok(value_len)) = (u32::try_from(key.len()), u32::try_from(value.len()))
    else {
        return Err(too_large());
    };
    let mut header = [0u8; 16];
    header[0..4].copy_from_slice(&key_len.to_le_bytes());
    header[4..8].copy_from_slice(&value_len.to_le_bytes());
    header[8..16].copy_from_slice(&order.to_le_bytes());
    out.write_all(&header)?;
    out.write_all(key)?;
    out.write_all(value)
}

/// Merges `runs` into one run at `into`, synced: what bounds how many runs
/// a merge reads at once. Pairs keep their order numbers, so merging runs
/// in any grouping gives the same final order. Written under a temporary
/// name first, so `into` is whole or absent.
pub fn merge_runs(runs: &[PathBuf], into: &Path) -> io::Result<()> {
    let partial = into.with_extension("partial");
    let file = File::create(&partial)?;
    let mut out = BufWriter::with_capacity(MERGE_BUFFER_BYTES, file);
    let mut merge = Merge::open(runs)?;
    let (mut key, mut value) = (Vec::new(), Vec::new());
    while let Some(taken) = merge.next_into(&mut key, &mut value)? {
        write_pair(&mut out, &key, taken.order, &value)?;
    }
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()?;
    fs::rename(&partial, into)
}

/// What [`Sorter::seal`] did.
#[derive(Debug, Default)]
pub struct Sealed {
    /// The run the buffered pairs are being written to (`None` when
    /// nothing was buffered).
    pub run: Option<PathBuf>,
    /// The run sealed before it, now complete and synced.
    pub done: Option<PathBuf>,
}

/// Collects pairs and spills them to sorted run files.
///
/// A full buffer is sorted and written by a background thread while the
/// next one fills, so reading the input never waits for the disk; each of
/// the two buffers gets half the budget.
#[derive(Debug)]
pub struct Sorter {
    dir: PathBuf,
    buffer_bytes: usize,
    filling: Buffer,
    /// The run being written in the background.
    writing: Option<(PathBuf, std::thread::JoinHandle<io::Result<Buffer>>)>,
    /// Runs complete on disk, in order.
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
            buffer_bytes: (budget_bytes / 2).max(512),
            filling: Buffer::default(),
            writing: None,
            runs,
        })
    }

    /// Adds a pair. Returns `true` when the buffer is full: the caller
    /// then [seals](Self::seal) it.
    pub fn push(&mut self, key: &[u8], order: u64, value: &[u8]) -> io::Result<bool> {
        let (Ok(key_len), Ok(value_len)) = (u32::try_from(key.len()), u32::try_from(value.len()))
        else {
            return Err(too_large());
        };
        let buffer = &mut self.filling;
        if buffer.arena.capacity() == 0 {
            // Reserved once (address space, not memory until written): the
            // arena never moves while it fills.
            buffer.arena.reserve(self.buffer_bytes);
        }
        buffer.index.push(Slot {
            start: buffer.arena.len(),
            key_len,
            value_len,
            order,
        });
        buffer.arena.extend_from_slice(key);
        buffer.arena.extend_from_slice(value);
        Ok(buffer.bytes() >= self.buffer_bytes)
    }

    /// Memory held by the buffer being filled.
    #[cfg(test)]
    pub fn buffered_bytes(&self) -> usize {
        self.filling.bytes()
    }

    /// Hands what is buffered to the background to be sorted and written
    /// as the next run, after waiting for the run before it: at most one
    /// run is being written at a time.
    pub fn seal(&mut self) -> io::Result<Sealed> {
        let buffer = std::mem::take(&mut self.filling);
        let done = self.wait()?;
        if buffer.index.is_empty() {
            return Ok(Sealed { run: None, done });
        }
        let path = self.dir.join(format!("run-{:06}.bin", self.runs.len()));
        let target = path.clone();
        let handle = std::thread::Builder::new()
            .name("sort-spill".into())
            .spawn(move || buffer.write_run(&target))?;
        self.writing = Some((path.clone(), handle));
        Ok(Sealed {
            run: Some(path),
            done,
        })
    }

    /// Waits for the run being written, if any, and returns it.
    pub fn wait(&mut self) -> io::Result<Option<PathBuf>> {
        let Some((path, handle)) = self.writing.take() else {
            return Ok(None);
        };
        let buffer = handle.join().map_err(|_| {
            io::Error::other(format!("writing sort run {} failed", path.display()))
        })??;
        if self.filling.index.is_empty() {
            // Keep the memory already mapped for the next buffer.
            self.filling = buffer;
        }
        self.runs.push(path.clone());
        Ok(Some(path))
    }

    /// Every run complete on disk, in order.
    pub fn runs(&self) -> &[PathBuf] {
        &self.runs
    }
}

impl Drop for Sorter {
    /// Never leaves a thread writing into the work directory.
    fn drop(&mut self) {
        if let Some((_, handle)) = self.writing.take() {
            let _ = handle.join();
        }
    }
}

/// One run being read during the merge.
struct RunReader {
    input: BufReader<File>,
    key: Vec<u8>,
    order: u64,
    value: Vec<u8>,
}

impl RunReader {
    /// Reads the next pair into `key`/`order`/`value`; `false` at the end.
    fn advance(&mut self, path: &Path) -> io::Result<bool> {
        let mut header = [0u8; 16];
        match read_exact_or_eof(&mut self.input, &mut header)? {
            0 => return Ok(false),
            16 => {}
            _ => return Err(truncated(path)),
        }
        let [k0, k1, k2, k3, v0, v1, v2, v3, o @ ..] = header;
        let key_len = u32::from_le_bytes([k0, k1, k2, k3]) as usize;
        let value_len = u32::from_le_bytes([v0, v1, v2, v3]) as usize;
        self.order = u64::from_le_bytes(o);
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

    fn cmp(&self, other: &RunReader) -> Ordering {
        self.key.cmp(&other.key).then(self.order.cmp(&other.order))
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

/// The pairs of all runs, in (key, order) order.
pub struct Merge {
    paths: Vec<PathBuf>,
    readers: Vec<RunReader>,
    /// A binary min-heap of the runs that still have a pair, by their
    /// current pair. Indices only: the keys stay in their readers and no
    /// key is copied.
    heap: Vec<usize>,
}

impl std::fmt::Debug for Merge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Merge")
            .field("runs", &self.paths.len())
            .finish_non_exhaustive()
    }
}

/// Where a pair from [`Merge::next_into`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// The number it was pushed with.
    pub order: u64,
    /// The index of its run in the list given to [`Merge::open`].
    pub run: usize,
}

impl Merge {
    pub fn open(runs: &[PathBuf]) -> io::Result<Self> {
        let mut merge = Merge {
            paths: runs.to_vec(),
            readers: Vec::with_capacity(runs.len()),
            heap: Vec::with_capacity(runs.len()),
        };
        for (i, path) in runs.iter().enumerate() {
            let file = File::open(path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            let mut reader = RunReader {
                input: BufReader::with_capacity(MERGE_BUFFER_BYTES, file),
                key: Vec::new(),
                order: 0,
                value: Vec::new(),
            };
            if reader.advance(path)? {
                merge.heap.push(i);
            }
            merge.readers.push(reader);
        }
        for at in (0..merge.heap.len() / 2).rev() {
            merge.sift_down(at);
        }
        Ok(merge)
    }

    /// Moves the next pair into `key` and `value` (their old buffers are
    /// reused); `None` when all runs are read.
    pub fn next_into(
        &mut self,
        key: &mut Vec<u8>,
        value: &mut Vec<u8>,
    ) -> io::Result<Option<Taken>> {
        let Some(&run) = self.heap.first() else {
            return Ok(None);
        };
        let reader = &mut self.readers[run];
        std::mem::swap(key, &mut reader.key);
        std::mem::swap(value, &mut reader.value);
        let taken = Taken {
            order: reader.order,
            run,
        };
        if !reader.advance(&self.paths[run])? {
            self.heap.swap_remove(0);
        }
        self.sift_down(0);
        Ok(Some(taken))
    }

    fn less(&self, a: usize, b: usize) -> bool {
        // Equal pairs (never made by one sorter) come out in run order.
        self.readers[a]
            .cmp(&self.readers[b])
            .then(a.cmp(&b))
            .is_lt()
    }

    fn sift_down(&mut self, mut at: usize) {
        let n = self.heap.len();
        loop {
            let (left, right) = (2 * at + 1, 2 * at + 2);
            let mut smallest = at;
            if left < n && self.less(self.heap[left], self.heap[smallest]) {
                smallest = left;
            }
            if right < n && self.less(self.heap[right], self.heap[smallest]) {
                smallest = right;
            }
            if smallest == at {
                return;
            }
            self.heap.swap(at, smallest);
            at = smallest;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Pushes `pairs` numbered in order through sorters with the given
    /// budget, then merges: each sorter gets the pairs from one start index
    /// on, as a job resumed with runs from before a restart would.
    /// Pushes every pair, sealing whenever the sorter asks and at the end.
    fn push_all<'p>(
        sorter: &mut Sorter,
        pairs: impl Iterator<Item = (u64, &'p (Vec<u8>, Vec<u8>))>,
    ) {
        for (order, (k, v)) in pairs {
            if sorter.push(k, order, v).expect("push") {
                sorter.seal().expect("seal");
            }
        }
        sorter.seal().expect("seal");
        sorter.wait().expect("wait");
    }

    /// Pushes `pairs` numbered in order through sorters with the given
    /// budget, then merges: each sorter gets the pairs from one start index
    /// on, as a job resumed with runs from before a restart would.
    fn sorted_by_merge(
        pairs: &[(Vec<u8>, Vec<u8>)],
        budget: usize,
        restarts: &[usize],
    ) -> Vec<(Vec<u8>, u64, Vec<u8>)> {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut runs = Vec::new();
        let mut bounds: Vec<usize> = restarts.iter().map(|&r| r % (pairs.len() + 1)).collect();
        bounds.push(0);
        bounds.push(pairs.len());
        bounds.sort_unstable();
        bounds.dedup();
        for (n, span) in bounds.windows(2).enumerate() {
            let mut sorter =
                Sorter::new(&dir.path().join(n.to_string()), budget, Vec::new()).expect("sorter");
            let numbered = pairs.iter().enumerate().map(|(i, p)| (i as u64, p));
            push_all(&mut sorter, numbered.take(span[1]).skip(span[0]));
            runs.extend_from_slice(sorter.runs());
        }
        // The merge may be given the runs in any order.
        runs.reverse();
        let mut merge = Merge::open(&runs).expect("merge");
        let (mut k, mut v) = (Vec::new(), Vec::new());
        let mut out = Vec::new();
        while let Some(taken) = merge.next_into(&mut k, &mut v).expect("next") {
            out.push((k.clone(), taken.order, v.clone()));
        }
        out
    }

    proptest! {
        #[test]
        fn the_merge_orders_by_key_then_push_order_whatever_the_runs(
            pairs in proptest::collection::vec(
                (proptest::collection::vec(0u8..4, 0..4), proptest::collection::vec(any::<u8>(), 0..8)),
                0..300,
            ),
            budget in 1usize..4000,
            restarts in proptest::collection::vec(any::<usize>(), 0..3),
        ) {
            let mut expected: Vec<(Vec<u8>, u64, Vec<u8>)> = pairs
                .iter()
                .enumerate()
                .map(|(i, (k, v))| (k.clone(), i as u64, v.clone()))
                .collect();
            expected.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
            prop_assert_eq!(sorted_by_merge(&pairs, budget, &restarts), expected);
        }
    }

    #[test]
    fn runs_merged_in_groups_first_merge_as_the_runs_themselves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sorter = Sorter::new(dir.path(), 2_000, Vec::new()).expect("sorter");
        // Keys repeat across runs, so the order numbers decide ties.
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..2_000u32)
            .map(|i| {
                (
                    (i * 7919 % 13).to_be_bytes().to_vec(),
                    i.to_le_bytes().to_vec(),
                )
            })
            .collect();
        push_all(
            &mut sorter,
            pairs.iter().enumerate().map(|(i, p)| (i as u64, p)),
        );
        let runs = sorter.runs().to_vec();
        assert!(runs.len() > 10, "{} runs", runs.len());
        let read = |runs: &[PathBuf]| {
            let mut merge = Merge::open(runs).expect("merge");
            let (mut k, mut v) = (Vec::new(), Vec::new());
            let mut out = Vec::new();
            while let Some(taken) = merge.next_into(&mut k, &mut v).expect("next") {
                out.push((k.clone(), taken.order, v.clone()));
            }
            out
        };
        let direct = read(&runs);
        assert_eq!(direct.len(), pairs.len());
        let mut grouped = Vec::new();
        for (n, group) in runs.chunks(4).enumerate() {
            let into = dir.path().join(format!("merged-{n}.bin"));
            merge_runs(group, &into).expect("merge_runs");
            assert!(!into.with_extension("partial").exists());
            grouped.push(into);
        }
        grouped.reverse();
        assert_eq!(read(&grouped), direct);
    }

    #[test]
    fn memory_is_spilled_at_the_budget() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sorter = Sorter::new(dir.path(), 20_000, Vec::new()).expect("sorter");
        let mut sealed = 0;
        for i in 0..10_000u32 {
            if sorter
                .push(&i.to_be_bytes(), u64::from(i), &[0u8; 96])
                .expect("push")
            {
                sorter.seal().expect("seal");
                sealed += 1;
            }
            // Half the budget per buffer: one fills while one is written.
            assert!(sorter.buffered_bytes() < 10_000 + 200);
        }
        sorter.wait().expect("wait");
        assert!(sealed >= 80, "{sealed} runs");
        assert_eq!(sorter.runs().len(), sealed);
    }

    #[test]
    fn a_truncated_run_is_an_error_not_a_short_result() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sorter = Sorter::new(dir.path(), 1 << 20, Vec::new()).expect("sorter");
        for i in 0..100u32 {
            sorter
                .push(&i.to_be_bytes(), u64::from(i), b"value")
                .expect("push");
        }
        sorter.seal().expect("seal");
        let run = sorter.wait().expect("wait").expect("a run");
        let len = fs::metadata(&run).expect("meta").len();
        let file = fs::OpenOptions::new().write(true).open(&run).expect("open");
        file.set_len(len - 3).expect("truncate");
        let mut merge = Merge::open(&[run]).expect("merge");
        let (mut k, mut v) = (Vec::new(), Vec::new());
        let mut result = Ok(Some(Taken { order: 0, run: 0 }));
        while matches!(result, Ok(Some(_))) {
            result = merge.next_into(&mut k, &mut v);
        }
        let error = result.expect_err("truncation is reported");
        assert!(error.to_string().contains("truncated"), "{error}");
    }
}
