//! `brygga synth --pupils N --seed S --out DIR` — write a deterministic
//! synthetic municipality (see `docs/synth.md` and [`crate::synth`]).
//!
//! Prints one summary line on stdout when done — files, records, pupils,
//! elapsed time and peak resident memory — which the tests and the
//! performance notes read. A progress bar goes to stderr, and only when
//! stderr is a terminal. Exit code 1 means some lines of `--test-ids` were
//! skipped (each one was reported); the data was still written.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use jiff::civil::Date;

use crate::exit::{Failure, Outcome};
use crate::synth::{self, Settings, TestList};

/// The default world's today: the end of a spring term.
const DEFAULT_AS_OF: &str = "2026-06-12";
/// The range `--as-of` may take: the switch from PMO to ProRenata (2021)
/// and the oldest pupils' child-health records (from 2003) must fit.
const EARLIEST_AS_OF: Date = Date::constant(2022, 1, 1);
const LATEST_AS_OF: Date = Date::constant(2060, 12, 31);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of pupils (school years 0–12), from 1 to 2,000,000.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=2_000_000))]
    pupils: u32,
    /// Seed: the same arguments write the same bytes.
    #[arg(long)]
    seed: u64,
    /// Folder to write `manifest.json` and `canonical/` into (created if
    /// missing; files of an earlier run are overwritten).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Skatteverket's test personnummer, one 12-digit number per line; used
    /// for pupils and guardians whose birth years they fit, before any
    /// number is generated.
    #[arg(long, value_name = "FILE")]
    test_ids: Option<PathBuf>,
    /// The world's today (2022-01-01 to 2060-12-31): nothing happens after it.
    #[arg(long, value_name = "YYYY-MM-DD", default_value = DEFAULT_AS_OF)]
    as_of: Date,
    /// Write only `canonical/`, not the journal systems' own export formats
    /// under `native/`.
    #[arg(long)]
    canonical_only: bool,
}

pub fn run(args: Args) -> Result<Outcome, Failure> {
    if !(EARLIEST_AS_OF..=LATEST_AS_OF).contains(&args.as_of) {
        return Err(Failure::Usage(format!(
            "--as-of {} is outside {EARLIEST_AS_OF} to {LATEST_AS_OF}",
            args.as_of
        )));
    }
    let started = Instant::now();
    let test_list = args.test_ids.as_deref().map(TestList::read).transpose()?;
    let skipped = test_list.as_ref().map_or(0, TestList::skipped_lines);
    let settings = Settings {
        pupils: args.pupils,
        seed: args.seed,
        as_of: args.as_of,
        out: args.out,
        native: !args.canonical_only,
    };
    tracing::info!(
        pupils = settings.pupils,
        seed = settings.seed,
        as_of = %settings.as_of,
        out = %settings.out.display(),
        "generating a synthetic municipality"
    );
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(u64::from(settings.pupils));
        if let Ok(style) =
            ProgressStyle::with_template("{bar:40} {pos}/{len} pupils, {per_sec}, ETA {eta}")
        {
            bar.set_style(style);
        }
        bar
    });
    let summary = synth::generate(&settings, test_list, |done| {
        if let Some(bar) = &bar {
            bar.set_position(u64::from(done));
        }
    })?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let peak = peak_rss_kib().map_or_else(|| "unknown".to_owned(), |kib| format!("{kib} KiB"));
    println!(
        "synth: wrote {} files, {} records for {} pupils to {} in {elapsed:.2} s; peak RSS {peak}",
        summary.files,
        summary.records,
        settings.pupils,
        settings.out.display(),
    );
    if skipped > 0 {
        tracing::warn!("{skipped} lines of the test-number list were skipped");
        return Ok(Outcome::Rejected);
    }
    Ok(Outcome::Clean)
}

/// The process's peak resident set size (VmHWM) in KiB, where Linux tells.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}
