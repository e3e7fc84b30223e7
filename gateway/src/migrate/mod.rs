//! `brygga migrate`: every source's history merged into one journal per
//! pupil, in true chronological order, with nothing lost and nothing
//! doubled, and a report that proves it. See `docs/migration.md`.
//!
//! Three passes, each resumable from the store:
//!
//! 1. **Identity.** Every source is read once for its `person` records,
//!    which link the identifiers a pupil was known by ([`identity`]). They
//!    are kept in the work directory (`persons.ndjson`), so a resumed job
//!    does not read the sources for them again.
//! 2. **Sort.** Every source is read again as a stream; each record is filed
//!    under its pupil's key and its place in the journal ([`merge::order_key`])
//!    and handed to an external sort ([`sort`]) that spills sorted runs to
//!    the work directory whenever the memory budget is full. Each spill is
//!    synced and then checkpointed in the store together with the source
//!    position reached and the rejects found so far, so a `kill -9` loses at
//!    most the records since the last spill, which are read again.
//! 3. **Merge and write.** The runs are merged; each pupil's records are
//!    put in journal order with the merge rules ([`merge`]) and written to
//!    the target through its encoder, as `TARGET.partial`, moved into place
//!    when complete. A job killed in this pass starts the pass again from the
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

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use brygga_adapters::DecodeError;
use brygga_adapters::stream::{Delivery, EncoderSink, Sink, Source};
use brygga_mapping::id::{Identifier, PersonId};
use brygga_mapping::model::{Person, Record};
use brygga_mapping::ndjson::{NdjsonReader, NdjsonWriter};
use brygga_store::{Batch, JobSpec, JobState, ReportRow, Store};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::exit::{Failure, Outcome};
use crate::target::Output;
use identity::{Identities, Resolution};
use merge::{Entry, Placed};
use plan::{Plan, State};
use report::{Counts, Line, PupilReport, Report, SourceReport, Timeline, TimelineRow};
use sort::{Merge, Sorter};

/// Key prefix of organisations: sorted before every pupil.
const ORGANISATION: u8 = 0x00;
/// Key prefix of a pupil's records.
const PUPIL: u8 = 0x01;
/// Within a pupil: `person` records, then placements, then the journal.
const CLASS_PERSON: u8 = 0;
const CLASS_PLACEMENT: u8 = 1;
const CLASS_CLINICAL: u8 = 2;

