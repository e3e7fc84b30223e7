//! The embedded backend: one SQLite file in write-ahead-log mode with
//! `synchronous = FULL`, so a commit that returns is in the log on disk.
//!
//! One connection serves the process; rusqlite is blocking, so every
//! operation runs on tokio's blocking pool while holding the connection.
//! SQLite lets one writer at a time in any case, and a batch job's commits
//! are sequential; a second process opening the same file waits up to
//! [`BUSY_TIMEOUT`] for the lock instead of failing at once.

use std::collections::BTreeMap;
use std::fs::{DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};
use serde_json::Value;

use crate::error::{BackendKind, ErrorKind, StoreError, one_line};
use crate::schema::{self, SQLITE_VERSION_TABLE};
use crate::{
    Committed, Job, JobId, JobSpec, JobState, OpenedJob, PreparedBatch, ReportRow, StoreInfo,
    needs_tokio, now, parse_json,
};

/// How long an operation waits for another process's lock on the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub(crate) struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
    location: Arc<str>,
}

impl From<rusqlite::Error> for ErrorKind {
    fn from(error: rusqlite::Error) -> Self {
        ErrorKind::Database(one_line(&error.to_string()))
    }
}

impl SqliteStore {
    pub(crate) async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let location: Arc<str> = Arc::from(path.display().to_string());
        let owned = path.to_owned();
        let opened = match needs_tokio() {
            Ok(()) => tokio::task::spawn_blocking(move || open_blocking(&owned))
                .await
                .map_err(|error| ErrorKind::Interrupted(error.to_string()))
                .and_then(|result| result),
            Err(kind) => Err(kind),
        };
        let (connection, version) = opened
            .map_err(|kind| StoreError::new(BackendKind::Sqlite, location.clone(), "open", kind))?;
        tracing::info!(backend = "sqlite", location = %location, schema_version = version, "store opened");
        Ok(SqliteStore {
            connection: Arc::new(Mutex::new(connection)),
            location,
        })
    }

    pub(crate) fn error(&self, operation: &'static str, kind: ErrorKind) -> StoreError {
        StoreError::new(BackendKind::Sqlite, self.location.clone(), operation, kind)
    }

    /// Runs `work` on the blocking pool with the connection.
    async fn run<T, F>(&self, operation: &'static str, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, ErrorKind> + Send + 'static,
    {
        needs_tokio().map_err(|kind| self.error(operation, kind))?;
        let connection = self.connection.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave a transaction open:
            // rusqlite's `Transaction` rolls back when dropped.
            let mut connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
            work(&mut connection)
        })
        .await
        .map_err(|error| ErrorKind::Interrupted(error.to_string()))
        .and_then(|result| result)
        .map_err(|kind| self.error(operation, kind))
    }

    pub(crate) async fn info(&self) -> Result<StoreInfo, StoreError> {
        let location = self.location.to_string();
        self.run("read settings", move |connection| {
            let version = schema_version(connection)?;
            let journal_mode: String =
                connection.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
            let synchronous: i64 =
                connection.query_row("PRAGMA synchronous", [], |row| row.get(0))?;
            let foreign_keys: i64 =
                connection.query_row("PRAGMA foreign_keys", [], |row| row.get(0))?;
            let busy_timeout: i64 =
                connection.query_row("PRAGMA busy_timeout", [], |row| row.get(0))?;
            let synchronous = match synchronous {
                0 => "off".to_owned(),
                1 => "normal".to_owned(),
                2 => "full".to_owned(),
                3 => "extra".to_owned(),
                other => other.to_string(),
            };
            let on_off = |flag: i64| if flag == 0 { "off" } else { "on" };
            Ok(StoreInfo {
                backend: BackendKind::Sqlite,
                location,
                schema_version: version,
                settings: vec![
                    ("journal_mode".to_owned(), journal_mode.to_lowercase()),
                    ("synchronous".to_owned(), synchronous),
                    ("foreign_keys".to_owned(), on_off(foreign_keys).to_owned()),
                    ("busy_timeout".to_owned(), format!("{busy_timeout} ms")),
                ],
            })
        })
        .await
    }

    pub(crate) async fn open_job(&self, spec: JobSpec<'_>) -> Result<OpenedJob, StoreError> {
        let (kind, key, plan) = (
            spec.kind.to_owned(),
            spec.key.to_owned(),
            spec.plan.to_owned(),
        );
        self.run("open job", move |connection| {
            let now = stored_time(now());
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let created = tx.execute(
                "INSERT INTO jobs (kind, job_key, plan, state, created_at, updated_at)
                 VALUES (?1, ?2, ?3, 'running', ?4, ?4)
                 ON CONFLICT (job_key) DO NOTHING",
                params![kind, key, plan, now],
            )? == 1;
            let job = job_by_key(&tx, &key)?
                .ok_or_else(|| ErrorKind::Corrupt("the job just written is missing".to_owned()))?;
            if job.kind != kind || job.plan != plan {
                return Err(ErrorKind::JobMismatch);
            }
            tx.commit()?;
            Ok(if created {
                OpenedJob::Created(job)
            } else {
                OpenedJob::Resumed(job)
            })
        })
        .await
    }

    pub(crate) async fn job(&self, key: &str) -> Result<Option<Job>, StoreError> {
        let key = key.to_owned();
        self.run("read job", move |connection| job_by_key(connection, &key))
            .await
    }

    pub(crate) async fn jobs(&self) -> Result<Vec<Job>, StoreError> {
        self.run("list jobs", |connection| {
            let mut statement =
                connection.prepare(&format!("SELECT {JOB_COLUMNS} FROM jobs ORDER BY id"))?;
            let rows = statement.query_map([], job_columns)?;
            let mut jobs = Vec::new();
            for row in rows {
                jobs.push(job_from_columns(row?)?);
            }
            Ok(jobs)
        })
        .await
    }

    pub(crate) async fn commit(
        &self,
        job: JobId,
        batch: PreparedBatch,
    ) -> Result<Committed, StoreError> {
        self.run("commit", move |connection| {
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let committed = commit_in(&tx, job, &batch)?;
            tx.commit()?;
            Ok(committed)
        })
        .await
    }

    pub(crate) async fn checkpoints(
        &self,
        job: JobId,
    ) -> Result<BTreeMap<String, Value>, StoreError> {
        self.run("read checkpoints", move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT name, value FROM job_checkpoints WHERE job_id = ?1 ORDER BY name",
            )?;
            let rows = statement.query_map([job.0], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?;
            let mut checkpoints = BTreeMap::new();
            for row in rows {
                let (name, value) = row?;
                let value = parse_json("a checkpoint value", &value)?;
                checkpoints.insert(name, value);
            }
            Ok(checkpoints)
        })
        .await
    }

    pub(crate) async fn report_page(
        &self,
        job: JobId,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, ReportRow)>, StoreError> {
        self.run("read report rows", move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT seq, row_key, kind, source, pupil, detail FROM job_report_rows
                 WHERE job_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = statement.query_map(params![job.0, after, limit], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, Option<String>>(4)?,
                    row.get::<_, String>(5)?,
                ))
            })?;
            let mut page = Vec::with_capacity(usize::try_from(limit).unwrap_or(0).min(4096));
            for row in rows {
                let (seq, key, kind, source, pupil, detail) = row?;
                let detail = parse_json("a report row's detail", &detail)?;
                page.push((
                    seq,
                    ReportRow {
                        key,
                        kind,
                        source,
                        pupil,
                        detail,
                    },
                ));
            }
            Ok(page)
        })
        .await
    }
}

