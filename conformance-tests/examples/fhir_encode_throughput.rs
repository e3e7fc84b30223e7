//! Canonical → FHIR NDJSON encoding throughput on one thread, in resources
//! per second: the records of a canonical NDJSON file are read into memory
//! first, then encoded again and again by the `fhir-ndjson` encoder (or
//! another FHIR format given with `--format`) into a sink that only counts
//! lines, so the figure is the mapping and JSON writing alone.
//!
//! ```text
//! cargo run --release -p brygga-conformance --example fhir_encode_throughput -- FILE
//! cargo run --release -p brygga-conformance --example fhir_encode_throughput -- \
//!     --format fhir-bundle-ehr-strict --runs 5 FILE
//! ```
//!
//! FILE is canonical NDJSON, e.g. `canonical/bhv.ndjson` of
//! `brygga synth --pupils 1000 --seed 7 --canonical-only --out DIR`. Each
//! figure is the best of `--runs` passes. Records the format refuses are
//! counted and not timed differently.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use brygga_adapters::{EncodeError, registry};
use brygga_mapping::model::Record;
use brygga_mapping::ndjson::NdjsonReader;
use brygga_mapping::profile::Profile;
use clap::Parser;

#[derive(Debug, Parser)]
struct Args {
    /// The FHIR format to encode to.
    #[arg(long, default_value = "fhir-ndjson")]
    format: String,
    /// Passes over the records; the best is reported.
    #[arg(long, default_value_t = 3)]
    runs: u32,
    /// Canonical NDJSON records.
    file: PathBuf,
}

/// Counts bytes and lines (one resource each in NDJSON), keeps nothing.
#[derive(Debug, Clone, Default)]
struct Counting {
    bytes: Arc<AtomicU64>,
    lines: Arc<AtomicU64>,
}

impl Write for Counting {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        let lines = data.iter().filter(|&&b| b == b'\n').count();
        self.lines.fetch_add(lines as u64, Ordering::Relaxed);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let format = registry::format(&args.format)
        .ok_or_else(|| format!("unknown format {:?}", args.format))?;
    let file = File::open(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let records: Vec<Record> = NdjsonReader::new(BufReader::with_capacity(256 * 1024, file))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", args.file.display()))?;
    let profile = Arc::new(Profile::builtin("pmo"));

    let mut best: Option<(f64, u64, u64, u64)> = None;
    for _ in 0..args.runs.max(1) {
        let sink = Counting::default();
        let started = Instant::now();
        let mut encoder = format.encoder(Box::new(sink.clone()), profile.clone());
        let mut refused = 0u64;
        for record in &records {
            match encoder.encode(record) {
                Ok(()) => {}
                Err(EncodeError::Unsupported(_)) => refused += 1,
                Err(e) => return Err(e.to_string()),
            }
        }
        encoder.finish().map_err(|e| e.to_string())?;
        let seconds = started.elapsed().as_secs_f64();
        let lines = sink.lines.load(Ordering::Relaxed);
        let bytes = sink.bytes.load(Ordering::Relaxed);
        if best.is_none_or(|(s, ..)| seconds < s) {
            best = Some((seconds, lines, bytes, refused));
        }
    }
    let Some((seconds, lines, bytes, refused)) = best else {
        return Err("no run".to_owned());
    };
    let unit = if format.name().starts_with("fhir-bundle") {
        "bundles"
    } else {
        "resources"
    };
    println!(
        "| {} | {} | {} records ({refused} refused) | {lines} {unit}, {:.0} MiB | {:.2} s | {:.0} {unit}/s | {:.0} records/s | {:.0} MiB/s |",
        format.name(),
        args.file.display(),
        records.len(),
        bytes as f64 / 1048576.0,
        seconds,
        lines as f64 / seconds,
        records.len() as f64 / seconds,
        bytes as f64 / 1048576.0 / seconds,
    );
    Ok(())
}
