//! The merge rules for one pupil's history, applied once the external sort
//! has brought together everything every source holds about them.
//!
//! 1. **Order.** Records come out of the sort in journal chronology: event
//!    time, author time, signing time, record time, then source system,
//!    record id and version (`ChronologyKey`, defined in
//!    `mapping/src/time.rs`). A date-only time sorts before every timed one
//!    of its own day and after the whole day before, and never gets an
//!    invented hour. Other clinical records (contacts, measurements,
//!    vaccinations, consents) sort by their one time the same way.
//! 2. **Amendments.** A version that supersedes another (`status: amended`)
//!    keeps the place in time of the first version of its chain: every
//!    version follows the original directly, oldest first, so the history of
//!    the note stays readable and nothing is dropped. Amendments of
//!    amendments follow the chain to its first version.
//! 3. **Nullified** entries are carried as they are (entered in error).
//! 4. **Twice delivered.** The same record (same source system, record id
//!    and version) given twice — overlapping export files, a file given
//!    twice — is written once and counted as a copy. Given twice with
//!    different content (an export corrected without a new version), which
//!    one is right cannot be told from the data: none of them is written,
//!    and the report names them as a conflict ([`take_conflicting`]).
//! 5. **Copies.** The same note copied between systems — same patient, same
//!    event and author times, same author, same note type and content, from
//!    different source systems — is written once, as the copy that sorts
//!    first; the others' source references are kept with it and counted as
//!    duplicates merged.
//!
//! Withheld parts and the patient's block are fields of the records and
//! travel unchanged.

use std::collections::hash_map::Entry as Slot;
use std::collections::{HashMap, HashSet};

use brygga_mapping::id::Identifier;
use brygga_mapping::model::{EntryStatus, JournalEntry, Record, SourceRef};
use brygga_mapping::time::{ChronologyKey, ClinicalTime};

/// A record of one pupil as it came out of the sort: which input it came
/// from, and the record.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub input: usize,
    pub record: Record,
}

/// A record ready for the target, with the copies merged into it.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub input: usize,
    pub record: Record,
    /// Copies of the same note in other sources: (input, source reference).
    pub copies: Vec<(usize, SourceRef)>,
}

/// Appends the bytes that order `record` within its pupil's history (see
/// the module documentation). Records that are not about a pupil's care
/// get `None`.
pub fn order_key(record: &Record, out: &mut Vec<u8>) -> Option<()> {
    let single = |time: &ClinicalTime, source: &SourceRef, out: &mut Vec<u8>| {
        ChronologyKey {
            event: time,
            author: None,
            signing: None,
            record: None,
            source_system: &source.system,
            source_record_id: &source.record_id,
            source_version: source.version,
        }
        .encode(out);
    };
    match record {
        Record::JournalEntry(entry) => entry.chronology_key().encode(out),
        Record::Contact(r) => single(&r.start, &r.source, out),
        Record::Measurement(r) => single(&r.time, &r.source, out),
        Record::Immunization(r) => single(&r.time, &r.source, out),
        Record::Consent(r) => single(&r.recorded, &r.source, out),
        Record::SurveyResponse(r) => single(&r.answered, &r.source, out),
        Record::Absence(r) => single(&r.start, &r.source, out),
        Record::Attendance(r) => single(&ClinicalTime::from_date(r.date), &r.source, out),
        Record::Grade(r) => single(&ClinicalTime::from_date(r.registered_date), &r.source, out),
        Record::Person(_) | Record::Organisation(_) | Record::Placement(_) => return None,
    }
    Some(())
}

/// Records that one source reference names with different contents.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflicting {
    pub source: SourceRef,
    /// The input of each record held back, in sort order.
    pub inputs: Vec<usize>,
}