/// Creates the file and its directory if needed, sets the connection up and
/// applies the migrations. Returns the schema version.
fn open_blocking(path: &Path) -> Result<(Connection, u32), ErrorKind> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        // The store holds health data: only the service account may look in.
        DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(parent)
            .map_err(|error| {
                ErrorKind::Filesystem(format!(
                    "cannot create the directory {}: {error}",
                    parent.display()
                ))
            })?;
    }
    // Created here rather than by SQLite so that it is readable by its owner
    // only; SQLite gives the -wal and -shm files the same permissions.
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => {
            return Err(ErrorKind::Filesystem(format!(
                "cannot create the file: {error}"
            )));
        }
    }
    let mut connection = Connection::open(path)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    let mode = wal_mode(&connection)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(ErrorKind::NoWriteAheadLog { mode });
    }
    // Both are per connection, so they are set every time.
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    let version = migrate(&mut connection)?;
    Ok((connection, version))
}

/// Switches the connection to write-ahead logging and returns the journal
/// mode in force. Of several connections switching a new file at once,
/// SQLite answers some "database is locked" at once, without waiting on
/// the busy timeout (the switch takes an exclusive lock it does not wait
/// for): those try again until the busy timeout has passed.
fn wal_mode(connection: &Connection) -> Result<String, ErrorKind> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)) {
            Err(error)
                if Instant::now() < deadline
                    && matches!(
                        error.sqlite_error_code(),
                        Some(
                            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                        )
                    ) =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            answer => return answer.map_err(ErrorKind::from),
        }
    }
}

/// Applies the missing migrations, one transaction each. `BEGIN IMMEDIATE`
/// takes SQLite's write lock before the version is read, so of two processes
/// opening a new file at once, the second waits and then finds the schema
/// up to date.
fn migrate(connection: &mut Connection) -> Result<u32, ErrorKind> {
    loop {
        let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(SQLITE_VERSION_TABLE)?;
        let current: i64 = tx.query_row(
            "SELECT coalesce(max(version), 0) FROM schema_version",
            [],
            |row| row.get(0),
        )?;
        let Some(migration) = schema::next_after(current)? else {
            tx.commit()?;
            return Ok(schema::SCHEMA_VERSION);
        };
        let failed = |error: rusqlite::Error| ErrorKind::Migration {
            version: migration.version,
            name: migration.name,
            cause: one_line(&error.to_string()),
        };
        tx.execute_batch(migration.sqlite).map_err(failed)?;
        tx.execute(
            "INSERT INTO schema_version (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![migration.version, migration.name, stored_time(now())],
        )
        .map_err(failed)?;
        tx.commit().map_err(failed)?;
        tracing::info!(
            backend = "sqlite",
            version = migration.version,
            name = migration.name,
            "applied schema migration"
        );
    }
}

