//! `brygga migrate` as a migration team runs it: real synthetic exports in
//! three formats, the real binary, a real store (SQLite, and PostgreSQL
//! started by the test), and real `kill -9` in the middle of a run.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use brygga_mapping::model::Record;
use brygga_mapping::ndjson::NdjsonReader;

fn brygga(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_brygga"))
        .args(args)
        .output()
        .expect("run brygga")
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// A synthetic municipality, written once per size and shared.
fn municipality(pupils: u32) -> PathBuf {
    static DIRS: OnceLock<std::sync::Mutex<HashMap<u32, PathBuf>>> = OnceLock::new();
    let dirs = DIRS.get_or_init(Default::default);
    let mut dirs = dirs.lock().expect("lock");
    dirs.entry(pupils)
        .or_insert_with(|| {
            let dir =
                Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("migrate-synth-{pupils}"));
            let output = brygga(&[
                "synth",
                "--pupils",
                &pupils.to_string(),
                "--seed",
                "11",
                "--out",
                path_str(&dir),
            ]);
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            dir
        })
        .clone()
}

/// The migrate arguments for the three native exports of `dir`, in `order`.
fn sources(dir: &Path, order: [usize; 3]) -> Vec<String> {
    let all = [
        format!("bhv:{}", dir.join("native/bhv.xml").display()),
        format!("pmo:{}", dir.join("native/pmo.xml").display()),
        format!("prorenata:{}", dir.join("native/prorenata.json").display()),
    ];
    let mut args = Vec::new();
    for i in order {
        args.push("--source".to_owned());
        args.push(all[i].clone());
    }
    for profile in ["syntetisk-pmo.toml", "syntetisk-prorenata.toml"] {
        args.push("--profile".to_owned());
        args.push(
            repo()
                .join("config/mappings")
                .join(profile)
                .display()
                .to_string(),
        );
    }
    args
}

fn migrate(extra: &[String]) -> Output {
    let args: Vec<&str> = std::iter::once("migrate")
        .chain(extra.iter().map(String::as_str))
        .collect();
    brygga(&args)
}

fn records(path: &Path) -> Vec<Record> {
    NdjsonReader::new(BufReader::new(File::open(path).expect("open")))
        .map(|r| r.expect("valid record"))
        .collect()
}

/// Every clinical record (an entry) the canonical exports hold.
fn source_entries(dir: &Path) -> u64 {
    ["bhv", "pmo", "prorenata"]
        .iter()
        .map(|name| {
            records(&dir.join(format!("canonical/{name}.ndjson")))
                .iter()
                .filter(|r| {
                    !matches!(
                        r,
                        Record::Person(_) | Record::Organisation(_) | Record::Placement(_)
                    )
                })
                .count() as u64
        })
        .sum()
}

/// The documented order, checked on the output: per pupil, journal entries
/// by chronology key except where an amendment follows its first version.
fn assert_chronological(path: &Path) {
    let mut last: HashMap<String, Vec<u8>> = HashMap::new();
    let mut pupils_seen: Vec<String> = Vec::new();
    let mut previous_pupil: Option<String> = None;
    for record in records(path) {
        let Some(subject) = record.subject() else {
            continue;
        };
        let pupil = serde_json::to_string(subject).expect("id");
        if previous_pupil.as_ref() != Some(&pupil) {
            assert!(
                !pupils_seen.contains(&pupil),
                "a pupil's records are not together in the target"
            );
            pupils_seen.push(pupil.clone());
            previous_pupil = Some(pupil.clone());
        }
        if let Record::JournalEntry(entry) = &record {
            if matches!(
                entry.status,
                brygga_mapping::model::EntryStatus::Amended { .. }
            ) {
                continue;
            }
            let mut key = Vec::new();
            entry.chronology_key().encode(&mut key);
            if let Some(previous) = last.get(&pupil) {
                assert!(previous <= &key, "entries out of order for a pupil");
            }
            last.insert(pupil, key);
        }
    }
}

