//! `kill -9` at a random moment: a child process (this test binary again,
//! running `crash_writer`) commits a checkpoint and a report row per step
//! and prints `ack N` after each commit returns; the test kills it with
//! SIGKILL, reopens the store and checks that the last acknowledged step is
//! there whole — both checkpoints and its report row, nothing half-written,
//! no row twice. Several rounds per backend, each resuming the previous
//! one's job; the first rounds may hit the child while it is still opening
//! the store and applying the schema.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use brygga_store::testing::PgCluster;
use brygga_store::{Batch, JobId, JobSpec, ReportRow, Store, StoreError};
use serde_json::json;

const TARGET: &str = "BRYGGA_STORE_CRASH_TARGET";
const JOB_KEY: &str = "crash-test";
const ROUNDS: u64 = 5;

#[test]
fn sqlite_keeps_every_acknowledged_commit_through_kill_9() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("crash.sqlite");
    kill_rounds(&format!("sqlite:{}", path.display()));
}

#[test]
fn postgres_keeps_every_acknowledged_commit_through_kill_9() {
    let cluster = PgCluster::shared().unwrap_or_else(|error| panic!("{error}"));
    let database = cluster
        .create_database()
        .unwrap_or_else(|error| panic!("{error}"));
    kill_rounds(&format!("postgres:{}", database.url()));
}

/// The process that gets killed. Without its environment variable (an
/// ordinary `cargo test -- --ignored`) it does nothing.
#[test]
#[ignore = "run as a child process by the kill -9 tests"]
fn crash_writer() {
    let Ok(target) = std::env::var(TARGET) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(write_until_killed(&target));
}

async fn open(target: &str) -> Result<Store, StoreError> {
    match target.split_once(':') {
        Some(("sqlite", path)) => Store::open_sqlite(path).await,
        Some(("postgres", url)) => Store::open_postgres(url, 2).await,
        _ => panic!("unknown target {target}"),
    }
}

fn step(n: u64) -> Batch {
    let mut batch = Batch::new();
    batch
        .checkpoint("n", json!(n))
        .checkpoint("copy", json!({"n": n, "padding": "x".repeat(512)}))
        .report_row(ReportRow {
            key: format!("row-{n}"),
            kind: "written".to_owned(),
            source: "crash-test".to_owned(),
            pupil: None,
            detail: json!({"n": n}),
        });
    batch
}

async fn write_until_killed(target: &str) {
    let store = open(target).await.expect("the store opens");
    let job = store
        .open_job(JobSpec {
            kind: "crash-test",
            key: JOB_KEY,
            plan: "commit steps until killed",
        })
        .await
        .expect("the job opens")
        .into_job();
    let mut n = done_steps(&store, job.id).await;
    if n > 0 {
        // A resumed job may redo its last step; that must change nothing.
        let redone = store.commit(job.id, &step(n)).await.expect("redo");
        assert_eq!(redone.new_report_rows, 0);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        n += 1;
        store.commit(job.id, &step(n)).await.expect("commit");
        println!("ack {n}");
    }
}

async fn done_steps(store: &Store, job: JobId) -> u64 {
    let checkpoints = store.checkpoints(job).await.expect("checkpoints read");
    checkpoints.get("n").and_then(|n| n.as_u64()).unwrap_or(0)
}

/// Kills the child when a failing assertion unwinds past it.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn random_below(limit: u64) -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(limit);
    hasher.finish() % limit.max(1)
}

fn kill_rounds(target: &str) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut done = 0;
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args([
                "crash::crash_writer",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(TARGET, target)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the writer starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let mut child = Killed(child);
        let (acks, acked) = mpsc::channel();
        let reader = thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(n) = line
                    .strip_prefix("ack ")
                    .and_then(|n| n.parse::<u64>().ok())
                {
                    let _ = acks.send(n);
                }
            }
        });
        let errors = thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });

        // The first rounds kill at any moment from the start, the others
        // once the writer is committing.
        let mut last_ack = done;
        let delay = if round < 2 {
            Duration::from_millis(random_below(400))
        } else {
            let first = acked.recv_timeout(Duration::from_secs(60));
            let Ok(first) = first else {
                panic!("round {round}: the writer never committed");
            };
            last_ack = first;
            Duration::from_millis(random_below(150))
        };
        thread::sleep(delay);
        child.0.kill().expect("SIGKILL");
        let status = child.0.wait().expect("the writer ends");
        reader.join().expect("stdout read");
        let stderr = errors.join().expect("stderr read");
        assert_eq!(
            status.signal(),
            Some(9),
            "round {round}: the writer ended by itself ({status}): {stderr}"
        );
        // Everything acknowledged before the kill is in the pipe.
        last_ack = acked.try_iter().fold(last_ack, u64::max);

        done = runtime.block_on(check_after_kill(target, last_ack, round));
        eprintln!("round {round}: killed after {delay:?}, acknowledged {last_ack}, stored {done}");
    }
    assert!(done > 0, "the writer committed nothing in {ROUNDS} rounds");
}

/// The store reopens, and holds every acknowledged step (and at most one
/// more, committed but killed before it printed its ack), whole.
async fn check_after_kill(target: &str, last_ack: u64, round: u64) -> u64 {
    let store = open(target)
        .await
        .unwrap_or_else(|error| panic!("round {round}: the store reopens after kill -9: {error}"));
    let Some(job) = store.job(JOB_KEY).await.expect("jobs read") else {
        assert_eq!(last_ack, 0, "round {round}: acknowledged steps but no job");
        return 0;
    };
    let checkpoints = store.checkpoints(job.id).await.expect("checkpoints read");
    let n = checkpoints.get("n").and_then(|n| n.as_u64()).unwrap_or(0);
    assert!(
        n == last_ack || n == last_ack + 1,
        "round {round}: stored step {n}, acknowledged {last_ack}"
    );
    if n == 0 {
        assert!(checkpoints.is_empty(), "round {round}: {checkpoints:?}");
    } else {
        assert_eq!(
            checkpoints.get("copy").and_then(|copy| copy.get("n")),
            Some(&json!(n)),
            "round {round}: the two checkpoints of one commit disagree"
        );
    }
    let mut keys = Vec::new();
    let mut rows = store.report_rows(job.id);
    while let Some(row) = rows.next().await.expect("rows read") {
        keys.push(row.key);
    }
    let expected: Vec<String> = (1..=n).map(|i| format!("row-{i}")).collect();
    assert_eq!(keys, expected, "round {round}: report rows");
    assert_eq!(job.report_rows, n, "round {round}: the job's row count");
    n
}
