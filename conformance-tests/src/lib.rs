//! # brygga-conformance — the adapter conformance kit
//!
//! Every format registered in `brygga-adapters` runs the same checks:
//!
//! - **golden vectors**: `vectors/<format>/<case>/` holds `input.<ext>`, the
//!   canonical records it must decode to (`expected.ndjson`), optionally the
//!   bytes those records must encode back to (`reencoded.<ext>`), and for
//!   bad-input cases the rejects it must report (`rejects.txt`, one
//!   `Reject`'s text per line, in order); a case may bring its own mapping
//!   profile (`profile.toml`), otherwise the built-in default of the
//!   format's system is used;
//! - **round trip**: encoding the decoded records and decoding again gives
//!   the same records.
//!
//! A format joins by adding its vectors and one line to the list in
//! `tests/conformance.rs`. Failures are reported as readable diffs naming the
//! case, so an integration engineer can see what changed.

use std::fmt::Write as _;
use std::fs;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use brygga_adapters::{DecodeError, Format};
use brygga_mapping::model::Record;
use brygga_mapping::ndjson::NdjsonReader;
use brygga_mapping::profile::Profile;

/// The profile a format is tested with: the built-in default of its system.
pub fn default_profile(format: &dyn Format) -> Arc<Profile> {
    Arc::new(Profile::builtin(format.profile_system().unwrap_or("pmo")))
}

/// What one golden-vector case found.
#[derive(Debug)]
pub struct CaseFailure {
    pub case: PathBuf,
    pub message: String,
}

/// Decodes a whole input, collecting records and error texts in order.
pub fn decode_all(
    format: &dyn Format,
    input: &Path,
    profile: Arc<Profile>,
) -> std::io::Result<(Vec<Record>, Vec<String>)> {
    let file = open(input)?;
    let mut decoder = format.decoder(Box::new(BufReader::new(file)), profile);
    let mut records = Vec::new();
    let mut errors = Vec::new();
    while let Some(item) = decoder.next_record() {
        match item {
            Ok(record) => records.push(record),
            Err(e @ DecodeError::Reject(_)) => errors.push(e.to_string()),
            Err(e @ DecodeError::Fatal(_)) => errors.push(format!("fatal: {e}")),
        }
    }
    Ok((records, errors))
}

