//! `brygga migrate` into a FHIR server: the real binary, synthetic exports
//! in three formats, and the loopback FHIR test server over HTTPS with
//! OAuth2 client credentials, injecting the failures a regional server
//! gives (429 with Retry-After, 5xx, timeouts, dropped connections, a
//! transaction applied but not answered).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use brygga_fhir_rest::testing::{Fault, FhirTestServer, ServerOptions};
use serde_json::Value;

const CLIENT_ID: &str = "brygga-test";
const SECRET_VARIABLE: &str = "BRYGGA_TEST_FHIR_SECRET";

fn brygga(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_brygga"))
        .args(args)
        .env(SECRET_VARIABLE, "s3cret-for-tests")
        .output()
        .expect("run brygga")
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn succeeded(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    stderr
}

/// A small synthetic municipality in every export format.
fn municipality(dir: &Path) -> PathBuf {
    let synth = dir.join("synth");
    succeeded(&brygga(&[
        "synth",
        "--pupils",
        "60",
        "--seed",
        "5",
        "--out",
        path_str(&synth),
    ]));
    synth
}

fn migrate_args(synth: &Path, target: &str, state: &Path, report: &Path) -> Vec<String> {
    let mut args = vec!["migrate".to_owned()];
    for (format, file) in [
        ("bhv", "bhv.xml"),
        ("pmo", "pmo.xml"),
        ("prorenata", "prorenata.json"),
    ] {
        args.push("--source".into());
        args.push(format!(
            "{format}:{}",
            synth.join("native").join(file).display()
        ));
    }
    for profile in ["syntetisk-pmo.toml", "syntetisk-prorenata.toml"] {
        args.push("--profile".into());
        args.push(
            repo()
                .join("config/mappings")
                .join(profile)
                .display()
                .to_string(),
        );
    }
    args.extend([
        "--target".into(),
        target.to_owned(),
        "--state".into(),
        state.display().to_string(),
        "--report".into(),
        report.display().to_string(),
    ]);
    args
}

fn run(args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    brygga(&args)
}

/// The destination's configuration file, as municipal IT would write it.
fn destination(dir: &Path, server: &FhirTestServer) -> PathBuf {
    let ca = dir.join("region-ca.pem");
    server.write_ca(&ca).expect("CA written");
    let file = dir.join("region-fhir.toml");
    fs::write(
        &file,
        format!(
            r#"base_url = "{base}"
write_profile = "se-base"
timeout_seconds = 1.0
max_bundle_entries = 40

[retry]
max_attempts = 8
min_delay_ms = 10
max_delay_ms = 200

[tls]
ca_file = "region-ca.pem"

[auth]
method = "client_credentials"
token_url = "{token}"
client_id = "{CLIENT_ID}"
client_secret_env = "{SECRET_VARIABLE}"
"#,
            base = server.base_url(),
            token = server.token_url(),
        ),
    )
    .expect("config written");
    file
}

/// The region's server (HTTPS, OAuth2 client credentials) and its
/// destination file.
fn region_server(dir: &Path) -> (FhirTestServer, PathBuf) {
    let server = FhirTestServer::start_with(ServerOptions {
        client_credentials: Some((CLIENT_ID.into(), "s3cret-for-tests".into())),
        ..ServerOptions::default()
    })
    .expect("server");
    let config = destination(dir, &server);
    (server, config)
}

/// The migration of `synth` into the server `config` describes.
fn into_server(synth: &Path, config: &Path, dir: &Path) -> Vec<String> {
    migrate_args(
        synth,
        &format!("fhir-rest:{}", config.display()),
        &dir.join("rest.sqlite"),
        &dir.join("rest.report"),
    )
}

/// Every resource line of a fhir-ndjson directory, by `Type/id`.
fn ndjson_resources(dir: &Path) -> BTreeMap<String, Value> {
    let mut resources = BTreeMap::new();
    for entry in fs::read_dir(dir).expect("output directory") {
        let path = entry.expect("entry").path();
        for line in fs::read_to_string(&path).expect("ndjson").lines() {
            let value: Value = serde_json::from_str(line).expect("a resource");
            let key = format!(
                "{}/{}",
                value["resourceType"].as_str().expect("type"),
                value["id"].as_str().expect("id")
            );
            resources.insert(key, value);
        }
    }
    resources
}

/// A stored resource without what the server adds.
fn without_server_meta(mut value: Value) -> Value {
    if let Some(meta) = value.get_mut("meta").and_then(Value::as_object_mut) {
        meta.remove("versionId");
        meta.remove("lastUpdated");
        if meta.is_empty()
            && let Some(object) = value.as_object_mut()
        {
            object.remove("meta");
        }
    }
    value
}

fn report(dir: &Path) -> Value {
    serde_json::from_slice(&fs::read(dir.join("report.json")).expect("report")).expect("json")
}

#[test]
fn a_migration_into_a_fhir_server_survives_its_failures_and_writes_everything_once_in_order() {
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    let synth = municipality(dir);

    // The same migration to files: what the server must end up holding.
    let files = dir.join("fhir");
    succeeded(&run(&migrate_args(
        &synth,
        &format!("fhir-ndjson:{}", files.display()),
        &dir.join("files.sqlite"),
        &dir.join("files.report"),
    )));
    let expected = ndjson_resources(&files);

    let (server, config) = region_server(dir);
    server.inject([
        Fault::Status {
            status: 429,
            retry_after: Some(1),
        },
        Fault::Pass,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        Fault::Drop,
        Fault::Pass,
        Fault::ApplyThenStatus(500),
        Fault::Delay(Duration::from_millis(1500)),
        Fault::Pass,
        Fault::ApplyThenDrop,
        Fault::Status {
            status: 502,
            retry_after: None,
        },
    ]);
    let args = into_server(&synth, &config, dir);
    succeeded(&run(&args));
    assert_eq!(server.pending_faults(), 0, "every fault was met");

    let stored = server.version_counts();
    let repeated: Vec<_> = stored.iter().filter(|(_, n)| **n != 1).collect();
    assert!(repeated.is_empty(), "written more than once: {repeated:?}");
    // Everything the file migration wrote is on the server, identical.
    for (key, value) in &expected {
        let (kind, id) = key.split_once('/').expect("Type/id");
        let on_server = server
            .resource(kind, id)
            .unwrap_or_else(|| panic!("{key} is missing on the server"));
        if kind != "Organization" {
            assert_eq!(&without_server_meta(on_server), value, "{key} differs");
        }
    }
    let on_server: BTreeSet<&String> = stored.keys().collect();
    let in_files: BTreeSet<&String> = expected.keys().collect();
    assert_eq!(on_server, in_files, "the server holds what the files hold");

    // Each pupil's journal was first written in the files' order.
    let patients: Vec<&str> = expected
        .keys()
        .filter_map(|k| k.strip_prefix("Patient/"))
        .collect();
    assert!(
        patients.len() >= 60,
        "synth's pupils and their guardians' children"
    );
    let documents = fs::read_to_string(files.join("DocumentReference.ndjson")).expect("notes");
    let mut notes_checked = 0;
    for patient in &patients {
        let reference = format!("Patient/{patient}");
        let in_file: Vec<String> = documents
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("json"))
            .filter(|v| v["subject"]["reference"].as_str() == Some(&reference))
            .map(|v| format!("DocumentReference/{}", v["id"].as_str().expect("id")))
            .collect();
        let written: Vec<String> = server
            .first_writes(patient)
            .into_iter()
            .filter(|k| k.starts_with("DocumentReference/"))
            .collect();
        assert_eq!(written, in_file, "one pupil's notes in journal order");
        notes_checked += written.len();
    }
    assert!(notes_checked > 500, "{notes_checked} notes checked");

    let report = report(&dir.join("rest.report"));
    assert_eq!(report["balanced"], true);
    let files_report = self::report(&dir.join("files.report"));
    assert_eq!(report["totals"], files_report["totals"]);

    // The same job again (a replay): nothing new on the server.
    let changed = server.changed_writes();
    succeeded(&run(&args));
    assert_eq!(
        server.changed_writes(),
        changed,
        "a replay writes nothing new"
    );

    // The server as a source: each pupil's notes, measurements and
    // vaccinations read back (search with paging) are the journal migrated.
    let canonical = dir.join("journal.ndjson");
    succeeded(&run(&migrate_args(
        &synth,
        &format!("canonical:{}", canonical.display()),
        &dir.join("canonical.sqlite"),
        &dir.join("canonical.report"),
    )));
    let back = dir.join("back.ndjson");
    let source = format!("fhir-rest:{}", config.display());
    let target = format!("canonical:{}", back.display());
    let state = dir.join("back.sqlite");
    let back_report = dir.join("back.report");
    succeeded(&brygga(&[
        "migrate",
        "--source",
        &source,
        "--target",
        &target,
        "--state",
        path_str(&state),
        "--report",
        path_str(&back_report),
    ]));
    let read_back = kept_lines(&back);
    assert!(
        read_back.len() > 1000,
        "{} records read back",
        read_back.len()
    );
    assert_eq!(read_back, kept_lines(&canonical));
    assert_eq!(
        self::report(&back_report)["sources"][0]["format"],
        "fhir-rest"
    );
}

