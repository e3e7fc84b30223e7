//! The tests every backend must pass; `on_both_backends!` in `main.rs` runs
//! each against SQLite and PostgreSQL.

use std::collections::BTreeMap;

use brygga_store::{
    BackendKind, Batch, ErrorKind, JobSpec, JobState, OpenedJob, ReportRow, SCHEMA_VERSION, Store,
    StoreError,
};
use serde_json::json;

use crate::support::{Fixture, report_row};

fn spec<'a>(key: &'a str, plan: &'a str) -> JobSpec<'a> {
    JobSpec {
        kind: "migrate",
        key,
        plan,
    }
}

async fn new_job(store: &Store, key: &str) -> brygga_store::Job {
    store
        .open_job(spec(key, "plan"))
        .await
        .expect("the job opens")
        .into_job()
}

async fn all_rows(store: &Store, job: brygga_store::JobId) -> Vec<ReportRow> {
    let mut rows = Vec::new();
    let mut reader = store.report_rows(job);
    while let Some(row) = reader.next().await.expect("report rows read") {
        rows.push(row);
    }
    rows
}

/// A store error must be one line, name the backend and the operation.
fn assert_one_line(error: &StoreError, backend: BackendKind, operation: &str) {
    let text = error.to_string();
    assert!(!text.contains('\n'), "{text}");
    assert!(text.starts_with(&format!("{backend} store")), "{text}");
    assert!(text.contains(&format!(": {operation}: ")), "{text}");
    assert_eq!(error.backend(), backend);
    assert_eq!(error.operation(), operation);
}

fn versions() -> Vec<String> {
    (1..=SCHEMA_VERSION).map(|v| v.to_string()).collect()
}

pub async fn migrations_apply_from_an_empty_database(fixture: Fixture) {
    let store = fixture.store().await;
    let info = store.info().await.expect("info reads");
    assert_eq!(info.backend, fixture.backend());
    assert_eq!(info.schema_version, SCHEMA_VERSION);
    let applied: Vec<String> = fixture
        .rows("SELECT version FROM schema_version ORDER BY version")
        .await
        .into_iter()
        .map(|row| row[0].clone())
        .collect();
    assert_eq!(applied, versions());
    for table in ["jobs", "job_checkpoints", "job_report_rows"] {
        let count = fixture.rows(&format!("SELECT count(*) FROM {table}")).await;
        assert_eq!(count, [["0"]], "{table}");
    }
    let settings: BTreeMap<String, String> = info.settings.into_iter().collect();
    match fixture.backend() {
        BackendKind::Sqlite => {
            assert_eq!(settings["journal_mode"], "wal");
            assert_eq!(settings["synchronous"], "full");
            assert_eq!(settings["foreign_keys"], "on");
        }
        BackendKind::Postgres => {
            assert_eq!(settings["synchronous_commit"], "on");
            assert!(settings.contains_key("server_version"));
        }
    }
}

pub async fn reopening_applies_nothing_and_keeps_the_data(fixture: Fixture) {
    let store = fixture.store().await;
    let job = new_job(&store, "job-1").await;
    store
        .commit(job.id, Batch::new().checkpoint("position", json!(41)))
        .await
        .expect("commit");
    let before = fixture
        .rows("SELECT version, name, applied_at FROM schema_version ORDER BY version")
        .await;
    drop(store);

    let store = fixture.store().await;
    let after = fixture
        .rows("SELECT version, name, applied_at FROM schema_version ORDER BY version")
        .await;
    assert_eq!(before, after, "a reopen applies no migration");
    let opened = store
        .open_job(spec("job-1", "plan"))
        .await
        .expect("the job opens again");
    assert!(!opened.is_new());
    assert_eq!(opened.job().id, job.id);
    assert_eq!(opened.job().created_at, job.created_at);
    assert_eq!(
        store.checkpoints(job.id).await.expect("checkpoints"),
        BTreeMap::from([("position".to_owned(), json!(41))])
    );
}

