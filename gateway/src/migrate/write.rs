//! The merge and write of pass 2: the sorted runs, pupil by pupil, into
//! the target, counted for the report.
//!
//! Three kinds of thread share the work, each doing only what needs no
//! other's state:
//!
//! - the calling thread merges the runs and cuts them into pupils, as
//!   bytes (organisations, which are few, it decodes to keep each once);
//! - workers, one per core, turn a pupil into its journal — records
//!   decoded, the person merged, the merge rules applied ([`merge`]), the
//!   pupil's counts — and have the target prepare it
//!   ([`Sink::preparer`]: for FHIR, the mapping and the serialising);
//! - one writing thread takes the pupils back in the merge's order, hands
//!   them to the target and adds up the report.
//!
//! Everything that is written or counted happens in pupil order on one
//! thread, so the target and the report are the same bytes whatever the
//! number of workers. At most [`in_flight`] pupils are between the first
//! thread and the writing one, which bounds the memory.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};

use brygga_adapters::Format;
use brygga_adapters::fhir::{FhirOptions, Layout};
use brygga_adapters::stream::{Delivery, EncoderSink, Prepare, Prepared, Sink};
use brygga_fhir_rest::RestSink;
use brygga_mapping::id::{Identifier, PersonId};
use brygga_mapping::model::{Person, Record};
use brygga_store::Store;
use sha2::{Digest, Sha256};

use super::identity::{self, Identities, Resolution};
use super::merge::{self, Entry, Placed};
use super::plan::{Plan, Target};
use super::report::{
    Counts, Line, PupilReport, PupilRows, Report, SourceReport, Timeline, TimelineRow,
};
use super::sort::Merge;
use super::{
    CLASS_CLINICAL, CLASS_PERSON, CLASS_PLACEMENT, Progress, Refiled, SortCheckpoint, damaged_run,
    decode_record, source_position, split_pupil, store_failure,
};
use crate::exit::{Failure, Outcome};
use crate::target::Output;

/// Pupils between the merging thread and the writing thread at most.
const PUPILS_IN_FLIGHT: usize = 64;
/// Memory budget (MiB) per pupil in flight: a pupil's records, decoded and
/// prepared, take a few hundred KiB, and the sort's runs and the
/// allocator's caches need the rest of the budget.
const MIB_PER_PUPIL_IN_FLIGHT: u64 = 8;

/// How many pupils may be between the merging and the writing thread
/// under a memory budget of `memory_mib`: enough to keep every core busy,
/// few enough to stay within the budget.
fn in_flight(memory_mib: u64) -> usize {
    usize::try_from(super::working_mib(memory_mib) / MIB_PER_PUPIL_IN_FLIGHT)
        .unwrap_or(PUPILS_IN_FLIGHT)
        .clamp(4, PUPILS_IN_FLIGHT)
}
/// Organisations handed over together (they come first, before every
/// pupil, and are each small).
const ORGANISATIONS_PER_PARCEL: usize = 1024;

/// The target's output (a file or directory written as `PATH.partial`;
/// none for a dry run) and the sink records go to.
fn open_target(plan: &Plan) -> Result<(Option<Output>, Box<dyn Sink>), Failure> {
    match &plan.target {
        Target::File(target) => {
            let format = target.format;
            let profile = target.profile.clone();
            if plan.dry_run {
                let encoder = format.encoder(Box::new(io::sink()), profile);
                return Ok((None, Box::new(EncoderSink::new(encoder))));
            }
            let mut output = Output::create(&target.path, format)?;
            let encoder = output.encoder(format, profile)?;
            Ok((Some(output), Box::new(EncoderSink::new(encoder))))
        }
        Target::FhirRest { config, .. } if plan.dry_run => {
            // Everything the server would be sent, mapped under its write
            // profile and thrown away: the refusals are the real ones.
            let format = FhirOptions {
                layout: Layout::Ndjson,
                profile: config.write_profile.profile(),
            }
            .format();
            let encoder = format.encoder(
                Box::new(io::sink()),
                std::sync::Arc::new(brygga_mapping::profile::Profile::builtin("pmo")),
            );
            Ok((None, Box::new(EncoderSink::new(encoder))))
        }
        Target::FhirRest {
            config_file,
            config,
        } => {
            let sink = RestSink::new(config)
                .map_err(|e| Failure::Usage(format!("{}: {e}", config_file.display())))?;
            Ok((None, Box::new(sink)))
        }
    }
}

