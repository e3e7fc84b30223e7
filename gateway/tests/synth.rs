//! `brygga synth` end to end: real runs of the binary into real folders,
//! read back with the canonical NDJSON reader.
//!
//! The 1,000-pupil municipality with seed 7 is generated once per test run
//! (under Cargo's per-target temporary folder) and shared by the tests that
//! only read it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use brygga_mapping::id::{Identifier, PersonId};
use brygga_mapping::model::{
    ConsentDecision, EntryStatus, JournalEntry, NoteContent, NoteTypeCode, Record, SourceRef,
    VaccinationProgramme,
};
use brygga_mapping::ndjson::NdjsonReader;
use brygga_mapping::time::ClinicalTime;
use jiff::civil::{Date, Weekday};

const FILES: [&str; 8] = [
    "manifest.json",
    "canonical/register.ndjson",
    "canonical/bhv.ndjson",
    "canonical/pmo.ndjson",
    "canonical/prorenata.ndjson",
    "native/bhv.xml",
    "native/pmo.xml",
    "native/prorenata.json",
];

/// The canonical files, which the tests read record by record.
const CANONICAL: std::ops::Range<usize> = 1..5;
const AS_OF: Date = Date::constant(2026, 6, 12);
const SWITCH: Date = Date::constant(2021, 8, 1);

fn brygga(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_brygga"))
        .args(args)
        .output()
        .expect("run brygga")
}

/// Runs `brygga synth` and returns its stdout, failing on any exit code but 0.
fn synth(out: &Path, pupils: u32, seed: u64, extra: &[&str]) -> String {
    let pupils = pupils.to_string();
    let seed = seed.to_string();
    let out_arg = out.to_str().expect("utf-8 path");
    let mut args = vec![
        "synth", "--pupils", &pupils, "--seed", &seed, "--out", out_arg,
    ];
    args.extend_from_slice(extra);
    let output = brygga(&args);
    assert!(
        output.status.success(),
        "brygga synth failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 stdout")
}

/// The shared municipality: 1,000 pupils, seed 7, default `--as-of`.
fn municipality() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("synth-1000-seed-7");
        synth(&dir, 1000, 7, &[]);
        dir
    })
}

fn records(path: &Path) -> impl Iterator<Item = Record> {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    NdjsonReader::new(BufReader::with_capacity(1 << 20, file))
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
}

fn manifest(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("manifest.json")).expect("manifest");
    serde_json::from_str(&text).expect("manifest is JSON")
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    let (mut a, mut b) = (
        BufReader::new(File::open(a).expect("open")),
        BufReader::new(File::open(b).expect("open")),
    );
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = read_full(&mut a, &mut x);
        let m = read_full(&mut b, &mut y);
        if n != m || x[..n] != y[..m] {
            return false;
        }
        if n == 0 {
            return true;
        }
    }
}

fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]).expect("read") {
            0 => break,
            n => filled += n,
        }
    }
    filled
}

fn person_id(identifier: &Identifier) -> PersonId {
    match identifier {
        Identifier::Person(id) => *id,
        Identifier::Local(_) => panic!("synthetic records use person ids"),
    }
}

fn days(from: Date, to: Date) -> i64 {
    to.duration_since(from).as_secs() / 86_400
}

