//! The shared backend: a PostgreSQL database reached through a deadpool
//! connection pool, for several gateway instances using one database.
//!
//! A commit that returns has been committed by the server, which with the
//! server's default `synchronous_commit = on` means it is in its log on disk.
//! Concurrency is the database's: schema migrations are serialised by a
//! transaction-scoped advisory lock, commits to one job by the lock on the
//! job's row.
//!
//! Connections are plain TCP or a Unix socket, without TLS (see
//! `docs/store.md`).

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::error::Error as _;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod};
use jiff::Timestamp;
use serde_json::Value;
use tokio_postgres::config::Host;
use tokio_postgres::{NoTls, Row};

use crate::error::{BackendKind, ErrorKind, StoreError, one_line};
use crate::schema::{self, POSTGRES_VERSION_TABLE};
use crate::{
    Committed, Job, JobId, JobSpec, JobState, OpenedJob, PreparedBatch, ReportRow, StoreInfo,
    needs_tokio, now, parse_json,
};

/// The advisory lock that serialises schema migrations between instances
/// opening one database at once: "brygga" in ASCII, then the lock's number.
const MIGRATION_LOCK: i64 = 0x6272_7967_6761_0001;

/// Used when the URL sets no `connect_timeout`: a server that does not
/// answer is reported instead of waited for.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub(crate) struct PostgresStore {
    pool: Pool,
    location: Arc<str>,
}

impl From<tokio_postgres::Error> for ErrorKind {
    fn from(error: tokio_postgres::Error) -> Self {
        ErrorKind::Database(describe(&error))
    }
}

impl From<PoolError> for ErrorKind {
    fn from(error: PoolError) -> Self {
        match error {
            PoolError::Backend(error) => ErrorKind::Connect(describe(&error)),
            other => ErrorKind::Connect(one_line(&other.to_string())),
        }
    }
}

/// A PostgreSQL error in one line without values: a server error's severity,
/// code and message (its `DETAIL`, which can quote a row, is left out); for
/// anything else the error and its causes, which never hold the password.
fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return one_line(&format!(
            "{} {}: {}",
            db.severity(),
            db.code().code(),
            db.message()
        ));
    }
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    one_line(&text)
}

/// The store connects without TLS (see `docs/store.md`). A URL that asks for
/// it is refused with that reason, rather than with tokio-postgres's
/// "invalid value for option `sslmode`" for `verify-full`, or a failed
/// handshake for `require`.
fn refuse_tls(url: &str) -> Result<(), ErrorKind> {
    let options: Vec<&str> = match url.split_once("://") {
        Some((_, rest)) => rest
            .split_once('?')
            .map_or("", |(_, query)| query.split('#').next().unwrap_or(""))
            .split('&')
            .collect(),
        None => url.split_whitespace().collect(),
    };
    for option in options {
        let Some((key, value)) = option.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('\'');
        if key.trim() == "sslmode" && matches!(value, "require" | "verify-ca" | "verify-full") {
            return Err(ErrorKind::Url(format!(
                "sslmode={value} asks for TLS, which the store cannot use yet; see docs/store.md"
            )));
        }
    }
    Ok(())
}

/// Hosts, port and database, for messages: everything about where the
/// database is except the user's credentials.
fn location(config: &tokio_postgres::Config) -> String {
    let ports = config.get_ports();
    // One port for every host, or one per host, as libpq has it.
    let port = |index: usize| ports.get(index).or(ports.first()).copied().unwrap_or(5432);
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(index, host)| match host {
            Host::Tcp(name) => format!("{name}:{}", port(index)),
            Host::Unix(path) => format!("{}:{}", path.display(), port(index)),
        })
        .collect();
    let hosts = if hosts.is_empty() {
        format!("localhost:{}", port(0))
    } else {
        hosts.join(",")
    };
    let database = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{hosts}/{database}")
}

