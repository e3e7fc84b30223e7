//! `brygga convert --from FORMAT --to FORMAT [--profile FILE]... --out PATH INPUT...`
//! — read every input in one format and write one output in another, through
//! the canonical model.
//!
//! Inputs are read one after another as streams, so memory stays flat
//! whatever their size. A record an input cannot give (bad identifier,
//! impossible date, unmapped keyword, …) or the output format cannot hold is
//! written to the rejects file — input file, record position, field and
//! reason, one line each — and the run goes on with the next record. An
//! input that cannot be read any further (hostile or truncated XML, an I/O
//! error) is reported the same way and the run goes on with the next input.
//! The exit code says whether anything was rejected.
//!
//! The output is written to `PATH.partial` and renamed to `PATH` when it is
//! complete, so a failed run never leaves a file that looks finished.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use brygga_adapters::stream::{Delivery, EncoderSink, Sink, Source};
use brygga_adapters::{DecodeError, Format, registry};
use brygga_mapping::model::Record;
use brygga_mapping::profile::Profile;

use crate::exit::{Failure, Outcome};
use crate::target::Output;

/// Large enough that reads and writes reach the disk in big blocks.
const BUFFER_BYTES: usize = 256 * 1024;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The inputs' format (`brygga convert --list` shows them all).
    #[arg(long, value_name = "FORMAT", required_unless_present = "list")]
    from: Option<String>,
    /// The output's format.
    #[arg(long, value_name = "FORMAT", required_unless_present = "list")]
    to: Option<String>,
    /// A municipality's mapping profile. Each profile applies to the side
    /// (input or output) whose source system it is written for; give two
    /// when both sides are journal formats. Without one, a side uses the
    /// built-in default.
    #[arg(long, value_name = "FILE")]
    profile: Vec<PathBuf>,
    /// The output file; `-` for standard output.
    #[arg(long, value_name = "PATH", required_unless_present = "list")]
    out: Option<PathBuf>,
    /// Where rejected records are listed, one line each (default:
    /// `PATH.rejects.txt` next to the output; standard error when the
    /// output is standard output).
    #[arg(long, value_name = "FILE")]
    rejects: Option<PathBuf>,
    /// List the formats and exit.
    #[arg(long)]
    list: bool,
    /// Input files, read in the order given; `-` for standard input.
    #[arg(value_name = "INPUT", required_unless_present = "list")]
    inputs: Vec<PathBuf>,
}

/// What a run did, for the summary line.
#[derive(Debug, Default)]
struct Tally {
    read: u64,
    written: u64,
    rejected: u64,
    unreadable_inputs: u64,
}

pub fn run(args: Args) -> Result<Outcome, Failure> {
    if args.list {
        for format in registry::formats() {
            println!("{:<12} {}", format.name(), format.description());
        }
        return Ok(Outcome::Clean);
    }
    let (Some(from), Some(to), Some(out)) = (&args.from, &args.to, &args.out) else {
        return Err(Failure::Usage(
            "convert needs --from, --to, --out and at least one INPUT".to_owned(),
        ));
    };
    let from = find_format(from)?;
    let to = find_format(to)?;
    let (from_profile, to_profile) = profiles(&args.profile, from, to)?;

    let started = Instant::now();
    let mut rejects = RejectLog::create(args.rejects.as_deref(), out)?;
    let mut output = Output::create(out, to)?;
    let mut sink = EncoderSink::new(output.encoder(to, to_profile)?);
    let mut tally = Tally::default();
    let mut batch = Batch::default();

    for input in &args.inputs {
        let name = input.display().to_string();
        let mut source = Source::new(from.decoder(open_input(input)?, from_profile.clone()));
        while let Some(item) = source.next_item() {
            match item {
                Ok(record) => {
                    tally.read += 1;
                    batch.push(record, &name, source.position());
                    if batch.is_full() {
                        batch.send(&mut sink, to, &mut tally, &mut rejects, &output)?;
                    }
                }
                Err(DecodeError::Reject(reject)) => {
                    tally.read += 1;
                    tally.rejected += 1;
                    rejects.line(format_args!("{name}: {reject}"))?;
                }
                Err(DecodeError::Fatal(fatal)) => {
                    tally.unreadable_inputs += 1;
                    rejects.line(format_args!(
                        "{name}: {fatal}; the rest of this input was not read"
                    ))?;
                }
            }
        }
    }
    batch.send(&mut sink, to, &mut tally, &mut rejects, &output)?;
    Box::new(sink)
        .close()
        .map_err(|e| Failure::io(output.path(), e))?;
    output.commit()?;
    rejects.finish()?;

    warn_unclassified(&from_profile);
    eprintln!(
        "convert: {} records read from {} input(s), {} written as {} to {}; {} rejected{} (see {}) in {:.2} s",
        tally.read,
        args.inputs.len(),
        tally.written,
        to.name(),
        out.display(),
        tally.rejected,
        if tally.unreadable_inputs > 0 {
            format!(", {} input(s) not read to the end", tally.unreadable_inputs)
        } else {
            String::new()
        },
        rejects.describe(),
        started.elapsed().as_secs_f64(),
    );
    if tally.rejected > 0 || tally.unreadable_inputs > 0 {
        Ok(Outcome::Rejected)
    } else {
        Ok(Outcome::Clean)
    }
}

/// Records on their way to the sink, with where each came from.
#[derive(Default)]
struct Batch {
    records: Vec<Record>,
    /// (input name, record number within the input) per record.
    origins: Vec<(String, u64)>,
}

impl Batch {
    const SIZE: usize = 512;

