//! Decode throughput of one adapter on one file, against the practical upper
//! limit measured on the same file in the same run: a raw quick-xml event
//! scan for XML formats (no tree, no unescaping, no mapping), a raw
//! `serde_json` pass that builds nothing (`IgnoredAny`) for JSON formats.
//!
//! ```text
//! cargo run --release -p brygga-conformance --example decode_throughput -- \
//!     --format pmo [--profile config/mappings/syntetisk-pmo.toml] [--runs 3] FILE
//! ```
//!
//! Each measurement is the best of `--runs` passes over the file (the page
//! cache is warm after the first), and the output is one Markdown table row
//! per measurement, as `docs/performance.md` records them. `bench/decode.sh`
//! generates the inputs and runs this for every adapter.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use brygga_adapters::{DecodeError, registry};
use brygga_mapping::profile::Profile;
use clap::Parser;
use quick_xml::events::Event;
use serde::de::IgnoredAny;

#[derive(Debug, Parser)]
struct Args {
    /// The adapter to measure.
    #[arg(long)]
    format: String,
    /// The mapping profile to decode with (default: the built-in one).
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Passes per measurement; the best is reported.
    #[arg(long, default_value_t = 3)]
    runs: u32,
    file: PathBuf,
}

const BUFFER_BYTES: usize = 256 * 1024;

fn main() -> Result<(), String> {
    let args = Args::parse();
    let format = registry::format(&args.format)
        .ok_or_else(|| format!("unknown format {:?}", args.format))?;
    let profile = match &args.profile {
        Some(path) => Profile::load(path).map_err(|e| e.to_string())?,
        None => Profile::builtin(format.profile_system().unwrap_or("pmo")),
    };
    format.check_profile(&profile).map_err(|e| e.to_string())?;
    let profile = Arc::new(profile);
    let bytes = std::fs::metadata(&args.file)
        .map_err(|e| format!("{}: {e}", args.file.display()))?
        .len();
    let open = || -> Result<BufReader<File>, String> {
        File::open(&args.file)
            .map(|f| BufReader::with_capacity(BUFFER_BYTES, f))
            .map_err(|e| format!("{}: {e}", args.file.display()))
    };

    let (limit_name, limit) = if format.extension() == "xml" {
        (
            "raw quick-xml event scan",
            best(args.runs, || xml_scan(open()?))?,
        )
    } else {
        (
            "raw serde_json pass (IgnoredAny)",
            best(args.runs, || json_scan(open()?))?,
        )
    };
    let decode = best(args.runs, || {
        let mut decoder = format.decoder(Box::new(open()?), profile.clone());
        let mut records = 0u64;
        while let Some(item) = decoder.next_record() {
            match item {
                Ok(_) => records += 1,
                Err(DecodeError::Reject(r)) => return Err(format!("rejected: {r}")),
                Err(DecodeError::Fatal(f)) => return Err(format!("fatal: {f}")),
            }
        }
        Ok(records)
    })?;

    let mib = bytes as f64 / (1024.0 * 1024.0);
    println!(
        "| {} | {:.0} MiB | {limit_name} | {:.2} s | {:.0} MiB/s | | |",
        format.name(),
        mib,
        limit.seconds,
        mib / limit.seconds
    );
    println!(
        "| {} | {:.0} MiB | decode to canonical records | {:.2} s | {:.0} MiB/s | {:.0} records/s | {:.0} % of the limit |",
        format.name(),
        mib,
        decode.seconds,
        mib / decode.seconds,
        decode.count as f64 / decode.seconds,
        100.0 * limit.seconds / decode.seconds
    );
    Ok(())
}

struct Measurement {
    seconds: f64,
    count: u64,
}

fn best(runs: u32, mut pass: impl FnMut() -> Result<u64, String>) -> Result<Measurement, String> {
    let mut best: Option<Measurement> = None;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let count = pass()?;
        let seconds = started.elapsed().as_secs_f64();
        if best.as_ref().is_none_or(|b| seconds < b.seconds) {
            best = Some(Measurement { seconds, count });
        }
    }
    best.ok_or_else(|| "no runs".to_owned())
}

/// Every XML event of the file, read and dropped.
fn xml_scan(input: impl BufRead) -> Result<u64, String> {
    let mut reader = quick_xml::Reader::from_reader(input);
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut events = 0u64;
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Eof) => return Ok(events),
            Ok(_) => events += 1,
            Err(e) => return Err(format!("XML: {e}")),
        }
        buf.clear();
    }
}

/// Every JSON value of the file (a stream of values: NDJSON lines or one
/// array), parsed and dropped.
fn json_scan(mut input: impl Read) -> Result<u64, String> {
    // serde_json reads a `Read` a byte at a time; a slice is its fast path,
    // so the limit is taken on the file in memory (read before timing would
    // flatter it further; reading is part of both sides here).
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    let mut values = 0u64;
    for value in serde_json::Deserializer::from_slice(&bytes).into_iter::<IgnoredAny>() {
        value.map_err(|e| format!("JSON: {e}"))?;
        values += 1;
    }
    Ok(values)
}