pub async fn a_newer_schema_is_refused_in_one_line(fixture: Fixture) {
    drop(fixture.store().await);
    let newer = SCHEMA_VERSION + 1;
    fixture
        .execute(&format!(
            "INSERT INTO schema_version (version, name, applied_at)
             VALUES ({newer}, 'from a newer brygga', '2030-01-01T00:00:00Z')"
        ))
        .await;

    let error = fixture.open().await.expect_err("a newer schema is refused");
    assert_eq!(
        error.kind(),
        &ErrorKind::SchemaTooNew {
            found: i64::from(newer),
            known: SCHEMA_VERSION
        }
    );
    assert_one_line(&error, fixture.backend(), "open");
    assert!(
        error.to_string().contains(&format!(
            "schema version {newer}, newer than version {SCHEMA_VERSION}"
        )),
        "{error}"
    );
    // Refusing wrote nothing.
    let count = fixture.rows("SELECT count(*) FROM schema_version").await;
    assert_eq!(count, [[(SCHEMA_VERSION + 1).to_string()]]);
}

pub async fn concurrent_openers_apply_each_migration_once(fixture: Fixture) {
    let mut openers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let opener = fixture.opener();
        openers.spawn(async move { opener.open().await.map(|_| ()) });
    }
    while let Some(opened) = openers.join_next().await {
        let opened = opened.expect("the task finishes");
        if let Err(error) = opened {
            panic!("every concurrent opener succeeds: {error}");
        }
    }
    let applied: Vec<String> = fixture
        .rows("SELECT version FROM schema_version ORDER BY version")
        .await
        .into_iter()
        .map(|row| row[0].clone())
        .collect();
    assert_eq!(applied, versions());
}

pub async fn jobs_are_created_once_and_found_again_by_key(fixture: Fixture) {
    let store = fixture.store().await;
    let first = store
        .open_job(spec("a1b2", "migrate pmo → fhir"))
        .await
        .expect("open");
    assert!(first.is_new());
    let job = first.into_job();
    assert_eq!(
        (job.kind.as_str(), job.key.as_str(), job.plan.as_str()),
        ("migrate", "a1b2", "migrate pmo → fhir")
    );
    assert_eq!(job.state, JobState::Running);
    assert_eq!(
        (job.failure.clone(), job.finished_at, job.report_rows),
        (None, None, 0)
    );
    assert_eq!(job.created_at, job.updated_at);

    let again = store
        .open_job(spec("a1b2", "migrate pmo → fhir"))
        .await
        .expect("open again");
    assert_eq!(again, OpenedJob::Resumed(job.clone()));

    // Several openers racing for a new key: one creates, all get that job.
    let mut racers = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let store = store.clone();
        racers.spawn(async move { store.open_job(spec("c3d4", "second plan")).await });
    }
    let mut created = 0;
    let mut ids = Vec::new();
    while let Some(opened) = racers.join_next().await {
        let opened = opened.expect("task").expect("open");
        created += usize::from(opened.is_new());
        ids.push(opened.job().id);
    }
    assert_eq!(created, 1);
    ids.dedup();
    assert_eq!(ids.len(), 1);

    let jobs = store.jobs().await.expect("list");
    let keys: Vec<&str> = jobs.iter().map(|job| job.key.as_str()).collect();
    assert_eq!(keys, ["a1b2", "c3d4"], "oldest first");
    assert_eq!(store.job("a1b2").await.expect("read"), Some(job));
    assert_eq!(store.job("none").await.expect("read"), None);
}

pub async fn a_job_key_with_another_plan_is_refused(fixture: Fixture) {
    let store = fixture.store().await;
    new_job(&store, "k").await;
    let error = store
        .open_job(spec("k", "another plan"))
        .await
        .expect_err("another plan under the same key");
    assert_eq!(error.kind(), &ErrorKind::JobMismatch);
    assert_one_line(&error, fixture.backend(), "open job");
    let error = store
        .open_job(JobSpec {
            kind: "replay",
            key: "k",
            plan: "plan",
        })
        .await
        .expect_err("another kind under the same key");
    assert_eq!(error.kind(), &ErrorKind::JobMismatch);
    assert_eq!(store.jobs().await.expect("list").len(), 1);
}

