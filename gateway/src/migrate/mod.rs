//! `brygga migrate`: every source's history merged into one journal per
//! pupil, in true chronological order, with nothing lost and nothing
//! doubled, and a report that proves it. See `docs/migration.md`.
//!
//! Two passes over the data, each resumable from the store:
//!
//! 1. **Sort.** Every source is read once, as a stream, on its own thread.
//!    Each record is filed under the identifier its source gives the pupil
//!    and its place in the journal ([`merge::order_key`]), numbered by
//!    source and position, and handed to an external sort ([`sort`]) that
//!    spills sorted runs to the work directory whenever the memory budget is
//!    full. Next to each run go the `person` records in it, which link the
//!    identifiers a pupil was known by ([`identity`]). Each spill is synced
//!    and then checkpointed in the store together with the source position
//!    reached and the rejects found so far, so a `kill -9` loses at most the
//!    records since the last spill, which are read again.
//! 2. **Merge and write.** The identities are resolved from the runs'
//!    person records. Records filed under an identifier that resolves to
//!    another pupil key (a samordningsnummer since replaced, a local id) are
//!    sorted again under that key — usually few, often none. The runs are
//!    merged; each pupil's records are put in journal order with the merge
//!    rules ([`merge`]) and handed to a second thread that writes them to
//!    the target through its sink, as `TARGET.partial`, moved into place when
//!    complete. A job killed in this pass starts the pass again from the
//!    sorted runs (never from the sources), and rewrites the target from its
//!    beginning: the result is exact by construction.
//!
//! Memory: the sort holds at most half the budget (`--memory`, default
//! 512 MiB); everything else streams.

pub mod identity;
pub mod merge;
pub mod plan;
pub mod report;
pub mod sort;
mod write;

use std::cell::{Cell, RefCell};
use std::collections::{HashSet, VecDeque};
use std::fs::{self, File};
use std::io::{self, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use brygga_adapters::DecodeError;
use brygga_adapters::stream::Source;
use brygga_mapping::model::Record;
use brygga_mapping::ndjson::NdjsonReader;
use brygga_store::{Batch, JobSpec, JobState, ReportRow, Store};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::exit::{Failure, Outcome};
use identity::{Identities, Resolution};
use plan::{Plan, State};
use sort::{Merge, Sorter};
use write::Writer;

/// Key prefix of organisations: sorted before every pupil.
const ORGANISATION: u8 = 0x00;
/// Key prefix of a pupil's records.
const PUPIL: u8 = 0x01;
/// Within a pupil: `person` records, then placements, then the journal.
const CLASS_PERSON: u8 = 0;
const CLASS_PLACEMENT: u8 = 1;
const CLASS_CLINICAL: u8 = 2;

/// What the runs hold and how (see [`push_record`]); a checkpoint written
/// with another layout is not resumed, the sort starts again.
const RUN_LAYOUT: u32 = 2;
/// A record's sort order number is its source's index above this many bits
/// and its position in the source below them.
const POSITION_BITS: u32 = 48;
/// Records the reading thread hands over at a time, and how many such
/// batches may wait: enough to keep both threads busy, small next to the
/// sort's budget.
const READ_BATCH: usize = 512;
const READ_BATCHES_WAITING: usize = 8;

/// What the sort pass has done, as checkpointed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SortCheckpoint {
    /// [`RUN_LAYOUT`] of the runs named here.
    layout: u32,
    /// The source being read, and the items of it already sorted.
    source: usize,
    position: u64,
    /// Run files written so far (names in the work directory); each has
    /// its person records next to it ([`persons_path`]).
    runs: Vec<String>,
    /// Per source: records read, rejected, person records.
    read: Vec<u64>,
    rejected: Vec<u64>,
    persons: Vec<u64>,
    /// Set when every source has been read and the last run spilled.
    done: bool,
    /// Runs made by merging others ([`bound_runs`]) so far: numbers their
    /// names.
    #[serde(default)]
    merged: u32,
}

