//! `brygga migrate` as a migration team runs it: real synthetic exports in
//! three formats, the real binary, a real store (SQLite, and PostgreSQL
//! started by the test), and real `kill -9` in the middle of a run. The
//! targets are read back and checked against the sources and the documented
//! order (`docs/migration.md`); a hand-written history holds every case the
//! merge rules name.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufRead, BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use brygga_mapping::id::{Identifier, LocalId, PersonId};
use brygga_mapping::model::*;
use brygga_mapping::ndjson::{NdjsonReader, NdjsonWriter};
use brygga_mapping::profile::Profile;
use brygga_mapping::time::{ChronologyKey, ClinicalTime};

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

/// The documented order, checked on a canonical target: each pupil's
/// records together, the person first, then placements, then the journal
/// in chronology, where every later version follows the first version of
/// its chain directly, by version number.
fn assert_documented_order(records: &[Record]) {
    let mut finished: HashSet<String> = HashSet::new();
    let mut pupil: Option<String> = None;
    let mut journal: Vec<&Record> = Vec::new();
    for record in records {
        let Some(subject) = record.subject() else {
            assert!(pupil.is_none(), "an organisation among the pupils");
            continue;
        };
        let subject = serde_json::to_string(subject).expect("id");
        if pupil.as_ref() != Some(&subject) {
            assert_journal_order(&journal);
            journal.clear();
            if let Some(done) = pupil.take() {
                finished.insert(done);
            }
            assert!(
                !finished.contains(&subject),
                "a pupil's records are not together"
            );
            assert!(
                matches!(record, Record::Person(_)),
                "a pupil's records begin with a {}, not the person",
                record.type_name()
            );
            pupil = Some(subject);
            continue;
        }
        match record {
            Record::Person(_) => panic!("a second person record for one pupil"),
            Record::Placement(_) => assert!(journal.is_empty(), "a placement in the journal"),
            _ => journal.push(record),
        }
    }
    assert_journal_order(&journal);
}

/// One pupil's journal: chains together, each at its first version's place.
fn assert_journal_order(journal: &[&Record]) {
    let by_source: HashMap<&SourceRef, &Record> = journal
        .iter()
        .map(|&r| (source_of(r).expect("a sourced entry"), r))
        .collect();
    let mut done: HashSet<&SourceRef> = HashSet::new();
    let mut chain: Option<(&Record, u32)> = None;
    for &record in journal {
        let first = first_version(record, &by_source);
        let version = source_of(record).expect("sourced").version;
        match chain {
            Some((current, last)) if std::ptr::eq(current, first) => {
                assert!(version > last, "versions of one chain out of order");
            }
            _ => {
                assert!(
                    done.insert(source_of(first).expect("sourced")),
                    "an amendment is apart from its first version"
                );
                if let Some((previous, _)) = chain {
                    let (a, b) = (chronology(previous), chronology(first));
                    assert!(a < b, "entries out of order: {a:?} before {b:?}");
                }
            }
        }
        chain = Some((first, version));
    }
}

/// The first version of a record's chain among `journal`.
fn first_version<'a>(record: &'a Record, journal: &HashMap<&SourceRef, &'a Record>) -> &'a Record {
    let mut current = record;
    // A cycle of versions would be a bug; the bound keeps it finite.
    for _ in 0..=journal.len() {
        match supersedes(current).and_then(|s| journal.get(s)) {
            Some(previous) => current = previous,
            None => break,
        }
    }
    current
}

/// The source reference of a clinical record.
fn source_of(record: &Record) -> Option<&SourceRef> {
    match record {
        Record::JournalEntry(r) => Some(&r.source),
        Record::Contact(r) => Some(&r.source),
        Record::Measurement(r) => Some(&r.source),
        Record::Immunization(r) => Some(&r.source),
        Record::Consent(r) => Some(&r.source),
        Record::SurveyResponse(r) => Some(&r.source),
        Record::Grade(r) => Some(&r.source),
        Record::Absence(r) => Some(&r.source),
        Record::Attendance(r) => Some(&r.source),
        Record::Person(_) | Record::Organisation(_) | Record::Placement(_) => None,
    }
}

fn supersedes(record: &Record) -> Option<&SourceRef> {
    let status = match record {
        Record::JournalEntry(r) => &r.status,
        Record::Immunization(r) => &r.status,
        _ => return None,
    };
    match status {
        EntryStatus::Amended { supersedes } => Some(supersedes),
        _ => None,
    }
}

/// The one clinical time FHIR carries for a record: a note's event time
/// (`context.period.start`), a contact's start (`Encounter.period.start`),
/// a measurement's and a vaccination's time (`effectiveDateTime`,
/// `occurrenceDateTime`), when a consent was recorded (`Consent.dateTime`).
fn clinical_time(record: &Record) -> &ClinicalTime {
    match record {
        Record::JournalEntry(r) => &r.event_time,
        Record::Contact(r) => &r.start,
        Record::Measurement(r) => &r.time,
        Record::Immunization(r) => &r.time,
        Record::Consent(r) => &r.recorded,
        other => panic!("a {} has no place in the journal", other.type_name()),
    }
}

/// The documented order key (`ChronologyKey`, `mapping/src/time.rs`): a
/// note's journal chronology, any other record's one time.
fn chronology(record: &Record) -> ChronologyKey<'_> {
    match record {
        Record::JournalEntry(note) => note.chronology_key(),
        other => {
            let source = source_of(other).expect("a sourced record");
            ChronologyKey {
                event: clinical_time(other),
                author: None,
                signing: None,
                record: None,
                source_system: &source.system,
                source_record_id: &source.record_id,
                source_version: source.version,
            }
        }
    }
}