impl PostgresStore {
    pub(crate) async fn open(url: &str, pool_size: u32) -> Result<PostgresStore, StoreError> {
        let unplaced = |kind| StoreError::new(BackendKind::Postgres, Arc::from(""), "open", kind);
        refuse_tls(url).map_err(unplaced)?;
        let mut config = tokio_postgres::Config::from_str(url).map_err(|error| {
            // The parser's message names the option, never its value.
            unplaced(ErrorKind::Url(format!(
                "not a usable PostgreSQL URL: {}",
                describe(&error)
            )))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("brygga");
        }
        let location: Arc<str> = Arc::from(location(&config));
        let failed = |kind| StoreError::new(BackendKind::Postgres, location.clone(), "open", kind);
        if pool_size == 0 {
            return Err(failed(ErrorKind::Invalid(
                "the pool size must be at least 1".to_owned(),
            )));
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(usize::try_from(pool_size).unwrap_or(usize::MAX))
            .build()
            .map_err(|error| failed(ErrorKind::Connect(error.to_string())))?;
        let store = PostgresStore {
            pool,
            location: location.clone(),
        };
        let version = store.migrate().await.map_err(failed)?;
        tracing::info!(backend = "postgres", location = %location, schema_version = version, "store opened");
        Ok(store)
    }

    pub(crate) fn error(&self, operation: &'static str, kind: ErrorKind) -> StoreError {
        StoreError::new(
            BackendKind::Postgres,
            self.location.clone(),
            operation,
            kind,
        )
    }

    async fn client(&self) -> Result<Object, ErrorKind> {
        needs_tokio()?;
        Ok(self.pool.get().await?)
    }

    /// Applies the missing migrations, one transaction each. Every
    /// transaction first takes [`MIGRATION_LOCK`] and only then reads the
    /// version, so instances starting together apply each migration once:
    /// the others wait for the lock, then find it applied. The lock ends with
    /// the transaction, so a killed instance never leaves it held.
    async fn migrate(&self) -> Result<u32, ErrorKind> {
        let mut client = self.client().await?;
        loop {
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await?;
            // Looked up first: `CREATE TABLE IF NOT EXISTS` needs the right to
            // create tables even when the table exists, and a role that may
            // only read and write rows should still open an up-to-date store.
            let has_versions: bool = tx
                .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
                .await?
                .try_get(0)?;
            if !has_versions {
                tx.batch_execute(POSTGRES_VERSION_TABLE).await?;
            }
            let current: i64 = tx
                .query_one(
                    "SELECT coalesce(max(version), 0)::bigint FROM schema_version",
                    &[],
                )
                .await?
                .try_get(0)?;
            let Some(migration) = schema::next_after(current)? else {
                tx.commit().await?;
                return Ok(schema::SCHEMA_VERSION);
            };
            let failed = |error: tokio_postgres::Error| ErrorKind::Migration {
                version: migration.version,
                name: migration.name,
                cause: describe(&error),
            };
            tx.batch_execute(migration.postgres).await.map_err(failed)?;
            let version = i32::try_from(migration.version).unwrap_or(i32::MAX);
            tx.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)",
                &[&version, &migration.name, &system_time(now())?],
            )
            .await
            .map_err(failed)?;
            tx.commit().await.map_err(failed)?;
            tracing::info!(
                backend = "postgres",
                version = migration.version,
                name = migration.name,
                "applied schema migration"
            );
        }
    }

    pub(crate) async fn info(&self) -> Result<StoreInfo, StoreError> {
        let read = async {
            let client = self.client().await?;
            let version: i64 = client
                .query_one(
                    "SELECT coalesce(max(version), 0)::bigint FROM schema_version",
                    &[],
                )
                .await?
                .try_get(0)?;
            let mut settings = Vec::new();
            for name in [
                "server_version",
                "synchronous_commit",
                "fsync",
                "default_transaction_isolation",
            ] {
                let value: String = client
                    .query_one("SELECT current_setting($1)", &[&name])
                    .await?
                    .try_get(0)?;
                settings.push((name.to_owned(), value));
            }
            Ok(StoreInfo {
                backend: BackendKind::Postgres,
                location: self.location.to_string(),
                schema_version: u32::try_from(version).map_err(|_| {
                    ErrorKind::Corrupt(format!("schema version {version} is out of range"))
                })?,
                settings,
            })
        };
        read.await.map_err(|kind| self.error("read settings", kind))
    }

