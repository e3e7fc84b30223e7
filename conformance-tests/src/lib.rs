//! # brygga-conformance — the adapter conformance kit
//!
//! Every format registered in `brygga-adapters` runs the same checks:
//!
//! - **golden vectors**: `vectors/<format>/<case>/` holds `input.<ext>`, the
//!   canonical records it must decode to (`expected.ndjson`), optionally the
//!   bytes those records must encode back to (`reencoded.<ext>`), and for
//!   bad-input cases the rejects it must report (`rejects.txt`, one
//!   `Reject`'s text per line, in order);
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
) -> std::io::Result<(Vec<Record>, Vec<String>)> {
    let file = fs::File::open(input)?;
    let mut decoder = format.decoder(Box::new(BufReader::new(file)), default_profile(format));
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

/// Encodes records to bytes with the format's encoder.
pub fn encode_all(format: &dyn Format, records: &[Record]) -> Result<Vec<u8>, String> {
    let sink = SharedBuf::default();
    let mut encoder = format.encoder(Box::new(sink.clone()), default_profile(format));
    for (i, record) in records.iter().enumerate() {
        encoder
            .encode(record)
            .map_err(|e| format!("encoding record {}: {e}", i + 1))?;
    }
    encoder.finish().map_err(|e| format!("finishing: {e}"))?;
    Ok(sink.take())
}

/// Decodes bytes that are already in memory.
pub fn decode_bytes(format: &dyn Format, bytes: Vec<u8>) -> (Vec<Record>, Vec<String>) {
    let mut decoder = format.decoder(
        Box::new(std::io::Cursor::new(bytes)),
        default_profile(format),
    );
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

/// Runs every case under `vectors_dir` (one sub-folder per case) and returns
/// the number of cases run and the failures.
pub fn run_golden_vectors(
    format: &dyn Format,
    vectors_dir: &Path,
) -> std::io::Result<(usize, Vec<CaseFailure>)> {
    let mut cases: Vec<PathBuf> = fs::read_dir(vectors_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    let mut failures = Vec::new();
    for case in &cases {
        if let Some(message) = run_case(format, case)? {
            failures.push(CaseFailure {
                case: case.clone(),
                message,
            });
        }
    }
    Ok((cases.len(), failures))
}

fn run_case(format: &dyn Format, case: &Path) -> std::io::Result<Option<String>> {
    let input = case.join(format!("input.{}", format.extension()));
    let (records, errors) = decode_all(format, &input)?;
    let mut problems = String::new();

    let expected_path = case.join("expected.ndjson");
    let expected: Vec<Record> = NdjsonReader::new(BufReader::new(fs::File::open(&expected_path)?))
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

    match encode_all(format, &records) {
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
            let (again, again_errors) = decode_bytes(format, bytes);
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
    Ok((!problems.is_empty()).then_some(problems))
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
