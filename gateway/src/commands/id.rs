//! `brygga id VALUE...` — what kind of identifier each value is, and its
//! normalised form; for support staff and scripts.
//!
//! Output is one tab-separated line per valid value on stdout:
//! `INPUT<TAB>KIND<TAB>NORMALISED`. An invalid value gets one line on stderr
//! saying why, the other values are still checked, and the exit code is 1.
//! Printing the full number is the point of this command, so it goes to
//! stdout only, never to the log.

use std::io::{self, Write};

use brygga_mapping::id::{HsaId, PersonId};
use jiff::civil::Date;

use crate::exit::{Failure, Outcome};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Personnummer, samordningsnummer, reservnummer, temporary civic number
    /// or HSA-id, in any accepted written form.
    #[arg(required = true, value_name = "VALUE")]
    values: Vec<String>,
    /// The date that decides the century of 10-digit numbers (a '-' means
    /// under 100 years old on this date, '+' means 100 or older). Default:
    /// today in Europe/Stockholm.
    #[arg(long, value_name = "YYYY-MM-DD")]
    reference_date: Option<Date>,
}

pub fn run(args: Args) -> Result<Outcome, Failure> {
    let reference = match args.reference_date {
        Some(date) => date,
        None => today_in_stockholm()?,
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut outcome = Outcome::Clean;
    for value in &args.values {
        match classify(value, reference) {
            Ok((kind, normalised)) => writeln!(out, "{value}\t{kind}\t{normalised}")
                .map_err(|e| Failure::io("<stdout>", e))?,
            Err(reason) => {
                eprintln!("brygga id: {reason}");
                outcome = Outcome::Rejected;
            }
        }
    }
    out.flush().map_err(|e| Failure::io("<stdout>", e))?;
    Ok(outcome)
}

/// HSA-ids start with a country code, so they are tried first; everything
/// else is read as a civic number.
fn classify(value: &str, reference: Date) -> Result<(&'static str, String), String> {
    let trimmed = value.trim();
    if trimmed
        .get(..2)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("SE"))
    {
        return HsaId::parse(trimmed)
            .map(|id| ("hsa-id", id.as_str().to_owned()))
            .map_err(|e| e.to_string());
    }
    PersonId::parse(trimmed, reference)
        .map(|id| (id.kind().as_str(), id.as_str().to_owned()))
        .map_err(|e| e.to_string())
}

fn today_in_stockholm() -> Result<Date, Failure> {
    jiff::Timestamp::now()
        .in_tz("Europe/Stockholm")
        .map(|now| now.date())
        .map_err(|e| Failure::Usage(format!("cannot load the Europe/Stockholm time zone: {e}")))
}
