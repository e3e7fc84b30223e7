//! Test fixtures: a fresh store of either backend, a way to reopen it, and
//! direct SQL access for the tests that tamper with a database behind the
//! store's back.

use std::path::PathBuf;

use brygga_store::testing::{PgCluster, TestDatabase};
use brygga_store::{BackendKind, ReportRow, Store, StoreError};
use serde_json::json;
use tempfile::TempDir;

/// Where a test's store lives; dropping it deletes an SQLite store's files
/// (a PostgreSQL database goes with the cluster).
#[derive(Debug)]
pub struct Fixture {
    opener: Opener,
    _dir: Option<TempDir>,
    _database: Option<TestDatabase>,
}

/// What opens a fixture's store; cheap to clone into concurrent tasks.
#[derive(Debug, Clone)]
pub enum Opener {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Opener {
    pub async fn open(&self) -> Result<Store, StoreError> {
        match self {
            Opener::Sqlite(path) => Store::open_sqlite(path).await,
            Opener::Postgres(url) => Store::open_postgres(url, 4).await,
        }
    }
}

impl Fixture {
    /// A store file in a directory that does not exist yet.
    pub fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("not").join("yet").join("brygga.sqlite");
        Fixture {
            opener: Opener::Sqlite(path),
            _dir: Some(dir),
            _database: None,
        }
    }

    /// A new database in this test binary's PostgreSQL cluster.
    pub fn postgres() -> Fixture {
        let cluster = PgCluster::shared().unwrap_or_else(|error| panic!("{error}"));
        let database = cluster
            .create_database()
            .unwrap_or_else(|error| panic!("{error}"));
        Fixture {
            opener: Opener::Postgres(database.url().to_owned()),
            _dir: None,
            _database: Some(database),
        }
    }

    pub fn backend(&self) -> BackendKind {
        match self.opener {
            Opener::Sqlite(_) => BackendKind::Sqlite,
            Opener::Postgres(_) => BackendKind::Postgres,
        }
    }

    pub fn opener(&self) -> Opener {
        self.opener.clone()
    }

    pub async fn open(&self) -> Result<Store, StoreError> {
        self.opener.open().await
    }

    pub async fn store(&self) -> Store {
        self.open()
            .await
            .unwrap_or_else(|error| panic!("the store should open: {error}"))
    }

    /// Runs statements directly on the database.
    pub async fn execute(&self, sql: &str) {
        match &self.opener {
            Opener::Sqlite(path) => {
                let connection = rusqlite::Connection::open(path).expect("sqlite opens");
                connection.execute_batch(sql).expect("the statements run");
            }
            Opener::Postgres(url) => {
                let client = pg_client(url).await;
                client.batch_execute(sql).await.expect("the statements run");
            }
        }
    }

    /// Runs a query directly on the database, every value as text.
    pub async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        match &self.opener {
            Opener::Sqlite(path) => {
                let connection = rusqlite::Connection::open(path).expect("sqlite opens");
                let mut statement = connection.prepare(sql).expect("the query is valid");
                let columns = statement.column_count();
                statement
                    .query_map([], |row| {
                        (0..columns)
                            .map(|i| {
                                Ok(match row.get_ref(i)? {
                                    rusqlite::types::ValueRef::Null => "NULL".to_owned(),
                                    rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                                    rusqlite::types::ValueRef::Real(x) => x.to_string(),
                                    rusqlite::types::ValueRef::Text(t) => {
                                        String::from_utf8_lossy(t).into_owned()
                                    }
                                    rusqlite::types::ValueRef::Blob(_) => "BLOB".to_owned(),
                                })
                            })
                            .collect()
                    })
                    .expect("the query runs")
                    .collect::<Result<_, _>>()
                    .expect("the rows read")
            }
            Opener::Postgres(url) => {
                let client = pg_client(url).await;
                client
                    .simple_query(sql)
                    .await
                    .expect("the query runs")
                    .into_iter()
                    .filter_map(|message| match message {
                        tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                            (0..row.len())
                                .map(|i| row.get(i).unwrap_or("NULL").to_owned())
                                .collect(),
                        ),
                        _ => None,
                    })
                    .collect()
            }
        }
    }
}

async fn pg_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("postgres connects");
    tokio::spawn(connection);
    client
}

/// A report row with everything filled in.
pub fn report_row(key: &str) -> ReportRow {
    ReportRow {
        key: key.to_owned(),
        kind: "reject".to_owned(),
        source: "pmo".to_owned(),
        pupil: Some("196408233234".to_owned()),
        detail: json!({"record": key, "reason": "impossible date 2019-02-30", "line": 17}),
    }
}
