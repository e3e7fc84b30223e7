//! # brygga-store — the gateway's durable store
//!
//! One API over two databases, chosen by the `[store]` configuration:
//!
//! - **SQLite** (the default): one file, write-ahead log with `synchronous =
//!   FULL`, for a single instance ([`Store::open_sqlite`]);
//! - **PostgreSQL** through a deadpool connection pool, for several instances
//!   sharing one database ([`Store::open_postgres`]).
//!
//! Both behave the same from the caller's view, and one shared test suite
//! runs every test against both (`tests/store/`). Operations, backups and
//! the schema are described in `docs/store.md`.
//!
//! The API is async and needs a tokio runtime: SQLite calls run on tokio's
//! blocking pool, PostgreSQL connections are tokio tasks.
//!
//! Opening a store applies the numbered schema migrations it lacks
//! ([`SCHEMA_VERSION`]; the rules for adding one are in `src/schema.rs`),
//! each in one transaction, and refuses a database written by a newer Brygga.
//!
//! What the store keeps today is what a long, resumable batch job
//! (`brygga migrate`) needs to survive `kill -9` at any moment:
//!
//! - **jobs**, found again by a stable key ([`Store::open_job`]);
//! - **checkpoints**: named JSON values per job;
//! - **report rows**: append-only rows the job's reconciliation report is
//!   built from, idempotent on a caller-given key and read back in append
//!   order with bounded memory ([`Store::report_rows`]).
//!
//! Every write goes through [`Store::commit`]: a [`Batch`] of checkpoints,
//! report rows and a job state change is written in one transaction, all or
//! nothing, and when `commit` returns it is on disk (SQLite `FULL` sync, a
//! PostgreSQL commit). A job that records "runs 1–7 sorted" together with the
//! source positions and the rejects it found on the way can therefore resume
//! from exactly where the last acknowledged commit left it.
//!
//! Errors are [`StoreError`]: one line naming the backend, the operation and
//! the cause, never a password or a stored value.
//!
//! With the `testing` feature, [`testing`] starts a real throwaway
//! PostgreSQL server for tests, in this crate and the crates built on it.

mod error;
mod postgres;
mod schema;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::path::Path;

use jiff::Timestamp;
use serde_json::Value;

pub use error::{BackendKind, ErrorKind, StoreError};
pub use schema::SCHEMA_VERSION;

/// The gateway's durable store. Cheap to clone: clones share the SQLite
/// connection or the PostgreSQL pool.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PostgresStore),
}

/// A job's id in one store. Ids are not portable between stores; the job's
/// key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(i64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What identifies a job: the caller's kind of job (`"migrate"`), a stable
/// key (a hash of the plan, so the same command finds the same job), and
/// the plan itself, kept for people reading the job list.
#[derive(Debug, Clone, Copy)]
pub struct JobSpec<'a> {
    pub kind: &'a str,
    pub key: &'a str,
    pub plan: &'a str,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Created and not finished; a job killed mid-way stays here.
    Running,
    /// Finished successfully.
    Completed,
    /// Given up, with a reason ([`Job::failure`]).
    Failed,
}

impl JobState {
    fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<JobState, ErrorKind> {
        match text {
            "running" => Ok(JobState::Running),
            "completed" => Ok(JobState::Completed),
            "failed" => Ok(JobState::Failed),
            other => Err(ErrorKind::Corrupt(format!("unknown job state {other:?}"))),
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: JobId,
    pub kind: String,
    pub key: String,
    pub plan: String,
    pub state: JobState,
    /// Why the job failed; only for [`JobState::Failed`].
    pub failure: Option<String>,
    pub created_at: Timestamp,
    /// The last commit to the job.
    pub updated_at: Timestamp,
    /// When it completed or failed.
    pub finished_at: Option<Timestamp>,
    /// How many report rows it holds.
    pub report_rows: u64,
}

/// The answer to [`Store::open_job`]: a new job, or the stored one to resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenedJob {
    Created(Job),
    Resumed(Job),
}

impl OpenedJob {
    pub fn job(&self) -> &Job {
        match self {
            OpenedJob::Created(job) | OpenedJob::Resumed(job) => job,
        }
    }

    pub fn into_job(self) -> Job {
        match self {
            OpenedJob::Created(job) | OpenedJob::Resumed(job) => job,
        }
    }