    pub(crate) async fn open_job(&self, spec: JobSpec<'_>) -> Result<OpenedJob, StoreError> {
        let open = async {
            let client = self.client().await?;
            let now = system_time(now())?;
            let created = client
                .execute(
                    "INSERT INTO jobs (kind, job_key, plan, state, created_at, updated_at)
                     VALUES ($1, $2, $3, 'running', $4, $4)
                     ON CONFLICT (job_key) DO NOTHING",
                    &[&spec.kind, &spec.key, &spec.plan, &now],
                )
                .await?
                == 1;
            let job = job_by_key(&client, spec.key)
                .await?
                .ok_or_else(|| ErrorKind::Corrupt("the job just written is missing".to_owned()))?;
            if job.kind != spec.kind || job.plan != spec.plan {
                return Err(ErrorKind::JobMismatch);
            }
            Ok(if created {
                OpenedJob::Created(job)
            } else {
                OpenedJob::Resumed(job)
            })
        };
        open.await.map_err(|kind| self.error("open job", kind))
    }

    pub(crate) async fn job(&self, key: &str) -> Result<Option<Job>, StoreError> {
        let read = async {
            let client = self.client().await?;
            job_by_key(&client, key).await
        };
        read.await.map_err(|kind| self.error("read job", kind))
    }

    pub(crate) async fn jobs(&self) -> Result<Vec<Job>, StoreError> {
        let read = async {
            let client = self.client().await?;
            let statement = client
                .prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs ORDER BY id"))
                .await?;
            let rows = client.query(&statement, &[]).await?;
            rows.iter().map(job_from_row).collect::<Result<Vec<_>, _>>()
        };
        read.await.map_err(|kind| self.error("list jobs", kind))
    }

    pub(crate) async fn commit(
        &self,
        job: JobId,
        batch: PreparedBatch,
    ) -> Result<Committed, StoreError> {
        self.commit_batch(job, &batch)
            .await
            .map_err(|kind| self.error("commit", kind))
    }

    async fn commit_batch(
        &self,
        job: JobId,
        batch: &PreparedBatch,
    ) -> Result<Committed, ErrorKind> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let now = system_time(batch.now)?;
        // Locks the job's row: commits to one job are serialised, so report
        // positions are handed out in commit order.
        let next_seq: i64 = tx
            .query_opt(
                "SELECT next_report_seq FROM jobs WHERE id = $1 FOR UPDATE",
                &[&job.0],
            )
            .await?
            .ok_or(ErrorKind::JobNotFound(job))?
            .try_get(0)?;

        if !batch.checkpoints.is_empty() {
            let upsert = tx
                .prepare_cached(
                    "INSERT INTO job_checkpoints (job_id, name, value, updated_at)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (job_id, name)
                     DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                )
                .await?;
            let delete = tx
                .prepare_cached("DELETE FROM job_checkpoints WHERE job_id = $1 AND name = $2")
                .await?;
            for (name, value) in &batch.checkpoints {
                match value {
                    Some(value) => tx.execute(&upsert, &[&job.0, name, value, &now]).await?,
                    None => tx.execute(&delete, &[&job.0, name]).await?,
                };
            }
        }