/// Takes out of one pupil's records every record whose (system, id,
/// version) another of them carries with different content (rule 4), and
/// says which. Which records are taken depends only on the set of records,
/// never on their order. Records given twice with the same content stay:
/// [`merge_pupil`] writes them once.
pub fn take_conflicting(entries: &mut Vec<Entry>) -> Vec<Conflicting> {
    let mut conflicting: HashSet<SourceRef> = HashSet::new();
    let mut first: HashMap<&SourceRef, usize> = HashMap::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let Some(source) = source_of(&entry.record) else {
            continue;
        };
        match first.entry(source) {
            Slot::Vacant(slot) => {
                slot.insert(i);
            }
            Slot::Occupied(slot) => {
                if !same_content(&entries[*slot.get()].record, &entry.record) {
                    conflicting.insert(source.clone());
                }
            }
        }
    }
    drop(first);
    if conflicting.is_empty() {
        return Vec::new();
    }
    let mut taken: Vec<Conflicting> = Vec::new();
    entries.retain(|entry| match source_of(&entry.record) {
        Some(source) if conflicting.contains(source) => {
            match taken.iter_mut().find(|c| &c.source == source) {
                Some(c) => c.inputs.push(entry.input),
                None => taken.push(Conflicting {
                    source: source.clone(),
                    inputs: vec![entry.input],
                }),
            }
            false
        }
        _ => true,
    });
    taken
}

/// Whether two records are the same but perhaps for the identifier their
/// sources filed them under (resolved to one pupil before this).
fn same_content(a: &Record, b: &Record) -> bool {
    if a == b {
        return true;
    }
    match (a.subject(), b.subject()) {
        (Some(subject), Some(other)) if subject != other => {
            let mut b = b.clone();
            set_subject(&mut b, subject);
            *a == b
        }
        _ => false,
    }
}

/// Files a record under `id` (a pupil's records may name them by an older
/// identifier, e.g. a samordningsnummer since replaced).
pub fn set_subject(record: &mut Record, id: &Identifier) {
    let subject = match record {
        Record::Person(_) | Record::Organisation(_) => return,
        Record::Placement(r) => &mut r.pupil,
        Record::Grade(r) => &mut r.pupil,
        Record::Absence(r) => &mut r.pupil,
        Record::Attendance(r) => &mut r.pupil,
        Record::Contact(r) => &mut r.patient,
        Record::JournalEntry(r) => &mut r.patient,
        Record::Measurement(r) => &mut r.patient,
        Record::Immunization(r) => &mut r.patient,
        Record::Consent(r) => &mut r.patient,
        Record::SurveyResponse(r) => &mut r.respondent,
    };
    subject.clone_from(id);
}

/// Applies the amendment and copy rules to one pupil's records, given in
/// sort order and without conflicting ones ([`take_conflicting`]). Returns
/// the records in target order.
pub fn merge_pupil(entries: Vec<Entry>) -> Vec<Placed> {
    let places = amendment_places(&entries);
    let mut order: Vec<usize> = (0..entries.len()).collect();
    // The first version of a chain, then the later ones by version number.
    order.sort_by_key(|&i| {
        let version = if places[i] == i {
            0
        } else {
            versioned_source(&entries[i].record).map_or(0, |s| s.version)
        };
        (places[i], version, i)
    });

    let mut placed: Vec<Placed> = Vec::with_capacity(entries.len());
    let mut seen: HashMap<CopyKey, usize> = HashMap::new();
    let mut delivered: HashMap<SourceRef, usize> = HashMap::new();
    let mut entries: Vec<Option<Entry>> = entries.into_iter().map(Some).collect();
    for i in order {
        let Some(entry) = entries[i].take() else {
            continue;
        };
        // The same record (system, id, version) delivered twice, e.g. in two
        // overlapping export files: written once.
        if let Some(source) = source_of(&entry.record)
            && let Some(&first) = delivered.get(source)
        {
            placed[first].copies.push((entry.input, source.clone()));
            continue;
        }
        if let Record::JournalEntry(note) = &entry.record
            && let Some(key) = CopyKey::of(note)
        {
            match seen.get(&key) {
                Some(&first)
                    if source_system_of(&placed[first].record) != Some(&note.source.system) =>
                {
                    placed[first]
                        .copies
                        .push((entry.input, note.source.clone()));
                    // A second delivery of this copy is a copy of the same
                    // written record.
                    delivered.insert(note.source.clone(), first);
                    continue;
                }
                Some(_) => {}
                None => {
                    seen.insert(key, placed.len());
                }
            }
        }
        if let Some(source) = source_of(&entry.record) {
            delivered.insert(source.clone(), placed.len());
        }
        placed.push(Placed {
            input: entry.input,
            record: entry.record,
            copies: Vec::new(),
        });
    }
    placed
}