/// Runs a migration to the end, resuming whatever an earlier run of the
/// same plan left.
pub fn run(plan: Plan) -> Result<Outcome, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Job(format!("starting the async runtime: {e}")))?;
    let store = runtime.block_on(open_store(&plan.state))?;
    let job = runtime
        .block_on(store.open_job(JobSpec {
            kind: "migrate",
            key: &plan.key,
            plan: &plan.text,
        }))
        .map_err(store_failure)?;
    let resumed = !job.is_new();
    let mut job = job.into_job();
    let job_id = job.id;
    if job.state == JobState::Completed || job.state == JobState::Failed {
        // Done before (or failed): run again from the start; the result is
        // the same bytes.
        // ("identity" is a pass of earlier versions, whose checkpoints a
        // store may still hold.)
        let mut batch = Batch::new();
        for name in ["identity", "sort"] {
            batch.remove_checkpoint(name);
        }
        batch.running();
        runtime
            .block_on(store.commit(job_id, &batch))
            .map_err(store_failure)?;
        job.state = JobState::Running;
    }
    let checkpoints = runtime
        .block_on(store.checkpoints(job_id))
        .map_err(store_failure)?;
    let work = work_dir(&plan);
    fs::create_dir_all(&work).map_err(|e| Failure::io(&work, e))?;
    let progress = Progress::new();
    if resumed {
        tracing::info!(job = %plan.key, "resuming migration");
        progress.message(&format!("resuming job {}", plan.key));
    }

    // Pass 1: sort.
    let fresh = || SortCheckpoint {
        layout: RUN_LAYOUT,
        read: vec![0; plan.sources.len()],
        rejected: vec![0; plan.sources.len()],
        persons: vec![0; plan.sources.len()],
        ..SortCheckpoint::default()
    };
    let mut sorted: SortCheckpoint = checkpoints
        .get("sort")
        .and_then(|v| serde_json::from_value::<SortCheckpoint>(v.clone()).ok())
        .filter(|s| s.layout == RUN_LAYOUT && s.read.len() == plan.sources.len())
        .unwrap_or_else(fresh);
    let commit = |batch: &Batch| {
        runtime
            .block_on(store.commit(job_id, batch))
            .map(|_| ())
            .map_err(store_failure)
    };
    if !sorted.done {
        sort_sources(&plan, &work, &mut sorted, &progress, commit)?;
    }
    bound_runs(
        &work,
        &mut sorted,
        fan_in(plan.memory_mib),
        &progress,
        commit,
    )?;

    // Pass 2: identities, records re-filed under them, merge and write.
    let runs: Vec<PathBuf> = sorted.runs.iter().map(|r| work.join(r)).collect();
    progress.message("resolving identities");
    let identities = load_identities(&runs)?;
    let refiled = refile(&identities, &runs, &work.join("refiled"), &plan, &progress)?;
    let mut writer = Writer::new(&plan, &identities)?;
    // Every record read but the rejects went into the runs.
    let records = sorted.read.iter().sum::<u64>() - sorted.rejected.iter().sum::<u64>();
    progress.stage("merging and writing", Some(records + refiled.records), None);
    writer.merge_and_write(&runs, &refiled, &progress)?;
    let (report, outcome) = writer.finish(&plan, &sorted, &runtime, &store, job_id)?;
    report
        .write(&plan.report)
        .map_err(|e| Failure::io(&plan.report, e))?;
    let mut batch = Batch::new();
    batch.completed();
    runtime
        .block_on(store.commit(job_id, &batch))
        .map_err(store_failure)?;
    let _ = fs::remove_dir_all(&work);
    progress.finish();
    let seconds = progress.started.elapsed().as_secs_f64();
    let peak_kib = crate::commands::synth::peak_rss_kib();
    if let Some(kib) = peak_kib
        && kib > plan.memory_mib * 1024
    {
        // What does not shrink with the budget is the identity table,
        // about a third of a KiB per pupil.
        tracing::warn!(
            peak_mib = kib / 1024,
            memory_mib = plan.memory_mib,
            pupils = report.pupils.len(),
            "the job's peak memory was above its budget: give a larger --memory for this many pupils (see docs/migration.md, Memory)"
        );
    }
    let peak = peak_kib.map_or_else(|| "unknown".to_owned(), |kib| format!("{kib} KiB"));
    eprintln!(
        "migrate: {} entries in from {} source(s), {} written to {}{}, {} copies merged, {} held back, {} refused, {} rejected; report in {}; {seconds:.2} s, {:.0} entries/s, peak RSS {peak}",
        report.totals.entries_in,
        plan.sources.len(),
        report.totals.written,
        plan.target,
        if plan.dry_run {
            " (dry run: not written)"
        } else {
            ""
        },
        report.totals.merged_copies,
        report.totals.held_back,
        report.totals.refused,
        report.rejects.len(),
        plan.report.display(),
        report.totals.entries_in as f64 / seconds.max(0.001),
    );
    Ok(outcome)
}

async fn open_store(state: &State) -> Result<Store, Failure> {
    match state {
        State::Sqlite(path) => Store::open_sqlite(path).await.map_err(store_failure),
        State::Postgres(url) => Store::open_postgres(url, 4).await.map_err(store_failure),
    }
}

fn store_failure(e: brygga_store::StoreError) -> Failure {
    Failure::Job(e.to_string())
}

/// The job's scratch space: sorted runs and their person records.
fn work_dir(plan: &Plan) -> PathBuf {
    let mut name = plan.target.path().as_os_str().to_owned();
    name.push(format!(".work-{}", plan.key));
    PathBuf::from(name)
}

/// The file holding the `person` records of a run.
fn persons_path(run: &Path) -> PathBuf {
    run.with_extension("persons")
}

/// The identities every run's person records give, added in the order
/// the records were read (the order [`Identities`] breaks ties by).
fn load_identities(runs: &[PathBuf]) -> Result<Identities, Failure> {
    let mut identities = Identities::default();
    for run in runs {
        let path = persons_path(run);
        let file = File::open(&path).map_err(|e| Failure::io(&path, e))?;
        for item in NdjsonReader::new(BufReader::new(file)) {
            match item {
                Ok(Record::Person(person)) => identities.add_person(&person),
                Ok(_) => {}
                Err(e) => {
                    return Err(Failure::io(
                        &path,
                        io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
                    ));
                }
            }
        }
    }
    identities.resolve_all();
    Ok(identities)
}

/// Items of one source as the reading thread hands them over: each with
/// the source position after it.
struct ReadBatch {
    source: usize,
    items: Vec<(u64, Result<Record, DecodeError>)>,
    /// Set on the last batch of a source.
    end: bool,
}