/// What pass 2 has done, as checkpointed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SortCheckpoint {
    /// The source being read, and the items of it already sorted.
    source: usize,
    position: u64,
    /// Run files written so far (names in the work directory).
    runs: Vec<String>,
    /// Per source: records read, rejected, person records.
    read: Vec<u64>,
    rejected: Vec<u64>,
    persons: Vec<u64>,
    /// Set when every source has been read and the last run spilled.
    done: bool,
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

    // Pass 1: identities.
    let persons_file = work.join("persons.ndjson");
    if !checkpoints.contains_key("identity") {
        collect_persons(&plan, &persons_file, &progress)?;
        let mut batch = Batch::new();
        batch.checkpoint("identity", json!({ "done": true }));
        runtime
            .block_on(store.commit(job_id, &batch))
            .map_err(store_failure)?;
    }
    let identities = load_identities(&persons_file)?;

    // Pass 2: sort.
    let mut sorted: SortCheckpoint = checkpoints
        .get("sort")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_else(|| SortCheckpoint {
            read: vec![0; plan.sources.len()],
            rejected: vec![0; plan.sources.len()],
            persons: vec![0; plan.sources.len()],
            ..SortCheckpoint::default()
        });
    if !sorted.done {
        sort_sources(&plan, &identities, &work, &mut sorted, &progress, |batch| {
            runtime
                .block_on(store.commit(job_id, batch))
                .map(|_| ())
                .map_err(store_failure)
        })?;
    }

    // Pass 3: merge and write.
    let mut writer = Writer::new(&plan, &identities)?;
    let runs: Vec<PathBuf> = sorted.runs.iter().map(|r| work.join(r)).collect();
    writer.merge_and_write(&runs, &progress)?;
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
    let peak = crate::commands::synth::peak_rss_kib()
        .map_or_else(|| "unknown".to_owned(), |kib| format!("{kib} KiB"));
    eprintln!(
        "migrate: {} entries in from {} source(s), {} written to {}{}, {} copies merged, {} held back, {} refused, {} rejected; report in {}; {seconds:.2} s, {:.0} entries/s, peak RSS {peak}",
        report.totals.entries_in,
        plan.sources.len(),
        report.totals.written,
        plan.target.path.display(),
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

/// The job's scratch space: sorted runs and the identity file.
fn work_dir(plan: &Plan) -> PathBuf {
    let mut name = plan.target.path.as_os_str().to_owned();
    name.push(format!(".work-{}", plan.key));
    PathBuf::from(name)
}

/// Pass 1: every `person` record of every source, into `persons_file`.
fn collect_persons(plan: &Plan, persons_file: &Path, progress: &Progress) -> Result<(), Failure> {
    let file = File::create(persons_file).map_err(|e| Failure::io(persons_file, e))?;
    let mut out = NdjsonWriter::new(BufWriter::new(file));
    for (i, input) in plan.sources.iter().enumerate() {
        progress.message(&format!(
            "identities: reading source {}/{} {}",
            i + 1,
            plan.sources.len(),
            input.path.display()
        ));
        let mut source = open_source(input)?;
        while let Some(item) = source.next_item() {
            if let Ok(Record::Person(person)) = item {
                out.write(&Record::Person(person))
                    .map_err(|e| Failure::io(persons_file, e))?;
            }
            progress.tick();
        }
    }
    let file = out
        .into_inner()
        .into_inner()
        .map_err(|e| Failure::io(persons_file, e.into_error()))?;
    file.sync_all().map_err(|e| Failure::io(persons_file, e))
}

fn load_identities(persons_file: &Path) -> Result<Identities, Failure> {
    let file = File::open(persons_file).map_err(|e| Failure::io(persons_file, e))?;
    let mut identities = Identities::default();
    for item in NdjsonReader::new(BufReader::new(file)) {
        match item {
            Ok(Record::Person(person)) => identities.add_person(&person),
            Ok(_) => {}
            Err(e) => {
                return Err(Failure::io(
                    persons_file,
                    io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
                ));
            }
        }
    }
    identities.resolve_all();
    Ok(identities)
}

fn open_source(input: &plan::Input) -> Result<Source, Failure> {
    let file = File::open(&input.path).map_err(|e| Failure::io(&input.path, e))?;
    let reader: Box<dyn BufRead + Send> = Box::new(BufReader::with_capacity(256 * 1024, file));
    Ok(Source::new(
        input.format.decoder(reader, input.profile.clone()),
    ))
}

/// Pass 2: reads every source from the checkpoint on and sorts its records.
fn sort_sources(
    plan: &Plan,
    identities: &Identities,
    work: &Path,
    state: &mut SortCheckpoint,
    progress: &Progress,
    mut commit: impl FnMut(&Batch) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let budget = usize::try_from(plan.memory_mib * 1024 * 1024 / 2).unwrap_or(usize::MAX);
    let runs: Vec<PathBuf> = state.runs.iter().map(|r| work.join(r)).collect();
    let mut sorter =
        Sorter::new(&work.join("runs"), budget, runs).map_err(|e| Failure::io(work, e))?;
    // Runs named in the checkpoint are relative to the work directory.
    let run_name = |path: &Path| -> String {
        path.strip_prefix(work)
            .unwrap_or(path)
            .display()
            .to_string()
    };
    let mut pending: Vec<ReportRow> = Vec::new();
    let (mut key, mut value) = (Vec::new(), Vec::new());
    for i in state.source..plan.sources.len() {
        let input = &plan.sources[i];
        progress.message(&format!(
            "sorting: source {}/{} {}",
            i + 1,
            plan.sources.len(),
            input.path.display()
        ));
        let mut source = open_source(input)?;
        let start = if i == state.source { state.position } else { 0 };
        if source.resume(start) < start {
            return Err(Failure::Job(format!(
                "{}: the file is shorter than when the job was checkpointed; start a new job",
                input.path.display()
            )));
        }
        let name = input.path.display().to_string();
        while let Some(item) = source.next_item() {
            progress.tick();
            match item {
                Ok(record) => {
                    state.read[i] += 1;
                    if matches!(record, Record::Person(_)) {
                        state.persons[i] += 1;
                    }
                    if let Some(spilled) = push_record(
                        &mut sorter,
                        identities,
                        i,
                        source.position(),
                        &record,
                        &mut key,
                        &mut value,
                    )
                    .map_err(|e| Failure::io(work, e))?
                    {
                        state.source = i;
                        state.position = source.position();
                        state.runs.push(run_name(&spilled));
                        checkpoint(state, &mut pending, &mut commit)?;
                    }
                }
                Err(DecodeError::Reject(reject)) => {
                    state.read[i] += 1;
                    state.rejected[i] += 1;
                    pending.push(ReportRow {
                        key: format!("reject:{i}:{}", source.position()),
                        kind: "reject".into(),
                        source: name.clone(),
                        pupil: None,
                        detail: json!({ "text": reject.to_string() }),
                    });
                }
                Err(DecodeError::Fatal(fatal)) => {
                    pending.push(ReportRow {
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
        state.source = i + 1;
        state.position = 0;
    }
    if let Some(spilled) = sorter.spill().map_err(|e| Failure::io(work, e))? {
        state.runs.push(run_name(&spilled));
    }
    state.done = true;
    checkpoint(state, &mut pending, &mut commit)
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

/// Files one record under its sort key.
fn push_record(
    sorter: &mut Sorter,
    identities: &Identities,
    input: usize,
    position: u64,
    record: &Record,
    key: &mut Vec<u8>,
    value: &mut Vec<u8>,
) -> io::Result<Option<PathBuf>> {
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
                return Ok(None);
            };
            let person_key = match identities.resolve(subject) {
                Resolution::Person(k) | Resolution::HeldBack { key: k, .. } => k,
            };
            key.push(PUPIL);
            key.extend_from_slice(person_key.as_bytes());
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
                        return Ok(None);
                    }
                }
            }
        }
    }
    value.clear();
    value.extend_from_slice(&(input as u16).to_le_bytes());
    value.extend_from_slice(&position.to_le_bytes());
    serde_json::to_writer(&mut *value, record)?;
    sorter.push(key, value)
}

/// Pass 3: the merged stream into the target, counting everything.
struct Writer<'a> {
    identities: &'a Identities,
    output: Option<Output>,
    sink: EncoderSink,
    sources: Vec<String>,
    by_source: Vec<Counts>,
    pupils: Vec<PupilReport>,
    refusals: Vec<Line>,
    conflicts: Vec<Line>,
    copies: u64,
    organisations: HashSet<String>,
    timeline_key: Option<String>,
    timeline: Option<Timeline>,
}