/// Pass 2's merge and write, and what the report says of it.
pub(super) struct Writer<'a> {
    identities: &'a Identities,
    output: Option<Output>,
    sink: Box<dyn Sink>,
    sources: Vec<String>,
    timeline_key: Option<String>,
    tally: Tally,
    in_flight: usize,
}

/// The report's figures, added up on the writing thread.
#[derive(Debug)]
struct Tally {
    by_source: Vec<Counts>,
    pupils: PupilRows,
    refusals: Vec<Line>,
    conflicts: Vec<Line>,
    timeline: Option<Timeline>,
}

impl<'a> Writer<'a> {
    pub(super) fn new(plan: &Plan, identities: &'a Identities) -> Result<Self, Failure> {
        let (output, sink) = open_target(plan)?;
        let timeline_key = match &plan.timeline {
            None => None,
            Some(text) => {
                let today = jiff::Timestamp::now()
                    .in_tz("Europe/Stockholm")
                    .map(|now| now.date())
                    .map_err(|e| Failure::Job(format!("today's date: {e}")))?;
                let id = PersonId::parse(text, today)
                    .or_else(|_| PersonId::parse_normalized(text))
                    .map_err(|e| Failure::Usage(format!("--timeline: {e}")))?;
                Some(match identities.resolve(&Identifier::Person(id)) {
                    Resolution::Person(k) | Resolution::HeldBack { key: k, .. } => k,
                })
            }
        };
        // Next to the sort runs: gone with the work directory.
        let rows = super::work_dir(plan).join("pupils.ndjson");
        Ok(Writer {
            identities,
            output,
            sink,
            sources: plan
                .sources
                .iter()
                .map(|s| s.path.display().to_string())
                .collect(),
            timeline_key,
            in_flight: in_flight(plan.memory_mib),
            tally: Tally {
                by_source: vec![Counts::default(); plan.sources.len()],
                pupils: PupilRows::create(&rows).map_err(|e| Failure::io(&rows, e))?,
                refusals: Vec::new(),
                conflicts: Vec::new(),
                timeline: None,
            },
        })
    }

    /// Merges the runs (and the re-filed records) into the target; see the
    /// module documentation for who does what.
    pub(super) fn merge_and_write(
        &mut self,
        runs: &[PathBuf],
        refiled: &Refiled,
        progress: &Progress,
    ) -> Result<(), Failure> {
        let Writer {
            identities,
            sink,
            sources,
            timeline_key,
            tally,
            in_flight: pupils_in_flight,
            ..
        } = self;
        let pupils_in_flight = *pupils_in_flight;
        let context = Context {
            identities,
            sources,
            timeline_key: timeline_key.as_deref(),
            preparer: sink.preparer(),
        };
        let workers = std::thread::available_parallelism().map_or(2, usize::from);
        let (to_workers, work) = sync_channel::<(u64, Work)>(pupils_in_flight);
        let work = Mutex::new(work);
        let (to_writer, done) = channel();
        // The merge takes a token per pupil; the writing thread gives it
        // back once the pupil is written.
        let (tokens_back, tokens) = sync_channel::<()>(pupils_in_flight);
        for _ in 0..pupils_in_flight {
            tokens_back
                .try_send(())
                .map_err(|e| Failure::Job(format!("setting up the merge: {e}")))?;
        }
        std::thread::scope(|scope| {
            let spawn_failed = |e: io::Error| Failure::Job(format!("starting a thread: {e}"));
            let mut journals = Vec::with_capacity(workers);
            for n in 0..workers {
                let (context, work, to_writer) = (&context, &work, to_writer.clone());
                journals.push(
                    std::thread::Builder::new()
                        .name(format!("migrate-journal-{n}"))
                        .spawn_scoped(scope, move || journal_worker(context, work, &to_writer))
                        .map_err(spawn_failed)?,
                );
            }
            drop(to_writer);
            let sink = sink.as_mut();
            let sources: &[String] = sources;
            let writing = std::thread::Builder::new()
                .name("migrate-write".into())
                .spawn_scoped(scope, move || {
                    write(sink, sources, &done, &tokens_back, tally)
                })
                .map_err(spawn_failed)?;
            let merged = cut(runs, refiled, &to_workers, &tokens, progress);
            drop(to_workers);
            let mut failed = false;
            for journal in journals {
                failed |= journal.join().is_err();
            }
            let written = writing
                .join()
                .map_err(|_| Failure::Job("the writing thread failed".into()))?;
            if failed {
                return Err(Failure::Job("a journal thread failed".into()));
            }
            // A failed target (or a damaged run a worker found) explains a
            // stopped merge; otherwise the merge's own error is the one.
            written?;
            merged
        })
    }

