//! Property tests of the merge rules on random histories built from the
//! cases that break naive code: both occurrences of the repeated October
//! hour (with and without an offset), the skipped March hour and the real
//! reading it lands on, date-only notes next to timed ones of the same day,
//! equal times, signatures days later, amendment chains (amendments of
//! amendments, given in any order), nullified entries, a note copied into a
//! second source system under another identifier, and whole exports
//! delivered twice — spread over one to four sources.
//!
//! Each case runs as the migration does: records keyed by
//! [`order_key`], stably sorted (as the external sort orders equal keys:
//! by source, then by position), and merged by [`merge_pupil`]. The checks
//! use [`ChronologyKey`]'s `Ord`, not the encoded bytes, so they also catch
//! a key encoded out of step with the documented order.

use std::collections::{BTreeMap, HashMap, HashSet};

use brygga_mapping::id::{Identifier, PersonId};
use brygga_mapping::model::*;
use brygga_mapping::time::{ChronologyKey, ClinicalTime};
use jiff::civil::date;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::{Entry, Placed, merge_pupil, order_key};

/// Event times, crowded around the two nights that change the clock.
const EVENT_TIMES: &[&str] = &[
    "2024-03-30T23:30:00",
    "2024-03-31",
    "2024-03-31T01:59:59",
    // Skipped by the clock: moved forward to 03:30+02:00 ...
    "2024-03-31T02:30:00",
    // ... the same instant as this real reading.
    "2024-03-31T03:30:00+02:00",
    "2024-03-31T03:15:00",
    "2024-10-26T23:30:00",
    "2024-10-27",
    // The first occurrence of the repeated hour, without and with offset.
    "2024-10-27T02:30:00",
    "2024-10-27T02:30:00+02:00",
    // The second occurrence: after the first although its clock reads less.
    "2024-10-27T02:15:00+01:00",
    "2024-10-27T02:45:00+01:00",
    "2024-10-27T03:00:00",
];

/// Author, signing and record times: the event times, and days later.
const LATER_TIMES: &[&str] = &[
    "2024-04-08",
    "2024-04-08T10:00:00",
    "2024-11-05",
    "2024-11-05T09:00:00",
    "2024-11-12T14:00:00",
];

const SYSTEMS: &[&str] = &["bhv:syntetisk", "pmo:syntetisk", "prorenata:syntetisk"];

const WRITERS: &[&str] = &["Syster Alm", "Doktor Berg"];

/// Few texts, so that unrelated notes sometimes look like copies too.
const TEXTS: &[&str] = &["Mår bra.", "Remiss till ortoped skickad."];

fn time(index: usize) -> ClinicalTime {
    let text = EVENT_TIMES
        .iter()
        .chain(LATER_TIMES)
        .nth(index)
        .expect("an index into the time pools");
    ClinicalTime::parse(text).expect("a valid time")
}

fn pupil() -> Identifier {
    Identifier::Person(PersonId::personnummer(date(2014, 2, 20), 981).expect("valid"))
}

/// The samordningsnummer the pupil had before: what a second system may
/// still file the same note under.
fn earlier_identity() -> Identifier {
    Identifier::Person(PersonId::samordningsnummer(date(2014, 2, 20), 981).expect("valid"))
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Note,
    Contact,
    Measurement,
    Immunization,
}

/// One record of a history and what happens to it.
#[derive(Debug, Clone)]
struct Spec {
    kind: Kind,
    system: usize,
    event: usize,
    author: Option<usize>,
    signing: Option<usize>,
    record: Option<usize>,
    writer: usize,
    text: usize,
    /// Appended to the text: makes a note unlike every other.
    text_suffix: String,
    nullified: bool,
    /// Later versions (notes and vaccinations), each superseding the one
    /// before: a changed event time, if any, and the author time.
    amendments: Vec<(Option<usize>, usize)>,
    /// A copy of a note in another system (offset into [`SYSTEMS`]), with
    /// its own record time.
    copy: Option<(usize, Option<usize>)>,
    /// Every version delivered a second time (overlapping exports).
    again: bool,
    /// The source each of the records made from this spec arrives in
    /// (modulo the number of sources).
    inputs: Vec<usize>,
}