    pub fn is_new(&self) -> bool {
        matches!(self, OpenedJob::Created(_))
    }
}

/// One row of a job's reconciliation report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRow {
    /// The caller's idempotency key, unique within the job: appending a row
    /// whose key is stored is a no-op (if its content is the same).
    pub key: String,
    /// What the row reports, in the caller's terms (`"reject"`, `"written"`).
    pub kind: String,
    /// Where it came from (a source system or file).
    pub source: String,
    /// The pupil it concerns, when there is one.
    pub pupil: Option<String>,
    /// Anything else, as JSON; given back exactly as written.
    pub detail: Value,
}

/// What one [`Store::commit`] writes, in one transaction: checkpoint values
/// (set or removed), report rows, and a change of the job's state.
///
/// ```
/// # use brygga_store::{Batch, ReportRow};
/// # use serde_json::json;
/// let mut batch = Batch::new();
/// batch
///     .checkpoint("sorted_runs", json!(7))
///     .checkpoint("source_positions", json!({"pmo": 123_456}))
///     .report_row(ReportRow {
///         key: "reject:pmo:41".into(),
///         kind: "reject".into(),
///         source: "pmo".into(),
///         pupil: None,
///         detail: json!({"reason": "impossible date"}),
///     });
/// assert!(!batch.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    checkpoints: BTreeMap<String, Option<Value>>,
    report_rows: Vec<ReportRow>,
    state: Option<StateChange>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum StateChange {
    Running,
    Completed,
    Failed(String),
}

impl Batch {
    pub fn new() -> Self {
        Batch::default()
    }

    /// Sets checkpoint `name` to `value` (replacing what it held).
    pub fn checkpoint(&mut self, name: impl Into<String>, value: Value) -> &mut Self {
        self.checkpoints.insert(name.into(), Some(value));
        self
    }

    /// Removes checkpoint `name`, if it is stored.
    pub fn remove_checkpoint(&mut self, name: impl Into<String>) -> &mut Self {
        self.checkpoints.insert(name.into(), None);
        self
    }

    /// Appends a report row; rows keep the order they are appended in.
    pub fn report_row(&mut self, row: ReportRow) -> &mut Self {
        self.report_rows.push(row);
        self
    }

    /// Marks the job completed with this commit.
    pub fn completed(&mut self) -> &mut Self {
        self.state = Some(StateChange::Completed);
        self
    }

    /// Marks the job failed with this commit, for `reason`.
    pub fn failed(&mut self, reason: impl Into<String>) -> &mut Self {
        self.state = Some(StateChange::Failed(reason.into()));
        self
    }

    /// Marks the job running again (resuming a failed job).
    pub fn running(&mut self) -> &mut Self {
        self.state = Some(StateChange::Running);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.checkpoints.is_empty() && self.report_rows.is_empty() && self.state.is_none()
    }

    /// Checks the batch and turns its JSON into text, before any
    /// transaction starts, so a bad batch never reaches the database.
    fn prepare(&self) -> Result<PreparedBatch, ErrorKind> {
        let mut checkpoints = Vec::with_capacity(self.checkpoints.len());
        for (name, value) in &self.checkpoints {
            check_text("checkpoint name", name, false)?;
            checkpoints.push((name.clone(), value.as_ref().map(Value::to_string)));
        }
        let mut report_rows = Vec::with_capacity(self.report_rows.len());
        for (index, row) in self.report_rows.iter().enumerate() {
            let field = |name: &str| format!("report row {index}: {name}");
            check_text(&field("key"), &row.key, false)?;
            check_text(&field("kind"), &row.kind, false)?;
            check_text(&field("source"), &row.source, true)?;
            if let Some(pupil) = &row.pupil {
                check_text(&field("pupil"), pupil, true)?;
            }
            report_rows.push(PreparedRow {
                key: row.key.clone(),
                kind: row.kind.clone(),
                source: row.source.clone(),
                pupil: row.pupil.clone(),
                detail: row.detail.to_string(),
            });
        }
        let state = match &self.state {
            None => None,
            Some(StateChange::Failed(reason)) => {
                check_text("failure reason", reason, true)?;
                Some((JobState::Failed, Some(reason.clone())))
            }
            Some(StateChange::Completed) => Some((JobState::Completed, None)),
            Some(StateChange::Running) => Some((JobState::Running, None)),
        };
        Ok(PreparedBatch {
            checkpoints,
            report_rows,
            state,
            now: now(),
        })
    }
}