    pub(super) fn finish(
        mut self,
        plan: &Plan,
        sorted: &SortCheckpoint,
        runtime: &tokio::runtime::Runtime,
        store: &Store,
        job: brygga_store::JobId,
    ) -> Result<(Report, Outcome), Failure> {
        let path = self
            .output
            .as_ref()
            .map_or_else(|| PathBuf::from("-"), Output::path);
        self.sink.close().map_err(|e| Failure::io(&path, e))?;
        if let Some(output) = &mut self.output {
            output.commit()?;
        }
        let mut rejects = Vec::new();
        let mut rows = store.report_rows(job);
        while let Some(row) = runtime.block_on(rows.next()).map_err(store_failure)? {
            if row.kind == "reject" {
                rejects.push(Line {
                    source: row.source,
                    text: row
                        .detail
                        .get("text")
                        .and_then(|t| t.as_str())
                        .unwrap_or_default()
                        .to_owned(),
                });
            }
        }
        let mut tally = self.tally;
        tally
            .pupils
            .close()
            .map_err(|e| Failure::io(tally.pupils.path(), e))?;
        let sources: Vec<SourceReport> = plan
            .sources
            .iter()
            .enumerate()
            .map(|(i, s)| SourceReport {
                format: s.format_name().to_owned(),
                path: s.path.display().to_string(),
                records_read: sorted.read.get(i).copied().unwrap_or(0),
                rejected: sorted.rejected.get(i).copied().unwrap_or(0),
                persons: sorted.persons.get(i).copied().unwrap_or(0),
                counts: tally.by_source[i].clone(),
            })
            .collect();
        let mut totals = Counts::default();
        for s in &sources {
            totals.add(&s.counts);
        }
        let balanced = sources.iter().all(|s| s.counts.balanced()) && tally.pupils.all_balanced();
        let outcome = if balanced
            && rejects.is_empty()
            && tally.conflicts.is_empty()
            && tally.refusals.is_empty()
        {
            Outcome::Clean
        } else {
            Outcome::Rejected
        };
        let report = Report {
            job: plan.key.clone(),
            brygga: format!("brygga {}", env!("CARGO_PKG_VERSION")),
            dry_run: plan.dry_run,
            target: plan.target.to_string(),
            sources,
            totals,
            balanced,
            pupils: tally.pupils,
            rejects,
            conflicts: tally.conflicts,
            refusals: tally.refusals,
            timeline: tally.timeline,
        };
        Ok((report, outcome))
    }
}

/// What the merging thread hands a worker.
enum Work {
    Pupil(Cut),
    /// Organisations, each once, with the source each came from.
    Organisations(Vec<(usize, Record)>),
}

/// One pupil's records as the runs hold them: the values back to back.
struct Cut {
    key: Vec<u8>,
    values: Vec<u8>,
    members: Vec<Member>,
}

struct Member {
    class: u8,
    input: usize,
    position: u64,
    /// Where the value ends in [`Cut::values`] (it starts where the one
    /// before ends).
    end: usize,
}