impl<'a> Writer<'a> {
    fn new(plan: &Plan, identities: &'a Identities) -> Result<Self, Failure> {
        let format = plan.target.format;
        let profile = plan.target.profile.clone();
        let (output, encoder) = if plan.dry_run {
            (None, format.encoder(Box::new(io::sink()), profile))
        } else {
            let mut output = Output::create(&plan.target.path, format)?;
            let encoder = output.encoder(format, profile)?;
            (Some(output), encoder)
        };
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
        Ok(Writer {
            identities,
            output,
            sink: EncoderSink::new(encoder),
            sources: plan
                .sources
                .iter()
                .map(|s| s.path.display().to_string())
                .collect(),
            by_source: vec![Counts::default(); plan.sources.len()],
            pupils: Vec::new(),
            refusals: Vec::new(),
            conflicts: Vec::new(),
            copies: 0,
            organisations: HashSet::new(),
            timeline_key,
            timeline: None,
        })
    }

    fn merge_and_write(&mut self, runs: &[PathBuf], progress: &Progress) -> Result<(), Failure> {
        progress.message("merging and writing");
        let mut merge = Merge::open(runs).map_err(|e| Failure::Job(e.to_string()))?;
        let (mut key, mut value) = (Vec::new(), Vec::new());
        let mut group: Option<String> = None;
        let mut members: Vec<(u8, usize, u64, Record)> = Vec::new();
        while merge
            .next_into(&mut key, &mut value)
            .map_err(|e| Failure::Job(e.to_string()))?
        {
            progress.tick();
            let (input, position, record) = decode_value(&value)?;
            match key.first() {
                Some(&ORGANISATION) => {
                    if let Record::Organisation(org) = &record
                        && self.organisations.insert(org.id.clone())
                    {
                        self.send(vec![(input, record)], None)?;
                    }
                }
                _ => {
                    let (pupil, class) = split_pupil_key(&key);
                    if group.as_deref() != Some(pupil) {
                        if let Some(done) = group.take() {
                            self.pupil(&done, std::mem::take(&mut members))?;
                        }
                        group = Some(pupil.to_owned());
                    }
                    members.push((class, input, position, record));
                }
            }
        }
        if let Some(done) = group.take() {
            self.pupil(&done, members)?;
        }
        Ok(())
    }