/// Refuses what one of the backends could not store: PostgreSQL text cannot
/// hold NUL, so neither backend takes it and both behave the same.
fn check_text(what: &str, text: &str, may_be_empty: bool) -> Result<(), ErrorKind> {
    if !may_be_empty && text.is_empty() {
        return Err(ErrorKind::Invalid(format!("{what} must not be empty")));
    }
    if text.contains('\0') {
        return Err(ErrorKind::Invalid(format!(
            "{what} contains a NUL character"
        )));
    }
    Ok(())
}

/// A checked [`Batch`] with its JSON as text, ready for either backend.
#[derive(Debug, Clone)]
struct PreparedBatch {
    /// Name and value; `None` removes the checkpoint.
    checkpoints: Vec<(String, Option<String>)>,
    report_rows: Vec<PreparedRow>,
    state: Option<(JobState, Option<String>)>,
    now: Timestamp,
}

#[derive(Debug, Clone)]
struct PreparedRow {
    key: String,
    kind: String,
    source: String,
    pupil: Option<String>,
    detail: String,
}

impl PreparedRow {
    /// Whether a stored row (columns kind, source, pupil, detail) says the
    /// same as this one. JSON is compared as values, so a different Brygga
    /// version's key order or number formatting does not count as a change.
    fn same_as(&self, kind: &str, source: &str, pupil: Option<&str>, detail: &str) -> bool {
        if self.kind != kind || self.source != source || self.pupil.as_deref() != pupil {
            return false;
        }
        if self.detail == detail {
            return true;
        }
        match (
            serde_json::from_str::<Value>(&self.detail),
            serde_json::from_str::<Value>(detail),
        ) {
            (Ok(new), Ok(stored)) => new == stored,
            _ => false,
        }
    }
}

/// What a [`Store::commit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Committed {
    /// Report rows that were new.
    pub new_report_rows: u64,
    /// Report rows whose key was already stored with the same content.
    pub duplicate_report_rows: u64,
}

/// How a store is set up, for logs and `brygga` diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreInfo {
    pub backend: BackendKind,
    /// The file, or PostgreSQL's hosts and database (never the password).
    pub location: String,
    pub schema_version: u32,
    /// The settings durability depends on, as the database reports them:
    /// SQLite's `journal_mode`, `synchronous`, `foreign_keys`,
    /// `busy_timeout`; PostgreSQL's `server_version`, `synchronous_commit`,
    /// `fsync`, `default_transaction_isolation`.
    pub settings: Vec<(String, String)>,
}

/// How many report rows one read fetches; bounds the memory of a read of a
/// county-scale report.
const REPORT_PAGE: usize = 1024;

impl Store {
    /// Opens (creating it and its directory if missing) the SQLite store at
    /// `path`, and brings its schema up to date.
    pub async fn open_sqlite(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let store = sqlite::SqliteStore::open(path.as_ref()).await?;
        Ok(Store {
            backend: Backend::Sqlite(store),
        })
    }

    /// Connects to the PostgreSQL database at `url` (a `postgres://` URL or
    /// a `key=value` connection string) with at most `pool_size` connections,
    /// and brings its schema up to date. Several instances may open the same
    /// database at once; each migration is applied by exactly one of them.
    pub async fn open_postgres(url: &str, pool_size: u32) -> Result<Store, StoreError> {
        let store = postgres::PostgresStore::open(url, pool_size).await?;
        Ok(Store {
            backend: Backend::Postgres(store),
        })
    }

    pub fn backend(&self) -> BackendKind {
        match &self.backend {
            Backend::Sqlite(_) => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// The schema version and the durability settings in effect.
    pub async fn info(&self) -> Result<StoreInfo, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => store.info().await,
            Backend::Postgres(store) => store.info().await,
        }
    }