/// The calling thread's part: merges the runs and hands each pupil (and
/// the organisations) to the workers, numbered in order. Stops early, with
/// `Ok`, when the writing thread has stopped (it tells why).
fn cut(
    runs: &[PathBuf],
    refiled: &Refiled,
    to: &SyncSender<(u64, Work)>,
    tokens: &Receiver<()>,
    progress: &Progress,
) -> Result<(), Failure> {
    let mut all = runs.to_vec();
    all.extend(refiled.runs.iter().cloned());
    let mut merge = Merge::open(&all).map_err(|e| Failure::Job(e.to_string()))?;
    let (mut key, mut value) = (Vec::new(), Vec::new());
    let mut number = 0;
    // `false` once the writing thread has stopped.
    let mut hand_over = |work: Work| {
        let sent = tokens.recv().is_ok() && to.send((number, work)).is_ok();
        number += 1;
        sent
    };
    let mut seen = HashSet::new();
    let mut organisations = Vec::new();
    let mut pupil: Option<Cut> = None;
    while let Some(taken) = merge
        .next_into(&mut key, &mut value)
        .map_err(|e| Failure::Job(e.to_string()))?
    {
        progress.tick();
        let (input, position) = source_position(taken.order);
        let Some((pupil_key, rest)) = split_pupil(&key) else {
            let record = decode_record(&value).ok_or_else(damaged_run)?;
            if let Record::Organisation(org) = &record
                && seen.insert(org.id.clone())
            {
                organisations.push((input, record));
                if organisations.len() == ORGANISATIONS_PER_PARCEL
                    && !hand_over(Work::Organisations(std::mem::take(&mut organisations)))
                {
                    return Ok(());
                }
            }
            continue;
        };
        // Under an identifier that resolves elsewhere: the re-filed copy
        // comes in its own place.
        if taken.run < runs.len() && refiled.from.contains(pupil_key) {
            continue;
        }
        if pupil.as_ref().map(|c| c.key.as_slice()) != Some(pupil_key) {
            if !organisations.is_empty()
                && !hand_over(Work::Organisations(std::mem::take(&mut organisations)))
            {
                return Ok(());
            }
            if let Some(done) = pupil.take()
                && !hand_over(Work::Pupil(done))
            {
                return Ok(());
            }
            pupil = Some(Cut {
                key: pupil_key.to_vec(),
                values: Vec::new(),
                members: Vec::new(),
            });
        }
        if let Some(cut) = &mut pupil {
            cut.values.extend_from_slice(&value);
            cut.members.push(Member {
                class: rest.first().copied().unwrap_or(CLASS_CLINICAL),
                input,
                position,
                end: cut.values.len(),
            });
        }
    }
    if !organisations.is_empty() && !hand_over(Work::Organisations(organisations)) {
        return Ok(());
    }
    if let Some(done) = pupil {
        hand_over(Work::Pupil(done));
    }
    Ok(())
}

/// What a worker needs besides the pupil: all of it shared, none of it
/// changed.
struct Context<'a> {
    identities: &'a Identities,
    sources: &'a [String],
    timeline_key: Option<&'a str>,
    preparer: Option<Arc<dyn Prepare>>,
}

/// A pupil's journal, ready for the writing thread.
struct Done {
    /// `None` for organisations.
    pupil: Option<PupilDone>,
    /// `None` when the pupil is held back.
    parcel: Option<Parcel>,
}

/// What the report gains from one pupil.
struct PupilDone {
    report: PupilReport,
    /// The pupil's share of each source's counts.
    by_source: Vec<Counts>,
    conflicts: Vec<Line>,
    timeline: Option<Timeline>,
}

/// Records for the target, in order: organisations, or one pupil's person,
/// placements and journal.
struct Parcel {
    inputs: Vec<usize>,
    records: Vec<Record>,
    /// Records from this index on are journal entries (counted as written
    /// or refused).
    entries_from: usize,
    /// What the target's preparer made of `records`.
    prepared: Option<Prepared>,
}

type Numbered = (u64, Result<Done, Failure>);

/// A worker: journals until the merging thread stops handing pupils over.
fn journal_worker(context: &Context, work: &Mutex<Receiver<(u64, Work)>>, done: &Sender<Numbered>) {
    loop {
        let next = match work.lock() {
            Ok(work) => work.recv(),
            Err(_) => return,
        };
        let Ok((number, work)) = next else {
            return;
        };
        // A panic here must not leave the writing thread waiting for this
        // number: it becomes the job's error.
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| context.journal(work)))
                .unwrap_or_else(|_| {
                    Err(Failure::Job(
                        "merging a pupil's journal failed unexpectedly; please report it".into(),
                    ))
                });
        if done.send((number, result)).is_err() {
            return;
        }
    }
}