/// FHIR's clinical resource types and the canonical records they hold.
const FHIR_JOURNAL: [(&str, &str); 5] = [
    ("Encounter", "contact"),
    ("DocumentReference", "journal_entry"),
    ("Observation", "measurement"),
    ("Immunization", "immunization"),
    ("Consent", "consent"),
];

/// Reads one file of a `fhir-ndjson` directory back as canonical records,
/// with the reader `brygga convert --from fhir-ndjson` uses.
fn read_fhir(path: &Path, mut each: impl FnMut(Record)) {
    let format = brygga_adapters::registry::format("fhir-ndjson").expect("fhir-ndjson");
    let file = File::open(path).expect("open");
    let mut decoder = format.decoder(
        Box::new(BufReader::with_capacity(1 << 20, file)),
        Arc::new(Profile::builtin("pmo")),
    );
    while let Some(item) = decoder.next_record() {
        match item {
            Ok(record) => each(record),
            Err(e) => panic!("{}: {e}", path.display()),
        }
    }
}

fn count_lines(path: &Path) -> u64 {
    BufReader::with_capacity(1 << 20, File::open(path).expect("open"))
        .split(b'\n')
        .count() as u64
}

fn hash_of(value: &(impl Hash + ?Sized)) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// Takes a clinical record's subject out, leaving a placeholder: the
/// migration changes nothing else in an entry.
fn take_subject(record: &mut Record) -> Identifier {
    let placeholder = Identifier::Local(LocalId {
        namespace: String::new(),
        value: String::new(),
    });
    let subject = match record {
        Record::JournalEntry(r) => &mut r.patient,
        Record::Contact(r) => &mut r.patient,
        Record::Measurement(r) => &mut r.patient,
        Record::Immunization(r) => &mut r.patient,
        Record::Consent(r) => &mut r.patient,
        other => panic!("no {} in the journal", other.type_name()),
    };
    std::mem::replace(subject, placeholder)
}

/// What makes two notes copies of one another (`docs/migration.md`): event
/// and author times, author, note type, content and status.
fn note_fingerprint(record: &Record) -> Option<u64> {
    let Record::JournalEntry(note) = record else {
        return None;
    };
    let mut hasher = DefaultHasher::new();
    (
        note.event_time,
        note.author_time,
        &note.author,
        note.note_type.code,
    )
        .hash(&mut hasher);
    match &note.content {
        NoteContent::Text { text } => (0, text).hash(&mut hasher),
        NoteContent::Keywords { sections } => {
            1.hash(&mut hasher);
            for section in sections {
                (&section.keyword, &section.text).hash(&mut hasher);
            }
        }
        NoteContent::Attachment(a) => (2, &a.media_type, &a.title, &a.data).hash(&mut hasher),
    }
    match &note.status {
        EntryStatus::Current => 0.hash(&mut hasher),
        EntryStatus::Amended { supersedes } => (1, supersedes).hash(&mut hasher),
        EntryStatus::Nullified { reason } => (2, reason).hash(&mut hasher),
    }
    Some(hasher.finish())
}

/// Whether an entry is compared in full, serialised: one in four, chosen
/// by source reference. Serialising all 1.3 million twice would add a
/// minute; `the_fhir_target_reads_back_as_the_canonical_target` compares
/// every record of a smaller municipality.
fn compared_in_full(source: &SourceRef) -> bool {
    hash_of(&(source, "in full")).is_multiple_of(4)
}

/// One entry of the synthetic sources, kept small: there are 1.3 million.
#[derive(Debug)]
struct SourceEntry {
    /// The record without its subject, when compared in full.
    record: Option<u64>,
    subject: u64,
    system: u64,
    note: Option<u64>,
    written: bool,
}

/// Every entry of synth's canonical exports (the same records as its
/// native exports), by source reference, and how many of each type.
fn source_truth(dir: &Path) -> (HashMap<u64, SourceEntry>, BTreeMap<String, u64>) {
    let mut entries = HashMap::new();
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    for name in ["bhv", "pmo", "prorenata"] {
        let path = dir.join(format!("canonical/{name}.ndjson"));
        let file = BufReader::with_capacity(1 << 20, File::open(&path).expect("open"));
        for record in NdjsonReader::new(file) {
            let mut record = record.expect("valid record");
            let Some(source) = source_of(&record).cloned() else {
                continue;
            };
            *by_type.entry(record.type_name().to_owned()).or_default() += 1;
            let subject = take_subject(&mut record);
            let entry = SourceEntry {
                record: compared_in_full(&source)
                    .then(|| hash_of(&serde_json::to_vec(&record).expect("json"))),
                subject: hash_of(&subject),
                system: hash_of(&source.system),
                note: note_fingerprint(&record),
                written: false,
            };
            assert!(
                entries.insert(hash_of(&source), entry).is_none(),
                "synth gave {source:?} twice"
            );
        }
    }
    (entries, by_type)
}

/// What the cross-type check needs of a written entry.
struct Written {
    pupil: u32,
    time: ClinicalTime,
    /// The resource of the version it supersedes.
    supersedes: Option<u128>,
}

/// A resource's id as a number (ids are 32 hex digits, `docs/adapters/fhir.md`).
fn resource_key(resource_type: &str, source: &SourceRef) -> u128 {
    let id = brygga_adapters::fhir::ids::source_id(resource_type, source);
    u128::from_str_radix(&id, 16).expect("a hex id")
}