/// Opens a file, naming it in the error.
fn open(path: &Path) -> std::io::Result<fs::File> {
    fs::File::open(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// Encodes records to bytes with the format's encoder.
pub fn encode_all(
    format: &dyn Format,
    records: &[Record],
    profile: Arc<Profile>,
) -> Result<Vec<u8>, String> {
    let sink = SharedBuf::default();
    let mut encoder = format.encoder(Box::new(sink.clone()), profile);
    for (i, record) in records.iter().enumerate() {
        encoder
            .encode(record)
            .map_err(|e| format!("encoding record {}: {e}", i + 1))?;
    }
    encoder.finish().map_err(|e| format!("finishing: {e}"))?;
    Ok(sink.take())
}

/// Decodes bytes that are already in memory.
pub fn decode_bytes(
    format: &dyn Format,
    bytes: Vec<u8>,
    profile: Arc<Profile>,
) -> (Vec<Record>, Vec<String>) {
    let mut decoder = format.decoder(Box::new(std::io::Cursor::new(bytes)), profile);
    let mut records = Vec::new();
    let mut errors = Vec::new();
    while let Some(item) = decoder.next_record() {
        match item {
            Ok(record) => records.push(record),
            Err(e) => errors.push(e.to_string()),
        }
    }
    (records, errors)
}

/// What one case found: how much it decoded, and what was wrong.
#[derive(Debug)]
pub struct CaseResult {
    pub case: PathBuf,
    pub records: usize,
    pub rejects: usize,
    /// `None` when the case passed; else a readable report with diffs.
    pub failure: Option<String>,
}

/// Runs every case under `vectors_dir` (one sub-folder per case) and returns
/// the number of cases run and the failures. Each case uses its own
/// `profile.toml` if it has one.
pub fn run_golden_vectors(
    format: &dyn Format,
    vectors_dir: &Path,
) -> std::io::Result<(usize, Vec<CaseFailure>)> {
    let results = run_cases(format, vectors_dir, None)?;
    let cases = results.len();
    let failures = results
        .into_iter()
        .filter_map(|r| {
            r.failure.map(|message| CaseFailure {
                case: r.case,
                message,
            })
        })
        .collect();
    Ok((cases, failures))
}

/// Runs every case under `vectors_dir`, in name order, with `profile` for
/// all of them when given (as `brygga mapping test` does), else with each
/// case's own profile.
pub fn run_cases(
    format: &dyn Format,
    vectors_dir: &Path,
    profile: Option<Arc<Profile>>,
) -> std::io::Result<Vec<CaseResult>> {
    let mut cases: Vec<PathBuf> = fs::read_dir(vectors_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
        .into_iter()
        .map(|case| {
            let profile = match &profile {
                Some(p) => p.clone(),
                None => case_profile(format, &case)?,
            };
            run_case(format, &case, profile)
        })
        .collect()
}

fn run_case(
    format: &dyn Format,
    case: &Path,
    profile: Arc<Profile>,
) -> std::io::Result<CaseResult> {
    let input = case.join(format!("input.{}", format.extension()));
    let (records, errors) = decode_all(format, &input, profile.clone())?;
    let mut problems = String::new();

    let expected_path = case.join("expected.ndjson");
    let expected: Vec<Record> = NdjsonReader::new(BufReader::new(open(&expected_path)?))
        .collect::<Result<_, _>>()
        .map_err(|e| std::io::Error::other(format!("{}: {e}", expected_path.display())))?;
    if records != expected {
        let _ = writeln!(
            problems,
            "decoded records differ from expected.ndjson:\n{}",
            diff_records(&expected, &records)
        );
    }

    let rejects_path = case.join("rejects.txt");
    let expected_errors: Vec<String> = if rejects_path.exists() {
        fs::read_to_string(&rejects_path)?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect()
    } else {
        Vec::new()
    };
    if errors != expected_errors {
        let _ = writeln!(
            problems,
            "rejects differ from rejects.txt:\n  expected: {expected_errors:#?}\n  actual:   {errors:#?}"
        );
    }

    match encode_all(format, &records, profile.clone()) {
        Ok(bytes) => {
            let reencoded = case.join(format!("reencoded.{}", format.extension()));
            if reencoded.exists() {
                let want = fs::read(&reencoded)?;
                if want != bytes {
                    let _ = writeln!(
                        problems,
                        "re-encoded output differs from {}:\n{}",
                        reencoded.display(),
                        diff_lines(
                            &String::from_utf8_lossy(&want),
                            &String::from_utf8_lossy(&bytes)
                        )
                    );
                }
            }
            let (again, again_errors) = decode_bytes(format, bytes, profile);
            if again != records || !again_errors.is_empty() {
                let _ = writeln!(
                    problems,
                    "round trip changed the records (errors: {again_errors:?}):\n{}",
                    diff_records(&records, &again)
                );
            }
        }
        Err(e) => {
            let _ = writeln!(problems, "re-encoding failed: {e}");
        }
    }
    Ok(CaseResult {
        case: case.to_path_buf(),
        records: records.len(),
        rejects: errors.len(),
        failure: (!problems.is_empty()).then_some(problems),
    })
}

/// The case's own `profile.toml` (checked against the format), else the
/// built-in default of the format's system.
pub fn case_profile(format: &dyn Format, case: &Path) -> std::io::Result<Arc<Profile>> {
    let path = case.join("profile.toml");
    if !path.exists() {
        return Ok(default_profile(format));
    }
    let profile = Profile::load(&path).map_err(|e| std::io::Error::other(e.to_string()))?;
    format
        .check_profile(&profile)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(Arc::new(profile))
}

/// Line diff of two record lists in canonical NDJSON form.
pub fn diff_records(expected: &[Record], actual: &[Record]) -> String {
    let render = |records: &[Record]| {
        records
            .iter()
            .map(|r| serde_json::to_string(r).unwrap_or_else(|e| format!("<unserialisable: {e}>")))
            .collect::<Vec<_>>()
            .join("\n")
    };
    diff_lines(&render(expected), &render(actual))
}

/// A plain line diff: `-` expected only, `+` actual only, by longest common
/// subsequence (inputs here are small golden files).
pub fn diff_lines(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            let _ = writeln!(out, "+ {}", b[j]);
            j += 1;
        } else {
            let _ = writeln!(out, "- {}", a[i]);
            i += 1;
        }
    }
    out
}

/// An in-memory writer the encoder can own while the test keeps a handle.
#[derive(Debug, Clone, Default)]
struct SharedBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedBuf {
    fn take(&self) -> Vec<u8> {
        match self.0.lock() {
            Ok(mut guard) => std::mem::take(&mut *guard),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }
}

impl std::io::Write for SharedBuf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut guard) => guard.extend_from_slice(data),
            Err(poisoned) => poisoned.into_inner().extend_from_slice(data),
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What [`stream_check`] measured.
#[derive(Debug, Clone, Copy)]
pub struct StreamReport {
    /// Bytes the encoder wrote and the decoder read.
    pub bytes: u64,
    /// Records decoded.
    pub records: u64,
    /// Resident memory once a tenth of the input was read, in KiB.
    pub rss_warm_kib: u64,
    /// The highest resident memory seen from then to the end, in KiB.
    pub rss_peak_kib: u64,
}

/// Streams a generated input of at least `target_bytes` through the
/// format's decoder: `sample` is encoded again and again by the format's
/// own encoder on one thread, through a pipe, and decoded on this one, so
/// the input never exists as a whole, in memory or on disk. Resident memory
/// is sampled as it runs; a decoder that keeps anything per record shows up
/// as growth between the warm and the peak figure.
///
/// Fails on any decode error, or when the records decoded are not the ones
/// encoded.
pub fn stream_check(
    format: &dyn Format,
    sample: &[Record],
    profile: Arc<Profile>,
    target_bytes: u64,
) -> Result<StreamReport, String> {
    if sample.is_empty() {
        return Err("no sample records to stream".to_owned());
    }
    let (reader, writer) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
    let written = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let repeats = std::thread::scope(|scope| {
        let encoding = {
            let written = written.clone();
            let profile = profile.clone();
            scope.spawn(move || -> Result<u64, String> {
                let counter = CountingWriter {
                    inner: std::io::BufWriter::with_capacity(256 * 1024, writer),
                    written,
                };
                let counted = counter.written.clone();
                let mut encoder = format.encoder(Box::new(counter), profile);
                let mut repeats = 0u64;
                while counted.load(std::sync::atomic::Ordering::Relaxed) < target_bytes {
                    for record in sample {
                        encoder
                            .encode(record)
                            .map_err(|e| format!("encoding: {e}"))?;
                    }
                    repeats += 1;
                }
                encoder.finish().map_err(|e| format!("finishing: {e}"))?;
                Ok(repeats)
            })
        };
        let decoded = decode_stream(format, sample, profile, reader, target_bytes);
        let repeats = encoding
            .join()
            .map_err(|_| "the encoding thread panicked".to_owned())?;
        let (records, rss_warm_kib, rss_peak_kib) = decoded?;
        let repeats = repeats?;
        Ok::<_, String>((repeats, records, rss_warm_kib, rss_peak_kib))
    })?;
    let (repeats, records, rss_warm_kib, rss_peak_kib) = repeats;
    let expected = repeats * sample.len() as u64;
    if records != expected {
        return Err(format!("decoded {records} records, encoded {expected}"));
    }
    Ok(StreamReport {
        bytes: written.load(std::sync::atomic::Ordering::Relaxed),
        records,
        rss_warm_kib,
        rss_peak_kib,
    })
}

/// The decoding half of [`stream_check`]: (records, warm RSS, peak RSS).
fn decode_stream(
    format: &dyn Format,
    sample: &[Record],
    profile: Arc<Profile>,
    reader: std::io::PipeReader,
    target_bytes: u64,
) -> Result<(u64, u64, u64), String> {
    let read = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let input = CountingReader {
        inner: reader,
        read: read.clone(),
    };
    let mut decoder = format.decoder(
        Box::new(BufReader::with_capacity(256 * 1024, input)),
        profile,
    );
    let mut records = 0u64;
    let mut warm = None;
    let mut peak = 0;
    while let Some(item) = decoder.next_record() {
        let record = item.map_err(|e| format!("record {}: {e}", records + 1))?;
        let index = (records % sample.len() as u64) as usize;
        if record != sample[index] {
            return Err(format!(
                "record {} decoded differently from what was encoded:\n{}",
                records + 1,
                diff_records(&sample[index..=index], &[record])
            ));
        }
        records += 1;
        if records.is_multiple_of(4096) {
            let bytes = read.load(std::sync::atomic::Ordering::Relaxed);
            if warm.is_none() && bytes >= target_bytes / 10 {
                warm = resident_kib();
            }
            if warm.is_some() {
                peak = peak.max(resident_kib().unwrap_or(0));
            }
        }
    }
    let warm = warm.ok_or("the input ended before a tenth of it was read")?;
    peak = peak.max(resident_kib().unwrap_or(0));
    Ok((records, warm, peak))
}

/// The process's resident memory now (VmRSS), in KiB, where Linux tells.
pub fn resident_kib() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

struct CountingWriter<W> {
    inner: W,
    written: Arc<std::sync::atomic::AtomicU64>,
}

impl<W: std::io::Write> std::io::Write for CountingWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(data)?;
        self.written
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

struct CountingReader<R> {
    inner: R,
    read: Arc<std::sync::atomic::AtomicU64>,
}

impl<R: std::io::Read> std::io::Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Every record the format's golden vectors expect, case by case in name
/// order: a sample that covers each record type and variant the format has
/// vectors for.
pub fn vector_records(vectors_dir: &Path) -> std::io::Result<Vec<Record>> {
    let mut cases: Vec<PathBuf> = fs::read_dir(vectors_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    let mut records = Vec::new();
    for case in cases {
        let path = case.join("expected.ndjson");
        for record in NdjsonReader::new(BufReader::new(open(&path)?)) {
            records.push(
                record.map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?,
            );
        }
    }
    Ok(records)
}