impl Context<'_> {
    fn journal(&self, work: Work) -> Result<Done, Failure> {
        match work {
            Work::Organisations(organisations) => {
                let (inputs, records): (Vec<usize>, Vec<Record>) =
                    organisations.into_iter().unzip();
                let entries_from = records.len();
                Ok(Done {
                    pupil: None,
                    parcel: Some(self.parcel(inputs, records, entries_from)),
                })
            }
            Work::Pupil(cut) => self.pupil(cut),
        }
    }

    fn parcel(&self, inputs: Vec<usize>, records: Vec<Record>, entries_from: usize) -> Parcel {
        let prepared = self
            .preparer
            .as_ref()
            .map(|preparer| preparer.prepare(&records));
        Parcel {
            inputs,
            records,
            entries_from,
            prepared,
        }
    }

    /// One pupil's records: the person, placements, then the journal in
    /// order; none when they are held back.
    fn pupil(&self, cut: Cut) -> Result<Done, Failure> {
        let key = std::str::from_utf8(&cut.key).map_err(|_| damaged_run())?;
        let mut counts = Counts::default();
        let mut entries_in_by_source = vec![0u64; self.sources.len()];
        let mut by_source = vec![Counts::default(); self.sources.len()];
        let mut persons = Vec::new();
        let mut placements = Vec::new();
        // Records are large: vectors sized once are never copied growing.
        let mut clinical = Vec::with_capacity(cut.members.len());
        let mut before = Vec::new();
        let timeline = self.timeline_key == Some(key);
        let mut start = 0;
        for Member {
            class,
            input,
            position,
            end,
        } in cut.members
        {
            let record = cut
                .values
                .get(start..end)
                .and_then(decode_record)
                .ok_or_else(damaged_run)?;
            start = end;
            match class {
                CLASS_PERSON => persons.push((input, record)),
                CLASS_PLACEMENT => placements.push((input, record)),
                _ => {
                    counts.entries_in += 1;
                    entries_in_by_source[input] += 1;
                    by_source[input].entries_in += 1;
                    if timeline {
                        before.push((input, position, row(&self.sources[input], &record)));
                    }
                    clinical.push(Entry { input, record });
                }
            }
        }
        let mut conflicts = Vec::new();
        let mut parcel = None;
        let mut pupil_timeline = None;
        if let Resolution::HeldBack { conflict: why, .. } = self.identities.resolve_key(key) {
            counts.held_back = counts.entries_in;
            for (input, n) in entries_in_by_source.iter().enumerate() {
                by_source[input].held_back += n;
            }
            conflicts.push(Line {
                source: masked(key),
                text: format!(
                    "{}; {} entries held back",
                    why.describe(),
                    counts.entries_in
                ),
            });
        } else {
            let size = 1 + placements.len() + clinical.len();
            let (mut inputs, mut records) = (Vec::with_capacity(size), Vec::with_capacity(size));
            let primary = match merge_persons(key, persons) {
                Some((input, Record::Person(person))) => {
                    let primary = person.identifiers.first().cloned();
                    inputs.push(input);
                    records.push(Record::Person(person));
                    primary
                }
                _ => None,
            };
            for (input, record) in placements {
                inputs.push(input);
                records.push(record);
            }
            for merge::Conflicting { source, inputs } in merge::take_conflicting(&mut clinical) {
                counts.held_back += inputs.len() as u64;
                for &input in &inputs {
                    by_source[input].held_back += 1;
                }
                let mut given = inputs.clone();
                given.sort_unstable();
                given.dedup();
                let given: Vec<&str> = given.iter().map(|&i| self.sources[i].as_str()).collect();
                conflicts.push(Line {
                    source: masked(key),
                    text: format!(
                        "{} {} v{} is given {} times with different content (in {}); none of them is written",
                        source.system,
                        source.record_id,
                        source.version,
                        inputs.len(),
                        given.join(", ")
                    ),
                });
            }
            let mut placed = merge::merge_pupil(clinical);
            // One journal, filed under the pupil's current identifier; the
            // source references keep what each source called them.
            if let Some(primary) = &primary {
                for record in &mut records {
                    merge::set_subject(record, primary);
                }
                for p in &mut placed {
                    merge::set_subject(&mut p.record, primary);
                }
            }
            let mut after = Vec::new();
            let first_clinical = records.len();
            for Placed {
                input,
                record,
                copies,
            } in placed
            {
                for (copy_input, _) in &copies {
                    counts.merged_copies += 1;
                    by_source[*copy_input].merged_copies += 1;
                }
                if let Record::JournalEntry(note) = &record {
                    counts.withheld_parts += note.withheld.len() as u64;
                    by_source[input].withheld_parts += note.withheld.len() as u64;
                    if note.patient_block {
                        counts.blocked += 1;
                        by_source[input].blocked += 1;
                    }
                }
                if timeline {
                    after.push(row(&self.sources[input], &record));
                }
                inputs.push(input);
                records.push(record);
            }
            parcel = Some(self.parcel(inputs, records, first_clinical));
            if timeline {
                before.sort_by_key(|(input, position, _)| (*input, *position));
                pupil_timeline = Some(Timeline {
                    pupil: masked(key),
                    before: before.into_iter().map(|(_, _, r)| r).collect(),
                    after,
                });
            }
        }
        Ok(Done {
            pupil: Some(PupilDone {
                report: PupilReport {
                    pupil: masked(key),
                    reference: reference(key),
                    counts,
                    entries_in_by_source,
                },
                by_source,
                conflicts,
                timeline: pupil_timeline,
            }),
            parcel,
        })
    }
}