    /// One pupil's records: the person, placements, then the journal.
    fn pupil(&mut self, key: &str, members: Vec<(u8, usize, u64, Record)>) -> Result<(), Failure> {
        let mut counts = Counts::default();
        let mut by_source = vec![0u64; self.sources.len()];
        let mut persons = Vec::new();
        let mut placements = Vec::new();
        let mut clinical = Vec::new();
        let mut before = Vec::new();
        let timeline = self.timeline_key.as_deref() == Some(key);
        for (class, input, position, record) in members {
            match class {
                CLASS_PERSON => persons.push((input, record)),
                CLASS_PLACEMENT => placements.push((input, record)),
                _ => {
                    counts.entries_in += 1;
                    by_source[input] += 1;
                    self.by_source[input].entries_in += 1;
                    if timeline {
                        before.push((input, position, row(&self.sources[input], &record)));
                    }
                    clinical.push(Entry { input, record });
                }
            }
        }
        let resolution = self.identities.resolve_key(key);
        if let Resolution::HeldBack { conflict, .. } = &resolution {
            counts.held_back = counts.entries_in;
            for (input, n) in by_source.iter().enumerate() {
                self.by_source[input].held_back += n;
            }
            self.conflicts.push(Line {
                source: masked(key),
                text: format!(
                    "{}; {} entries held back",
                    conflict.describe(),
                    counts.entries_in
                ),
            });
        } else {
            let mut out: Vec<(usize, Record)> = Vec::new();
            let primary = match merge_persons(key, persons) {
                Some((input, Record::Person(person))) => {
                    let primary = person.identifiers.first().cloned();
                    out.push((input, Record::Person(person)));
                    primary
                }
                _ => None,
            };
            out.extend(placements);
            let mut placed = merge::merge_pupil(clinical);
            // One journal, filed under the pupil's current identifier; the
            // source references keep what each source called them.
            if let Some(primary) = &primary {
                for (_, record) in &mut out {
                    set_subject(record, primary);
                }
                for p in &mut placed {
                    set_subject(&mut p.record, primary);
                }
            }
            let mut after = Vec::new();
            let first_clinical = out.len();
            for Placed {
                input,
                record,
                copies,
            } in placed
            {
                for (copy_input, _) in &copies {
                    counts.merged_copies += 1;
                    self.by_source[*copy_input].merged_copies += 1;
                    self.copies += 1;
                }
                if let Record::JournalEntry(note) = &record {
                    counts.withheld_parts += note.withheld.len() as u64;
                    self.by_source[input].withheld_parts += note.withheld.len() as u64;
                    if note.patient_block {
                        counts.blocked += 1;
                        self.by_source[input].blocked += 1;
                    }
                }
                if timeline {
                    after.push(row(&self.sources[input], &record));
                }
                out.push((input, record));
            }
            let answers = self.send(out, Some(first_clinical))?;
            for (input, delivered) in answers {
                if delivered {
                    counts.written += 1;
                    self.by_source[input].written += 1;
                } else {
                    counts.refused += 1;
                    self.by_source[input].refused += 1;
                }
            }
            if timeline {
                before.sort_by_key(|(input, position, _)| (*input, *position));
                self.timeline = Some(Timeline {
                    pupil: masked(key),
                    before: before.into_iter().map(|(_, _, r)| r).collect(),
                    after,
                });
            }
        }
        self.pupils.push(PupilReport {
            pupil: masked(key),
            reference: reference(key),
            counts,
            entries_in_by_source: by_source,
        });
        Ok(())
    }