#[test]
fn three_source_formats_migrate_in_order_with_every_entry_accounted_for() {
    let dir = municipality(10_000);
    let out = tempfile::tempdir().expect("tempdir");
    let target = out.path().join("journal.ndjson");
    let mut args = sources(&dir, [0, 1, 2]);
    args.extend([
        "--target".to_owned(),
        format!("canonical:{}", target.display()),
        "--state".to_owned(),
        out.path().join("state.sqlite").display().to_string(),
    ]);
    let output = migrate(&args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.code() == Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(
        &fs::read(out.path().join("journal.ndjson.report/report.json")).expect("report"),
    )
    .expect("json");
    assert_eq!(report["balanced"], true);
    let totals = &report["totals"];
    assert_eq!(totals["entries_in"], source_entries(&dir));
    assert!(
        totals["merged_copies"].as_u64() > Some(0),
        "synth copies notes between systems"
    );
    assert!(totals["withheld_parts"].as_u64() > Some(0));
    assert!(totals["blocked"].as_u64() > Some(0));
    assert_eq!(report["pupils"].as_array().map(Vec::len), Some(10_000));
    assert!(
        out.path()
            .join("journal.ndjson.report/report.html")
            .exists()
    );
    assert_chronological(&target);
}

#[test]
fn the_result_does_not_depend_on_the_order_of_the_sources() {
    let dir = municipality(300);
    let out = tempfile::tempdir().expect("tempdir");
    let mut results = Vec::new();
    for (i, order) in [[0, 1, 2], [2, 0, 1], [1, 2, 0]].into_iter().enumerate() {
        let target = out.path().join(format!("journal-{i}.ndjson"));
        let mut args = sources(&dir, order);
        args.extend([
            "--target".to_owned(),
            format!("canonical:{}", target.display()),
            "--state".to_owned(),
            out.path().join("state.sqlite").display().to_string(),
        ]);
        let output = migrate(&args);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        results.push(fs::read(&target).expect("target"));
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn a_file_given_twice_is_written_once() {
    let dir = municipality(300);
    let out = tempfile::tempdir().expect("tempdir");
    let once = out.path().join("once.ndjson");
    let twice = out.path().join("twice.ndjson");
    for (target, extra) in [(&once, false), (&twice, true)] {
        let mut args = sources(&dir, [0, 1, 2]);
        if extra {
            args.extend([
                "--source".to_owned(),
                format!("pmo:{}", dir.join("native/pmo.xml").display()),
            ]);
        }
        args.extend([
            "--target".to_owned(),
            format!("canonical:{}", target.display()),
            "--state".to_owned(),
            out.path().join("state.sqlite").display().to_string(),
        ]);
        let output = migrate(&args);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(
        fs::read(&once).expect("once"),
        fs::read(&twice).expect("twice")
    );
}

/// Runs the migration, killing it with SIGKILL at increasing moments until
/// it gets to finish; the target must equal an uninterrupted run's.
fn kill_and_resume(state: &str, dir: &Path, out: &Path, reference: &Path) -> usize {
    let target = out.join("resumed.ndjson");
    let mut args = sources(dir, [0, 1, 2]);
    args.extend([
        "--target".to_owned(),
        format!("canonical:{}", target.display()),
        "--state".to_owned(),
        state.to_owned(),
        "--memory".to_owned(),
        "64".to_owned(),
    ]);
    let mut kills = 0;
    let mut delay = Duration::from_millis(150);
    loop {
        let mut child = Command::new(env!("CARGO_BIN_EXE_brygga"))
            .arg("migrate")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let started = Instant::now();
        let mut finished = None;
        while started.elapsed() < delay {
            if let Some(status) = child.try_wait().expect("wait") {
                finished = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        match finished {
            Some(status) => {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                assert_eq!(status.code(), Some(0), "{stderr}");
                break;
            }
            None => {
                // SIGKILL: no chance to clean up or flush anything.
                child.kill().expect("kill -9");
                child.wait().expect("reap");
                kills += 1;
                delay *= 2;
            }
        }
        assert!(kills < 40, "the migration never finished");
    }
    assert!(
        fs::read(&target).expect("target") == fs::read(reference).expect("reference"),
        "the resumed target differs from an uninterrupted run's"
    );
    kills
}

fn reference_run(dir: &Path, out: &Path) -> PathBuf {
    let target = out.join("reference.ndjson");
    let mut args = sources(dir, [0, 1, 2]);
    args.extend([
        "--target".to_owned(),
        format!("canonical:{}", target.display()),
        "--state".to_owned(),
        out.join("reference.sqlite").display().to_string(),
    ]);
    let output = migrate(&args);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    target
}

#[test]
fn kill_9_and_resume_gives_the_same_target_with_sqlite() {
    let dir = municipality(1_000);
    let out = tempfile::tempdir().expect("tempdir");
    let reference = reference_run(&dir, out.path());
    let state = out.path().join("state.sqlite");
    let kills = kill_and_resume(path_str(&state), &dir, out.path(), &reference);
    assert!(kills >= 2, "the run was killed {kills} times");
}

#[test]
fn kill_9_and_resume_gives_the_same_target_with_postgresql() {
    let cluster = brygga_store::testing::PgCluster::shared().expect("test PostgreSQL");
    let database = cluster.create_database().expect("database");
    let dir = municipality(1_000);
    let out = tempfile::tempdir().expect("tempdir");
    let reference = reference_run(&dir, out.path());
    let kills = kill_and_resume(database.url(), &dir, out.path(), &reference);
    assert!(kills >= 2, "the run was killed {kills} times");
}

#[test]
fn a_dry_run_writes_no_target_but_the_full_report() {
    let dir = municipality(300);
    let out = tempfile::tempdir().expect("tempdir");
    let target = out.path().join("journal.ndjson");
    let mut args = sources(&dir, [0, 1, 2]);
    args.extend([
        "--target".to_owned(),
        format!("canonical:{}", target.display()),
        "--state".to_owned(),
        out.path().join("state.sqlite").display().to_string(),
        "--dry-run".to_owned(),
    ]);
    let output = migrate(&args);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!target.exists());
    let report: serde_json::Value = serde_json::from_slice(
        &fs::read(out.path().join("journal.ndjson.report/report.json")).expect("report"),
    )
    .expect("json");
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["totals"]["entries_in"], source_entries(&dir));
}

#[test]
fn identity_conflicts_are_held_back_and_reported() {
    let out = tempfile::tempdir().expect("tempdir");
    let input = out.path().join("in.ndjson");
    let lines = fs::read_to_string(
        repo().join("conformance-tests/vectors/canonical/basic/expected.ndjson"),
    )
    .expect("vector");
    // The same pupil under a second name, from another source.
    let renamed: String = lines
        .lines()
        .filter(|l| l.starts_with("{\"type\":\"person\""))
        .map(|l| {
            let mut value: serde_json::Value = serde_json::from_str(l).expect("json");
            value["given_name"] = serde_json::Value::from("Annan");
            format!("{value}\n")
        })
        .collect();
    assert!(!renamed.is_empty(), "the vector has a person");
    let other = out.path().join("other.ndjson");
    fs::write(&input, &lines).expect("write");
    fs::write(&other, renamed).expect("write");
    let target = out.path().join("journal.ndjson");
    let output = migrate(&[
        "--source".into(),
        format!("canonical:{}", input.display()),
        "--source".into(),
        format!("canonical:{}", other.display()),
        "--target".into(),
        format!("canonical:{}", target.display()),
        "--state".into(),
        out.path().join("state.sqlite").display().to_string(),
    ]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(
        &fs::read(out.path().join("journal.ndjson.report/report.json")).expect("report"),
    )
    .expect("json");
    assert_eq!(report["balanced"], true);
    let conflicts = report["conflicts"].as_array().expect("conflicts");
    assert!(!conflicts.is_empty());
    assert!(
        conflicts[0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("two different names")),
        "{conflicts:?}"
    );
    // Nothing about the held-back pupil reached the target.
    let written = fs::read_to_string(&target).expect("target");
    assert!(!written.contains("Annan"));
    let by_type: BTreeMap<String, usize> = written
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["type"].as_str().map(str::to_owned))
        .fold(BTreeMap::new(), |mut m, t| {
            *m.entry(t).or_default() += 1;
            m
        });
    assert!(!by_type.contains_key("journal_entry"), "{by_type:?}");
    // The report never holds a full personnummer.
    let html =
        fs::read_to_string(out.path().join("journal.ndjson.report/report.html")).expect("html");
    assert!(!html.contains("196408233234"));
    let _ = BufReader::new(File::open(&target).expect("open"))
        .lines()
        .count();
}

#[test]
fn a_plan_file_runs_the_same_migration_as_the_options() {
    let dir = municipality(300);
    let out = tempfile::tempdir().expect("tempdir");
    // The README's demo plan, pointed at this test's municipality.
    let demo = fs::read_to_string(repo().join("config/demo-migration.toml")).expect("demo plan");
    let plan_text = demo
        .replace("../data/demo/native", path_str(&dir.join("native")))
        .replace(
            "mappings/",
            &format!("{}/", repo().join("config/mappings").display()),
        )
        .replace("../data/demo/journal.ndjson", "journal.ndjson")
        .replace("../data/migrate.sqlite", "state.sqlite")
        .replace("../data/demo/report", "report");
    let plan = out.path().join("plan.toml");
    fs::write(&plan, plan_text).expect("write plan");
    let output = migrate(&["--plan".into(), plan.display().to_string()]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.path().join("report/report.html").exists());

    let target = out.path().join("by-options.ndjson");
    let mut args = sources(&dir, [0, 1, 2]);
    args.extend([
        "--target".to_owned(),
        format!("canonical:{}", target.display()),
        "--state".to_owned(),
        out.path().join("other.sqlite").display().to_string(),
    ]);
    let output = migrate(&args);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        fs::read(out.path().join("journal.ndjson")).expect("plan target"),
        fs::read(&target).expect("options target")
    );

    // A misspelt key names the file and line.
    fs::write(&plan, "sources = []\ntarjet = \"canonical:x\"\n").expect("write");
    let output = migrate(&["--plan".into(), plan.display().to_string()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("plan.toml:2") && stderr.contains("tarjet"),
        "{stderr}"
    );
}