/// The reading thread: decodes the sources from `(source, position)` on,
/// in order, and hands their items over. Stops early when the receiver is
/// gone.
/// The bytes the sources read add up in `read`.
fn read_sources(
    plan: &Plan,
    from: (usize, u64),
    read: &Arc<AtomicU64>,
    to: &SyncSender<Result<ReadBatch, Failure>>,
) -> Result<(), ()> {
    for (i, input) in plan.sources.iter().enumerate().skip(from.0) {
        let mut source = match input.decoder(read.clone()) {
            Ok(decoder) => Source::new(decoder),
            Err(e) => return to.send(Err(e)).map_err(drop),
        };
        let start = if i == from.0 { from.1 } else { 0 };
        if source.resume(start) < start {
            return to
                .send(Err(Failure::Job(format!(
                    "{}: the file is shorter than when the job was checkpointed; start a new job",
                    input.path.display()
                ))))
                .map_err(drop);
        }
        let mut items = Vec::with_capacity(READ_BATCH);
        while let Some(item) = source.next_item() {
            items.push((source.position(), item));
            if items.len() == READ_BATCH {
                let items = std::mem::replace(&mut items, Vec::with_capacity(READ_BATCH));
                to.send(Ok(ReadBatch {
                    source: i,
                    items,
                    end: false,
                }))
                .map_err(drop)?;
            }
        }
        to.send(Ok(ReadBatch {
            source: i,
            items,
            end: true,
        }))
        .map_err(drop)?;
    }
    Ok(())
}

/// Pass 1: reads every source from the checkpoint on (decoding on a second
/// thread) and sorts its records.
fn sort_sources(
    plan: &Plan,
    work: &Path,
    state: &mut SortCheckpoint,
    progress: &Progress,
    mut commit: impl FnMut(&Batch) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let budget = sort_budget(plan.memory_mib);
    let runs: Vec<PathBuf> = state.runs.iter().map(|r| work.join(r)).collect();
    let mut sorter =
        Sorter::new(&work.join("runs"), budget, runs).map_err(|e| Failure::io(work, e))?;
    if plan.sources.len() >= 1 << (64 - POSITION_BITS) {
        return Err(Failure::Usage(format!(
            "a migration takes at most {} sources",
            (1u64 << (64 - POSITION_BITS)) - 1
        )));
    }
    let from = (state.source, state.position);
    // The sources before the one to resume were read to the end.
    let sizes: Option<Vec<u64>> = plan.sources.iter().map(plan::Input::size).collect();
    let read = Arc::new(AtomicU64::new(
        sizes.as_ref().map_or(0, |s| s.iter().take(from.0).sum()),
    ));
    // Bytes tell how far the sort is only when every source's size is
    // known (a FHIR server's is not): then records are counted instead.
    let total: Option<u64> = sizes.map(|s| s.iter().sum());
    progress.stage("sorting", total, total.map(|_| read.clone()));
    std::thread::scope(|scope| {
        let (to, items) = sync_channel(READ_BATCHES_WAITING);
        let read = &read;
        let reader = std::thread::Builder::new()
            .name("migrate-read".into())
            .spawn_scoped(scope, move || read_sources(plan, from, read, &to))
            .map_err(|e| Failure::Job(format!("starting the reading thread: {e}")))?;
        let sorted = sort_items(
            plan,
            work,
            &mut sorter,
            &items,
            state,
            progress,
            &mut commit,
        );
        drop(items);
        // The reader ends once the receiver is gone; a panic there is a bug.
        if reader.join().is_err() {
            return Err(Failure::Job("the reading thread failed".into()));
        }
        sorted
    })
}

/// The sorting side of pass 1: files each item the reading thread hands
/// over, checkpointing as each run is complete on disk.
fn sort_items(
    plan: &Plan,
    work: &Path,
    sorter: &mut Sorter,
    items: &Receiver<Result<ReadBatch, Failure>>,
    state: &mut SortCheckpoint,
    progress: &Progress,
    commit: &mut impl FnMut(&Batch) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let mut runs = Runs {
        work,
        persons: Vec::new(),
        pending: Vec::new(),
        sealed: VecDeque::new(),
    };
    let (mut key, mut value) = (Vec::new(), Vec::new());
    let mut announced = None;
    for batch in items {
        let ReadBatch {
            source: i,
            items: batch_items,
            end,
        } = batch?;
        if announced != Some(i) {
            announced = Some(i);
            progress.message(&format!(
                "sorting: source {}/{} {}",
                i + 1,
                plan.sources.len(),
                plan.sources[i].path.display()
            ));
        }
        let name = plan.sources[i].path.display().to_string();
        for (position, item) in batch_items {
            progress.tick();
            match item {
                Ok(record) => {
                    state.read[i] += 1;
                    if let Record::Person(person) = &record {
                        state.persons[i] += 1;
                        if !person.identifiers.is_empty() {
                            serde_json::to_writer(&mut runs.persons, &record)
                                .map_err(|e| Failure::Job(e.to_string()))?;
                            runs.persons.push(b'\n');
                        }
                    }
                    let order = order_of(i, position)?;
                    if push_record(sorter, order, &record, &mut key, &mut value)
                        .map_err(|e| Failure::io(work, e))?
                    {
                        state.source = i;
                        state.position = position;
                        runs.seal(sorter, state, commit)?;
                    }
                }
                Err(DecodeError::Reject(reject)) => {
                    state.read[i] += 1;
                    state.rejected[i] += 1;
                    runs.pending.push(ReportRow {
                        key: format!("reject:{i}:{position}"),
                        kind: "reject".into(),
                        source: name.clone(),
                        pupil: None,
                        detail: json!({ "text": reject.to_string() }),
                    });
                }
                Err(DecodeError::Fatal(fatal)) => {
                    runs.pending.push(ReportRow {
                        key: format!("unreadable:{i}"),
                        kind: "reject".into(),
                        source: name.clone(),
                        pupil: None,
                        detail: json!({
                            "text": format!("{fatal}; the rest of this source was not read")
                        }),
                    });
                }
            }
        }
        if end {
            state.source = i + 1;
            state.position = 0;
        }
    }
    if state.source < plan.sources.len() {
        // The reading thread stopped without an error: it cannot, but a
        // half-read source must never pass for a finished one.
        return Err(Failure::Job("the sources were not read to the end".into()));
    }
    runs.seal(sorter, state, commit)?;
    if let Some(last) = sorter.wait().map_err(|e| Failure::io(work, e))? {
        runs.complete(&last, state, commit)?;
    }
    state.done = true;
    checkpoint(state, &mut runs.pending, commit)
}

