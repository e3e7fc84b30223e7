//! `brygga convert --to fhir-ndjson | fhir-bundle | fhir-bundle-ehr-strict`
//! on a synthetic municipality of 1,000 pupils: each pupil's resources in
//! chronological order, the same bytes on every run, protected persons'
//! addresses and contact details in no output, and the EHR profile's
//! refusals in the rejects file.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use brygga_mapping::time::ClinicalTime;
use serde_json::Value;

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

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// 1,000 pupils, shared by the tests in this file (not with other files).
/// The folder is this process's own: another test run sharing the target
/// directory must not rewrite it while it is read. Folders of runs that
/// have ended are removed.
fn municipality() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        const PREFIX: &str = "fhir-synth-1000-seed-11-";
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        for entry in fs::read_dir(tmp).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix(PREFIX)
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        let dir = tmp.join(format!("{PREFIX}{}", std::process::id()));
        let output = brygga(&[
            "synth",
            "--pupils",
            "1000",
            "--seed",
            "11",
            "--canonical-only",
            "--out",
            path_str(&dir),
        ]);
        assert_eq!(code(&output), 0, "{}", stderr(&output));
        dir
    })
}

fn canonical(name: &str) -> PathBuf {
    municipality()
        .join("canonical")
        .join(format!("{name}.ndjson"))
}

/// The health records: what the shared record receives.
fn health_inputs() -> Vec<PathBuf> {
    ["bhv", "pmo", "prorenata"].map(canonical).to_vec()
}

/// Converts `inputs` to `format` at `out`; the exit code and rejects file.
fn convert(format: &str, out: &Path, inputs: &[PathBuf]) -> (i32, String) {
    let mut args = vec![
        "convert",
        "--from",
        "canonical",
        "--to",
        format,
        "--out",
        path_str(out),
    ];
    args.extend(inputs.iter().map(|p| path_str(p)));
    let output = brygga(&args);
    let code = code(&output);
    assert!(code == 0 || code == 1, "{}", stderr(&output));
    let mut rejects = out.as_os_str().to_owned();
    rejects.push(".rejects.txt");
    (
        code,
        fs::read_to_string(PathBuf::from(rejects)).expect("rejects file"),
    )
}