    fn push(&mut self, record: Record, input: &str, number: u64) {
        self.records.push(record);
        self.origins.push((input.to_owned(), number));
    }

    fn is_full(&self) -> bool {
        self.records.len() >= Self::SIZE
    }

    /// Sends the batch and books each answer: a refused record is a reject;
    /// a failed write stops the run.
    fn send(
        &mut self,
        sink: &mut EncoderSink,
        to: &dyn Format,
        tally: &mut Tally,
        rejects: &mut RejectLog,
        output: &Output,
    ) -> Result<(), Failure> {
        let answers = sink.send(&self.records);
        for (answer, (input, number)) in answers.into_iter().zip(&self.origins) {
            match answer {
                Delivery::Delivered => tally.written += 1,
                Delivery::Permanent(reason) => {
                    tally.rejected += 1;
                    rejects.line(format_args!(
                        "{input}: record {number}: not written as {}: {reason}",
                        to.name()
                    ))?;
                }
                Delivery::Retryable(reason) => {
                    return Err(Failure::io(output.path(), io::Error::other(reason)));
                }
            }
        }
        self.records.clear();
        self.origins.clear();
        Ok(())
    }
}

fn find_format(name: &str) -> Result<&'static dyn Format, Failure> {
    registry::format(name).ok_or_else(|| {
        let known: Vec<&str> = registry::formats().iter().map(|f| f.name()).collect();
        Failure::Usage(format!(
            "unknown format {name:?}; known formats: {}",
            known.join(", ")
        ))
    })
}

/// Loads the given profiles and hands each to the side written for its
/// system; a side without one gets the built-in default for its system.
fn profiles(
    paths: &[PathBuf],
    from: &dyn Format,
    to: &dyn Format,
) -> Result<(Arc<Profile>, Arc<Profile>), Failure> {
    let mut from_profile = None;
    let mut to_profile = None;
    for path in paths {
        let profile = Arc::new(Profile::load(path).map_err(|e| Failure::Usage(e.to_string()))?);
        let mut used = false;
        for (format, slot) in [(from, &mut from_profile), (to, &mut to_profile)] {
            if format.profile_system() != Some(profile.system()) {
                continue;
            }
            if slot.is_some() {
                return Err(Failure::Usage(format!(
                    "{}: a second profile for {}; give one profile per side",
                    path.display(),
                    profile.system()
                )));
            }
            format
                .check_profile(&profile)
                .map_err(|e| Failure::Usage(e.to_string()))?;
            *slot = Some(profile.clone());
            used = true;
        }
        if !used {
            return Err(Failure::Usage(format!(
                "{}: the profile is for {}, but neither --from {} nor --to {} reads {} profiles",
                path.display(),
                profile.system(),
                from.name(),
                to.name(),
                profile.system()
            )));
        }
    }
    let builtin =
        |format: &dyn Format| Arc::new(Profile::builtin(format.profile_system().unwrap_or("pmo")));
    Ok((
        from_profile.unwrap_or_else(|| builtin(from)),
        to_profile.unwrap_or_else(|| builtin(to)),
    ))
}

fn open_input(path: &Path) -> Result<Box<dyn BufRead + Send>, Failure> {
    if path == Path::new("-") {
        return Ok(Box::new(BufReader::with_capacity(
            BUFFER_BYTES,
            io::stdin(),
        )));
    }
    let file = File::open(path).map_err(|e| Failure::io(path, e))?;
    Ok(Box::new(BufReader::with_capacity(BUFFER_BYTES, file)))
}

/// Warns, once per run, about templates the profile does not map.
fn warn_unclassified(profile: &Profile) {
    let counts = profile.unclassified_counts();
    if counts.is_empty() {
        return;
    }
    let total: u64 = counts.values().sum();
    let names: Vec<String> = counts
        .iter()
        .map(|(name, count)| format!("{name:?} ({count})"))
        .collect();
    eprintln!(
        "warning: {total} note(s) kept as unclassified: profile {:?} does not map {}",
        profile.name(),
        names.join(", ")
    );
}

/// The rejects file: one line per rejected record or unreadable input.
struct RejectLog {
    path: Option<PathBuf>,
    writer: Box<dyn Write>,
    lines: u64,
}

impl RejectLog {
    fn create(path: Option<&Path>, out: &Path) -> Result<Self, Failure> {
        let path = match path {
            Some(path) => Some(path.to_path_buf()),
            None if out == Path::new("-") => None,
            None => {
                let mut name = out.as_os_str().to_owned();
                name.push(".rejects.txt");
                Some(PathBuf::from(name))
            }
        };
        let writer: Box<dyn Write> = match &path {
            Some(path) => Box::new(BufWriter::new(
                File::create(path).map_err(|e| Failure::io(path, e))?,
            )),
            None => Box::new(io::stderr()),
        };
        Ok(RejectLog {
            path,
            writer,
            lines: 0,
        })
    }

    fn line(&mut self, text: std::fmt::Arguments<'_>) -> Result<(), Failure> {
        self.lines += 1;
        writeln!(self.writer, "{text}").map_err(|e| self.failure(e))
    }

    fn finish(&mut self) -> Result<(), Failure> {
        self.writer.flush().map_err(|e| self.failure(e))
    }

    fn failure(&self, e: io::Error) -> Failure {
        Failure::io(
            self.path.clone().unwrap_or_else(|| PathBuf::from("stderr")),
            e,
        )
    }

    fn describe(&self) -> String {
        self.path
            .as_ref()
            .map_or_else(|| "standard error".to_owned(), |p| p.display().to_string())
    }
}