    /// Creates the job `spec.key`, or finds the one stored under that key to
    /// resume it. A stored job with the same key but another kind or plan is
    /// an error ([`ErrorKind::JobMismatch`]). Its state is left as it is: a
    /// resumed failed job stays failed until a commit says
    /// [`Batch::running`].
    pub async fn open_job(&self, spec: JobSpec<'_>) -> Result<OpenedJob, StoreError> {
        let checked = check_text("job kind", spec.kind, false)
            .and_then(|()| check_text("job key", spec.key, false))
            .and_then(|()| check_text("job plan", spec.plan, true));
        if let Err(kind) = checked {
            return Err(self.error("open job", kind));
        }
        match &self.backend {
            Backend::Sqlite(store) => store.open_job(spec).await,
            Backend::Postgres(store) => store.open_job(spec).await,
        }
    }

    /// The job stored under `key`.
    pub async fn job(&self, key: &str) -> Result<Option<Job>, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => store.job(key).await,
            Backend::Postgres(store) => store.job(key).await,
        }
    }

    /// Every job, oldest first.
    pub async fn jobs(&self) -> Result<Vec<Job>, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => store.jobs().await,
            Backend::Postgres(store) => store.jobs().await,
        }
    }

    /// Writes `batch` for `job` in one transaction: everything or, on any
    /// error, nothing. When it returns `Ok` the batch is durable.
    ///
    /// Report rows get the next positions in the job's report in batch
    /// order; a row whose key is stored with the same content is skipped
    /// (so a resumed job may re-append what it appended before the crash),
    /// one with different content fails the whole batch
    /// ([`ErrorKind::ReportRowConflict`]).
    ///
    /// Committing the same batch twice changes nothing the second time
    /// (checkpoints are absolute values, rows are keyed), so after an error
    /// whose outcome is unknown — a PostgreSQL connection lost during
    /// `COMMIT` — the batch can simply be committed again.
    pub async fn commit(&self, job: JobId, batch: &Batch) -> Result<Committed, StoreError> {
        let prepared = batch.prepare().map_err(|kind| self.error("commit", kind))?;
        match &self.backend {
            Backend::Sqlite(store) => store.commit(job, prepared).await,
            Backend::Postgres(store) => store.commit(job, prepared).await,
        }
    }

    /// The job's checkpoints by name.
    pub async fn checkpoints(&self, job: JobId) -> Result<BTreeMap<String, Value>, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => store.checkpoints(job).await,
            Backend::Postgres(store) => store.checkpoints(job).await,
        }
    }

    /// The job's report rows in append order, read a page at a time: memory
    /// stays bounded however many rows the job has. Rows appended while the
    /// read is under way are included if they come after its position.
    pub fn report_rows(&self, job: JobId) -> ReportRows {
        ReportRows {
            store: self.clone(),
            job,
            after: 0,
            page: VecDeque::new(),
            done: false,
        }
    }

    async fn report_page(
        &self,
        job: JobId,
        after: i64,
    ) -> Result<Vec<(i64, ReportRow)>, StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => store.report_page(job, after, REPORT_PAGE).await,
            Backend::Postgres(store) => store.report_page(job, after, REPORT_PAGE).await,
        }
    }

    fn error(&self, operation: &'static str, kind: ErrorKind) -> StoreError {
        match &self.backend {
            Backend::Sqlite(store) => store.error(operation, kind),
            Backend::Postgres(store) => store.error(operation, kind),
        }
    }
}

/// A job's report rows in order; see [`Store::report_rows`].
#[derive(Debug)]
pub struct ReportRows {
    store: Store,
    job: JobId,
    /// The position of the last row handed out.
    after: i64,
    page: VecDeque<(i64, ReportRow)>,
    done: bool,
}

impl ReportRows {
    /// The next row, or `None` after the last.
    pub async fn next(&mut self) -> Result<Option<ReportRow>, StoreError> {
        if self.page.is_empty() && !self.done {
            let page = self.store.report_page(self.job, self.after).await?;
            self.done = page.len() < REPORT_PAGE;
            self.page = page.into();
        }
        Ok(self.page.pop_front().map(|(seq, row)| {
            self.after = seq;
            row
        }))
    }
}

/// The current time at the precision both backends keep (PostgreSQL stores
/// microseconds), so a time reads back as it was written.
fn now() -> Timestamp {
    let now = Timestamp::now();
    now.round(jiff::Unit::Microsecond).unwrap_or(now)
}