/// Pass 1's runs on their way to a checkpoint: a run is sealed (its
/// person records written next to it, the state at that moment kept),
/// written in the background, and checkpointed once complete.
struct Runs<'w> {
    work: &'w Path,
    /// The person records of the run being filled, as NDJSON.
    persons: Vec<u8>,
    /// Report rows found since the last seal.
    pending: Vec<ReportRow>,
    /// Per sealed run not yet complete: the state and the rows to commit
    /// with it.
    sealed: VecDeque<(SortCheckpoint, Vec<ReportRow>)>,
}

impl Runs<'_> {
    /// Seals the buffered records as a run; checkpoints the run before it
    /// if that one is now complete.
    fn seal(
        &mut self,
        sorter: &mut Sorter,
        state: &mut SortCheckpoint,
        commit: &mut impl FnMut(&Batch) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let sealed = sorter.seal().map_err(|e| Failure::io(self.work, e))?;
        if let Some(run) = &sealed.run {
            write_persons(run, &mut self.persons)?;
            self.sealed
                .push_back((state.clone(), std::mem::take(&mut self.pending)));
        }
        if let Some(done) = &sealed.done {
            self.complete(done, state, commit)?;
        }
        Ok(())
    }

    /// Checkpoints the oldest sealed run, now complete on disk: the state
    /// as it was when the run was sealed, with every complete run.
    fn complete(
        &mut self,
        done: &Path,
        state: &mut SortCheckpoint,
        commit: &mut impl FnMut(&Batch) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let Some((mut at_seal, mut rows)) = self.sealed.pop_front() else {
            return Err(Failure::Job(format!(
                "sort run {} was written but never sealed",
                done.display()
            )));
        };
        // Runs named in the checkpoint are relative to the work directory.
        let name = done.strip_prefix(self.work).unwrap_or(done);
        state.runs.push(name.display().to_string());
        at_seal.runs.clone_from(&state.runs);
        checkpoint(&at_seal, &mut rows, commit)
    }
}

/// What the program takes whatever the memory budget (MiB): its code, the
/// threads' stacks and allocator caches, the target's output buffers.
const FIXED_MIB: u64 = 28;
/// The most runs one merge reads at once, whatever the budget: each is an
/// open file.
const MAX_FAN_IN: usize = 512;

/// The budget (MiB) left for the job's own buffers under `memory_mib`.
fn working_mib(memory_mib: u64) -> u64 {
    memory_mib.saturating_sub(FIXED_MIB).max(16)
}

/// The sort's buffers under a memory budget of `memory_mib`: half of what
/// the program leaves.
fn sort_budget(memory_mib: u64) -> usize {
    usize::try_from(working_mib(memory_mib) * 1024 * 1024 / 2).unwrap_or(usize::MAX)
}

/// How many runs one merge may read at once under `memory_mib`: their
/// read buffers take at most a quarter of what the program leaves.
fn fan_in(memory_mib: u64) -> usize {
    let buffers = working_mib(memory_mib) * 1024 * 1024 / 4 / sort::MERGE_BUFFER_BYTES as u64;
    usize::try_from(buffers)
        .unwrap_or(MAX_FAN_IN)
        .clamp(2, MAX_FAN_IN)
}

/// Merges runs, a group at a time, until at most `fan_in` are left, so the
/// final merge's read buffers stay within the budget however long the
/// history. Each merged run takes the place of its group (their person
/// records joined in order, so identities resolve as before) and is
/// checkpointed before the group is removed: a job killed here resumes
/// with either the group or the merged run.
fn bound_runs(
    work: &Path,
    state: &mut SortCheckpoint,
    fan_in: usize,
    progress: &Progress,
    mut commit: impl FnMut(&Batch) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let mut at = 0;
    while state.runs.len() > fan_in {
        if at + 1 >= state.runs.len() {
            at = 0;
        }
        // Just enough runs to come down to `fan_in`, at most `fan_in`.
        let take = fan_in
            .min(state.runs.len() - fan_in + 1)
            .min(state.runs.len() - at);
        progress.message(&format!(
            "merging {take} of {} sort runs (at most {fan_in} are read at once)",
            state.runs.len()
        ));
        let group: Vec<PathBuf> = state.runs[at..at + take]
            .iter()
            .map(|r| work.join(r))
            .collect();
        let name = format!("runs/merged-{:06}.bin", state.merged);
        let into = work.join(&name);
        sort::merge_runs(&group, &into).map_err(|e| Failure::io(&into, e))?;
        join_persons(&group, &persons_path(&into))?;
        state.runs.splice(at..at + take, [name]);
        state.merged += 1;
        checkpoint(state, &mut Vec::new(), &mut commit)?;
        for run in &group {
            // Left-over files only take disk until the job ends and its
            // work directory is removed.
            let _ = fs::remove_file(run);
            let _ = fs::remove_file(persons_path(run));
        }
        at += 1;
    }
    Ok(())
}

