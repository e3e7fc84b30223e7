//! `brygga migrate --source FORMAT:PATH ... --target FORMAT:PATH [--profile FILE]...
//! [--state STORE] [--report DIR] [--dry-run] [--memory MIB] [--timeline ID]`, or
//! `brygga migrate --plan FILE` with the same in a TOML file — every source's
//! history merged into one chronological journal per pupil (see
//! [`crate::migrate`] and `docs/migration.md`).
//!
//! Run the same command again after an interruption (even `kill -9`) and it
//! resumes. Exit code 1 when anything was rejected, held back or refused
//! (all in the report); 3 when the job could not go on.

use std::path::PathBuf;

use crate::exit::{Failure, Outcome};
use crate::migrate::{self, plan::RawPlan};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A source: FORMAT:PATH (`brygga convert --list` shows the formats).
    /// Give one per file; the order does not change the result.
    #[arg(long = "source", value_name = "FORMAT:PATH")]
    sources: Vec<String>,
    /// The target: FORMAT:PATH (a directory for fhir-ndjson).
    #[arg(long, value_name = "FORMAT:PATH")]
    target: Option<String>,
    /// A municipality's mapping profile; it applies to every source (and the
    /// target) of its system.
    #[arg(long = "profile", value_name = "FILE")]
    profiles: Vec<PathBuf>,
    /// Where checkpoints live: a SQLite file (default
    /// data/migrate.sqlite) or a postgres:// URL.
    #[arg(long, value_name = "STORE")]
    state: Option<String>,
    /// Where the reconciliation report goes (default TARGET.report/).
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Do everything but write the target.
    #[arg(long)]
    dry_run: bool,
    /// Memory budget in MiB (default 512).
    #[arg(long, value_name = "MIB")]
    memory: Option<u64>,
    /// Show this pupil's before/after timeline in the report (a
    /// personnummer, samordningsnummer or reservnummer).
    #[arg(long, value_name = "ID")]
    timeline: Option<String>,
    /// Read the migration from a TOML plan file instead of the options
    /// above (see docs/migration.md).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["sources", "target", "profiles", "state", "report", "memory"])]
    plan: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<Outcome, Failure> {
    let raw = match &args.plan {
        Some(path) => {
            let mut raw = RawPlan::read(path)?;
            raw.dry_run |= args.dry_run;
            if args.timeline.is_some() {
                raw.timeline = args.timeline;
            }
            raw
        }
        None => RawPlan {
            sources: args.sources,
            target: args.target,
            profiles: args.profiles,
            state: args.state,
            report: args.report,
            memory_mib: args.memory,
            dry_run: args.dry_run,
            timeline: args.timeline,
        },
    };
    migrate::run(raw.resolve()?)
}