    /// Sends records to the target; returns (input, delivered) for each
    /// record from index `clinical_from` on (the entries).
    fn send(
        &mut self,
        records: Vec<(usize, Record)>,
        clinical_from: Option<usize>,
    ) -> Result<Vec<(usize, bool)>, Failure> {
        let (inputs, records): (Vec<usize>, Vec<Record>) = records.into_iter().unzip();
        let answers = self.sink.send(&records);
        let mut entries = Vec::new();
        for (i, answer) in answers.into_iter().enumerate() {
            let delivered = match answer {
                Delivery::Delivered => true,
                Delivery::Permanent(reason) => {
                    self.refusals.push(Line {
                        source: self.sources[inputs[i]].clone(),
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
            if clinical_from.is_some_and(|from| i >= from) {
                entries.push((inputs[i], delivered));
            }
        }
        Ok(entries)
    }

    fn finish(
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
        Box::new(self.sink)
            .close()
            .map_err(|e| Failure::io(&path, e))?;
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
        let sources: Vec<SourceReport> = plan
            .sources
            .iter()
            .enumerate()
            .map(|(i, s)| SourceReport {
                format: s.format.name().to_owned(),
                path: s.path.display().to_string(),
                records_read: sorted.read.get(i).copied().unwrap_or(0),
                rejected: sorted.rejected.get(i).copied().unwrap_or(0),
                persons: sorted.persons.get(i).copied().unwrap_or(0),
                counts: self.by_source[i].clone(),
            })
            .collect();
        let mut totals = Counts::default();
        for s in &sources {
            totals.add(&s.counts);
        }
        let balanced = sources.iter().all(|s| s.counts.balanced())
            && self.pupils.iter().all(|p| p.counts.balanced());
        let outcome = if balanced
            && rejects.is_empty()
            && self.conflicts.is_empty()
            && self.refusals.is_empty()
        {
            Outcome::Clean
        } else {
            Outcome::Rejected
        };
        let report = Report {
            job: plan.key.clone(),
            brygga: format!("brygga {}", env!("CARGO_PKG_VERSION")),
            dry_run: plan.dry_run,
            target: format!(
                "{}:{}",
                plan.target.format.name(),
                plan.target.path.display()
            ),
            sources,
            totals,
            balanced,
            pupils: self.pupils,
            rejects,
            conflicts: self.conflicts,
            refusals: self.refusals,
            timeline: self.timeline,
        };
        Ok((report, outcome))
    }
}

/// The pupil key and record class of a pupil record's sort key.
fn split_pupil_key(key: &[u8]) -> (&str, u8) {
    let rest = key.get(1..).unwrap_or_default();
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    let pupil = std::str::from_utf8(&rest[..end]).unwrap_or_default();
    let class = rest.get(end + 1).copied().unwrap_or(CLASS_CLINICAL);
    (pupil, class)
}

fn decode_value(value: &[u8]) -> Result<(usize, u64, Record), Failure> {
    let corrupt = || Failure::Job("a sort run holds a damaged record; start a new job".into());
    let input = u16::from_le_bytes(
        value
            .get(0..2)
            .ok_or_else(corrupt)?
            .try_into()
            .map_err(|_| corrupt())?,
    );
    let position = u64::from_le_bytes(
        value
            .get(2..10)
            .ok_or_else(corrupt)?
            .try_into()
            .map_err(|_| corrupt())?,
    );
    let record = serde_json::from_slice(&value[10..]).map_err(|_| corrupt())?;
    Ok((usize::from(input), position, record))
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
        for id in other.identifiers {
            if !person.identifiers.contains(&id) {
                person.identifiers.push(id);
            }
        }
        for guardian in other.guardians {
            if !person.guardians.contains(&guardian) {
                person.guardians.push(guardian);
            }
        }
        for address in other.addresses {
            if !person.addresses.contains(&address) {
                person.addresses.push(address);
            }
        }
        for telecom in other.telecom {
            if !person.telecom.contains(&telecom) {
                person.telecom.push(telecom);
            }
        }
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

/// Files a record under `id` (a pupil's records may name them by an older
/// identifier, e.g. a samordningsnummer since replaced).
fn set_subject(record: &mut Record, id: &Identifier) {
    let subject = match record {
        Record::Person(_) | Record::Organisation(_) => return,
        Record::Placement(r) => &mut r.pupil,
        Record::Grade(r) => &mut r.pupil,
        Record::Absence(r) => &mut r.pupil,
        Record::Attendance(r) => &mut r.pupil,
        Record::Contact(r) => &mut r.patient,
        Record::JournalEntry(r) => &mut r.patient,
        Record::Measurement(r) => &mut r.patient,
        Record::Immunization(r) => &mut r.patient,
        Record::Consent(r) => &mut r.patient,
        Record::SurveyResponse(r) => &mut r.respondent,
    };
    subject.clone_from(id);
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

/// A progress bar on a terminal; log lines every ten seconds otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    count: std::cell::Cell<u64>,
    last_log: std::cell::Cell<Instant>,
    stage: std::cell::RefCell<String>,
}

impl Progress {
    fn new() -> Self {
        let bar = io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) =
                ProgressStyle::with_template("{spinner} {msg}: {pos} records, {per_sec}, {elapsed}")
            {
                bar.set_style(style);
            }
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
            count: std::cell::Cell::new(0),
            last_log: std::cell::Cell::new(Instant::now()),
            stage: std::cell::RefCell::new(String::new()),
        }
    }

    fn message(&self, text: &str) {
        *self.stage.borrow_mut() = text.to_owned();
        match &self.bar {
            Some(bar) => bar.set_message(text.to_owned()),
            None => tracing::info!(stage = text, "migrate"),
        }
    }

    fn tick(&self) {
        let n = self.count.get() + 1;
        self.count.set(n);
        if !n.is_multiple_of(4096) {
            return;
        }
        match &self.bar {
            Some(bar) => bar.set_position(n),
            None => {
                if self.last_log.get().elapsed() >= Duration::from_secs(10) {
                    self.last_log.set(Instant::now());
                    let seconds = self.started.elapsed().as_secs_f64().max(0.001);
                    tracing::info!(
                        stage = %self.stage.borrow(),
                        records = n,
                        per_second = (n as f64 / seconds) as u64,
                        "migrate progress"
                    );
                }
            }
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