fn json_lines(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// A clinical resource's time and its patient's identifier value.
fn time_and_patient(resource: &Value) -> Option<(ClinicalTime, String)> {
    let (time, subject) = match resource["resourceType"].as_str()? {
        "Encounter" => (&resource["period"]["start"], &resource["subject"]),
        "DocumentReference" => (
            &resource["context"]["period"]["start"],
            &resource["subject"],
        ),
        "Observation" => (&resource["effectiveDateTime"], &resource["subject"]),
        "Immunization" => (&resource["occurrenceDateTime"], &resource["patient"]),
        "Consent" => (&resource["dateTime"], &resource["patient"]),
        _ => return None,
    };
    let time = ClinicalTime::parse(time.as_str()?).expect("a FHIR dateTime Brygga reads");
    Some((time, subject["identifier"]["value"].as_str()?.to_owned()))
}

/// Each run of one patient's resources in `resources` is in time order.
fn assert_chronological(resources: &[Value], what: &str) -> usize {
    let mut last: Option<(ClinicalTime, String)> = None;
    let mut checked = 0;
    for resource in resources {
        let Some((time, patient)) = time_and_patient(resource) else {
            continue;
        };
        if let Some((previous, previous_patient)) = &last
            && *previous_patient == patient
        {
            assert!(
                *previous <= time,
                "{what}: {} at {time} follows {previous} for the same patient",
                resource["resourceType"]
            );
            checked += 1;
        }
        last = Some((time, patient));
    }
    checked
}

#[test]
fn bundles_hold_one_patient_each_patient_first_and_in_time_order() {
    let out = tempfile::tempdir().expect("tempdir");
    let bundles = out.path().join("bundles.ndjson");
    let (code, rejects) = convert("fhir-bundle", &bundles, &health_inputs());
    assert_eq!((code, rejects.as_str()), (0, ""));
    let mut ordered_pairs = 0;
    let mut with_patient = 0;
    for bundle in json_lines(&bundles) {
        assert_eq!(bundle["resourceType"], "Bundle");
        assert_eq!(bundle["type"], "transaction");
        let entries = bundle["entry"].as_array().expect("entries");
        let resources: Vec<Value> = entries.iter().map(|e| e["resource"].clone()).collect();
        for entry in entries {
            let resource = &entry["resource"];
            assert_eq!(entry["request"]["method"], "PUT");
            assert_eq!(
                entry["request"]["url"].as_str().expect("url"),
                format!(
                    "{}/{}",
                    resource["resourceType"].as_str().expect("type"),
                    resource["id"].as_str().expect("id")
                )
            );
        }
        let patients: BTreeSet<String> = resources
            .iter()
            .filter_map(time_and_patient)
            .map(|(_, patient)| patient)
            .collect();
        assert!(
            patients.len() <= 1,
            "a bundle holds one patient: {patients:?}"
        );
        if let Some(position) = resources
            .iter()
            .position(|r| r["resourceType"] == "Patient")
        {
            assert_eq!(position, 0, "the Patient comes first");
            with_patient += 1;
        }
        ordered_pairs += assert_chronological(&resources, "bundle");
    }
    assert!(
        with_patient > 900,
        "{with_patient} bundles start with their Patient"
    );
    assert!(ordered_pairs > 10_000, "only {ordered_pairs} pairs checked");
}

#[test]
fn ndjson_files_keep_each_patients_resources_in_time_order() {
    let out = tempfile::tempdir().expect("tempdir");
    let dir = out.path().join("fhir");
    let (status, rejects) = convert("fhir-ndjson", &dir, &health_inputs());
    assert_eq!((status, rejects.as_str()), (0, ""));
    let mut checked = 0;
    for name in [
        "Encounter",
        "DocumentReference",
        "Observation",
        "Immunization",
        "Consent",
    ] {
        checked += assert_chronological(&json_lines(&dir.join(format!("{name}.ndjson"))), name);
    }
    assert!(checked > 10_000, "only {checked} pairs checked");
    // Reading the directory's files back gives the records again.
    let back = out.path().join("back.ndjson");
    let documents = dir.join("DocumentReference.ndjson");
    let output = brygga(&[
        "convert",
        "--from",
        "fhir-ndjson",
        "--to",
        "canonical",
        "--out",
        path_str(&back),
        path_str(&documents),
    ]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let notes = fs::read_to_string(&back).expect("back").lines().count();
    assert_eq!(notes, json_lines(&documents).len());
}

#[test]
fn every_run_writes_the_same_bytes() {
    let out = tempfile::tempdir().expect("tempdir");
    let inputs = health_inputs();
    for format in ["fhir-bundle", "fhir-ndjson"] {
        let first = out.path().join(format!("{format}-1"));
        let second = out.path().join(format!("{format}-2"));
        convert(format, &first, &inputs);
        convert(format, &second, &inputs);
        if first.is_dir() {
            let names: Vec<_> = fs::read_dir(&first)
                .expect("dir")
                .map(|e| e.expect("entry").file_name())
                .collect();
            assert!(names.len() >= 10, "{names:?}");
            for name in names {
                assert!(
                    fs::read(first.join(&name)).expect("first")
                        == fs::read(second.join(&name)).expect("second"),
                    "{format}: {name:?} differs between runs"
                );
            }
        } else {
            assert!(
                fs::read(&first).expect("first") == fs::read(&second).expect("second"),
                "{format} differs between runs"
            );
        }
    }
}

/// Addresses, postal codes and telecom of protected and of other persons in
/// the register.
fn register_details() -> (BTreeSet<String>, BTreeSet<String>, usize) {
    let mut protected = BTreeSet::new();
    let mut others = BTreeSet::new();
    let mut protected_persons = 0;
    for person in json_lines(&canonical("register")) {
        if person["type"] != "person" {
            continue;
        }
        let is_protected = person["security_marking"]
            .as_str()
            .is_some_and(|m| m != "none");
        protected_persons += usize::from(is_protected);
        let set = if is_protected {
            &mut protected
        } else {
            &mut others
        };
        for address in person["addresses"].as_array().into_iter().flatten() {
            for line in address["lines"].as_array().into_iter().flatten() {
                set.insert(line.as_str().expect("line").to_owned());
            }
            if let Some(code) = address["postal_code"].as_str() {
                set.insert(code.to_owned());
            }
        }
        for telecom in person["telecom"].as_array().into_iter().flatten() {
            set.insert(telecom["value"].as_str().expect("value").to_owned());
        }
    }
    (protected, others, protected_persons)
}

/// Every file under `path` (a file or a directory), as text.
fn output_texts(path: &Path) -> Vec<(PathBuf, String)> {
    if path.is_dir() {
        fs::read_dir(path)
            .expect("dir")
            .map(|e| e.expect("entry").path())
            .map(|p| (p.clone(), fs::read_to_string(&p).expect("utf-8")))
            .collect()
    } else {
        vec![(path.to_path_buf(), fs::read_to_string(path).expect("utf-8"))]
    }
}

#[test]
fn protected_persons_addresses_and_telecom_appear_in_no_output() {
    let (protected, others, protected_persons) = register_details();
    assert!(protected_persons >= 5, "synth writes protected persons");
    // What only protected persons have; a street two families share is
    // not evidence either way.
    let secrets: Vec<&String> = protected.difference(&others).collect();
    assert!(secrets.len() >= 5, "{secrets:?}");
    let register = fs::read_to_string(canonical("register")).expect("register");
    assert!(secrets.iter().all(|s| register.contains(s.as_str())));

    // Only the register holds addresses; the health files hold none.
    let out = tempfile::tempdir().expect("tempdir");
    let inputs = [canonical("register")];
    let mut outputs = Vec::new();
    for format in ["fhir-ndjson", "fhir-bundle", "fhir-bundle-ehr-strict"] {
        let path = out.path().join(format);
        let (code, rejects) = convert(format, &path, &inputs);
        // The register's grades and absence are school records, refused.
        assert_eq!(code, 1);
        assert!(rejects.contains("school record"), "{format}");
        outputs.extend(output_texts(&path));
    }
    let mut unprotected_seen = 0;
    for (path, text) in &outputs {
        for secret in &secrets {
            assert!(
                !text.contains(&format!("\"{secret}\"")),
                "{}: a protected person's {secret:?} leaked",
                path.display()
            );
        }
        unprotected_seen += others
            .iter()
            .filter(|o| text.contains(&format!("\"{o}\"")))
            .count();
    }
    assert!(
        unprotected_seen > 100,
        "other persons' addresses are written"
    );
    // And each protected person's Patient carries the label and no address.
    let patients = json_lines(&out.path().join("fhir-ndjson").join("Patient.ndjson"));
    let labelled: Vec<&Value> = patients
        .iter()
        .filter(|p| {
            p["meta"]["security"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["code"] == "R")
        })
        .collect();
    assert!(labelled.len() >= protected_persons, "{}", labelled.len());
    for patient in labelled {
        assert!(patient.get("address").is_none() && patient.get("telecom").is_none());
    }
}

#[test]
fn ehr_strict_refusals_are_in_the_rejects_file_with_their_reasons() {
    let out = tempfile::tempdir().expect("tempdir");
    let path = out.path().join("strict.ndjson");
    let (code, rejects) = convert("fhir-bundle-ehr-strict", &path, &[canonical("pmo")]);
    assert_eq!(
        code, 1,
        "nullified notes cannot be written under ehr-strict"
    );
    let mut reasons: HashMap<&str, usize> = HashMap::new();
    for line in rejects.lines() {
        assert!(
            line.contains(": not written as fhir-bundle-ehr-strict: ehr-strict: "),
            "{line}"
        );
        for reason in ["status=current", "docStatus=final", "date only", "charset"] {
            if line.contains(reason) {
                *reasons.entry(reason).or_default() += 1;
            }
        }
    }
    assert!(
        reasons.get("status=current").copied().unwrap_or(0) > 0,
        "{reasons:?}"
    );
    assert!(
        reasons.get("date only").copied().unwrap_or(0) > 0,
        "{reasons:?}"
    );
    // Everything the EHR profile writes keeps its rules.
    for bundle in json_lines(&path) {
        for entry in bundle["entry"].as_array().expect("entries") {
            let resource = &entry["resource"];
            if resource["resourceType"] != "DocumentReference" {
                continue;
            }
            assert_eq!(resource["status"], "current");
            assert_eq!(resource["docStatus"], "final");
            let period = &resource["context"]["period"];
            assert!(period["end"].as_str().is_some_and(|e| e.contains('T')));
            assert!(resource["content"][0]["attachment"]["creation"].is_null());
        }
    }
}