/// Writes the person records of `runs`, in order, to `into`, synced.
fn join_persons(runs: &[PathBuf], into: &Path) -> Result<(), Failure> {
    let mut out = File::create(into).map_err(|e| Failure::io(into, e))?;
    for run in runs {
        let path = persons_path(run);
        let mut file = File::open(&path).map_err(|e| Failure::io(&path, e))?;
        io::copy(&mut file, &mut out).map_err(|e| Failure::io(into, e))?;
    }
    out.sync_all().map_err(|e| Failure::io(into, e))
}

/// The order number of a source's item: sources in the order given, each
/// in its own order. Equal sort keys come out in this order.
fn order_of(source: usize, position: u64) -> Result<u64, Failure> {
    if position >= 1 << POSITION_BITS {
        return Err(Failure::Job(format!(
            "source {} has more than 2^{POSITION_BITS} records",
            source + 1
        )));
    }
    Ok(((source as u64) << POSITION_BITS) | position)
}

/// The (source, position) an order number was made from.
fn source_position(order: u64) -> (usize, u64) {
    (
        (order >> POSITION_BITS) as usize,
        order & ((1 << POSITION_BITS) - 1),
    )
}

/// Writes the person records of a run next to it, synced before the run
/// is checkpointed.
fn write_persons(run: &Path, persons: &mut Vec<u8>) -> Result<(), Failure> {
    let path = persons_path(run);
    let mut file = File::create(&path).map_err(|e| Failure::io(&path, e))?;
    file.write_all(persons)
        .and_then(|()| file.sync_all())
        .map_err(|e| Failure::io(&path, e))?;
    persons.clear();
    Ok(())
}

fn checkpoint(
    state: &SortCheckpoint,
    pending: &mut Vec<ReportRow>,
    commit: &mut impl FnMut(&Batch) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let mut batch = Batch::new();
    batch.checkpoint(
        "sort",
        serde_json::to_value(state).map_err(|e| Failure::Job(e.to_string()))?,
    );
    for row in pending.drain(..) {
        batch.report_row(row);
    }
    commit(&batch)
}

/// Files one record under its sort key: the pupil's identifier as the
/// source gives it (identities are resolved later, see [`refile`]), then
/// the record's class and place in the journal; the value is the record
/// ([`encode_record`]). `true` when the sorter's buffer is full.
fn push_record(
    sorter: &mut Sorter,
    order: u64,
    record: &Record,
    key: &mut Vec<u8>,
    value: &mut Vec<u8>,
) -> io::Result<bool> {
    key.clear();
    match record {
        Record::Organisation(org) => {
            // The record itself breaks ties, so which of two different
            // records with one id is kept never depends on source order.
            key.push(ORGANISATION);
            key.extend_from_slice(org.id.as_bytes());
            key.push(0);
            serde_json::to_writer(&mut *key, record)?;
        }
        _ => {
            let Some(subject) = record.subject() else {
                return Ok(false);
            };
            key.push(PUPIL);
            identity::write_key(subject, key);
            key.push(0);
            match record {
                Record::Person(_) | Record::Placement(_) => {
                    key.push(if matches!(record, Record::Person(_)) {
                        CLASS_PERSON
                    } else {
                        CLASS_PLACEMENT
                    });
                    serde_json::to_writer(&mut *key, record)?;
                }
                _ => {
                    key.push(CLASS_CLINICAL);
                    if merge::order_key(record, key).is_none() {
                        return Ok(false);
                    }
                }
            }
        }
    }
    value.clear();
    encode_record(record, value)?;
    sorter.push(key, order, value)
}

/// Generates the run encoding of records: a byte naming the kind, then the
/// record's fields as JSON. Reading canonical JSON back would make serde
/// buffer every record to find its `"type"` tag first; this reads straight
/// into the right struct, and gives the same record.
macro_rules! run_encoding {
    ($($tag:literal => $variant:ident),* $(,)?) => {
        fn encode_record(record: &Record, out: &mut Vec<u8>) -> serde_json::Result<()> {
            match record {
                $(Record::$variant(r) => {
                    out.push($tag);
                    serde_json::to_writer(out, r)
                })*
            }
        }

        fn decode_record(bytes: &[u8]) -> Option<Record> {
            let (&tag, json) = bytes.split_first()?;
            // UTF-8 checked once for the record, not string by string.
            let json = std::str::from_utf8(json).ok()?;
            match tag {
                $($tag => serde_json::from_str(json).ok().map(Record::$variant),)*
                _ => None,
            }
        }
    };
}

run_encoding! {
    0 => Person,
    1 => Organisation,
    2 => Placement,
    3 => Grade,
    4 => Absence,
    5 => Attendance,
    6 => Contact,
    7 => JournalEntry,
    8 => Measurement,
    9 => Immunization,
    10 => Consent,
    11 => SurveyResponse,
}

/// Records filed under an identifier that resolves to another pupil key,
/// sorted again under that key.
struct Refiled {
    /// The keys records were filed under and that are (possibly) not
    /// theirs: every record under them is in `runs`, under its own key.
    from: HashSet<Vec<u8>>,
    runs: Vec<PathBuf>,
    /// How many records `runs` hold.
    records: u64,
}

