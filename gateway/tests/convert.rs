//! `brygga convert` and `brygga mapping test` as integration engineers and
//! migration teams run them: real files, the real binary, exit codes and
//! the rejects file.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn brygga(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_brygga"))
        .args(args)
        .output()
        .expect("run brygga")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exit code")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn vectors(format: &str, case: &str) -> PathBuf {
    repo()
        .join("conformance-tests/vectors")
        .join(format)
        .join(case)
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// 10,000 pupils with every journal system's own export, shared by the
/// round-trip tests.
fn municipality() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("synth-10000-seed-3");
        let output = brygga(&[
            "synth",
            "--pupils",
            "10000",
            "--seed",
            "3",
            "--out",
            path_str(&dir),
        ]);
        assert_eq!(code(&output), 0, "{}", stderr(&output));
        dir
    })
}

/// The first line where two files differ, for a readable failure.
fn first_difference(expected: &Path, actual: &Path) -> Option<String> {
    let open = |p: &Path| {
        BufReader::new(fs::File::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).lines()
    };
    let mut a = open(expected);
    let mut b = open(actual);
    for line in 1.. {
        match (a.next(), b.next()) {
            (None, None) => return None,
            (Some(x), Some(y)) => {
                let (x, y) = (x.expect("read"), y.expect("read"));
                if x != y {
                    return Some(format!("line {line}:\n  expected {x}\n  actual   {y}"));
                }
            }
            (x, y) => {
                return Some(format!(
                    "line {line}: one file ends first (expected has more: {}, actual has more: {})",
                    x.is_some(),
                    y.is_some()
                ));
            }
        }
    }
    None
}

/// synth → each journal system's own format → `brygga convert` back to
/// canonical gives exactly synth's canonical records, for 10,000 pupils.
fn round_trip(format: &str, native: &str, canonical: &str, profile: Option<&str>) {
    let dir = municipality();
    let out = tempfile::tempdir().expect("tempdir");
    let back = out.path().join("back.ndjson");
    let native = dir.join(native);
    let mut args = vec![
        "convert",
        "--from",
        format,
        "--to",
        "canonical",
        "--out",
        path_str(&back),
    ];
    let profile = profile.map(|p| repo().join(p));
    if let Some(profile) = &profile {
        args.extend(["--profile", path_str(profile)]);
    }
    args.push(path_str(&native));
    let output = brygga(&args);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let rejects = fs::read_to_string(out.path().join("back.ndjson.rejects.txt")).expect("rejects");
    assert_eq!(rejects, "", "no record may be rejected");
    if let Some(difference) = first_difference(&dir.join(canonical), &back) {
        panic!("{format}: converting back differs from synth's canonical output at {difference}");
    }
}

#[test]
fn pmo_export_converts_back_to_the_same_records() {
    round_trip(
        "pmo",
        "native/pmo.xml",
        "canonical/pmo.ndjson",
        Some("config/mappings/syntetisk-pmo.toml"),
    );
}

#[test]
fn prorenata_export_converts_back_to_the_same_records() {
    round_trip(
        "prorenata",
        "native/prorenata.json",
        "canonical/prorenata.ndjson",
        Some("config/mappings/syntetisk-prorenata.toml"),
    );
}

#[test]
fn child_health_extract_converts_back_to_the_same_records() {
    round_trip("bhv", "native/bhv.xml", "canonical/bhv.ndjson", None);
}