pub async fn the_state_changes_with_the_commit_that_carries_it(fixture: Fixture) {
    let store = fixture.store().await;
    let job = new_job(&store, "job").await;

    store
        .commit(
            job.id,
            Batch::new()
                .checkpoint("written", json!(10))
                .failed("the target refused the connection"),
        )
        .await
        .expect("commit");
    let failed = store.job("job").await.expect("read").expect("stored");
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(
        failed.failure.as_deref(),
        Some("the target refused the connection")
    );
    assert!(failed.finished_at.is_some());
    assert!(failed.updated_at >= job.updated_at);

    store
        .commit(job.id, Batch::new().running())
        .await
        .expect("commit");
    let resumed = store.job("job").await.expect("read").expect("stored");
    assert_eq!(resumed.state, JobState::Running);
    assert_eq!((resumed.failure, resumed.finished_at), (None, None));

    store
        .commit(
            job.id,
            Batch::new().checkpoint("written", json!(20)).completed(),
        )
        .await
        .expect("commit");
    let done = store.job("job").await.expect("read").expect("stored");
    assert_eq!(done.state, JobState::Completed);
    assert_eq!(done.finished_at, Some(done.updated_at));
    assert_eq!(
        store.checkpoints(job.id).await.expect("read")["written"],
        json!(20)
    );
}

pub async fn checkpoints_are_written_together_and_read_back(fixture: Fixture) {
    let store = fixture.store().await;
    let job = new_job(&store, "job").await;
    let other = new_job(&store, "other").await;
    let positions = json!({
        "pmo": {"file": "export-1.xml", "record": 123_456, "byte": 9_876_543_210_u64},
        "prorenata": null,
        "names": ["Åsa Öberg", "\u{1F600}", "tab\tand \"quotes\""],
        "ratio": 0.1,
        "max": u64::MAX,
        "min": i64::MIN,
    });
    let committed = store
        .commit(
            job.id,
            Batch::new()
                .checkpoint("sorted_runs", json!({"complete": [1, 2, 3, 4, 5, 6, 7]}))
                .checkpoint("source_positions", positions.clone())
                .checkpoint("phase", json!("merge"))
                .checkpoint("empty", json!({})),
        )
        .await
        .expect("commit");
    assert_eq!(committed.new_report_rows, 0);
    let read = store.checkpoints(job.id).await.expect("read");
    assert_eq!(read.len(), 4);
    assert_eq!(read["source_positions"], positions);
    assert_eq!(
        read["sorted_runs"],
        json!({"complete": [1, 2, 3, 4, 5, 6, 7]})
    );
    assert_eq!(read["empty"], json!({}));

    store
        .commit(
            job.id,
            Batch::new()
                .checkpoint("phase", json!("write"))
                .remove_checkpoint("sorted_runs")
                .remove_checkpoint("never_written")
                .checkpoint("written", json!(0)),
        )
        .await
        .expect("commit");
    let read = store.checkpoints(job.id).await.expect("read");
    let names: Vec<&str> = read.keys().map(String::as_str).collect();
    assert_eq!(names, ["empty", "phase", "source_positions", "written"]);
    assert_eq!(read["phase"], json!("write"));
    assert!(store.checkpoints(other.id).await.expect("read").is_empty());
}