fn keywords(entry: &JournalEntry) -> Vec<&str> {
    match &entry.content {
        NoteContent::Keywords { sections } => sections.iter().map(|s| s.keyword.as_str()).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn the_same_arguments_write_the_same_bytes_and_another_seed_does_not() {
    let shared = municipality();
    let again = tempfile::tempdir().expect("tempdir");
    let other = tempfile::tempdir().expect("tempdir");
    synth(again.path(), 1000, 7, &[]);
    synth(other.path(), 1000, 8, &[]);
    for file in FILES {
        assert!(
            same_bytes(&shared.join(file), &again.path().join(file)),
            "{file} differs between two runs with the same arguments"
        );
        assert!(
            !same_bytes(&shared.join(file), &other.path().join(file)),
            "{file} is the same for seeds 7 and 8"
        );
    }
}

#[test]
fn every_line_reads_back_and_matches_the_manifest_counts() {
    let dir = municipality();
    let manifest = manifest(dir);
    assert_eq!(manifest["synthetic"], true);
    assert_eq!(manifest["seed"], 7);
    assert_eq!(manifest["as_of"], "2026-06-12");
    for file in &FILES[CANONICAL] {
        let file_counts = &manifest["files"][*file];
        let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
        let mut errors = 0;
        let reader = NdjsonReader::new(BufReader::new(File::open(dir.join(file)).expect("open")));
        for result in reader {
            match result {
                Ok(record) => *by_type.entry(record.type_name().to_owned()).or_default() += 1,
                Err(e) => {
                    errors += 1;
                    eprintln!("{file}: {e}");
                }
            }
        }
        assert_eq!(errors, 0, "{file} has lines that do not read back");
        let expected: BTreeMap<String, u64> =
            serde_json::from_value(file_counts["by_type"].clone()).expect("by_type");
        assert_eq!(by_type, expected, "{file}");
        assert_eq!(
            file_counts["records"],
            by_type.values().sum::<u64>(),
            "{file}"
        );
    }
    // Each journal system's own export holds the same records.
    for (native, canonical) in [
        ("native/bhv.xml", "canonical/bhv.ndjson"),
        ("native/pmo.xml", "canonical/pmo.ndjson"),
        ("native/prorenata.json", "canonical/prorenata.ndjson"),
    ] {
        assert_eq!(
            manifest["files"][native], manifest["files"][canonical],
            "{native}"
        );
    }
}

#[test]
fn canonical_only_writes_no_native_exports() {
    let dir = tempfile::tempdir().expect("tempdir");
    synth(dir.path(), 20, 7, &["--canonical-only"]);
    assert!(dir.path().join("canonical/pmo.ndjson").exists());
    assert!(!dir.path().join("native").exists());
    let manifest = manifest(dir.path());
    let files = manifest["files"].as_object().expect("files");
    assert!(
        files.keys().all(|k| k.starts_with("canonical/")),
        "{files:?}"
    );
}

#[test]
fn every_adversarial_case_is_present_at_a_thousand_pupils() {
    let manifest = manifest(municipality());
    let cases = manifest["adversarial"].as_object().expect("adversarial");
    for case in [
        "protected_pupils",
        "protected_guardians",
        "grade_changes",
        "grade_corrections",
        "grade_trials",
        "partial_consents",
        "withheld_final_notes",
        "date_only_notes",
        "late_signatures",
        "amendments",
        "amendments_of_amendments",
        "nullified_notes",
        "october_repeated_hour_first",
        "october_repeated_hour_second",
        "march_spring_forward_notes",
        "identical_time_pairs",
        "copied_at_switch",
        "patient_blocked_notes",
    ] {
        let count = cases[case]
            .as_u64()
            .unwrap_or_else(|| panic!("{case} missing"));
        assert!(count > 0, "no {case} at 1000 pupils");
    }
}

/// What the register says about the pupils, for the other files' checks.
struct Pupils {
    birth: BTreeMap<PersonId, Date>,
    school_year: BTreeMap<PersonId, u8>,
}

fn register_pupils(dir: &Path) -> Pupils {
    let mut birth = BTreeMap::new();
    let mut school_year = BTreeMap::new();
    let mut protected_with_address = 0;
    let mut persons = BTreeSet::new();
    for record in records(&dir.join("canonical/register.ndjson")) {
        match record {
            Record::Person(person) => {
                let id = person_id(&person.identifiers[0]);
                assert_eq!(
                    person.birth_date,
                    id.birth_date(),
                    "birth date fits the number"
                );
                if person.security_marking.is_protected() && !person.addresses.is_empty() {
                    protected_with_address += 1;
                }
                if let Some(date) = person.birth_date {
                    birth.insert(id, date);
                }
                persons.insert(id);
            }
            Record::Placement(placement) if placement.end.is_none() => {
                let id = person_id(&placement.pupil);
                assert!(persons.contains(&id), "placement before its person");
                let year = placement.school_year.expect("school year");
                // Born in the autumn year of förskoleklass minus six.
                let born = birth[&id].year();
                assert_eq!(
                    i16::from(year),
                    2025 - 6 - born,
                    "school year fits the birth year"
                );
                school_year.insert(id, year);
            }
            Record::Grade(grade) => {
                let id = person_id(&grade.pupil);
                assert!(school_year[&id] >= 6, "grades only from year 6");
                assert!(grade.registered_date <= AS_OF);
                assert!(matches!(
                    grade.grade_value.as_str(),
                    "A" | "B" | "C" | "D" | "E" | "F" | "-"
                ));
            }
            _ => {}
        }
    }
    assert!(
        protected_with_address > 0,
        "protected persons keep their register address"
    );
    assert_eq!(school_year.len(), 1000);
    Pupils { birth, school_year }
}

#[test]
fn child_health_records_follow_the_programme_and_the_consents() {
    let dir = municipality();
    let pupils = register_pupils(dir);
    let mut patients = BTreeSet::new();
    let mut withheld: BTreeMap<PersonId, Vec<String>> = BTreeMap::new();
    let mut entries = Vec::new();
    let mut programmes = BTreeSet::new();
    for record in records(&dir.join("canonical/bhv.ndjson")) {
        if let (Some(subject), false) = (record.subject(), matches!(record, Record::Person(_))) {
            assert!(
                patients.contains(&person_id(subject)),
                "patient has a Person record first"
            );
        }
        match record {
            Record::Person(person) => {
                assert!(
                    person.addresses.is_empty(),
                    "the health files hold no addresses"
                );
                patients.insert(person_id(&person.identifiers[0]));
            }
            Record::Immunization(immunization) => {
                let id = person_id(&immunization.patient);
                let age = days(pupils.birth[&id], immunization.time.local_date());
                let range = match immunization.vaccine.programme {
                    VaccinationProgramme::Hexavalent | VaccinationProgramme::Pneumococcal => {
                        75..=390
                    }
                    VaccinationProgramme::Rotavirus => 40..=105,
                    VaccinationProgramme::Mmr => 530..=570,
                    VaccinationProgramme::DtpBooster => 1795..=1860,
                    other => panic!("{other:?} is not given by child health"),
                };
                assert!(
                    range.contains(&age),
                    "{:?} at {age} days",
                    immunization.vaccine.programme
                );
                programmes.insert(format!("{:?}", immunization.vaccine.programme));
            }
            Record::Consent(consent) => {
                let id = person_id(&consent.patient);
                match consent.decision {
                    ConsentDecision::Partial => {
                        assert!(!consent.withheld_parts.is_empty());
                        withheld.insert(id, consent.withheld_parts.clone());
                    }
                    ConsentDecision::Given => assert!(consent.withheld_parts.is_empty()),
                    other => panic!("unexpected decision {other:?}"),
                }
            }
            Record::JournalEntry(entry) => {
                assert!(entry.event_time.local_date() < AS_OF);
                entries.push(entry);
            }
            _ => {}
        }
    }
    assert_eq!(
        programmes.len(),
        5,
        "every child-health vaccine appears: {programmes:?}"
    );
    assert!(!withheld.is_empty(), "some partial consents");
    let mut final_notes_with_markers = 0;
    for entry in &entries {
        let id = person_id(&entry.patient);
        let parts = withheld.get(&id).map(Vec::as_slice).unwrap_or_default();
        let development = parts.iter().any(|p| p == "development_assessment");
        let family = parts.iter().any(|p| p == "family_situation");
        if development {
            assert_ne!(entry.note_type.code, NoteTypeCode::DevelopmentAssessment);
            assert!(
                !keywords(entry).contains(&"Utveckling"),
                "withheld text emitted"
            );
        }
        if family {
            assert_ne!(entry.note_type.original.as_deref(), Some("Föräldrasamtal"));
            assert!(
                !keywords(entry).contains(&"Familj"),
                "withheld text emitted"
            );
        }
        if entry.note_type.code == NoteTypeCode::FinalNote {
            assert_eq!(entry.withheld.len(), parts.len());
            if !parts.is_empty() {
                final_notes_with_markers += 1;
            }
        }
    }
    assert_eq!(final_notes_with_markers, withheld.len());
}

/// The basprogram year a school-health template belongs to.
fn programme_year(template: &str) -> Option<u8> {
    if !template.starts_with("Hälsobesök")
        && !template.contains("hälsosamtal")
        && !template.starts_with("Hälsosamtal")
    {
        return None;
    }
    if template.contains("F-klass") || template.contains("förskoleklass") {
        return Some(0);
    }
    if template.contains("gy") {
        return Some(10);
    }
    template.rsplit(' ').next().and_then(|n| n.parse().ok())
}

#[test]
fn school_journals_hold_the_programme_up_to_each_pupils_year_and_the_hard_cases() {
    let dir = municipality();
    let pupils = register_pupils(dir);
    let mut pmo_entries: BTreeMap<(String, u32), JournalEntry> = BTreeMap::new();
    let mut copies = 0;
    let mut october = BTreeSet::new();
    for (file, system) in [
        ("canonical/pmo.ndjson", "pmo:syntetisk"),
        ("canonical/prorenata.ndjson", "prorenata:syntetisk"),
    ] {
        let mut patients = BTreeSet::new();
        let mut versions: BTreeSet<SourceRef> = BTreeSet::new();
        for record in records(&dir.join(file)) {
            if let (Some(subject), false) = (record.subject(), matches!(record, Record::Person(_)))
            {
                assert!(
                    patients.contains(&person_id(subject)),
                    "{file}: Person first"
                );
            }
            match record {
                Record::Person(person) => {
                    patients.insert(person_id(&person.identifiers[0]));
                }
                Record::Immunization(immunization) => {
                    let id = person_id(&immunization.patient);
                    let age = days(pupils.birth[&id], immunization.time.local_date()) / 365;
                    let ages = match immunization.vaccine.programme {
                        VaccinationProgramme::Mmr => 6..=8,
                        VaccinationProgramme::Hpv => 10..=12,
                        VaccinationProgramme::DtpBooster => 13..=15,
                        other => panic!("{other:?} is not given by school health"),
                    };
                    assert!(
                        ages.contains(&age),
                        "{:?} at {age} years",
                        immunization.vaccine
                    );
                }
                Record::JournalEntry(entry) => {
                    let id = person_id(&entry.patient);
                    let day = entry.event_time.local_date();
                    let year = pupils.school_year[&id];
                    let first_day = Date::new(2025 - i16::from(year), 8, 1).expect("date");
                    assert!(
                        day >= first_day && day <= AS_OF,
                        "{file}: note outside school time"
                    );
                    if let Some(programme) =
                        entry.note_type.original.as_deref().and_then(programme_year)
                    {
                        assert!(
                            programme <= year,
                            "year-{programme} note for a year-{year} pupil"
                        );
                    }
                    // Date-only notes stay dates; no timed note is a fake midnight.
                    match entry.event_time {
                        ClinicalTime::Date(_) => {
                            assert!(matches!(entry.author_time, Some(ClinicalTime::Date(_))));
                        }
                        ClinicalTime::DateTime(_) => {
                            assert!(!entry.event_time.to_string().contains("T00:00:00"));
                        }
                    }
                    if let (Some(record), Some(author)) = (entry.record_time, entry.author_time)
                        && entry.source.version == 1
                    {
                        assert!(record <= author, "record time after author time");
                        if let Some(signing) = entry.signing_time {
                            assert!(author <= signing, "signed before written");
                        }
                    }
                    if let EntryStatus::Amended { supersedes } = &entry.status {
                        assert!(versions.contains(supersedes), "amends a missing version");
                        assert_eq!(supersedes.version + 1, entry.source.version);
                    }
                    versions.insert(entry.source.clone());
                    let text = entry.event_time.to_string();
                    if text.contains("T02:")
                        && day.month() == 10
                        && day.weekday() == Weekday::Sunday
                        && day.day() > 24
                    {
                        october.insert(text[19..].to_owned());
                    }
                    if system == "pmo:syntetisk" {
                        assert!(day < SWITCH, "PMO note after the switch");
                        pmo_entries.insert(
                            (entry.source.record_id.clone(), entry.source.version),
                            entry,
                        );
                    } else if day < SWITCH {
                        // A note from before the switch in ProRenata is a copy.
                        let original = pmo_entries
                            .values()
                            .find(|pmo| {
                                pmo.patient == entry.patient
                                    && pmo.event_time == entry.event_time
                                    && pmo.author_time == entry.author_time
                                    && pmo.signing_time == entry.signing_time
                                    && pmo.author == entry.author
                                    && pmo.content == entry.content
                            })
                            .expect("an early ProRenata note is a copy of a PMO note");
                        assert_ne!(original.source.record_id, entry.source.record_id);
                        copies += 1;
                    }
                }
                _ => {}
            }
        }
    }
    assert!(copies > 0, "notes copied at the switch");
    assert_eq!(
        october,
        BTreeSet::from(["+02:00".to_owned(), "+01:00".to_owned()]),
        "both occurrences of the repeated hour"
    );
}

/// The peak resident memory the summary line reports, in KiB.
fn peak_rss_kib(stdout: &str) -> u64 {
    let after = stdout
        .split("peak RSS ")
        .nth(1)
        .unwrap_or_else(|| panic!("no peak RSS in {stdout:?}"));
    after
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number in {stdout:?}"))
}

#[test]
fn memory_stays_flat_as_the_municipality_grows() {
    let small = tempfile::tempdir().expect("tempdir");
    let large = tempfile::tempdir().expect("tempdir");
    let small_rss = peak_rss_kib(&synth(small.path(), 2_000, 11, &[]));
    drop(small);
    let large_rss = peak_rss_kib(&synth(large.path(), 40_000, 11, &[]));
    assert!(
        large_rss * 4 < small_rss * 5 + 4 * 4096,
        "peak RSS grew from {small_rss} KiB at 2,000 pupils to {large_rss} KiB at 40,000"
    );
}

/// Luhn check digit over the ten digits YYMMDDNNN.
fn luhn(nine: &str) -> u32 {
    let sum: u32 = nine
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0') * if i % 2 == 0 { 2 } else { 1 };
            d / 10 + d % 10
        })
        .sum();
    (10 - sum % 10) % 10
}