/// Sorts again, under their pupil's key, the records whose source gave an
/// identifier that resolves to another one. Rebuilt from the runs on every
/// start of pass 2, so it needs no checkpoint of its own.
fn refile(
    identities: &Identities,
    runs: &[PathBuf],
    dir: &Path,
    plan: &Plan,
    progress: &Progress,
) -> Result<Refiled, Failure> {
    let from: HashSet<Vec<u8>> = identities
        .refiled_keys()
        .into_iter()
        .map(String::into_bytes)
        .collect();
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| Failure::io(dir, e))?;
    }
    if from.is_empty() {
        return Ok(Refiled {
            from,
            runs: Vec::new(),
            records: 0,
        });
    }
    progress.message("re-filing records under resolved identities");
    let budget = sort_budget(plan.memory_mib);
    let mut sorter = Sorter::new(dir, budget, Vec::new()).map_err(|e| Failure::io(dir, e))?;
    let mut merge = Merge::open(runs).map_err(|e| Failure::Job(e.to_string()))?;
    let (mut key, mut value, mut moved) = (Vec::new(), Vec::new(), Vec::new());
    let mut records = 0;
    while let Some(taken) = merge
        .next_into(&mut key, &mut value)
        .map_err(|e| Failure::Job(e.to_string()))?
    {
        let Some((filed, rest)) = split_pupil(&key) else {
            continue;
        };
        if !from.contains(filed) {
            continue;
        }
        let record = decode_record(&value).ok_or_else(damaged_run)?;
        let Some(subject) = record.subject() else {
            return Err(damaged_run());
        };
        moved.clear();
        moved.push(PUPIL);
        match identities.resolve(subject) {
            Resolution::Person(k) | Resolution::HeldBack { key: k, .. } => {
                moved.extend_from_slice(k.as_bytes());
            }
        }
        moved.push(0);
        moved.extend_from_slice(rest);
        records += 1;
        if sorter
            .push(&moved, taken.order, &value)
            .map_err(|e| Failure::io(dir, e))?
        {
            sorter.seal().map_err(|e| Failure::io(dir, e))?;
        }
    }
    sorter.seal().map_err(|e| Failure::io(dir, e))?;
    sorter.wait().map_err(|e| Failure::io(dir, e))?;
    Ok(Refiled {
        from,
        runs: sorter.runs().to_vec(),
        records,
    })
}

fn damaged_run() -> Failure {
    Failure::Job("a sort run holds a damaged record; start a new job".into())
}

/// A pupil record's sort key as (pupil key, the rest after its end);
/// `None` for an organisation's.
fn split_pupil(key: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = key.strip_prefix(&[PUPIL])?;
    let end = rest.iter().position(|&b| b == 0)?;
    Some((&rest[..end], &rest[end + 1..]))
}

/// A progress bar with rate and ETA on a terminal; structured log lines
/// every ten seconds otherwise.
///
/// Each stage counts what tells how far it is: the sort the bytes read
/// from the sources (records vary in size, files do not change), the
/// merge the records taken from the sorted runs, whose number the sort
/// knows.
struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    ticks: Cell<u64>,
    last_log: Cell<Instant>,
    stage: RefCell<Stage>,
}

struct Stage {
    name: String,
    started: Instant,
    /// Where the stage ends, when known.
    total: Option<u64>,
    /// Bytes read, when the stage counts them rather than records.
    bytes: Option<Arc<AtomicU64>>,
}

impl Progress {
    fn new() -> Self {
        Progress {
            bar: io::stderr().is_terminal().then(ProgressBar::new_spinner),
            started: Instant::now(),
            ticks: Cell::new(0),
            last_log: Cell::new(Instant::now()),
            stage: RefCell::new(Stage {
                name: String::new(),
                started: Instant::now(),
                total: None,
                bytes: None,
            }),
        }
    }

    /// Starts a stage that ends at `total` records, or bytes when `bytes`
    /// counts them; without a total the bar only spins.
    fn stage(&self, name: &str, total: Option<u64>, bytes: Option<Arc<AtomicU64>>) {
        let template = match (total, &bytes) {
            (None, _) => "{spinner} {msg}: {pos} records, {per_sec}, {elapsed}",
            (Some(_), Some(_)) => {
                "{spinner} {msg} [{wide_bar}] {percent}% {binary_bytes_per_sec}, ETA {eta}"
            }
            (Some(_), None) => {
                "{spinner} {msg} [{wide_bar}] {pos}/{len} records, {per_sec}, ETA {eta}"
            }
        };
        if let Some(bar) = &self.bar {
            bar.reset();
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            match total {
                Some(total) => bar.set_length(total),
                None => bar.unset_length(),
            }
        }
        self.ticks.set(0);
        *self.stage.borrow_mut() = Stage {
            name: String::new(),
            started: Instant::now(),
            total,
            bytes,
        };
        self.update();
        self.message(name);
    }

    /// Names what the stage is doing now.
    fn message(&self, text: &str) {
        self.stage.borrow_mut().name = text.to_owned();
        match &self.bar {
            Some(bar) => bar.set_message(text.to_owned()),
            None => tracing::info!(stage = text, "migrate"),
        }
    }

    fn tick(&self) {
        let n = self.ticks.get() + 1;
        self.ticks.set(n);
        if n.is_multiple_of(4096) {
            self.update();
        }
    }

    fn update(&self) {
        let stage = self.stage.borrow();
        let done = stage
            .bytes
            .as_ref()
            .map_or(self.ticks.get(), |bytes| bytes.load(Ordering::Relaxed));
        let done = stage.total.map_or(done, |total| done.min(total));
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            return;
        }
        if self.last_log.get().elapsed() < Duration::from_secs(10) {
            return;
        }
        self.last_log.set(Instant::now());
        let seconds = stage.started.elapsed().as_secs_f64().max(0.001);
        let unit = if stage.bytes.is_some() {
            "bytes"
        } else {
            "records"
        };
        match stage.total.filter(|_| done > 0) {
            Some(total) => tracing::info!(
                stage = %stage.name,
                done,
                total,
                unit,
                per_second = (done as f64 / seconds) as u64,
                eta_seconds = (seconds * (total - done) as f64 / done as f64).ceil() as u64,
                "migrate progress"
            ),
            None => tracing::info!(
                stage = %stage.name,
                done,
                unit,
                per_second = (done as f64 / seconds) as u64,
                "migrate progress"
            ),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;
    use plan::RawPlan;

    fn repo() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
    }