/// The store runs on tokio (blocking pool for SQLite, spawned connections for
/// PostgreSQL); polled by another executor it reports that instead of
/// panicking inside tokio.
fn needs_tokio() -> Result<(), ErrorKind> {
    tokio::runtime::Handle::try_current()
        .map(drop)
        .map_err(|_| ErrorKind::Interrupted("the store must run on a tokio runtime".to_owned()))
}

/// Reads a stored JSON text back into a value.
fn parse_json(what: &str, text: &str) -> Result<Value, ErrorKind> {
    serde_json::from_str(text)
        .map_err(|error| ErrorKind::Corrupt(format!("{what} is not JSON: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(key: &str) -> ReportRow {
        ReportRow {
            key: key.to_owned(),
            kind: "reject".to_owned(),
            source: "pmo".to_owned(),
            pupil: None,
            detail: json!({"b": 1, "a": [1.5, "x"]}),
        }
    }

    #[test]
    fn a_batch_is_checked_before_it_is_written() {
        let mut batch = Batch::new();
        batch.checkpoint("", json!(1));
        assert_eq!(
            batch.prepare().err(),
            Some(ErrorKind::Invalid(
                "checkpoint name must not be empty".to_owned()
            ))
        );

        let mut batch = Batch::new();
        batch.report_row(row("a")).report_row(row("b\0"));
        assert_eq!(
            batch.prepare().err(),
            Some(ErrorKind::Invalid(
                "report row 1: key contains a NUL character".to_owned()
            ))
        );

        let mut batch = Batch::new();
        batch.report_row(ReportRow {
            kind: String::new(),
            ..row("a")
        });
        assert!(batch.prepare().is_err());
    }

    #[test]
    fn the_last_word_on_a_checkpoint_wins_within_a_batch() {
        let mut batch = Batch::new();
        batch
            .checkpoint("a", json!(1))
            .remove_checkpoint("a")
            .checkpoint("b", json!(2))
            .checkpoint("b", json!(3));
        let prepared = batch.prepare().ok();
        assert_eq!(
            prepared.map(|p| p.checkpoints),
            Some(vec![
                ("a".to_owned(), None),
                ("b".to_owned(), Some("3".to_owned()))
            ])
        );
    }

    #[test]
    fn report_rows_are_compared_by_json_value_not_text() {
        let mut batch = Batch::new();
        batch.report_row(row("k"));
        let prepared = batch.prepare().ok();
        let Some(new) = prepared.as_ref().map(|p| &p.report_rows[0]) else {
            panic!("batch should prepare");
        };
        assert!(new.same_as("reject", "pmo", None, r#"{"a":[1.5,"x"],"b":1}"#));
        assert!(new.same_as("reject", "pmo", None, r#"{ "b": 1, "a": [1.5, "x"] }"#));
        assert!(!new.same_as("reject", "pmo", None, r#"{"a":[1.5,"x"],"b":2}"#));
        assert!(!new.same_as("reject", "pmo", Some("p"), r#"{"a":[1.5,"x"],"b":1}"#));
        assert!(!new.same_as("written", "pmo", None, r#"{"a":[1.5,"x"],"b":1}"#));
        assert!(!new.same_as("reject", "pmo", None, "not json"));
    }

    #[test]
    fn outside_tokio_the_store_says_so_instead_of_panicking() {
        use std::future::Future;
        use std::task::{Context, Poll, Waker};
        let dir = std::env::temp_dir().join("brygga-store-never-created");
        let mut opening = std::pin::pin!(Store::open_sqlite(dir.join("brygga.sqlite")));
        let mut context = Context::from_waker(Waker::noop());
        match opening.as_mut().poll(&mut context) {
            Poll::Ready(Err(error)) => assert_eq!(
                error.to_string(),
                format!(
                    "sqlite store {}: open: the operation was interrupted: the store must run on a tokio runtime",
                    dir.join("brygga.sqlite").display()
                )
            ),
            other => panic!("expected an error at once, got {other:?}"),
        }
        assert!(!dir.exists());
    }

    #[test]
    fn job_states_round_trip_through_their_stored_names() {
        for state in [JobState::Running, JobState::Completed, JobState::Failed] {
            assert_eq!(JobState::parse(state.as_str()), Ok(state));
        }
        assert!(JobState::parse("paused").is_err());
    }
}