#[derive(serde::Deserialize)]
struct ProvenanceTargets {
    target: Vec<Reference>,
}

#[derive(serde::Deserialize)]
struct Reference {
    reference: String,
}

/// Tells when a pupil's group in a file ends, and that it never resumes.
#[derive(Default)]
struct Groups {
    current: Option<u32>,
    finished: HashSet<u32>,
}

impl Groups {
    /// Whether `pupil` begins a new group.
    fn enter(&mut self, pupil: u32, file: &str) -> bool {
        if self.current == Some(pupil) {
            return false;
        }
        if let Some(done) = self.current.replace(pupil) {
            self.finished.insert(done);
        }
        assert!(
            !self.finished.contains(&pupil),
            "{file}: a pupil's resources are not together"
        );
        true
    }
}

/// The "done when": a 10,000-pupil synthetic municipality from
/// three source formats migrates to `fhir-ndjson`, every pupil's entries in
/// chronological order, and every source entry accounted for — checked in
/// the report, and independently in the FHIR output read back.
#[test]
fn three_source_formats_migrate_in_order_with_every_entry_accounted_for() {
    let dir = municipality(10_000);
    let out = tempfile::tempdir().expect("tempdir");
    let target = out.path().join("fhir");
    let mut args = sources(&dir, [0, 1, 2]);
    args.extend([
        "--target".to_owned(),
        format!("fhir-ndjson:{}", target.display()),
        "--state".to_owned(),
        out.path().join("state.sqlite").display().to_string(),
    ]);
    // What the sources hold is read while the migration runs.
    let truth = std::thread::spawn({
        let dir = dir.clone();
        move || source_truth(&dir)
    });
    let output = migrate(&args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.code() == Some(0), "{stderr}");
    let (mut truth, source_types) = truth.join().expect("the sources read");

    // The report: every entry in is written, merged, held back or refused.
    let report: serde_json::Value = serde_json::from_slice(
        &fs::read(out.path().join("fhir.report/report.json")).expect("report"),
    )
    .expect("json");
    let count = |counts: &serde_json::Value, name: &str| {
        counts[name]
            .as_u64()
            .unwrap_or_else(|| panic!("the report has no {name}"))
    };
    assert_eq!(report["balanced"], true);
    let totals = &report["totals"];
    assert_eq!(count(totals, "entries_in"), truth.len() as u64);
    let sources = report["sources"].as_array().expect("sources");
    assert_eq!(sources.len(), 3);
    for name in [
        "entries_in",
        "written",
        "merged_copies",
        "held_back",
        "refused",
        "withheld_parts",
        "blocked",
    ] {
        let sum: u64 = sources.iter().map(|s| count(&s["counts"], name)).sum();
        assert_eq!(
            sum,
            count(totals, name),
            "{name}: sources and totals differ"
        );
    }
    for source in sources {
        let c = &source["counts"];
        assert!(count(c, "entries_in") > 0, "{}", source["path"]);
        assert_eq!(
            count(c, "entries_in"),
            count(c, "written")
                + count(c, "merged_copies")
                + count(c, "held_back")
                + count(c, "refused"),
            "{}",
            source["path"]
        );
    }
    assert_eq!(count(totals, "held_back"), 0);
    // Synth's native exports hold no school records, which FHIR refuses.
    assert_eq!(count(totals, "refused"), 0);
    let merged_copies = count(totals, "merged_copies");
    assert!(merged_copies > 0, "synth copies notes between systems");
    assert!(count(totals, "withheld_parts") > 0);
    assert!(count(totals, "blocked") > 0);
    assert_eq!(report["rejects"].as_array().map(Vec::len), Some(0));
    assert_eq!(report["pupils"].as_array().map(Vec::len), Some(10_000));
    assert!(out.path().join("fhir.report/report.html").exists());

    // Each written entry is one resource of its type and one Provenance.
    let written = count(totals, "written");
    let mut resources = 0;
    for (resource_type, record_type) in FHIR_JOURNAL {
        let lines = count_lines(&target.join(format!("{resource_type}.ndjson")));
        let from_sources = source_types.get(record_type).copied().unwrap_or(0);
        // Only notes are merged as copies.
        let expected = match record_type {
            "journal_entry" => from_sources - merged_copies,
            _ => from_sources,
        };
        assert_eq!(lines, expected, "{resource_type}.ndjson");
        resources += lines;
    }
    assert_eq!(resources, written);
    assert_eq!(count_lines(&target.join("Provenance.ndjson")), written);
    let mut patients: HashMap<Identifier, u32> = HashMap::new();
    read_fhir(&target.join("Patient.ndjson"), |record| {
        let Record::Person(person) = record else {
            panic!("Patient.ndjson holds a {}", record.type_name());
        };
        let number = patients.len() as u32;
        let id = person.identifiers.first().expect("an identifier").clone();
        assert!(patients.insert(id, number).is_none(), "a pupil twice");
    });
    assert_eq!(patients.len(), 10_000);

    // Each type's file, read back: every pupil's resources together, in
    // chronology, each later version after the one it supersedes; and each
    // the very record a source gave, filed under a Patient.
    let mut journal: HashMap<u128, Written> = HashMap::with_capacity(written as usize);
    let mut filed_under: HashMap<u64, u32> = HashMap::new();
    // (pupil, note) → the system that wrote it; `None` for several.
    let mut notes: HashMap<(u32, u64), Option<u64>> = HashMap::new();
    for (resource_type, _) in FHIR_JOURNAL {
        let mut groups = Groups::default();
        let mut last_key: Vec<u8> = Vec::new();
        let mut versions: HashSet<SourceRef> = HashSet::new();
        read_fhir(
            &target.join(format!("{resource_type}.ndjson")),
            |mut record| {
                let source = source_of(&record).expect("a sourced record").clone();
                let subject = take_subject(&mut record);
                let pupil = *patients
                    .get(&subject)
                    .unwrap_or_else(|| panic!("{resource_type} {source:?}: no Patient"));
                if groups.enter(pupil, resource_type) {
                    last_key.clear();
                    versions.clear();
                }
                let amends = supersedes(&record).cloned();
                match &amends {
                    Some(previous) => assert!(
                        versions.contains(previous),
                        "{resource_type} {source:?} comes before the version it supersedes"
                    ),
                    None => {
                        let mut key = Vec::new();
                        chronology(&record).encode(&mut key);
                        assert!(
                            last_key < key,
                            "{resource_type}: out of order at {source:?}"
                        );
                        last_key = key;
                    }
                }
                versions.insert(source.clone());

                let entry = truth
                    .get_mut(&hash_of(&source))
                    .unwrap_or_else(|| panic!("{source:?} is in no source"));
                assert!(!entry.written, "{source:?} written twice");
                entry.written = true;
                if let Some(expected) = entry.record {
                    let record_hash = hash_of(&serde_json::to_vec(&record).expect("json"));
                    assert_eq!(expected, record_hash, "{source:?} differs from its source");
                }
                let under = *filed_under.entry(entry.subject).or_insert(pupil);
                assert_eq!(under, pupil, "one source identity filed under two pupils");
                if let Some(note) = entry.note {
                    notes
                        .entry((pupil, note))
                        .and_modify(|system| {
                            if *system != Some(entry.system) {
                                *system = None;
                            }
                        })
                        .or_insert(Some(entry.system));
                }
                journal.insert(
                    resource_key(resource_type, &source),
                    Written {
                        pupil,
                        time: *clinical_time(&record),
                        supersedes: amends.map(|s| resource_key(resource_type, &s)),
                    },
                );
            },
        );
    }

    // Every source entry not written is a note merged into its copy from
    // another system, written for the same pupil.
    let mut not_written = 0;
    for entry in truth.values().filter(|e| !e.written) {
        let note = entry.note.expect("only notes are merged as copies");
        let pupil = filed_under[&entry.subject];
        assert!(
            notes
                .get(&(pupil, note))
                .is_some_and(|system| *system != Some(entry.system)),
            "an entry is neither written nor a copy of a written one"
        );
        not_written += 1;
    }
    assert_eq!(not_written, merged_copies);

    // Across types. Each entry's Provenance is written right after its
    // resource, so Provenance.ndjson keeps the interleaving the per-type
    // files lose: each pupil's journal together, in clinical time, later
    // versions after the version they supersede.
    let provenance = target.join("Provenance.ndjson");
    let mut groups = Groups::default();
    let mut last_time: Option<ClinicalTime> = None;
    let mut seen: HashSet<u128> = HashSet::new();
    for line in BufReader::with_capacity(1 << 20, File::open(&provenance).expect("open")).lines() {
        let line = line.expect("read");
        let targets: ProvenanceTargets = serde_json::from_str(&line).expect("a Provenance");
        let [target] = &targets.target[..] else {
            panic!("a Provenance with {} targets", targets.target.len());
        };
        let (_, id) = target.reference.split_once('/').expect("Type/id");
        let key = u128::from_str_radix(id, 16).expect("a hex id");
        let entry = journal
            .remove(&key)
            .expect("one Provenance for each written entry");
        if groups.enter(entry.pupil, "Provenance") {
            last_time = None;
            seen.clear();
        }
        match entry.supersedes {
            Some(previous) => assert!(seen.contains(&previous), "a later version first"),
            None => {
                assert!(
                    last_time.is_none_or(|t| t <= entry.time),
                    "a pupil's journal is out of time order"
                );
                last_time = Some(entry.time);
            }
        }
        seen.insert(key);
    }
    assert!(
        journal.is_empty(),
        "{} entries without Provenance",
        journal.len()
    );
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
    assert_documented_order(&records(&out.path().join("journal-0.ndjson")));
}