pub async fn a_failed_commit_changes_nothing(fixture: Fixture) {
    let store = fixture.store().await;
    let job = new_job(&store, "job").await;
    store
        .commit(
            job.id,
            Batch::new()
                .checkpoint("a", json!(1))
                .checkpoint("b", json!(1))
                .report_row(report_row("r1")),
        )
        .await
        .expect("first commit");

    // The conflicting row comes last: by then both checkpoints are written
    // and r2 is inserted inside the transaction, which must all roll back.
    let mut changed_r1 = report_row("r1");
    changed_r1.detail = json!({"reason": "something else"});
    let error = store
        .commit(
            job.id,
            Batch::new()
                .checkpoint("a", json!(2))
                .checkpoint("b", json!(2))
                .checkpoint("c", json!(2))
                .remove_checkpoint("b")
                .report_row(report_row("r2"))
                .report_row(changed_r1)
                .completed(),
        )
        .await
        .expect_err("a row that changed its content is refused");
    assert_eq!(error.kind(), &ErrorKind::ReportRowConflict { index: 1 });
    assert_one_line(&error, fixture.backend(), "commit");
    assert!(
        !error.to_string().contains("r1"),
        "keys are not echoed: {error}"
    );

    assert_eq!(
        store.checkpoints(job.id).await.expect("read"),
        BTreeMap::from([("a".to_owned(), json!(1)), ("b".to_owned(), json!(1))])
    );
    assert_eq!(all_rows(&store, job.id).await, [report_row("r1")]);
    let stored = store.job("job").await.expect("read").expect("stored");
    assert_eq!((stored.state, stored.report_rows), (JobState::Running, 1));

    // The store is still usable, and positions continue after r1.
    let committed = store
        .commit(
            job.id,
            Batch::new()
                .checkpoint("a", json!(3))
                .report_row(report_row("r2")),
        )
        .await
        .expect("a later commit works");
    assert_eq!(committed.new_report_rows, 1);
    assert_eq!(
        all_rows(&store, job.id).await,
        [report_row("r1"), report_row("r2")]
    );
}

pub async fn report_rows_are_idempotent_on_their_key(fixture: Fixture) {
    let store = fixture.store().await;
    let job = new_job(&store, "job").await;
    let without_pupil = ReportRow {
        pupil: None,
        ..report_row("r3")
    };
    let mut batch = Batch::new();
    batch
        .report_row(report_row("r1"))
        .report_row(report_row("r2"))
        .report_row(without_pupil.clone());
    let committed = store.commit(job.id, &batch).await.expect("commit");
    assert_eq!(
        (committed.new_report_rows, committed.duplicate_report_rows),
        (3, 0)
    );

    // A resumed job re-appends what it appended before the crash.
    let mut batch = Batch::new();
    batch
        .report_row(report_row("r2"))
        .report_row(without_pupil.clone())
        .report_row(report_row("r4"));
    let committed = store.commit(job.id, &batch).await.expect("commit");
    assert_eq!(
        (committed.new_report_rows, committed.duplicate_report_rows),
        (1, 2)
    );

    // The same key twice in one batch counts once.
    let mut batch = Batch::new();
    batch
        .report_row(report_row("r5"))
        .report_row(report_row("r5"));
    let committed = store.commit(job.id, &batch).await.expect("commit");
    assert_eq!(
        (committed.new_report_rows, committed.duplicate_report_rows),
        (1, 1)
    );

    assert_eq!(
        all_rows(&store, job.id).await,
        [
            report_row("r1"),
            report_row("r2"),
            without_pupil,
            report_row("r4"),
            report_row("r5")
        ]
    );
    let stored = store.job("job").await.expect("read").expect("stored");
    assert_eq!(stored.report_rows, 5);
}

pub async fn many_report_rows_stream_back_in_order(fixture: Fixture) {
    const ROWS: usize = 20_000;
    const BATCH: usize = 2_500;
    let store = fixture.store().await;
    let job = new_job(&store, "county").await;
    for start in (0..ROWS).step_by(BATCH) {
        let mut batch = Batch::new();
        // Keys that sort differently from the append order.
        for i in start..start + BATCH {
            batch.report_row(ReportRow {
                key: format!("k{}", ROWS - i),
                kind: if i % 3 == 0 { "reject" } else { "written" }.to_owned(),
                source: "prorenata".to_owned(),
                pupil: (i % 2 == 0).then(|| format!("pupil-{i}")),
                detail: json!({"i": i}),
            });
        }
        batch.checkpoint("appended", json!(start + BATCH));
        let committed = store.commit(job.id, &batch).await.expect("commit");
        assert_eq!(committed.new_report_rows, BATCH as u64);
    }
    let mut reader = store.report_rows(job.id);
    let mut count = 0;
    while let Some(row) = reader.next().await.expect("read") {
        assert_eq!(row.key, format!("k{}", ROWS - count));
        assert_eq!(row.detail, json!({"i": count}));
        assert_eq!(row.pupil.is_some(), count % 2 == 0);
        count += 1;
    }
    assert_eq!(count, ROWS);
    // A finished reader stays finished.
    assert_eq!(reader.next().await.expect("read"), None);
    let stored = store.job("county").await.expect("read").expect("stored");
    assert_eq!(stored.report_rows, ROWS as u64);
}