#[test]
fn bad_records_go_to_the_rejects_file_and_the_rest_is_converted() {
    let out = tempfile::tempdir().expect("tempdir");
    let target = out.path().join("out.ndjson");
    let good = vectors("canonical", "basic").join("input.ndjson");
    let bad = vectors("canonical", "bad-input").join("input.ndjson");
    let output = brygga(&[
        "convert",
        "--from",
        "canonical",
        "--to",
        "canonical",
        "--out",
        path_str(&target),
        path_str(&good),
        path_str(&bad),
    ]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let expected = [
        fs::read_to_string(vectors("canonical", "basic").join("expected.ndjson")).expect("read"),
        fs::read_to_string(vectors("canonical", "bad-input").join("expected.ndjson"))
            .expect("read"),
    ]
    .concat();
    assert_eq!(fs::read_to_string(&target).expect("output"), expected);
    let rejects = fs::read_to_string(out.path().join("out.ndjson.rejects.txt")).expect("rejects");
    let want: Vec<String> =
        fs::read_to_string(vectors("canonical", "bad-input").join("rejects.txt"))
            .expect("read")
            .lines()
            .map(|line| format!("{}: {line}", bad.display()))
            .collect();
    assert_eq!(rejects.lines().collect::<Vec<_>>(), want);
    assert!(
        stderr(&output).contains(&format!("{} rejected", want.len())),
        "{}",
        stderr(&output)
    );
    assert!(!out.path().join("out.ndjson.partial").exists());
}

#[test]
fn records_the_target_cannot_hold_are_rejected_by_type() {
    let out = tempfile::tempdir().expect("tempdir");
    let input = out.path().join("register.ndjson");
    fs::write(
        &input,
        concat!(
            r#"{"type":"organisation","id":"skolenhet:99990001","kind":"school_unit","name":"Björkskolan"}"#,
            "\n",
            r#"{"type":"attendance","source":{"system":"ss12000:syntetisk","record_id":"n-1","version":1},"pupil":{"system":"personnummer","value":"196408233234"},"calendar_event":"lektion-1","date":"2024-09-02","attendance_minutes":60,"valid_absence_minutes":0,"invalid_absence_minutes":0}"#,
            "\n",
        ),
    )
    .expect("write");
    let target = out.path().join("out.xml");
    let output = brygga(&[
        "convert",
        "--from",
        "canonical",
        "--to",
        "pmo",
        "--out",
        path_str(&target),
        path_str(&input),
    ]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let rejects = fs::read_to_string(out.path().join("out.xml.rejects.txt")).expect("rejects");
    let lines: Vec<&str> = rejects.lines().collect();
    assert_eq!(lines.len(), 2, "{rejects}");
    let prefix = |n: u32| format!("{}: record {n}: not written as pmo: ", input.display());
    assert!(
        lines[0].starts_with(&prefix(1)) && lines[0].contains("school_unit"),
        "{rejects}"
    );
    assert!(
        lines[1].starts_with(&prefix(2)) && lines[1].contains("attendance"),
        "{rejects}"
    );
    assert!(target.exists(), "the output is still written");
}

#[test]
fn a_hostile_input_is_refused_and_the_next_input_is_still_read() {
    let out = tempfile::tempdir().expect("tempdir");
    let hostile = out.path().join("hostile.xml");
    fs::write(
        &hostile,
        "<?xml version=\"1.0\"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>\n<pmo-export>&e;</pmo-export>\n",
    )
    .expect("write");
    let good = out.path().join("good.xml");
    let convert = brygga(&[
        "convert",
        "--from",
        "canonical",
        "--to",
        "pmo",
        "--out",
        path_str(&good),
        path_str(&vectors("canonical", "basic").join("input.ndjson")),
    ]);
    assert!(code(&convert) <= 1, "{}", stderr(&convert));
    let target = out.path().join("out.ndjson");
    let started = std::time::Instant::now();
    let output = brygga(&[
        "convert",
        "--from",
        "pmo",
        "--to",
        "canonical",
        "--out",
        path_str(&target),
        path_str(&hostile),
        path_str(&good),
    ]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert!(started.elapsed().as_secs() < 10, "a refusal is quick");
    let rejects = fs::read_to_string(out.path().join("out.ndjson.rejects.txt")).expect("rejects");
    assert_eq!(rejects.lines().count(), 1, "{rejects}");
    assert!(
        rejects.starts_with(&format!("{}: ", hostile.display()))
            && rejects.contains("DOCTYPE")
            && rejects.contains("the rest of this input was not read"),
        "{rejects}"
    );
    assert!(!rejects.contains("root:"), "nothing of the entity leaks");
    let written = fs::read_to_string(&target).expect("output");
    assert!(written.lines().count() > 0, "the good input was converted");
}

#[test]
fn unknown_formats_and_misfit_profiles_stop_before_anything_is_written() {
    let out = tempfile::tempdir().expect("tempdir");
    let target = out.path().join("out.xml");
    let input = vectors("canonical", "basic").join("input.ndjson");
    let output = brygga(&[
        "convert",
        "--from",
        "canonical",
        "--to",
        "hl7v2",
        "--out",
        path_str(&target),
        path_str(&input),
    ]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("unknown format \"hl7v2\"; known formats: canonical"),
        "{}",
        stderr(&output)
    );
    let profile = repo().join("config/mappings/syntetisk-prorenata.toml");
    let output = brygga(&[
        "convert",
        "--from",
        "canonical",
        "--to",
        "pmo",
        "--profile",
        path_str(&profile),
        "--out",
        path_str(&target),
        path_str(&input),
    ]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("the profile is for prorenata"),
        "{}",
        stderr(&output)
    );
    assert!(!target.exists());
}

#[test]
fn list_names_every_format() {
    let output = brygga(&["convert", "--list"]);
    assert_eq!(code(&output), 0);
    let text = String::from_utf8_lossy(&output.stdout);
    for name in ["canonical", "pmo", "prorenata", "bhv"] {
        assert!(
            text.lines().any(|l| l.starts_with(name)),
            "{name} missing from {text}"
        );
    }
}

#[test]
fn mapping_test_passes_good_vectors_and_shows_a_diff_for_bad_ones() {
    let profile = repo().join("config/mappings/syntetisk-pmo.toml");
    let vectors_dir = repo().join("config/mappings/vectors/syntetisk-pmo");
    let output = brygga(&[
        "mapping",
        "test",
        path_str(&profile),
        path_str(&vectors_dir),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(code(&output), 0, "{stdout}{}", stderr(&output));
    assert!(
        stdout.contains("failed") && stdout.contains(" 0 failed"),
        "{stdout}"
    );

    // The same vectors, with one expected note type changed.
    let copy = tempfile::tempdir().expect("tempdir");
    let mut changed = false;
    for case in fs::read_dir(&vectors_dir).expect("vectors") {
        let case = case.expect("entry").path();
        let target = copy.path().join(case.file_name().expect("name"));
        fs::create_dir(&target).expect("mkdir");
        for file in fs::read_dir(&case).expect("case") {
            let file = file.expect("entry").path();
            let mut text = fs::read_to_string(&file).expect("read");
            let note_type = "\"code\":\"health_visit\"";
            if !changed && file.ends_with("expected.ndjson") && text.contains(note_type) {
                text = text.replacen(note_type, "\"code\":\"health_talk\"", 1);
                changed = true;
            }
            fs::write(target.join(file.file_name().expect("name")), text).expect("write");
        }
    }
    assert!(changed, "the vectors hold a health visit");
    let output = brygga(&["mapping", "test", path_str(&profile), path_str(copy.path())]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(code(&output), 1, "{stdout}");
    assert!(stdout.contains("FAIL "), "{stdout}");
    assert!(
        stdout.contains("- ") && stdout.contains("\"health_talk\"") && stdout.contains("+ "),
        "the diff shows expected and actual: {stdout}"
    );
}