/// The writing thread: takes the workers' results back in order, sends
/// each parcel to the target and adds everything up. Stops at the first
/// answer that the job cannot go on.
fn write(
    sink: &mut dyn Sink,
    sources: &[String],
    done: &Receiver<Numbered>,
    tokens: &SyncSender<()>,
    tally: &mut Tally,
) -> Result<(), Failure> {
    let mut waiting = BTreeMap::new();
    let mut next = 0;
    for (number, result) in done {
        waiting.insert(number, result);
        while let Some(result) = waiting.remove(&next) {
            next += 1;
            tally.add(sink, sources, result?)?;
            // Gone only once the merge has ended.
            let _ = tokens.send(());
        }
    }
    Ok(())
}

impl Tally {
    fn add(&mut self, sink: &mut dyn Sink, sources: &[String], done: Done) -> Result<(), Failure> {
        let mut report = None;
        if let Some(pupil) = done.pupil {
            for (total, counts) in self.by_source.iter_mut().zip(&pupil.by_source) {
                total.add(counts);
            }
            self.conflicts.extend(pupil.conflicts);
            if pupil.timeline.is_some() {
                self.timeline = pupil.timeline;
            }
            report = Some(pupil.report);
        }
        if let Some(parcel) = done.parcel {
            self.deliver(sink, sources, parcel, report.as_mut())?;
        }
        if let Some(report) = report {
            self.pupils
                .push(&report)
                .map_err(|e| Failure::io(self.pupils.path(), e))?;
        }
        Ok(())
    }

    /// Sends a parcel to the target and counts what it took, for the
    /// sources and for the pupil (`None` for organisations).
    fn deliver(
        &mut self,
        sink: &mut dyn Sink,
        sources: &[String],
        parcel: Parcel,
        mut pupil: Option<&mut PupilReport>,
    ) -> Result<(), Failure> {
        let Parcel {
            inputs,
            records,
            entries_from,
            prepared,
        } = parcel;
        let answers = match prepared {
            Some(prepared) => sink.send_prepared(&records, prepared),
            None => sink.send(&records),
        };
        for (i, answer) in answers.into_iter().enumerate() {
            let delivered = match answer {
                Delivery::Delivered => true,
                Delivery::Permanent(reason) => {
                    self.refusals.push(Line {
                        source: sources[inputs[i]].clone(),
                        text: format!(
                            "{} {}: {reason}",
                            records[i].type_name(),
                            describe(&records[i])
                        ),
                    });
                    false
                }
                Delivery::Retryable(reason) => return Err(Failure::Job(reason)),
            };
            if i < entries_from {
                continue;
            }
            let tally = |counts: &mut Counts| {
                if delivered {
                    counts.written += 1;
                } else {
                    counts.refused += 1;
                }
            };
            tally(&mut self.by_source[inputs[i]]);
            if let Some(pupil) = pupil.as_deref_mut() {
                tally(&mut pupil.counts);
            }
        }
        Ok(())
    }
}