/// Every record of a canonical target, read back from the same migration
/// to `fhir-ndjson`: nothing is lost or changed on the way through FHIR.
#[test]
fn the_fhir_target_reads_back_as_the_canonical_target() {
    let dir = municipality(300);
    let out = tempfile::tempdir().expect("tempdir");
    let canonical = out.path().join("journal.ndjson");
    let fhir = out.path().join("fhir");
    for target in [
        format!("canonical:{}", canonical.display()),
        format!("fhir-ndjson:{}", fhir.display()),
    ] {
        let mut args = sources(&dir, [0, 1, 2]);
        args.extend([
            "--target".to_owned(),
            target,
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
    let mut expected: Vec<String> = records(&canonical)
        .iter()
        .map(|r| serde_json::to_string(r).expect("json"))
        .collect();
    let mut read_back = Vec::new();
    for resource_type in ["Organization", "Patient"]
        .into_iter()
        .chain(FHIR_JOURNAL.map(|(t, _)| t))
    {
        read_fhir(&fhir.join(format!("{resource_type}.ndjson")), |record| {
            read_back.push(serde_json::to_string(&record).expect("json"));
        });
    }
    assert!(expected.len() > 30_000, "{} records", expected.len());
    expected.sort_unstable();
    read_back.sort_unstable();
    assert!(expected == read_back, "the FHIR target holds other records");
}

/// Migrates the three exports with `format`'s `file` given a second time
/// too; the target must equal the one written without it.
fn assert_given_twice_is_written_once(format: &str, file: &str) {
    let dir = municipality(300);
    let out = tempfile::tempdir().expect("tempdir");
    let once = out.path().join("once.ndjson");
    let twice = out.path().join("twice.ndjson");
    for (target, extra) in [(&once, false), (&twice, true)] {
        let mut args = sources(&dir, [0, 1, 2]);
        if extra {
            args.extend([
                "--source".to_owned(),
                format!("{format}:{}", dir.join("native").join(file).display()),
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

#[test]
fn a_file_given_twice_is_written_once() {
    assert_given_twice_is_written_once("pmo", "pmo.xml");
}

#[test]
fn an_export_with_copied_notes_given_twice_is_written_once() {
    // Synth copies PMO notes into ProRenata; ProRenata's copies are the
    // ones merged, so giving its export twice delivers a merged copy twice.
    assert_given_twice_is_written_once("prorenata", "prorenata.json");
}

/// A hand-written history of one pupil in two sources, holding every case
/// the merge rules name. The child-health centre (BHV) knew the child by a
/// samordningsnummer; PMO by the personnummer that replaced it, and links
/// the two.
struct Adversarial {
    bhv: PathBuf,
    pmo: PathBuf,
    personnummer: PersonId,
    samordningsnummer: PersonId,
}

/// The entries written, in the documented order: (record id, version).
/// PMO's `b-copy` is not among them: it is merged into `a-copy`.
const ADVERSARIAL_ORDER: [(&str, u32); 19] = [
    // The same time: the note (it has an author time) before the contact.
    ("a-copy", 1),
    ("a-contact", 1),
    ("a-nullified", 1),
    // Equal times: by record id, as text.
    ("x-10", 1),
    ("x-2", 1),
    // The same event and author time: the one signed first.
    ("same-day-signed", 1),
    ("late-signed", 1),
    // An amendment of an amendment, at its first version's place.
    ("amended", 1),
    ("amended", 2),
    ("amended", 3),
    ("written-between", 1),
    ("after", 1),
    // 03:15, then 02:30 in the skipped hour (moved to 03:30).
    ("a-height", 1),
    ("a-skipped-hour", 1),
    // The evening before, the date alone, then the day's timed entries;
    // in the repeated hour 02:30 (first) before 02:15 (second).
    ("evening-before", 1),
    ("a-date-only", 1),
    ("after-midnight", 1),
    ("repeated-hour-first", 1),
    ("repeated-hour-second", 1),
];

/// The adversarial entries that are not notes.
const NOT_NOTES: [&str; 2] = ["a-contact", "a-height"];

fn clinical(text: &str) -> ClinicalTime {
    ClinicalTime::parse(text).expect("a valid time")
}

fn adversarial_note(
    system: &str,
    id: &str,
    patient: PersonId,
    event: &str,
    author: Option<&str>,
    signing: Option<&str>,
    text: &str,
) -> JournalEntry {
    let nurse = Practitioner {
        hsa_id: None,
        name: Some("Syster Alm".into()),
        profession: Some(Profession::Nurse),
    };
    JournalEntry {
        source: SourceRef {
            system: system.into(),
            record_id: id.into(),
            version: 1,
        },
        patient: Identifier::Person(patient),
        event_time: clinical(event),
        author_time: author.map(clinical),
        signing_time: signing.map(clinical),
        record_time: None,
        author: Some(nurse.clone()),
        signer: signing.map(|_| nurse),
        care_provider: None,
        care_unit: None,
        contact: None,
        note_type: NoteType {
            code: NoteTypeCode::Visit,
            original: Some("Mottagningsbesök".into()),
        },
        title: None,
        content: NoteContent::Text { text: text.into() },
        status: EntryStatus::Current,
        secrecy_domain: SecrecyDomain::EmiMedical,
        approved_for_patient: false,
        patient_block: false,
        withheld: Vec::new(),
    }
}

fn write_ndjson(path: &Path, records: &[Record]) {
    let mut out = NdjsonWriter::new(BufWriter::new(File::create(path).expect("create")));
    for record in records {
        out.write(record).expect("write");
    }
    out.flush().expect("flush");
}

fn adversarial_sources(dir: &Path) -> Adversarial {
    let birth = jiff::civil::date(2014, 2, 20);
    let personnummer = PersonId::personnummer(birth, 982).expect("valid");
    let samordningsnummer = PersonId::samordningsnummer(birth, 982).expect("valid");
    let person = |ids: Vec<PersonId>, given: &str| Person {
        identifiers: ids.into_iter().map(Identifier::Person).collect(),
        given_name: given.into(),
        family_name: "Berg".into(),
        birth_date: Some(birth),
        sex: None,
        security_marking: SecurityMarking::None,
        guardians: Vec::new(),
        addresses: Vec::new(),
        telecom: Vec::new(),
        municipality_code: None,
    };
    let bhv_note = |id, event, author, signing, text| {
        adversarial_note(
            "bhv:test",
            id,
            samordningsnummer,
            event,
            author,
            signing,
            text,
        )
    };
    let pmo_note = |id, event, author, signing, text| {
        adversarial_note("pmo:test", id, personnummer, event, author, signing, text)
    };
    let mut a_copy = bhv_note(
        "a-copy",
        "2023-09-12T10:00:00",
        Some("2023-09-12T10:20:00"),
        Some("2023-09-12T10:25:00"),
        "Mår bra, växer enligt kurvan.",
    );
    a_copy.record_time = Some(clinical("2023-09-12T10:20:00"));
    let mut nullified = bhv_note(
        "a-nullified",
        "2023-11-02T13:00:00",
        None,
        None,
        "Fel barn.",
    );
    nullified.status = EntryStatus::Nullified {
        reason: "Skriven i fel journal".into(),
    };
    let bhv = vec![
        Record::Person(person(vec![samordningsnummer], "Alva")),
        Record::JournalEntry(bhv_note(
            "a-date-only",
            "2024-10-27",
            None,
            None,
            "Telefonsamtal med mamma.",
        )),
        Record::Measurement(Measurement {
            source: SourceRef {
                system: "bhv:test".into(),
                record_id: "a-height".into(),
                version: 1,
            },
            patient: Identifier::Person(samordningsnummer),
            kind: MeasurementKind::Height,
            time: clinical("2024-03-31T03:15:00"),
            value: MeasurementValue::Quantity {
                value: 131.5,
                unit: "cm".into(),
            },
            performer: None,
            care_unit: None,
            contact: None,
            secrecy_domain: SecrecyDomain::EmiMedical,
            original_code: None,
        }),
        Record::JournalEntry(bhv_note(
            "a-skipped-hour",
            "2024-03-31T02:30:00",
            Some("2024-03-31T03:40:00"),
            None,
            "Skrivet i natt.",
        )),
        Record::JournalEntry(nullified),
        Record::Contact(Contact {
            source: SourceRef {
                system: "bhv:test".into(),
                record_id: "a-contact".into(),
                version: 1,
            },
            patient: Identifier::Person(samordningsnummer),
            kind: ContactKind::Visit,
            start: clinical("2023-09-12T10:00:00"),
            end: None,
            performer: None,
            care_unit: None,
            secrecy_domain: SecrecyDomain::EmiMedical,
        }),
        Record::JournalEntry(a_copy),
    ];
    let mut b_copy = pmo_note(
        "b-copy",
        "2023-09-12T10:00:00",
        Some("2023-09-12T10:20:00"),
        Some("2023-09-12T10:25:00"),
        "Mår bra, växer enligt kurvan.",
    );
    // Copied into PMO later, under the new number: still the same note,
    // and it sorts after BHV's by its record time.
    b_copy.record_time = Some(clinical("2024-08-01T07:00:00"));
    let amended = pmo_note(
        "amended",
        "2024-02-05T10:00:00",
        Some("2024-02-05T10:30:00"),
        Some("2024-02-05T10:30:00"),
        "Ont i ryggen.",
    );
    let amend = |previous: &JournalEntry, author: &str, event: &str, text: &str| {
        let mut next = previous.clone();
        next.source.version += 1;
        next.status = EntryStatus::Amended {
            supersedes: previous.source.clone(),
        };
        next.event_time = clinical(event);
        next.author_time = Some(clinical(author));
        next.signing_time = Some(clinical(author));
        next.content = NoteContent::Text { text: text.into() };
        next
    };
    let second = amend(
        &amended,
        "2024-02-12T09:00:00",
        "2024-02-05T10:00:00",
        "Ont i ryggen. Tillägg: remiss skickad.",
    );
    // Written with a later event time by mistake: it still follows the first.
    let third = amend(
        &second,
        "2024-02-19T09:00:00",
        "2024-02-20T09:00:00",
        "Ont i ryggen. Rättelse: remiss till ortoped.",
    );
    let same_times = |id| {
        pmo_note(
            id,
            "2023-12-01T08:00:00",
            Some("2023-12-01T08:10:00"),
            Some("2023-12-01T08:10:00"),
            id,
        )
    };
    let pmo = vec![
        Record::Person(person(vec![personnummer, samordningsnummer], "ALVA ")),
        // Amendments before what they amend, the last first.
        Record::JournalEntry(third),
        Record::JournalEntry(second),
        Record::JournalEntry(pmo_note(
            "repeated-hour-second",
            "2024-10-27T02:15:00+01:00",
            None,
            None,
            "Andra gången klockan visade 02.",
        )),
        Record::JournalEntry(pmo_note(
            "repeated-hour-first",
            "2024-10-27T02:30:00",
            None,
            None,
            "Första gången klockan visade 02.",
        )),
        Record::JournalEntry(pmo_note(
            "after-midnight",
            "2024-10-27T00:10:00",
            None,
            None,
            "Strax efter midnatt.",
        )),
        Record::JournalEntry(pmo_note(
            "evening-before",
            "2024-10-26T23:30:00",
            None,
            None,
            "Kvällen före.",
        )),
        Record::JournalEntry(pmo_note(
            "after",
            "2024-02-14T10:00:00",
            None,
            None,
            "Uppföljning.",
        )),
        Record::JournalEntry(pmo_note(
            "written-between",
            "2024-02-05T10:00:00",
            Some("2024-02-06T08:00:00"),
            None,
            "Samma besök, annan anteckning.",
        )),
        Record::JournalEntry(amended),
        Record::JournalEntry(pmo_note(
            "late-signed",
            "2024-01-15T09:00:00",
            Some("2024-01-15T09:20:00"),
            Some("2024-01-25T16:00:00"),
            "Signerad sent.",
        )),
        Record::JournalEntry(pmo_note(
            "same-day-signed",
            "2024-01-15T09:00:00",
            Some("2024-01-15T09:20:00"),
            Some("2024-01-15T09:30:00"),
            "Signerad direkt.",
        )),
        Record::JournalEntry(same_times("x-2")),
        Record::JournalEntry(same_times("x-10")),
        Record::JournalEntry(b_copy),
    ];
    let adversarial = Adversarial {
        bhv: dir.join("bhv.ndjson"),
        pmo: dir.join("pmo.ndjson"),
        personnummer,
        samordningsnummer,
    };
    write_ndjson(&adversarial.bhv, &bhv);
    write_ndjson(&adversarial.pmo, &pmo);
    adversarial
}

/// Migrates the adversarial pair to `target` (`FORMAT:PATH`) and checks the
/// report: 20 entries in, one merged as a copy (PMO's), nothing else lost.
fn migrate_adversarial(sources: &Adversarial, target: &str, out: &Path) {
    fs::create_dir_all(out).expect("run directory");
    let output = migrate(&[
        "--source".into(),
        format!("canonical:{}", sources.pmo.display()),
        "--source".into(),
        format!("canonical:{}", sources.bhv.display()),
        "--target".into(),
        target.into(),
        "--state".into(),
        out.join("state.sqlite").display().to_string(),
        "--report".into(),
        out.join("report").display().to_string(),
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("report/report.json")).expect("report"))
            .expect("json");
    assert_eq!(report["balanced"], true);
    assert_eq!(report["totals"]["entries_in"], 20);
    assert_eq!(report["totals"]["written"], 19);
    assert_eq!(report["totals"]["merged_copies"], 1);
    assert_eq!(
        report["sources"][0]["counts"]["merged_copies"], 1,
        "PMO's copy"
    );
    assert_eq!(report["pupils"].as_array().map(Vec::len), Some(1));
}

fn id_and_version(record: &Record) -> (String, u32) {
    let source = source_of(record).expect("a sourced record");
    (source.record_id.clone(), source.version)
}

fn expected_order(keep: impl Fn(&str) -> bool) -> Vec<(String, u32)> {
    ADVERSARIAL_ORDER
        .iter()
        .filter(|(id, _)| keep(id))
        .map(|&(id, version)| (id.to_owned(), version))
        .collect()
}

#[test]
fn an_adversarial_history_migrates_in_the_documented_order() {
    let out = tempfile::tempdir().expect("tempdir");
    let sources = adversarial_sources(out.path());
    let target = out.path().join("journal.ndjson");
    migrate_adversarial(
        &sources,
        &format!("canonical:{}", target.display()),
        out.path(),
    );
    let written = records(&target);
    let Some((Record::Person(person), journal)) = written.split_first() else {
        panic!("the journal does not begin with the person");
    };
    // Filed under the personnummer that replaced the samordningsnummer.
    let pupil = Identifier::Person(sources.personnummer);
    assert_eq!(
        person.identifiers,
        [pupil.clone(), Identifier::Person(sources.samordningsnummer)]
    );
    assert!(journal.iter().all(|r| r.subject() == Some(&pupil)));
    let order: Vec<(String, u32)> = journal.iter().map(id_and_version).collect();
    assert_eq!(order, expected_order(|_| true));
    assert_documented_order(&written);
    // Times keep their precision and their offsets.
    let time_of = |id: &str| {
        journal
            .iter()
            .find(|r| id_and_version(r).0 == id)
            .map(|r| clinical_time(r).to_string())
    };
    assert_eq!(time_of("a-date-only").as_deref(), Some("2024-10-27"));
    assert_eq!(
        time_of("a-skipped-hour").as_deref(),
        Some("2024-03-31T03:30:00+02:00")
    );
    assert_eq!(
        time_of("repeated-hour-first").as_deref(),
        Some("2024-10-27T02:30:00+02:00")
    );
    assert_eq!(
        time_of("repeated-hour-second").as_deref(),
        Some("2024-10-27T02:15:00+01:00")
    );
    assert!(journal.iter().any(|r| matches!(
        r,
        Record::JournalEntry(JournalEntry {
            status: EntryStatus::Nullified { .. },
            ..
        })
    )));
}

/// The adversarial history as `fhir-ndjson`, read back: (record id,
/// version) per resource type file, and the raw DocumentReferences.
struct FhirJournal {
    by_type: BTreeMap<&'static str, Vec<(String, u32)>>,
    documents: Vec<serde_json::Value>,
    records: Vec<String>,
    canonical: Vec<String>,
}

fn adversarial_fhir() -> FhirJournal {
    let out = tempfile::tempdir().expect("tempdir");
    let sources = adversarial_sources(out.path());
    let canonical = out.path().join("journal.ndjson");
    let fhir = out.path().join("fhir");
    migrate_adversarial(
        &sources,
        &format!("canonical:{}", canonical.display()),
        &out.path().join("canonical-run"),
    );
    migrate_adversarial(
        &sources,
        &format!("fhir-ndjson:{}", fhir.display()),
        &out.path().join("fhir-run"),
    );
    let mut journal = FhirJournal {
        by_type: BTreeMap::new(),
        documents: Vec::new(),
        records: Vec::new(),
        canonical: records(&canonical)
            .iter()
            .map(|r| serde_json::to_string(r).expect("json"))
            .collect(),
    };
    for resource_type in ["Patient"].into_iter().chain(FHIR_JOURNAL.map(|(t, _)| t)) {
        let path = fhir.join(format!("{resource_type}.ndjson"));
        if !path.exists() {
            continue;
        }
        let mut ids = Vec::new();
        read_fhir(&path, |record| {
            if source_of(&record).is_some() {
                ids.push(id_and_version(&record));
            }
            journal
                .records
                .push(serde_json::to_string(&record).expect("json"));
        });
        journal.by_type.insert(resource_type, ids);
    }
    journal.documents = fs::read_to_string(fhir.join("DocumentReference.ndjson"))
        .expect("documents")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    journal
}

#[test]
fn an_adversarial_history_migrates_to_fhir_with_nothing_lost_or_changed() {
    let mut journal = adversarial_fhir();
    // Read back, FHIR gives exactly the records of the canonical target.
    journal.records.sort();
    journal.canonical.sort();
    assert_eq!(journal.records, journal.canonical);
    // Each type's file in the documented order; first versions here, the
    // later versions' places in the next test.
    let first_versions: Vec<(String, u32)> = journal.by_type["DocumentReference"]
        .iter()
        .filter(|(_, version)| *version == 1)
        .cloned()
        .collect();
    assert_eq!(
        first_versions,
        expected_order(|id| !NOT_NOTES.contains(&id))
            .into_iter()
            .filter(|(_, version)| *version == 1)
            .collect::<Vec<_>>()
    );
    assert_eq!(journal.by_type["Encounter"], [("a-contact".to_owned(), 1)]);
    assert_eq!(journal.by_type["Observation"], [("a-height".to_owned(), 1)]);
    // Nullified: entered in error; amended versions: superseded.
    let status_of = |system: &str, id: &str, version: u32| {
        let source = SourceRef {
            system: system.into(),
            record_id: id.into(),
            version,
        };
        let id = brygga_adapters::fhir::ids::source_id("DocumentReference", &source);
        journal
            .documents
            .iter()
            .find(|d| d["id"] == id.as_str())
            .and_then(|d| d["status"].as_str())
            .map(str::to_owned)
    };
    assert_eq!(
        status_of("bhv:test", "a-nullified", 1).as_deref(),
        Some("entered-in-error")
    );
    assert_eq!(
        status_of("pmo:test", "amended", 1).as_deref(),
        Some("superseded")
    );
    assert_eq!(
        status_of("pmo:test", "amended", 2).as_deref(),
        Some("superseded")
    );
    assert_eq!(
        status_of("pmo:test", "amended", 3).as_deref(),
        Some("current")
    );
}

#[test]
fn an_adversarial_history_keeps_the_documented_order_in_fhir() {
    let journal = adversarial_fhir();
    assert_eq!(
        journal.by_type["DocumentReference"],
        expected_order(|id| !NOT_NOTES.contains(&id))
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

/// Migrates two canonical files in `dir` to `target`, which must end with
/// conflicts reported (exit 1) and the report balanced; the report.
fn migrate_with_conflicts(dir: &Path, sources: [&PathBuf; 2], target: &Path) -> serde_json::Value {
    let output = migrate(&[
        "--source".into(),
        format!("canonical:{}", sources[0].display()),
        "--source".into(),
        format!("canonical:{}", sources[1].display()),
        "--target".into(),
        format!("canonical:{}", target.display()),
        "--state".into(),
        dir.join("state.sqlite").display().to_string(),
    ]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut report_dir = target.as_os_str().to_owned();
    report_dir.push(".report");
    let report: serde_json::Value = serde_json::from_slice(
        &fs::read(Path::new(&report_dir).join("report.json")).expect("report"),
    )
    .expect("json");
    assert_eq!(report["balanced"], true);
    report
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
    let report = migrate_with_conflicts(out.path(), [&input, &other], &target);
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
fn a_record_given_twice_with_different_content_is_held_back_and_reported() {
    let out = tempfile::tempdir().expect("tempdir");
    let lines = fs::read_to_string(
        repo().join("conformance-tests/vectors/canonical/basic/expected.ndjson"),
    )
    .expect("vector");
    // A later export of the same system: one note corrected in place,
    // under the same id and version.
    let mut corrected_id = None;
    let corrected: String = lines
        .lines()
        .map(|l| {
            let mut value: serde_json::Value = serde_json::from_str(l).expect("json");
            if corrected_id.is_none() && value["type"] == "journal_entry" {
                corrected_id = value["source"]["record_id"].as_str().map(str::to_owned);
                value["title"] = serde_json::Value::from("Rättad rubrik");
            }
            format!("{value}\n")
        })
        .collect();
    let corrected_id = corrected_id.expect("the vector has a note");
    let notes = lines.matches("\"type\":\"journal_entry\"").count();
    let (first, second) = (
        out.path().join("first.ndjson"),
        out.path().join("second.ndjson"),
    );
    fs::write(&first, &lines).expect("write");
    fs::write(&second, corrected).expect("write");
    let target = out.path().join("journal.ndjson");
    for order in [[&first, &second], [&second, &first]] {
        let report = migrate_with_conflicts(out.path(), order, &target);
        assert_eq!(report["totals"]["held_back"], 2);
        let conflicts = report["conflicts"].as_array().expect("conflicts");
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        let text = conflicts[0]["text"].as_str().unwrap_or_default();
        assert!(
            text.contains(&corrected_id) && text.contains("given 2 times with different content"),
            "{text}"
        );
        // Neither version is written, whichever source came first; every
        // other note is, once.
        let written: Vec<Record> = records(&target);
        let notes_written: Vec<&JournalEntry> = written
            .iter()
            .filter_map(|r| match r {
                Record::JournalEntry(n) => Some(n),
                _ => None,
            })
            .collect();
        assert_eq!(notes_written.len(), notes - 1);
        assert!(
            notes_written
                .iter()
                .all(|n| n.source.record_id != corrected_id)
        );
    }
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