pub async fn reports_of_different_jobs_stay_apart(fixture: Fixture) {
    let store = fixture.store().await;
    let first = new_job(&store, "first").await;
    let second = new_job(&store, "second").await;
    let mut second_row = report_row("shared-key");
    second_row.source = "bhv".to_owned();
    store
        .commit(
            first.id,
            Batch::new()
                .report_row(report_row("shared-key"))
                .checkpoint("n", json!(1)),
        )
        .await
        .expect("commit");
    let committed = store
        .commit(
            second.id,
            Batch::new()
                .report_row(second_row.clone())
                .checkpoint("n", json!(2)),
        )
        .await
        .expect("the same key in another job is a new row");
    assert_eq!(committed.new_report_rows, 1);
    assert_eq!(all_rows(&store, first.id).await, [report_row("shared-key")]);
    assert_eq!(all_rows(&store, second.id).await, [second_row]);
    assert_eq!(
        store.checkpoints(first.id).await.expect("read")["n"],
        json!(1)
    );
    assert_eq!(
        store.checkpoints(second.id).await.expect("read")["n"],
        json!(2)
    );
}

pub async fn bad_input_is_refused_before_anything_is_written(fixture: Fixture) {
    let store = fixture.store().await;
    let job = new_job(&store, "job").await;

    let error = store
        .commit(
            job.id,
            Batch::new()
                .checkpoint("ok", json!(1))
                .checkpoint("", json!(2)),
        )
        .await
        .expect_err("an empty checkpoint name");
    assert_eq!(
        error.kind(),
        &ErrorKind::Invalid("checkpoint name must not be empty".to_owned())
    );
    assert_one_line(&error, fixture.backend(), "commit");

    let mut nul = report_row("r\0");
    nul.pupil = None;
    let error = store
        .commit(
            job.id,
            Batch::new().report_row(report_row("fine")).report_row(nul),
        )
        .await
        .expect_err("a NUL in a key");
    assert_eq!(
        error.kind(),
        &ErrorKind::Invalid("report row 1: key contains a NUL character".to_owned())
    );

    let error = store
        .open_job(spec("", "plan"))
        .await
        .expect_err("an empty job key");
    assert_one_line(&error, fixture.backend(), "open job");

    assert!(store.checkpoints(job.id).await.expect("read").is_empty());
    assert!(all_rows(&store, job.id).await.is_empty());
    assert_eq!(store.jobs().await.expect("list").len(), 1);
}

pub async fn a_commit_to_an_unknown_job_fails_cleanly(fixture: Fixture) {
    let store = fixture.store().await;
    let job = new_job(&store, "job").await;
    fixture.execute("DELETE FROM jobs").await;
    let error = store
        .commit(
            job.id,
            Batch::new()
                .checkpoint("a", json!(1))
                .report_row(report_row("r")),
        )
        .await
        .expect_err("the job is gone");
    assert_eq!(error.kind(), &ErrorKind::JobNotFound(job.id));
    assert_one_line(&error, fixture.backend(), "commit");
    assert!(
        error
            .to_string()
            .ends_with(&format!("no job {} in this store", job.id))
    );
    assert_eq!(
        fixture.rows("SELECT count(*) FROM job_checkpoints").await,
        [["0"]]
    );
}