    fn records_of(path: &Path) -> Vec<Record> {
        let file = File::open(path).expect("open");
        NdjsonReader::new(BufReader::new(file))
            .map(|r| r.expect("canonical record"))
            .collect()
    }

    /// Runs of pairs whose keys repeat across runs, each with a persons
    /// file naming its run, as pass 1 leaves them.
    fn many_runs(work: &Path) -> SortCheckpoint {
        let mut sorter = Sorter::new(&work.join("runs"), 4_000, Vec::new()).expect("sorter");
        let mut state = SortCheckpoint::default();
        for i in 0..3_000u64 {
            let key = (i * 7919 % 17).to_be_bytes();
            if sorter.push(&key, i, &i.to_le_bytes()).expect("push") {
                sorter.seal().expect("seal");
            }
        }
        sorter.seal().expect("seal");
        sorter.wait().expect("wait");
        for (n, run) in sorter.runs().iter().enumerate() {
            fs::write(persons_path(run), format!("person of run {n}\n")).expect("persons");
            let name = run.strip_prefix(work).expect("in work");
            state.runs.push(name.display().to_string());
        }
        state
    }

    /// (key, order, value) pairs in merge order.
    type Pairs = Vec<(Vec<u8>, u64, Vec<u8>)>;

    /// What the runs named in `state` hold: their pairs merged, and their
    /// person records in order.
    fn merged(work: &Path, state: &SortCheckpoint) -> (Pairs, String) {
        let runs: Vec<PathBuf> = state.runs.iter().map(|r| work.join(r)).collect();
        let mut merge = Merge::open(&runs).expect("merge");
        let (mut k, mut v) = (Vec::new(), Vec::new());
        let mut pairs = Vec::new();
        while let Some(taken) = merge.next_into(&mut k, &mut v).expect("next") {
            pairs.push((k.clone(), taken.order, v.clone()));
        }
        let persons = runs
            .iter()
            .map(|r| fs::read_to_string(persons_path(r)).expect("persons"))
            .collect();
        (pairs, persons)
    }