/// One person record for a pupil from what every source says: the record
/// whose first identifier is the pupil's key, else the first, with every
/// identifier, guardian, address and contact detail of the others added,
/// and the strictest security marking.
fn merge_persons(key: &str, persons: Vec<(usize, Record)>) -> Option<(usize, Record)> {
    let mut persons: Vec<(usize, Person)> = persons
        .into_iter()
        .filter_map(|(i, r)| match r {
            Record::Person(p) => Some((i, p)),
            _ => None,
        })
        .collect();
    let primary = persons
        .iter()
        .position(|(_, p)| {
            p.identifiers
                .first()
                .is_some_and(|id| identity::key_of(id) == key)
        })
        .unwrap_or(0);
    if persons.is_empty() {
        return None;
    }
    let (input, mut person) = persons.swap_remove(primary);
    for (_, other) in persons {
        add_missing(&mut person.identifiers, other.identifiers);
        add_missing(&mut person.guardians, other.guardians);
        add_missing(&mut person.addresses, other.addresses);
        add_missing(&mut person.telecom, other.telecom);
        if marking_rank(other.security_marking) > marking_rank(person.security_marking) {
            person.security_marking = other.security_marking;
        }
        person.birth_date = person.birth_date.or(other.birth_date);
        person.sex = person.sex.or(other.sex);
        person.municipality_code = person.municipality_code.or(other.municipality_code);
    }
    // The identifier the journal is filed under comes first.
    if let Some(at) = person
        .identifiers
        .iter()
        .position(|id| identity::key_of(id) == key)
    {
        let id = person.identifiers.remove(at);
        person.identifiers.insert(0, id);
    }
    if person.security_marking.is_protected() {
        person.addresses.clear();
        person.telecom.clear();
    }
    Some((input, Record::Person(person)))
}

/// Adds the items of `other` that `into` does not hold yet, in order.
fn add_missing<T: PartialEq>(into: &mut Vec<T>, other: Vec<T>) {
    for item in other {
        if !into.contains(&item) {
            into.push(item);
        }
    }
}

fn marking_rank(marking: brygga_mapping::model::SecurityMarking) -> u8 {
    use brygga_mapping::model::SecurityMarking;
    match marking {
        SecurityMarking::None => 0,
        SecurityMarking::Sekretessmarkering => 1,
        SecurityMarking::SkyddadFolkbokforing => 2,
    }
}

/// A pupil key as the report shows it: the number masked.
fn masked(key: &str) -> String {
    match key.split_once(':') {
        Some((kind, value))
            if value.len() == 12 && value.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            format!("{kind} {}-****", &value[..8])
        }
        _ => key.to_owned(),
    }
}

/// A short stable reference for a pupil key.
fn reference(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().take(5).map(|b| format!("{b:02x}")).collect()
}

/// What a report line names a record by: its source reference.
fn describe(record: &Record) -> String {
    merge::source_of(record).map_or_else(String::new, |s| {
        format!("{} {} v{}", s.system, s.record_id, s.version)
    })
}

fn row(source: &str, record: &Record) -> TimelineRow {
    let (time, status) = match record {
        Record::JournalEntry(r) => (r.event_time.to_string(), format!("{:?}", r.status)),
        Record::Contact(r) => (r.start.to_string(), String::new()),
        Record::Measurement(r) => (r.time.to_string(), String::new()),
        Record::Immunization(r) => (r.time.to_string(), format!("{:?}", r.status)),
        Record::Consent(r) => (r.recorded.to_string(), String::new()),
        _ => (String::new(), String::new()),
    };
    TimelineRow {
        source: source.to_owned(),
        time,
        kind: record.type_name().to_owned(),
        record: describe(record),
        status,
    }
}