        let mut committed = Committed::default();
        if !batch.report_rows.is_empty() {
            let rows = &batch.report_rows;
            let keys: Vec<&str> = rows.iter().map(|row| row.key.as_str()).collect();
            let kinds: Vec<&str> = rows.iter().map(|row| row.kind.as_str()).collect();
            let sources: Vec<&str> = rows.iter().map(|row| row.source.as_str()).collect();
            let pupils: Vec<Option<&str>> = rows.iter().map(|row| row.pupil.as_deref()).collect();
            let details: Vec<&str> = rows.iter().map(|row| row.detail.as_str()).collect();
            // One statement for the whole batch; a row's position follows
            // from its place in the batch, so it is the same whichever rows
            // turn out to be duplicates.
            let insert = tx
                .prepare_cached(
                    "INSERT INTO job_report_rows (job_id, seq, row_key, kind, source, pupil, detail)
                     SELECT $1, $2 + r.ord - 1, r.row_key, r.kind, r.source, r.pupil, r.detail
                     FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                          WITH ORDINALITY AS r (row_key, kind, source, pupil, detail, ord)
                     ON CONFLICT (job_id, row_key) DO NOTHING
                     RETURNING seq",
                )
                .await?;
            let inserted = tx
                .query(
                    &insert,
                    &[
                        &job.0, &next_seq, &keys, &kinds, &sources, &pupils, &details,
                    ],
                )
                .await?;
            let mut new = vec![false; rows.len()];
            for row in &inserted {
                let seq: i64 = row.try_get(0)?;
                if let Some(slot) = usize::try_from(seq - next_seq)
                    .ok()
                    .and_then(|index| new.get_mut(index))
                {
                    *slot = true;
                }
            }
            committed.new_report_rows = inserted.len() as u64;
            let repeated: Vec<&str> = rows
                .iter()
                .zip(&new)
                .filter(|(_, new)| !**new)
                .map(|(row, _)| row.key.as_str())
                .collect();
            if !repeated.is_empty() {
                let stored = tx
                    .query(
                        "SELECT row_key, kind, source, pupil, detail FROM job_report_rows
                         WHERE job_id = $1 AND row_key = ANY($2)",
                        &[&job.0, &repeated],
                    )
                    .await?;
                let mut by_key = HashMap::with_capacity(stored.len());
                for row in &stored {
                    let columns: (&str, &str, Option<&str>, &str) = (
                        row.try_get(1)?,
                        row.try_get(2)?,
                        row.try_get(3)?,
                        row.try_get(4)?,
                    );
                    by_key.insert(row.try_get::<_, &str>(0)?, columns);
                }
                for (index, row) in rows.iter().enumerate().filter(|(index, _)| !new[*index]) {
                    let same = by_key.get(row.key.as_str()).is_some_and(
                        |&(kind, source, pupil, detail)| row.same_as(kind, source, pupil, detail),
                    );
                    if !same {
                        return Err(ErrorKind::ReportRowConflict { index });
                    }
                    committed.duplicate_report_rows += 1;
                }
            }
        }

        let rows_in_batch = i64::try_from(batch.report_rows.len()).unwrap_or(i64::MAX);
        let new_rows = i64::try_from(committed.new_report_rows).unwrap_or(i64::MAX);
        let update = tx
            .prepare_cached(
                "UPDATE jobs SET updated_at = $2, next_report_seq = next_report_seq + $3,
                                 report_rows = report_rows + $4 WHERE id = $1",
            )
            .await?;
        tx.execute(&update, &[&job.0, &now, &rows_in_batch, &new_rows])
            .await?;
        if let Some((state, failure)) = &batch.state {
            let finished_at = (*state != JobState::Running).then_some(now);
            tx.execute(
                "UPDATE jobs SET state = $2, failure = $3, finished_at = $4 WHERE id = $1",
                &[&job.0, &state.as_str(), failure, &finished_at],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(committed)
    }

    pub(crate) async fn checkpoints(
        &self,
        job: JobId,
    ) -> Result<BTreeMap<String, Value>, StoreError> {
        let read = async {
            let client = self.client().await?;
            let statement = client
                .prepare_cached(
                    "SELECT name, value FROM job_checkpoints WHERE job_id = $1 ORDER BY name",
                )
                .await?;
            let mut checkpoints = BTreeMap::new();
            for row in client.query(&statement, &[&job.0]).await? {
                let value = parse_json("a checkpoint value", row.try_get(1)?)?;
                checkpoints.insert(row.try_get(0)?, value);
            }
            Ok(checkpoints)
        };
        read.await
            .map_err(|kind| self.error("read checkpoints", kind))
    }

    pub(crate) async fn report_page(
        &self,
        job: JobId,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, ReportRow)>, StoreError> {
        let read = async {
            let client = self.client().await?;
            let statement = client
                .prepare_cached(
                    "SELECT seq, row_key, kind, source, pupil, detail FROM job_report_rows
                     WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                )
                .await?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = client.query(&statement, &[&job.0, &after, &limit]).await?;
            let mut page = Vec::with_capacity(rows.len());
            for row in rows {
                page.push((
                    row.try_get(0)?,
                    ReportRow {
                        key: row.try_get(1)?,
                        kind: row.try_get(2)?,
                        source: row.try_get(3)?,
                        pupil: row.try_get(4)?,
                        detail: parse_json("a report row's detail", row.try_get(5)?)?,
                    },
                ));
            }
            Ok(page)
        };
        read.await
            .map_err(|kind| self.error("read report rows", kind))
    }
}

const JOB_COLUMNS: &str = "id, kind, job_key, plan, state, failure, created_at, updated_at, \
                           finished_at, report_rows";

async fn job_by_key(client: &Object, key: &str) -> Result<Option<Job>, ErrorKind> {
    let statement = client
        .prepare_cached(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE job_key = $1"
        ))
        .await?;
    client
        .query_opt(&statement, &[&key])
        .await?
        .as_ref()
        .map(job_from_row)
        .transpose()
}

