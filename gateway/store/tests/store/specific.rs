//! What only one backend has: SQLite's file, directory and settings;
//! PostgreSQL's URL and connection errors.

use std::os::unix::fs::PermissionsExt;

use brygga_store::{BackendKind, ErrorKind, Store};

use crate::support::Fixture;

#[tokio::test]
async fn sqlite_creates_its_directory_and_a_private_file_in_wal_mode() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("a").join("b").join("brygga.sqlite");
    let store = Store::open_sqlite(&path).await.expect("opens");
    let mode = std::fs::metadata(&path)
        .expect("the file exists")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "only the service account reads the store"
    );

    // journal_mode is kept in the file: a separate connection sees it.
    let outside = rusqlite::Connection::open(&path).expect("opens");
    let journal: String = outside
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .expect("pragma");
    assert_eq!(journal, "wal");
    // synchronous and foreign_keys are per connection: the store's own.
    let info = store.info().await.expect("info");
    assert_eq!(info.location, path.display().to_string());
    let settings: Vec<(&str, &str)> = info
        .settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        settings,
        [
            ("journal_mode", "wal"),
            ("synchronous", "full"),
            ("foreign_keys", "on"),
            ("busy_timeout", "10000 ms"),
        ]
    );
    // The foreign keys are enforced, not just declared.
    let error = store_error_on_orphan(&path).await;
    assert!(error.contains("FOREIGN KEY"), "{error}");
}

/// Inserts a checkpoint for a job that does not exist through a connection
/// set up like the store's.
async fn store_error_on_orphan(path: &std::path::Path) -> String {
    let connection = rusqlite::Connection::open(path).expect("opens");
    connection
        .pragma_update(None, "foreign_keys", "ON")
        .expect("pragma");
    connection
        .execute(
            "INSERT INTO job_checkpoints (job_id, name, value, updated_at) VALUES (99, 'a', '1', 'x')",
            [],
        )
        .expect_err("an orphan checkpoint")
        .to_string()
}

#[tokio::test]
async fn sqlite_refuses_a_file_that_is_not_a_database() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("notes.txt");
    std::fs::write(
        &path,
        "these are not the pages you are looking for\n".repeat(200),
    )
    .expect("write");
    let error = Store::open_sqlite(&path).await.expect_err("not a database");
    let text = error.to_string();
    assert_eq!(error.backend(), BackendKind::Sqlite);
    assert!(
        text.starts_with(&format!("sqlite store {}: open: ", path.display())),
        "{text}"
    );
    assert!(text.contains("not a database"), "{text}");
    assert!(!text.contains('\n'));
}

#[tokio::test]
async fn sqlite_reports_a_directory_it_cannot_create() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "").expect("write");
    let error = Store::open_sqlite(blocker.join("brygga.sqlite"))
        .await
        .expect_err("a file is in the way");
    assert!(matches!(error.kind(), ErrorKind::Filesystem(_)));
    assert!(
        error.to_string().contains("cannot create the directory"),
        "{error}"
    );
}

#[tokio::test]
async fn postgres_connection_errors_never_show_the_password() {
    // Port 1 on localhost: nothing listens there.
    let url = "postgres://brygga:hemligt-l%C3%B6sen@127.0.0.1:1/brygga?connect_timeout=5";
    let error = Store::open_postgres(url, 2)
        .await
        .expect_err("nothing listens on port 1");
    let text = error.to_string();
    assert!(matches!(error.kind(), ErrorKind::Connect(_)), "{text}");
    assert!(
        text.starts_with("postgres store 127.0.0.1:1/brygga: open: cannot connect: "),
        "{text}"
    );
    assert!(!text.contains("hemligt"), "{text}");
    assert!(!text.contains('\n'));
}

#[tokio::test]
async fn postgres_refuses_a_bad_url_without_repeating_it() {
    let error = Store::open_postgres("postgres://u:hemligt@db:notaport/x", 2)
        .await
        .expect_err("a bad port");
    let text = error.to_string();
    assert!(matches!(error.kind(), ErrorKind::Url(_)), "{text}");
    assert!(text.starts_with("postgres store: open: "), "{text}");
    assert!(!text.contains("hemligt"), "{text}");

    let error = Store::open_postgres("postgres://db/x", 0)
        .await
        .expect_err("an empty pool");
    assert!(matches!(error.kind(), ErrorKind::Invalid(_)), "{error}");
}

#[tokio::test]
async fn postgres_reports_a_server_error_in_one_line() {
    let fixture = Fixture::postgres();
    let url = fixture_url(&fixture).replace("postgres@", "nobody@");
    let error = Store::open_postgres(&url, 2)
        .await
        .expect_err("no such role");
    let text = error.to_string();
    assert!(text.contains("FATAL 28000"), "{text}");
    assert!(text.contains("role \"nobody\" does not exist"), "{text}");
}

fn fixture_url(fixture: &Fixture) -> String {
    match fixture.opener() {
        crate::support::Opener::Postgres(url) => url,
        crate::support::Opener::Sqlite(_) => unreachable!("a postgres fixture"),
    }
}

#[tokio::test]
async fn postgres_opens_an_up_to_date_database_with_a_role_that_only_reads_and_writes_rows() {
    let fixture = Fixture::postgres();
    drop(fixture.store().await);
    let owner_url = fixture_url(&fixture);
    let database = owner_url.rsplit('/').next().expect("a database name");
    let role = format!("{database}_app");
    fixture
        .execute(&format!(
            "CREATE ROLE {role} LOGIN;
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
             GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role};"
        ))
        .await;
    let app_url = owner_url.replace("postgres@", &format!("{role}@"));
    let store = Store::open_postgres(&app_url, 2)
        .await
        .unwrap_or_else(|error| panic!("the store opens without CREATE rights: {error}"));
    let job = store
        .open_job(brygga_store::JobSpec {
            kind: "migrate",
            key: "k",
            plan: "p",
        })
        .await
        .expect("the role can write rows")
        .into_job();
    store
        .commit(
            job.id,
            brygga_store::Batch::new().checkpoint("n", serde_json::json!(1)),
        )
        .await
        .expect("commit");
}

#[tokio::test]
async fn a_test_cluster_is_stopped_and_deleted_when_dropped() {
    let cluster =
        brygga_store::testing::PgCluster::start().unwrap_or_else(|error| panic!("{error}"));
    let database = cluster
        .create_database()
        .unwrap_or_else(|error| panic!("{error}"));
    let store = Store::open_postgres(database.url(), 1)
        .await
        .expect("the store opens");
    drop(store);
    let base = cluster
        .socket_dir()
        .parent()
        .expect("the cluster's directory")
        .to_owned();
    assert!(base.join("data").is_dir());
    drop(cluster);
    assert!(!base.exists(), "{} is removed", base.display());
    let error = Store::open_postgres(&format!("{}?connect_timeout=2", database.url()), 1)
        .await
        .expect_err("the server is stopped");
    assert!(matches!(error.kind(), ErrorKind::Connect(_)), "{error}");
}