fn schema_version(connection: &Connection) -> Result<u32, ErrorKind> {
    let version: i64 = connection.query_row(
        "SELECT coalesce(max(version), 0) FROM schema_version",
        [],
        |row| row.get(0),
    )?;
    u32::try_from(version)
        .map_err(|_| ErrorKind::Corrupt(format!("schema version {version} is out of range")))
}

fn commit_in(
    tx: &Transaction<'_>,
    job: JobId,
    batch: &PreparedBatch,
) -> Result<Committed, ErrorKind> {
    let now = stored_time(batch.now);
    let next_seq: i64 = tx
        .query_row(
            "SELECT next_report_seq FROM jobs WHERE id = ?1",
            [job.0],
            |row| row.get(0),
        )
        .optional()?
        .ok_or(ErrorKind::JobNotFound(job))?;

    for (name, value) in &batch.checkpoints {
        match value {
            Some(value) => {
                tx.prepare_cached(
                    "INSERT INTO job_checkpoints (job_id, name, value, updated_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (job_id, name)
                     DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                )?
                .execute(params![job.0, name, value, now])?;
            }
            None => {
                tx.prepare_cached("DELETE FROM job_checkpoints WHERE job_id = ?1 AND name = ?2")?
                    .execute(params![job.0, name])?;
            }
        }
    }

    let mut committed = Committed::default();
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO job_report_rows (job_id, seq, row_key, kind, source, pupil, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (job_id, row_key) DO NOTHING",
        )?;
        let mut stored = tx.prepare_cached(
            "SELECT kind, source, pupil, detail FROM job_report_rows
             WHERE job_id = ?1 AND row_key = ?2",
        )?;
        for (index, row) in batch.report_rows.iter().enumerate() {
            let seq = next_seq + i64::try_from(index).unwrap_or(i64::MAX);
            let inserted = insert.execute(params![
                job.0, seq, row.key, row.kind, row.source, row.pupil, row.detail
            ])?;
            if inserted == 1 {
                committed.new_report_rows += 1;
                continue;
            }
            let (kind, source, pupil, detail) = stored.query_row(params![job.0, row.key], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?;
            if !row.same_as(&kind, &source, pupil.as_deref(), &detail) {
                return Err(ErrorKind::ReportRowConflict { index });
            }
            committed.duplicate_report_rows += 1;
        }
    }

    let rows_in_batch = i64::try_from(batch.report_rows.len()).unwrap_or(i64::MAX);
    let new_rows = i64::try_from(committed.new_report_rows).unwrap_or(i64::MAX);
    tx.prepare_cached(
        "UPDATE jobs SET updated_at = ?2, next_report_seq = next_report_seq + ?3,
                         report_rows = report_rows + ?4 WHERE id = ?1",
    )?
    .execute(params![job.0, now, rows_in_batch, new_rows])?;
    if let Some((state, failure)) = &batch.state {
        let finished_at = (*state != JobState::Running).then_some(&now);
        tx.prepare_cached(
            "UPDATE jobs SET state = ?2, failure = ?3, finished_at = ?4 WHERE id = ?1",
        )?
        .execute(params![job.0, state.as_str(), failure, finished_at])?;
    }
    Ok(committed)
}

const JOB_COLUMNS: &str = "id, kind, job_key, plan, state, failure, created_at, updated_at, \
                           finished_at, report_rows";

type JobColumns = (
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    i64,
);

fn job_columns(row: &Row<'_>) -> rusqlite::Result<JobColumns> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
    ))
}

fn job_from_columns(columns: JobColumns) -> Result<Job, ErrorKind> {
    let (id, kind, key, plan, state, failure, created, updated, finished, report_rows) = columns;
    Ok(Job {
        id: JobId(id),
        kind,
        key,
        plan,
        state: JobState::parse(&state)?,
        failure,
        created_at: parse_time(&created)?,
        updated_at: parse_time(&updated)?,
        finished_at: finished.as_deref().map(parse_time).transpose()?,
        report_rows: u64::try_from(report_rows).unwrap_or(0),
    })
}

fn job_by_key(connection: &Connection, key: &str) -> Result<Option<Job>, ErrorKind> {
    let columns = connection
        .prepare_cached(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE job_key = ?1"
        ))?
        .query_row([key], job_columns)
        .optional()?;
    columns.map(job_from_columns).transpose()
}

/// Times are stored as RFC 3339 UTC text with a fixed six decimals, so that
/// they sort as text and read back as PostgreSQL gives them.
fn stored_time(time: Timestamp) -> String {
    format!("{time:.6}")
}

fn parse_time(text: &str) -> Result<Timestamp, ErrorKind> {
    text.parse()
        .map_err(|error| ErrorKind::Corrupt(format!("time {text:?}: {error}")))
}
