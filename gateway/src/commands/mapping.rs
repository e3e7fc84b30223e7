//! `brygga mapping test PROFILE VECTORS_DIR` — check a municipality's mapping
//! profile against golden vectors: sample exports and the canonical records
//! they must give.
//!
//! Each sub-folder of `VECTORS_DIR` is one case (`input.<ext>`,
//! `expected.ndjson`, optionally `rejects.txt` and `reencoded.<ext>`; see
//! `docs/mapping-profiles.md`). The profile's `system` picks the format. Each
//! case prints `ok` or `FAIL` with a readable diff; the exit code is 1 when
//! any case failed. This is how a new municipality's journal design is
//! supported: a profile and its vectors, no code.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use brygga_adapters::{Format, registry};
use brygga_mapping::profile::Profile;

use crate::exit::{Failure, Outcome};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run golden vectors (input → expected canonical records) with a profile.
    Test {
        /// The mapping profile (a TOML file under config/mappings/).
        profile: PathBuf,
        /// A folder with one sub-folder per case.
        vectors: PathBuf,
    },
}

pub fn run(args: Args) -> Result<Outcome, Failure> {
    match args.command {
        Command::Test { profile, vectors } => test(&profile, &vectors),
    }
}

fn test(profile_path: &Path, vectors: &Path) -> Result<Outcome, Failure> {
    let profile = Profile::load(profile_path).map_err(|e| Failure::Usage(e.to_string()))?;
    let format = format_for(&profile)?;
    format
        .check_profile(&profile)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let profile = Arc::new(profile);
    let results = brygga_conformance::run_cases(format, vectors, Some(profile.clone()))
        .map_err(|e| Failure::io(vectors, e))?;
    if results.is_empty() {
        return Err(Failure::Usage(format!(
            "{}: no cases (each case is a sub-folder with input.{} and expected.ndjson)",
            vectors.display(),
            format.extension()
        )));
    }
    let mut failed = 0;
    for result in &results {
        let case = result.case.file_name().map_or_else(
            || result.case.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        match &result.failure {
            None => println!(
                "ok   {case} ({} records, {} rejects)",
                result.records, result.rejects
            ),
            Some(report) => {
                failed += 1;
                println!("FAIL {case}");
                for line in report.lines() {
                    println!("     {line}");
                }
            }
        }
    }
    let unclassified = profile.unclassified_counts();
    if !unclassified.is_empty() {
        let names: Vec<String> = unclassified
            .iter()
            .map(|(name, count)| format!("{name:?} ({count})"))
            .collect();
        println!("unmapped, kept as unclassified: {}", names.join(", "));
    }
    println!(
        "mapping test: profile {:?} ({}), {} cases, {} passed, {failed} failed",
        profile.name(),
        format.name(),
        results.len(),
        results.len() - failed
    );
    Ok(if failed == 0 {
        Outcome::Clean
    } else {
        Outcome::Rejected
    })
}

/// The format that reads exports of the profile's source system.
fn format_for(profile: &Profile) -> Result<&'static dyn Format, Failure> {
    registry::formats()
        .iter()
        .copied()
        .find(|f| f.profile_system() == Some(profile.system()))
        .ok_or_else(|| Failure::Usage(format!("no format reads {} exports yet", profile.system())))
}
