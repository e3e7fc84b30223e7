//! `manifest.json`: what a synthetic run contains and how it was made — the
//! arguments that reproduce it, where the identities came from, the records
//! per file and type, and how many of each case a migration must survive.
//! It holds no times of the run itself, so it is as reproducible as the data.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use jiff::civil::Date;
use serde::Serialize;

use super::ids::IdentityReport;
use super::output::FileCounts;
use super::world::{MUNICIPALITY_CODE, MUNICIPALITY_NAME, SWITCH_DATE};
use crate::exit::Failure;

/// Counts of the cases downstream code must handle. At 1,000 pupils with the
/// default `--as-of` every one is above zero except, usually,
/// `unsigned_notes`.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Tally {
    /// Pupils with sekretessmarkering or skyddad folkbokföring.
    pub protected_pupils: u64,
    /// Guardians with a protected identity (the whole family is protected).
    pub protected_guardians: u64,
    /// Grades changed after they were set (correctionType Ändring).
    pub grade_changes: u64,
    /// Grades corrected for an error (correctionType Rättelse).
    pub grade_corrections: u64,
    /// Grades from a prövning.
    pub grade_trials: u64,
    /// Children whose guardians consented to the child-health transfer only
    /// in part (one consent record per guardian).
    pub partial_consents: u64,
    /// Child-health final notes carrying `withheld` markers.
    pub withheld_final_notes: u64,
    /// Journal notes whose times are dates only (older PMO notes).
    pub date_only_notes: u64,
    /// Notes signed days after they were written.
    pub late_signatures: u64,
    /// Notes not yet signed on the world's today.
    pub unsigned_notes: u64,
    /// Later versions of a note that supersede an earlier version.
    pub amendments: u64,
    /// Amendments that supersede an amendment (version 3).
    pub amendments_of_amendments: u64,
    /// Notes nullified (makulerade).
    pub nullified_notes: u64,
    /// Notes in the first occurrence of the repeated October hour (+02:00).
    pub october_repeated_hour_first: u64,
    /// Notes in the second occurrence of the repeated October hour (+01:00).
    pub october_repeated_hour_second: u64,
    /// Notes written at a local 02:xx on the March night that skips it.
    pub march_spring_forward_notes: u64,
    /// Pairs of notes for one patient with identical times.
    pub identical_time_pairs: u64,
    /// Notes copied from PMO into ProRenata at the switch.
    pub copied_at_switch: u64,
    /// Notes the patient has blocked from other care providers.
    pub patient_blocked_notes: u64,
}

/// The whole manifest.
#[derive(Debug, Serialize)]
pub struct Manifest {
    pub synthetic: bool,
    pub generator: String,
    pub seed: u64,
    pub pupils: u32,
    pub as_of: Date,
    pub municipality: Municipality,
    pub identities: IdentityReport,
    pub guardians: u64,
    /// Every file written, with its source system and records by type.
    pub files: BTreeMap<String, FileCounts>,
    pub adversarial: Tally,
}

#[derive(Debug, Serialize)]
pub struct Municipality {
    pub name: &'static str,
    pub code: &'static str,
    /// The day the school-health journal moved from PMO to ProRenata.
    pub journal_switch: Date,
}

impl Municipality {
    pub fn synthetic() -> Self {
        Municipality {
            name: MUNICIPALITY_NAME,
            code: MUNICIPALITY_CODE,
            journal_switch: SWITCH_DATE,
        }
    }
}

impl Manifest {
    /// Writes `manifest.json` (pretty, with a final newline).
    pub fn write(&self, path: &Path) -> Result<(), Failure> {
        let file = File::create(path).map_err(|e| Failure::io(path, e))?;
        let mut out = BufWriter::new(file);
        serde_json::to_writer_pretty(&mut out, self)
            .map_err(|e| Failure::io(path, std::io::Error::other(e)))?;
        out.write_all(b"\n")
            .and_then(|()| out.flush())
            .map_err(|e| Failure::io(path, e))
    }
}