/// The source reference of a record that has one.
pub fn source_of(record: &Record) -> Option<&SourceRef> {
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

fn source_system_of(record: &Record) -> Option<&String> {
    match record {
        Record::JournalEntry(note) => Some(&note.source.system),
        _ => None,
    }
}

/// For each entry, the sorted index of the first version of its chain (its
/// own index when it amends nothing present).
fn amendment_places(entries: &[Entry]) -> Vec<usize> {
    let mut by_source: HashMap<&SourceRef, usize> = HashMap::new();
    for (i, entry) in entries.iter().enumerate() {
        if let Some(source) = versioned_source(&entry.record) {
            by_source.entry(source).or_insert(i);
        }
    }
    (0..entries.len())
        .map(|i| {
            let mut current = i;
            // A chain is at most as long as the pupil's history; the bound
            // also stops a cycle (two versions naming each other).
            for _ in 0..entries.len() {
                let Some(previous) =
                    supersedes(&entries[current].record).and_then(|s| by_source.get(s))
                else {
                    break;
                };
                if *previous == i {
                    break;
                }
                current = *previous;
            }
            current
        })
        .collect()
}

fn versioned_source(record: &Record) -> Option<&SourceRef> {
    match record {
        Record::JournalEntry(note) => Some(&note.source),
        Record::Immunization(r) => Some(&r.source),
        _ => None,
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

/// What makes two notes copies of one: the times of care and writing, the
/// author, the note type and the content, serialised once.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CopyKey(Vec<u8>);

impl CopyKey {
    fn of(note: &JournalEntry) -> Option<CopyKey> {
        let author = note.author.as_ref().map(|a| (a.hsa_id, &a.name));
        let key = (
            &note.event_time,
            &note.author_time,
            author,
            &note.note_type.code,
            &note.content,
            &note.status,
        );
        // Serialising plain values into memory does not fail; a note that
        // did would simply not be taken for a copy of another.
        serde_json::to_vec(&key).ok().map(CopyKey)
    }
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use brygga_mapping::id::{Identifier, PersonId};
    use brygga_mapping::model::*;

    use super::*;

    fn pupil() -> Identifier {
        Identifier::Person(PersonId::parse_normalized("196408233234").expect("test number"))
    }

    fn note(system: &str, id: &str, version: u32, event: &str, text: &str) -> JournalEntry {
        JournalEntry {
            source: SourceRef {
                system: system.into(),
                record_id: id.into(),
                version,
            },
            patient: pupil(),
            event_time: ClinicalTime::parse(event).expect("time"),
            author_time: None,
            signing_time: None,
            record_time: None,
            author: Some(Practitioner {
                hsa_id: None,
                name: Some("Syster Test".into()),
                profession: Some(Profession::Nurse),
            }),
            signer: None,
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

    fn amend(mut n: JournalEntry, of: &JournalEntry) -> JournalEntry {
        n.status = EntryStatus::Amended {
            supersedes: of.source.clone(),
        };
        n
    }

    /// The notes as entries in the order the external sort gives them.
    fn sorted(notes: Vec<(usize, JournalEntry)>) -> Vec<Entry> {
        let mut keyed: Vec<(Vec<u8>, Entry)> = notes
            .into_iter()
            .map(|(input, n)| {
                let record = Record::JournalEntry(n);
                let mut key = Vec::new();
                order_key(&record, &mut key).expect("clinical");
                (key, Entry { input, record })
            })
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        keyed.into_iter().map(|(_, e)| e).collect()
    }

    /// Sorts as the external sort would, then merges.
    fn run(notes: Vec<(usize, JournalEntry)>) -> Vec<(String, u32, usize)> {
        merge_pupil(sorted(notes))
            .into_iter()
            .map(|p| match p.record {
                Record::JournalEntry(n) => (n.source.record_id, n.source.version, p.copies.len()),
                other => (other.type_name().to_owned(), 0, 0),
            })
            .collect()
    }

    #[test]
    fn an_amendment_of_an_amendment_keeps_the_first_versions_place() {
        let a1 = note("pmo:x", "a", 1, "2020-01-10T10:00:00", "first");
        let b = note("pmo:x", "b", 1, "2020-02-01T10:00:00", "other");
        // Written weeks later, with a later event time by mistake.
        let a2 = amend(note("pmo:x", "a", 2, "2020-03-01T10:00:00", "second"), &a1);
        let a3 = amend(note("pmo:x", "a", 3, "2020-01-10T10:00:00", "third"), &a2);
        let got = run(vec![(0, b), (0, a3), (0, a2), (0, a1)]);
        assert_eq!(
            got,
            [
                ("a".into(), 1, 0),
                ("a".into(), 2, 0),
                ("a".into(), 3, 0),
                ("b".into(), 1, 0)
            ]
        );
    }

    #[test]
    fn a_note_copied_between_systems_is_written_once_with_both_sources() {
        let pmo = note("pmo:x", "p1", 1, "2021-05-03T09:00:00", "same text");
        let prorenata = note("prorenata:x", "r1", 1, "2021-05-03T09:00:00", "same text");
        let different = note("prorenata:x", "r2", 1, "2021-05-03T09:00:00", "other text");
        let got = run(vec![(1, prorenata), (0, pmo), (1, different)]);
        assert_eq!(got, [("p1".into(), 1, 1), ("r2".into(), 1, 0)]);
    }

    #[test]
    fn date_only_entries_precede_timed_ones_of_the_same_day_and_follow_the_day_before() {
        let got = run(vec![
            (0, note("pmo:x", "timed", 1, "2019-10-27T08:00:00", "t")),
            (0, note("pmo:x", "date", 1, "2019-10-27", "d")),
            (
                0,
                note("pmo:x", "evening-before", 1, "2019-10-26T23:30:00", "e"),
            ),
        ]);
        let ids: Vec<&str> = got.iter().map(|(id, _, _)| id.as_str()).collect();
        assert_eq!(ids, ["evening-before", "date", "timed"]);
    }

    #[test]
    fn the_repeated_october_hour_orders_by_the_instant() {
        let got = run(vec![
            (
                0,
                note("pmo:x", "second", 1, "2024-10-27T02:15:00+01:00", "2"),
            ),
            (
                0,
                note("pmo:x", "first", 1, "2024-10-27T02:45:00+02:00", "1"),
            ),
        ]);
        let ids: Vec<&str> = got.iter().map(|(id, _, _)| id.as_str()).collect();
        assert_eq!(ids, ["first", "second"]);
    }

    #[test]
    fn a_merged_copy_delivered_twice_is_counted_once() {
        let pmo = note("pmo:x", "p1", 1, "2021-05-03T09:00:00", "same text");
        let prorenata = note("prorenata:x", "r1", 1, "2021-05-03T09:00:00", "same text");
        // ProRenata's export given twice: its copy of PMO's note arrives twice.
        let got = run(vec![(0, pmo), (1, prorenata.clone()), (2, prorenata)]);
        assert_eq!(got, [("p1".into(), 1, 2)]);
    }

    #[test]
    fn one_record_given_twice_with_different_content_is_held_back_whatever_the_order() {
        let before = note("pmo:x", "n1", 1, "2024-01-10T10:00:00", "first export");
        let after = note(
            "pmo:x",
            "n1",
            1,
            "2024-01-10T10:00:00",
            "later export, corrected",
        );
        let written = |sources: Vec<(usize, JournalEntry)>| {
            let mut entries = sorted(sources);
            let conflicting = take_conflicting(&mut entries);
            let written: Vec<Record> = merge_pupil(entries).into_iter().map(|p| p.record).collect();
            (written, conflicting)
        };
        let other = note("pmo:x", "n2", 1, "2024-01-11T10:00:00", "another note");
        let kept = [Record::JournalEntry(other.clone())];
        for (sources, want, held) in [
            (
                vec![(0, before.clone()), (1, after.clone()), (1, other.clone())],
                &kept[..],
                2,
            ),
            (
                vec![(0, after.clone()), (0, other.clone()), (1, before.clone())],
                &kept[..],
                2,
            ),
            // Given twice the same and once different: all three held back.
            (
                vec![(0, before.clone()), (1, after.clone()), (2, before.clone())],
                &[][..],
                3,
            ),
        ] {
            let (written, conflicting) = written(sources);
            assert_eq!(written, want);
            assert_eq!(conflicting.len(), 1, "{conflicting:?}");
            assert_eq!(conflicting[0].source, before.source);
            assert_eq!(conflicting[0].inputs.len(), held);
        }
        // The same content under two identifiers of the pupil is no conflict.
        let mut renamed = before.clone();
        renamed.patient = Identifier::Local(brygga_mapping::id::LocalId {
            namespace: "pmo".into(),
            value: "elev-1".into(),
        });
        let (written, conflicting) = written(vec![(0, before.clone()), (1, renamed)]);
        assert!(conflicting.is_empty());
        assert_eq!(written.len(), 1);
    }
}