fn spec() -> impl Strategy<Value = Spec> {
    let event = 0..EVENT_TIMES.len();
    let any = 0..EVENT_TIMES.len() + LATER_TIMES.len();
    (
        prop_oneof![
            4 => Just(Kind::Note),
            1 => Just(Kind::Contact),
            1 => Just(Kind::Measurement),
            1 => Just(Kind::Immunization),
        ],
        0..SYSTEMS.len(),
        event.clone(),
        proptest::option::of(any.clone()),
        proptest::option::of(any.clone()),
        proptest::option::of(any.clone()),
        (0..WRITERS.len(), 0..TEXTS.len()),
        proptest::bool::weighted(0.15),
        prop_oneof![
            3 => Just(Vec::new()),
            1 => proptest::collection::vec((proptest::option::of(event), any.clone()), 1..4),
        ],
        proptest::option::weighted(0.3, (1..SYSTEMS.len(), proptest::option::of(any))),
        proptest::bool::weighted(0.15),
        proptest::collection::vec(0..4usize, 10),
    )
        .prop_map(
            |(
                kind,
                system,
                event,
                author,
                signing,
                record,
                (writer, text),
                nullified,
                amendments,
                copy,
                again,
                inputs,
            )| Spec {
                kind,
                system,
                event,
                author,
                signing,
                record,
                writer,
                text,
                text_suffix: String::new(),
                nullified,
                amendments,
                copy,
                again,
                inputs,
            },
        )
}

/// One pupil's history: the records of each source, in source order.
///
/// A note given twice gets a text of its own, so that it cannot be merged
/// as a copy by chance; a copy given twice is generated on purpose.
fn history() -> impl Strategy<Value = Vec<Vec<Record>>> {
    (proptest::collection::vec(spec(), 1..24), 1..=4usize)
        .prop_map(|(specs, sources)| build(&specs, sources))
}

fn build(specs: &[Spec], sources: usize) -> Vec<Vec<Record>> {
    let mut out: Vec<Vec<Record>> = vec![Vec::new(); sources];
    for (n, spec) in specs.iter().enumerate() {
        let mut spec = spec.clone();
        if spec.again {
            spec.text_suffix = format!(" ({n})");
        }
        let mut records = records_of(n, &spec);
        if spec.again {
            records.extend(records.clone());
        }
        for (k, record) in records.into_iter().enumerate() {
            out[spec.inputs[k % spec.inputs.len()] % sources].push(record);
        }
    }
    out
}

fn source(system: usize, id: String, version: u32) -> SourceRef {
    SourceRef {
        system: SYSTEMS[system].to_owned(),
        record_id: id,
        version,
    }
}

fn writer(spec: &Spec) -> Practitioner {
    Practitioner {
        hsa_id: None,
        name: Some(WRITERS[spec.writer].to_owned()),
        profession: Some(Profession::Nurse),
    }
}

/// The records one spec makes: the first version, its amendments, and a
/// copy in another system.
fn records_of(n: usize, spec: &Spec) -> Vec<Record> {
    let id = format!("r-{n}");
    let mut out = Vec::new();
    match spec.kind {
        Kind::Note => {
            let first = note(spec, source(spec.system, id, 1));
            let mut previous = first.clone();
            for (k, (event, author)) in spec.amendments.iter().enumerate() {
                let version = k as u32 + 2;
                let mut next = previous.clone();
                next.source.version = version;
                next.status = EntryStatus::Amended {
                    supersedes: previous.source.clone(),
                };
                if let Some(event) = event {
                    next.event_time = time(*event);
                }
                next.author_time = Some(time(*author));
                next.signing_time = Some(time(*author));
                next.content = NoteContent::Text {
                    text: format!(
                        "{}{} Tillägg {version}.",
                        TEXTS[spec.text], spec.text_suffix
                    ),
                };
                out.push(Record::JournalEntry(previous));
                previous = next;
            }
            out.push(Record::JournalEntry(previous));
            if let Some((offset, record)) = spec.copy {
                let system = (spec.system + offset) % SYSTEMS.len();
                let mut copy = first;
                copy.source = source(system, format!("copy-{n}"), 1);
                copy.patient = earlier_identity();
                copy.record_time = record.map(time);
                out.push(Record::JournalEntry(copy));
            }
        }
        Kind::Contact => out.push(Record::Contact(Contact {
            source: source(spec.system, id, 1),
            patient: pupil(),
            kind: ContactKind::Visit,
            start: time(spec.event),
            end: None,
            performer: Some(writer(spec)),
            care_unit: None,
            secrecy_domain: SecrecyDomain::EmiMedical,
        })),
        Kind::Measurement => out.push(Record::Measurement(Measurement {
            source: source(spec.system, id, 1),
            patient: pupil(),
            kind: MeasurementKind::Height,
            time: time(spec.event),
            value: MeasurementValue::Quantity {
                value: 140.0 + spec.text as f64,
                unit: "cm".into(),
            },
            performer: None,
            care_unit: None,
            contact: None,
            secrecy_domain: SecrecyDomain::EmiMedical,
            original_code: None,
        })),
        Kind::Immunization => {
            let first = Immunization {
                source: source(spec.system, id, 1),
                patient: pupil(),
                time: time(spec.event),
                vaccine: Vaccine {
                    atc: "J07BM03".into(),
                    product: None,
                    programme: VaccinationProgramme::Hpv,
                },
                dose_number: Some(1),
                lot: None,
                given_by: Some(writer(spec)),
                care_unit: None,
                secrecy_domain: SecrecyDomain::EmiMedical,
                status: if spec.nullified {
                    EntryStatus::Nullified {
                        reason: "Fel patient".into(),
                    }
                } else {
                    EntryStatus::Current
                },
            };
            let mut previous = first;
            for (k, (event, _)) in spec.amendments.iter().enumerate() {
                let mut next = previous.clone();
                next.source.version = k as u32 + 2;
                next.status = EntryStatus::Amended {
                    supersedes: previous.source.clone(),
                };
                if let Some(event) = event {
                    next.time = time(*event);
                }
                next.lot = Some(format!("lot {}", k + 2));
                out.push(Record::Immunization(previous));
                previous = next;
            }
            out.push(Record::Immunization(previous));
        }
    }
    out
}