/// A few of Skatteverket's test numbers for children born 2007–2019, copied
/// from the shared file when it is there, else made here (birth numbers
/// 100–129, outside the generator's own blocks).
fn children_test_numbers() -> Vec<String> {
    let shared =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/testpersonnummer.txt");
    if let Ok(text) = std::fs::read_to_string(&shared) {
        let numbers: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|line| {
                line.len() == 12
                    && line[..4]
                        .parse::<u16>()
                        .is_ok_and(|year| (2007..=2019).contains(&year))
            })
            .step_by(97)
            .take(40)
            .map(str::to_owned)
            .collect();
        if numbers.len() >= 20 {
            return numbers;
        }
    }
    (0..40)
        .map(|i| {
            let date = format!("20{:02}{:02}{:02}", 7 + i % 13, 1 + i % 12, 1 + i % 28);
            let nine = format!("{}{}", &date[2..], 100 + i);
            format!("{date}{}{}", 100 + i, luhn(&nine))
        })
        .collect()
}

#[test]
fn pupils_get_numbers_from_the_test_list_and_bad_lines_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let numbers = children_test_numbers();
    let list = dir.path().join("test-ids.txt");
    let mut text = numbers.join("\n");
    text.push_str("\n201201019999\n");
    std::fs::write(&list, text).expect("write list");
    let out = dir.path().join("out");
    let list_arg = list.to_str().expect("utf-8");
    let output = brygga(&[
        "synth",
        "--pupils",
        "100",
        "--seed",
        "3",
        "--out",
        out.to_str().expect("utf-8"),
        "--test-ids",
        list_arg,
    ]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a skipped line means exit code 1"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("line {}", numbers.len() + 1)),
        "{stderr}"
    );
    assert!(
        !stderr.contains("201201019999"),
        "full number in a log line: {stderr}"
    );

    let listed: BTreeSet<&str> = numbers.iter().map(String::as_str).collect();
    let mut from_list = 0;
    for record in records(&out.join("canonical/register.ndjson")) {
        if let Record::Person(person) = record {
            let id = person_id(&person.identifiers[0]);
            if listed.contains(id.as_str()) {
                from_list += 1;
            } else {
                let serial: u16 = id.as_str()[8..11].parse().expect("digits");
                assert!(serial >= 980, "generated numbers use birth numbers 980–999");
            }
        }
    }
    assert!(from_list > 0, "no pupil got a test number");
    let manifest = manifest(&out);
    assert_eq!(manifest["identities"]["test_list"]["used"], from_list);
    assert_eq!(manifest["identities"]["test_list"]["skipped_lines"], 1);
}

#[test]
fn an_as_of_before_the_journal_switch_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = brygga(&[
        "synth",
        "--pupils",
        "10",
        "--seed",
        "1",
        "--out",
        dir.path().to_str().expect("utf-8"),
        "--as-of",
        "2019-06-01",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--as-of"));
}