    #[test]
    fn runs_beyond_the_fan_in_are_merged_first_and_nothing_changes_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let work = dir.path();
        let mut state = many_runs(work);
        let before = merged(work, &state);
        assert!(state.runs.len() > 30, "{} runs", state.runs.len());
        let mut commits = 0;
        bound_runs(work, &mut state, 4, &Progress::new(), |_| {
            commits += 1;
            Ok(())
        })
        .expect("bound_runs");
        assert!(state.runs.len() <= 4, "{:?}", state.runs);
        assert_eq!(commits, state.merged);
        assert_eq!(merged(work, &state), before);
        // Only the runs named (and their person files) are left.
        let left = fs::read_dir(work.join("runs")).expect("runs").count();
        assert_eq!(left, 2 * state.runs.len());
    }

    #[test]
    fn a_fan_in_pass_stopped_before_its_checkpoint_resumes_from_the_last_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let work = dir.path();
        let mut state = many_runs(work);
        let before = merged(work, &state);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let store = runtime
            .block_on(Store::open_sqlite(&work.join("state.sqlite")))
            .expect("store");
        let job = runtime
            .block_on(store.open_job(JobSpec {
                kind: "migrate",
                key: "fan-in",
                plan: "fan-in",
            }))
            .expect("job")
            .into_job();
        // The store is gone at the third checkpoint, as if the job were
        // killed there: it goes on from the last state the store holds.
        let mut commits = 0;
        let stopped = bound_runs(work, &mut state, 3, &Progress::new(), |batch| {
            commits += 1;
            if commits == 3 {
                return Err(Failure::Job("stopped".into()));
            }
            runtime
                .block_on(store.commit(job.id, batch))
                .map(|_| ())
                .map_err(store_failure)
        });
        assert!(stopped.is_err());
        let checkpoints = runtime.block_on(store.checkpoints(job.id)).expect("read");
        let mut stored: SortCheckpoint =
            serde_json::from_value(checkpoints["sort"].clone()).expect("checkpoint");
        assert_eq!(stored.merged, 2);
        bound_runs(work, &mut stored, 3, &Progress::new(), |_| Ok(())).expect("resumed");
        assert!(stored.runs.len() <= 3);
        assert_eq!(merged(work, &stored), before);
    }

    #[test]
    fn the_run_encoding_gives_back_every_kind_of_record_unchanged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = crate::synth::Settings {
            pupils: 40,
            seed: 7,
            as_of: jiff::civil::date(2026, 6, 12),
            out: dir.path().to_path_buf(),
            native: false,
        };
        crate::synth::generate(&settings, None, |_| {}).expect("synth");
        let mut records = Vec::new();
        for entry in fs::read_dir(dir.path().join("canonical")).expect("canonical") {
            records.extend(records_of(&entry.expect("entry").path()));
        }
        // Synth writes no survey answers: one by hand, with text that needs
        // escaping.
        let note = records
            .iter()
            .find_map(|r| match r {
                Record::JournalEntry(note) => Some(note.clone()),
                _ => None,
            })
            .expect("a journal entry");
        records.push(
            serde_json::from_value(json!({
                "type": "survey_response",
                "source": note.source,
                "respondent": note.patient,
                "survey": "elevens-halsa-i-fokus:2024",
                "school_year": 7,
                "answered": note.event_time,
                "answers": [{ "question": "q1", "answer": "ja, \"ofta\" — ö\n\u{0}" }],
            }))
            .expect("survey response"),
        );
        let kinds: BTreeSet<&str> = records.iter().map(Record::type_name).collect();
        assert_eq!(kinds.len(), 12, "every kind of record: {kinds:?}");
        let mut bytes = Vec::new();
        for record in &records {
            bytes.clear();
            encode_record(record, &mut bytes).expect("encode");
            assert_eq!(decode_record(&bytes).as_ref(), Some(record));
        }
        assert_eq!(decode_record(b"\x0c{}"), None, "an unknown kind");
        assert_eq!(decode_record(b""), None);
    }

    #[test]
    fn order_numbers_give_back_their_source_and_position() {
        for (source, position) in [(0, 1), (2, 17), (65_534, (1 << POSITION_BITS) - 1)] {
            let order = order_of(source, position).expect("in range");
            assert_eq!(source_position(order), (source, position));
        }
        assert!(order_of(0, 1 << POSITION_BITS).is_err());
        assert!(order_of(1, 5).expect("order") > order_of(0, 6).expect("order"));
    }

    fn local(namespace: &str, value: &str) -> Value {
        json!({ "system": "local", "namespace": namespace, "value": value })
    }

    fn migrate_canonical(sources: &[&Path], out: &Path) -> Vec<Value> {
        let target = out.join("journal.ndjson");
        let plan = RawPlan {
            sources: sources
                .iter()
                .map(|s| format!("canonical:{}", s.display()))
                .collect(),
            target: Some(format!("canonical:{}", target.display())),
            profiles: Vec::new(),
            state: Some(out.join("state.sqlite").display().to_string()),
            report: None,
            memory_mib: Some(64),
            dry_run: false,
            timeline: None,
        };
        let outcome = run(plan.resolve().expect("plan")).expect("migrate");
        assert_eq!(outcome, Outcome::Clean);
        fs::read_to_string(&target)
            .expect("target")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect()
    }

    /// A local id linked to a personnummer files its records under the
    /// number; another local id whose key text is the same (`a:b` + `c`
    /// against `a` + `b:c`) is a different person and stays apart.
    #[test]
    fn records_under_an_identifier_that_resolves_elsewhere_join_their_pupils_journal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let vector: Vec<Value> = fs::read_to_string(
            repo().join("conformance-tests/vectors/canonical/basic/expected.ndjson"),
        )
        .expect("vector")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
        let person = vector
            .iter()
            .find(|v| v["type"] == "person")
            .expect("a person");
        let number = person["identifiers"][0].clone();
        let linked = local("a:b", "c");
        let other = local("a", "b:c");

        // Source 1: the journal under the linked local id, and the person
        // record that links it.
        let mut first = String::new();
        let mut linking = person.clone();
        linking["identifiers"] = json!([linked, number]);
        first.push_str(&format!("{linking}\n"));
        let mut entries = 0;
        for record in vector.iter().filter(|v| v["type"] != "person") {
            let mut record = record.clone();
            record["patient"] = linked.clone();
            first.push_str(&format!("{record}\n"));
            entries += 1;
        }
        // Source 2: someone else, known only by the other local id.
        let mut second = String::new();
        let mut stranger = person.clone();
        stranger["identifiers"] = json!([other]);
        stranger["given_name"] = json!("Annan");
        stranger["security_marking"] = json!("none");
        second.push_str(&format!("{stranger}\n"));
        let mut measurement = vector
            .iter()
            .find(|v| v["type"] == "measurement")
            .expect("a measurement")
            .clone();
        measurement["patient"] = other.clone();
        measurement["source"]["record_id"] = json!("m-annan");
        second.push_str(&format!("{measurement}\n"));

        let (a, b) = (dir.path().join("a.ndjson"), dir.path().join("b.ndjson"));
        fs::write(&a, first).expect("write");
        fs::write(&b, second).expect("write");
        let out_ab = dir.path().join("ab");
        let out_ba = dir.path().join("ba");
        fs::create_dir_all(&out_ab).expect("dir");
        fs::create_dir_all(&out_ba).expect("dir");
        let written = migrate_canonical(&[&a, &b], &out_ab);
        assert_eq!(
            fs::read(out_ab.join("journal.ndjson")).expect("ab"),
            {
                migrate_canonical(&[&b, &a], &out_ba);
                fs::read(out_ba.join("journal.ndjson")).expect("ba")
            },
            "the order of the sources changes nothing"
        );

        let persons: Vec<&Value> = written.iter().filter(|v| v["type"] == "person").collect();
        assert_eq!(persons.len(), 2, "{persons:?}");
        let numbered = persons
            .iter()
            .find(|p| p["identifiers"][0] == number)
            .expect("the linked pupil under the number");
        assert_eq!(numbered["identifiers"], json!([number, linked]));
        let journal: Vec<&Value> = written.iter().filter(|v| v["patient"] == number).collect();
        assert_eq!(journal.len(), entries, "{written:?}");
        let apart: Vec<&Value> = written.iter().filter(|v| v["patient"] == other).collect();
        assert_eq!(apart.len(), 1, "{written:?}");
        assert_eq!(apart[0]["source"]["record_id"], "m-annan");
        assert!(
            written.iter().all(|v| v["patient"] != linked),
            "nothing stays under the linked local id"
        );
        // Each journal follows its own person record.
        let at = |v: &Value| written.iter().position(|w| w == v).expect("written");
        for entry in &journal {
            assert!(at(numbered) < at(entry));
        }
    }
}