fn note(spec: &Spec, source: SourceRef) -> JournalEntry {
    JournalEntry {
        source,
        patient: pupil(),
        event_time: time(spec.event),
        author_time: spec.author.map(time),
        signing_time: spec.signing.map(time),
        record_time: spec.record.map(time),
        author: Some(writer(spec)),
        signer: spec.signing.map(|_| writer(spec)),
        care_provider: None,
        care_unit: None,
        contact: None,
        note_type: NoteType {
            code: NoteTypeCode::Visit,
            original: Some("Mottagningsbesök".into()),
        },
        title: None,
        content: NoteContent::Text {
            text: format!("{}{}", TEXTS[spec.text], spec.text_suffix),
        },
        status: if spec.nullified {
            EntryStatus::Nullified {
                reason: "Skriven i fel journal".into(),
            }
        } else {
            EntryStatus::Current
        },
        secrecy_domain: SecrecyDomain::EmiMedical,
        approved_for_patient: false,
        patient_block: false,
        withheld: Vec::new(),
    }
}

/// The migration's path for one pupil: key, stable sort, merge.
fn migrate(sources: &[Vec<Record>]) -> Vec<Placed> {
    let mut keyed: Vec<(Vec<u8>, Entry)> = Vec::new();
    for (input, records) in sources.iter().enumerate() {
        for record in records {
            let mut key = Vec::new();
            order_key(record, &mut key).expect("a clinical record");
            keyed.push((
                key,
                Entry {
                    input,
                    record: record.clone(),
                },
            ));
        }
    }
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    merge_pupil(keyed.into_iter().map(|(_, entry)| entry).collect())
}

fn source_ref(record: &Record) -> &SourceRef {
    super::source_of(record).expect("a sourced record")
}

/// The documented order key, built from the model (not from `order_key`):
/// a note's journal chronology, other records' one time.
fn chronology(record: &Record) -> ChronologyKey<'_> {
    match record {
        Record::JournalEntry(note) => note.chronology_key(),
        Record::Contact(r) => single(&r.start, &r.source),
        Record::Measurement(r) => single(&r.time, &r.source),
        Record::Immunization(r) => single(&r.time, &r.source),
        other => panic!("no {} in these histories", other.type_name()),
    }
}

fn single<'a>(time: &'a ClinicalTime, source: &'a SourceRef) -> ChronologyKey<'a> {
    ChronologyKey {
        event: time,
        author: None,
        signing: None,
        record: None,
        source_system: &source.system,
        source_record_id: &source.record_id,
        source_version: source.version,
    }
}

fn supersedes(record: &Record) -> Option<&SourceRef> {
    let status = match record {
        Record::JournalEntry(note) => &note.status,
        Record::Immunization(r) => &r.status,
        _ => return None,
    };
    match status {
        EntryStatus::Amended { supersedes } => Some(supersedes),
        _ => None,
    }
}