/// The canonical lines of the kinds a FHIR server source reads (persons,
/// notes, measurements, vaccinations), in file order.
fn kept_lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .expect("canonical output")
        .lines()
        .filter(|line| {
            let value: Value = serde_json::from_str(line).expect("json");
            matches!(
                value["type"].as_str(),
                Some("person" | "journal_entry" | "measurement" | "immunization")
            )
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_server_that_stays_down_stops_the_job_and_a_rerun_finishes_it() {
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    let synth = municipality(dir);
    let (server, config) = region_server(dir);
    // Organisations go first, then the first pupil meets a server that
    // answers 503 more times than the sink tries.
    server.inject(std::iter::once(Fault::Pass).chain(std::iter::repeat_n(
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        8,
    )));
    let args = into_server(&synth, &config, dir);
    let output = run(&args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("503"),
        "the reason names the status: {stderr}"
    );
    let patients_before = server
        .version_counts()
        .keys()
        .filter(|k| k.starts_with("Patient/"))
        .count();
    assert_eq!(patients_before, 0, "no pupil was written past the failure");

    succeeded(&run(&args));
    let counts = server.version_counts();
    assert!(counts.values().all(|n| *n == 1), "each resource once");
    assert_eq!(
        counts.keys().filter(|k| k.starts_with("Patient/")).count(),
        report(&dir.join("rest.report"))["pupils"]
            .as_array()
            .map_or(0, Vec::len),
        "every pupil on the server"
    );
}