fn job_from_row(row: &Row) -> Result<Job, ErrorKind> {
    let report_rows: i64 = row.try_get(9)?;
    Ok(Job {
        id: JobId(row.try_get(0)?),
        kind: row.try_get(1)?,
        key: row.try_get(2)?,
        plan: row.try_get(3)?,
        state: JobState::parse(row.try_get(4)?)?,
        failure: row.try_get(5)?,
        created_at: timestamp(row.try_get(6)?)?,
        updated_at: timestamp(row.try_get(7)?)?,
        finished_at: row
            .try_get::<_, Option<SystemTime>>(8)?
            .map(timestamp)
            .transpose()?,
        report_rows: u64::try_from(report_rows).unwrap_or(0),
    })
}

fn system_time(time: Timestamp) -> Result<SystemTime, ErrorKind> {
    SystemTime::try_from(time).map_err(|error| ErrorKind::Invalid(format!("a time: {error}")))
}

fn timestamp(time: SystemTime) -> Result<Timestamp, ErrorKind> {
    Timestamp::try_from(time).map_err(|error| ErrorKind::Corrupt(format!("a time: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_that_ask_for_tls_are_refused_with_the_reason() {
        for url in [
            "postgres://u:pw@db/brygga?sslmode=verify-full",
            "postgresql://db/brygga?application_name=x&sslmode=require",
            "host=db dbname=brygga sslmode=verify-ca",
            "host=db sslmode='require'",
        ] {
            let Err(ErrorKind::Url(reason)) = refuse_tls(url) else {
                panic!("{url} is refused");
            };
            assert!(reason.contains("asks for TLS"), "{reason}");
            assert!(!reason.contains("pw"), "{reason}");
        }
        for url in [
            "postgres://db/brygga",
            "postgres://db/brygga?sslmode=disable",
            "postgres://db/brygga?sslmode=prefer#sslmode=require",
            "host=db sslmode=disable",
        ] {
            assert_eq!(refuse_tls(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn locations_name_hosts_port_and_database_only() {
        let config = tokio_postgres::Config::from_str(
            "postgres://brygga:hemligt@db1.kommun.example,db2.kommun.example:6432/elevhalsa",
        );
        let Ok(config) = config else {
            panic!("the URL parses");
        };
        assert_eq!(
            location(&config),
            "db1.kommun.example:5432,db2.kommun.example:6432/elevhalsa"
        );
        let Ok(socket) = tokio_postgres::Config::from_str("host=/run/postgresql user=brygga")
        else {
            panic!("the connection string parses");
        };
        assert_eq!(location(&socket), "/run/postgresql:5432/brygga");
    }
}