/// Every input record by its source reference.
fn by_source(sources: &[Vec<Record>]) -> HashMap<&SourceRef, &Record> {
    let mut map = HashMap::new();
    for record in sources.iter().flatten() {
        map.entry(source_ref(record)).or_insert(record);
    }
    map
}

/// The first version of a record's chain among the inputs.
fn first_version<'a>(record: &'a Record, inputs: &HashMap<&SourceRef, &'a Record>) -> &'a Record {
    let mut current = record;
    // The histories have no cycles; the bound only keeps a bug finite.
    for _ in 0..=inputs.len() {
        match supersedes(current).and_then(|s| inputs.get(s)) {
            Some(previous) => current = previous,
            None => break,
        }
    }
    current
}

/// Whether two notes are the same note as the copy rule defines it: same
/// event and author times, author, note type, content and status.
fn same_note(a: &Record, b: &Record) -> bool {
    match (a, b) {
        (Record::JournalEntry(a), Record::JournalEntry(b)) => {
            a.event_time == b.event_time
                && a.author_time == b.author_time
                && a.author == b.author
                && a.note_type.code == b.note_type.code
                && a.content == b.content
                && a.status == b.status
        }
        _ => false,
    }
}

/// The merged journal with, for each entry, the sources that gave it (the
/// written one and its copies), named by `labels[input]`.
fn journal(placed: Vec<Placed>, labels: &[usize]) -> Vec<(Record, Vec<usize>)> {
    placed
        .into_iter()
        .map(|p| {
            let mut from: Vec<usize> = std::iter::once(p.input)
                .chain(p.copies.iter().map(|(input, _)| *input))
                .map(|input| labels[input])
                .collect();
            from.sort_unstable();
            (p.record, from)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Entries stand in journal chronology; every later version follows the
    /// first version of its chain directly, by version number.
    #[test]
    fn the_merged_journal_is_in_the_documented_order(sources in history()) {
        let inputs = by_source(&sources);
        let placed = migrate(&sources);
        let mut done: HashSet<&SourceRef> = HashSet::new();
        let mut chain: Option<(&Record, u32)> = None;
        for p in &placed {
            let first = first_version(&p.record, &inputs);
            let version = source_ref(&p.record).version;
            match chain {
                Some((current, last)) if source_ref(current) == source_ref(first) => {
                    prop_assert!(version > last, "versions of one chain out of order");
                }
                _ => {
                    prop_assert!(
                        done.insert(source_ref(first)),
                        "the versions of {:?} are not together",
                        source_ref(first)
                    );
                    if let Some((previous, _)) = chain {
                        prop_assert!(
                            chronology(previous) < chronology(first),
                            "{:?} is written after {:?}",
                            source_ref(first),
                            source_ref(previous)
                        );
                    }
                }
            }
            chain = Some((first, version));
        }
    }

    /// Nothing lost, nothing doubled: each record in is written, or is
    /// counted as a copy of exactly one written record that it really
    /// copies; no two written records are copies of each other.
    #[test]
    fn every_entry_is_written_or_merged_into_exactly_one_written_entry(
        sources in history(),
    ) {
        let mut expected: BTreeMap<(usize, SourceRef), usize> = BTreeMap::new();
        let mut given: HashMap<(usize, &SourceRef), Vec<&Record>> = HashMap::new();
        for (input, records) in sources.iter().enumerate() {
            for record in records {
                *expected.entry((input, source_ref(record).clone())).or_default() += 1;
                given.entry((input, source_ref(record))).or_default().push(record);
            }
        }
        let placed = migrate(&sources);
        let mut accounted: BTreeMap<(usize, SourceRef), usize> = BTreeMap::new();
        let mut written: HashSet<&SourceRef> = HashSet::new();
        for p in &placed {
            let source = source_ref(&p.record);
            prop_assert!(written.insert(source), "{source:?} written twice");
            prop_assert!(
                given
                    .get(&(p.input, source))
                    .is_some_and(|records| records.contains(&&p.record)),
                "{source:?} is not the record its source gave"
            );
            *accounted.entry((p.input, source.clone())).or_default() += 1;
            for (input, copy) in &p.copies {
                let copied = given.get(&(*input, copy)).and_then(|r| r.first());
                prop_assert!(
                    copy == source
                        || copied.is_some_and(|c| {
                            same_note(c, &p.record) && copy.system != source.system
                        }),
                    "{copy:?} is counted as a copy of {source:?}, which it is not"
                );
                *accounted.entry((*input, copy.clone())).or_default() += 1;
            }
        }
        prop_assert_eq!(accounted, expected);
        for (i, a) in placed.iter().enumerate() {
            for b in &placed[i + 1..] {
                prop_assert!(
                    !(same_note(&a.record, &b.record)
                        && source_ref(&a.record).system != source_ref(&b.record).system),
                    "{:?} and {:?} are copies, both written",
                    source_ref(&a.record),
                    source_ref(&b.record)
                );
            }
        }
    }

    /// The same journal, with the same sources behind each entry, whatever
    /// the order of the sources and of the records within each.
    #[test]
    fn the_merge_does_not_depend_on_the_order_of_sources_or_records(
        sources in history(),
        seed in any::<u64>(),
    ) {
        let labels: Vec<usize> = (0..sources.len()).collect();
        let reference = journal(migrate(&sources), &labels);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut order = labels.clone();
        order.shuffle(&mut rng);
        let shuffled: Vec<Vec<Record>> = order
            .iter()
            .map(|&label| {
                let mut records = sources[label].clone();
                records.shuffle(&mut rng);
                records
            })
            .collect();
        prop_assert_eq!(journal(migrate(&shuffled), &order), reference);
    }
}

/// The properties are only as strong as the histories: this checks that
/// the generator makes every adversarial case, and often.
#[test]
fn the_histories_hold_every_adversarial_case() {
    let mut runner = TestRunner::deterministic();
    let strategy = history();
    let mut seen: BTreeMap<&str, u32> = BTreeMap::new();
    for _ in 0..300 {
        let sources = strategy.new_tree(&mut runner).expect("a history").current();
        let placed = migrate(&sources);
        let records: Vec<&Record> = sources.iter().flatten().collect();
        let notes: Vec<&JournalEntry> = records
            .iter()
            .filter_map(|r| match r {
                Record::JournalEntry(n) => Some(n),
                _ => None,
            })
            .collect();
        let mut found = |case, yes: bool| *seen.entry(case).or_default() += u32::from(yes);
        found("several sources", sources.len() > 1);
        found(
            "amendment of an amendment",
            records
                .iter()
                .any(|r| supersedes(r).is_some_and(|s| s.version >= 2)),
        );
        found(
            "copy in another system merged",
            placed.iter().any(|p| {
                p.copies
                    .iter()
                    .any(|(_, s)| s.record_id.starts_with("copy-"))
            }),
        );
        found(
            "record delivered twice",
            placed
                .iter()
                .any(|p| p.copies.iter().any(|(_, s)| s == source_ref(&p.record))),
        );
        found(
            "nullified",
            notes
                .iter()
                .any(|n| matches!(n.status, EntryStatus::Nullified { .. })),
        );
        found(
            "date-only and timed on one day",
            records.iter().any(|a| {
                records.iter().any(|b| {
                    let (a, b) = (chronology(a).event, chronology(b).event);
                    a.instant().is_none()
                        && b.instant().is_some()
                        && a.local_date() == b.local_date()
                })
            }),
        );
        found(
            "both occurrences of the repeated hour",
            ["2024-10-27T02:30:00+02:00", "2024-10-27T02:15:00+01:00"]
                .iter()
                .all(|t| {
                    let t = ClinicalTime::parse(t).expect("time");
                    records.iter().any(|r| *chronology(r).event == t)
                }),
        );
        found(
            "the skipped hour",
            records.iter().any(|r| {
                *chronology(r).event == ClinicalTime::parse("2024-03-31T02:30:00").expect("time")
            }),
        );
        found(
            "equal event and author times",
            notes.iter().enumerate().any(|(i, a)| {
                notes[i + 1..].iter().any(|b| {
                    a.source != b.source
                        && a.event_time == b.event_time
                        && a.author_time == b.author_time
                })
            }),
        );
        found(
            "signed days later",
            notes.iter().any(|n| {
                n.signing_time
                    .is_some_and(|s| s.local_date() > n.event_time.local_date())
            }),
        );
    }
    for (case, count) in &seen {
        assert!(*count >= 20, "only {count} of 300 histories have: {case}");
    }
    assert_eq!(seen.len(), 10);
}
