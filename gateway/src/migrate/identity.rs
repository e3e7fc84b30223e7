//! Who is who across sources: every identifier a pupil was known by, linked
//! into one person, or a conflict that is reported and held back — never a
//! guess.
//!
//! A `person` record links all of its identifiers: a samordningsnummer later
//! replaced by a personnummer, a reservnummer linked to a real number, a
//! source's local id next to the number it belongs to. Links from every
//! source are joined (union–find), so a pupil known as a local id in PMO, a
//! samordningsnummer at the child-health centre and a personnummer in
//! ProRenata becomes one journal.
//!
//! Two situations are conflicts, and every record of the people involved is
//! held back from the target and listed in the report:
//!
//! - one person known by two different personnummer (for example one local
//!   id given with two numbers);
//! - one person given two different names (family and given name, compared
//!   without case and extra whitespace) by the sources.
//!
//! The key a person's journal is filed under is their personnummer, else
//! their samordningsnummer, reservnummer or temporary number, else a local
//! id; each as its canonical identifier text, and among several of the same
//! kind the smallest text, so the key never depends on the order in which
//! sources are given.

use std::collections::HashMap;

use brygga_mapping::id::{Identifier, PersonIdKind};
use brygga_mapping::model::Person;
use indexmap::IndexSet;

/// Why a person's records are held back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// Two different personnummer were linked to one person.
    TwoNumbers,
    /// The sources give this person different names.
    TwoNames,
}

impl Conflict {
    pub fn describe(&self) -> &'static str {
        match self {
            Conflict::TwoNumbers => "two different personnummer are linked to one person",
            Conflict::TwoNames => "the sources give one personnummer two different names",
        }
    }
}

/// What identity resolution decided for one identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// File the record under this person key.
    Person(String),
    /// Hold the record back: the person is in conflict.
    HeldBack { key: String, conflict: Conflict },
}

/// Collects `person` records, then answers for any identifier.
#[derive(Debug, Default)]
pub struct Identities {
    /// Every identifier seen, once, numbered in the order first seen (the
    /// numbers index the vectors below).
    identifiers: IndexSet<Identifier>,
    /// Union–find parents, one per identifier seen.
    parent: Vec<usize>,
    /// Normalised names given per identifier (at most a few).
    names: HashMap<usize, Vec<String>>,
    /// Per identifier, the one whose key its person is filed under; filled
    /// by [`Identities::resolve_all`]. (An index, not the key: a county
    /// has millions of identifiers.)
    resolved: Vec<usize>,
    /// Person keys in conflict, filled by [`Identities::resolve_all`].
    held_back: HashMap<String, Conflict>,
}

impl Identities {
    /// Learns the links and the name a `person` record gives.
    pub fn add_person(&mut self, person: &Person) {
        let Some(first) = person.identifiers.first() else {
            return;
        };
        let root = self.id_of(first);
        for identifier in &person.identifiers[1..] {
            let other = self.id_of(identifier);
            self.union(root, other);
        }
        let name = normalise_name(&person.given_name, &person.family_name);
        let names = self.names.entry(root).or_default();
        if !names.contains(&name) {
            names.push(name);
        }
    }

    /// Decides every person once all `person` records are in.
    pub fn resolve_all(&mut self) {
        let n = self.identifiers.len();
        let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
        for i in 0..n {
            let root = self.find(i);
            groups.entry(root).or_default().push(i);
        }
        self.resolved = (0..n).collect();
        for members in groups.values() {
            let Some((_, key, filed_under)) = members
                .iter()
                .map(|&i| (rank(&self.identifiers[i]), key_of(&self.identifiers[i]), i))
                .min()
            else {
                continue;
            };
            let mut numbers: Vec<&str> = members
                .iter()
                .filter_map(|&i| match &self.identifiers[i] {
                    Identifier::Person(id) if id.kind() == PersonIdKind::Personnummer => {
                        Some(id.as_str())
                    }
                    _ => None,
                })
                .collect();
            numbers.sort_unstable();
            numbers.dedup();
            let mut names: Vec<&String> = members
                .iter()
                .filter_map(|i| self.names.get(i))
                .flatten()
                .collect();
            names.sort_unstable();
            names.dedup();
            let conflict = if numbers.len() > 1 {
                Some(Conflict::TwoNumbers)
            } else if names.len() > 1 {
                Some(Conflict::TwoNames)
            } else {
                None
            };
            if let Some(conflict) = conflict {
                self.held_back.insert(key, conflict);
            }
            for &i in members {
                self.resolved[i] = filed_under;
            }
        }
        // Only the answers are needed from here on.
        self.names = HashMap::new();
        self.parent = Vec::new();
    }

    /// The person an identifier belongs to. An identifier no `person`
    /// record named is a person of its own.
    pub fn resolve(&self, identifier: &Identifier) -> Resolution {
        let filed_under = self
            .identifiers
            .get_index_of(identifier)
            .and_then(|i| self.resolved.get(i))
            .and_then(|&i| self.identifiers.get_index(i))
            .unwrap_or(identifier);
        self.resolve_key(&key_of(filed_under))
    }

    /// The keys of identifiers that resolve to another key: records filed
    /// under one of these texts may belong to another pupil's journal.
    /// (Keys are texts, and two identifiers could share one — a local id
    /// namespace may hold a `:` — so a caller resolves each such record by
    /// its own identifier.) Empty when every identifier is its own key,
    /// the usual case.
    pub fn refiled_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .identifiers
            .iter()
            .zip(&self.resolved)
            .enumerate()
            .filter(|&(i, (_, &filed_under))| filed_under != i)
            .filter_map(|(_, (identifier, &filed_under))| {
                let own = key_of(identifier);
                (key_of(&self.identifiers[filed_under]) != own).then_some(own)
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// What was decided for a person key (as [`resolve`](Self::resolve)
    /// returns it).
    pub fn resolve_key(&self, key: &str) -> Resolution {
        match self.held_back.get(key) {
            Some(conflict) => Resolution::HeldBack {
                key: key.to_owned(),
                conflict: conflict.clone(),
            },
            None => Resolution::Person(key.to_owned()),
        }
    }

    fn id_of(&mut self, identifier: &Identifier) -> usize {
        if let Some(i) = self.identifiers.get_index_of(identifier) {
            return i;
        }
        let (i, _) = self.identifiers.insert_full(identifier.clone());
        self.parent.push(i);
        i
    }

    fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return;
        }
        let (keep, merge) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.parent[merge] = keep;
        if let Some(names) = self.names.remove(&merge) {
            let kept = self.names.entry(keep).or_default();
            for name in names {
                if !kept.contains(&name) {
                    kept.push(name);
                }
            }
        }
    }
}

/// Which identifier names the person: lower is preferred.
fn rank(identifier: &Identifier) -> u8 {
    match identifier {
        Identifier::Person(id) => match id.kind() {
            PersonIdKind::Personnummer => 0,
            PersonIdKind::Samordningsnummer => 1,
            PersonIdKind::Reservnummer => 2,
            PersonIdKind::Temporary => 3,
        },
        Identifier::Local(_) => 4,
    }
}

/// The text a person key is: `personnummer:196408233234`,
/// `local:pmo:gotene:123`. Never logged at info level.
pub fn key_of(identifier: &Identifier) -> String {
    let mut key = Vec::new();
    write_key(identifier, &mut key);
    String::from_utf8_lossy(&key).into_owned()
}

/// Appends [`key_of`]'s text to `out`, without allocating.
pub fn write_key(identifier: &Identifier, out: &mut Vec<u8>) {
    match identifier {
        Identifier::Person(id) => {
            out.extend_from_slice(id.kind().as_str().as_bytes());
            out.push(b':');
            out.extend_from_slice(id.as_str().as_bytes());
        }
        Identifier::Local(local) => {
            out.extend_from_slice(b"local:");
            out.extend_from_slice(local.namespace.as_bytes());
            out.push(b':');
            out.extend_from_slice(local.value.as_bytes());
        }
    }
}

fn normalise_name(given: &str, family: &str) -> String {
    let mut name = String::with_capacity(given.len() + family.len() + 1);
    for word in given.split_whitespace().chain(family.split_whitespace()) {
        if !name.is_empty() {
            name.push(' ');
        }
        name.extend(word.chars().flat_map(char::to_lowercase));
    }
    name
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use brygga_mapping::id::{LocalId, PersonId};
    use jiff::civil::date;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn pnr(serial: u16) -> Identifier {
        Identifier::Person(PersonId::personnummer(date(2015, 3, 14), serial).expect("valid"))
    }

    fn samordning(serial: u16) -> Identifier {
        Identifier::Person(PersonId::samordningsnummer(date(2015, 3, 14), serial).expect("valid"))
    }

    fn local(value: &str) -> Identifier {
        Identifier::Local(LocalId {
            namespace: "pmo:syntetisk".into(),
            value: value.into(),
        })
    }

    fn person(ids: Vec<Identifier>, given: &str, family: &str) -> Person {
        Person {
            identifiers: ids,
            given_name: given.into(),
            family_name: family.into(),
            birth_date: None,
            sex: None,
            security_marking: Default::default(),
            guardians: Vec::new(),
            addresses: Vec::new(),
            telecom: Vec::new(),
            municipality_code: None,
        }
    }

    #[test]
    fn links_from_different_sources_make_one_person_under_the_personnummer() {
        let mut ids = Identities::default();
        // BHV knew the child by a samordningsnummer; PMO by a local id that
        // it later linked to the samordningsnummer; ProRenata has the
        // personnummer that replaced it.
        ids.add_person(&person(vec![samordning(981)], "Alva", "Berg"));
        ids.add_person(&person(
            vec![local("4711"), samordning(981)],
            "Alva",
            "Berg",
        ));
        ids.add_person(&person(vec![pnr(981), samordning(981)], "ALVA", " berg"));
        ids.resolve_all();
        let expected = Resolution::Person(key_of(&pnr(981)));
        for id in [pnr(981), samordning(981), local("4711")] {
            assert_eq!(ids.resolve(&id), expected);
        }
        assert!(key_of(&pnr(981)).starts_with("personnummer:2015031"));
    }

    #[test]
    fn one_local_id_for_two_numbers_holds_both_back() {
        let mut ids = Identities::default();
        ids.add_person(&person(vec![pnr(981), local("17")], "Alva", "Berg"));
        ids.add_person(&person(vec![pnr(982), local("17")], "Alva", "Berg"));
        ids.resolve_all();
        for id in [pnr(981), pnr(982), local("17")] {
            assert!(
                matches!(
                    ids.resolve(&id),
                    Resolution::HeldBack {
                        conflict: Conflict::TwoNumbers,
                        ..
                    }
                ),
                "{id:?}"
            );
        }
    }

    #[test]
    fn two_names_for_one_number_are_held_back_and_others_are_not() {
        let mut ids = Identities::default();
        ids.add_person(&person(vec![pnr(981)], "Alva", "Berg"));
        ids.add_person(&person(vec![pnr(981)], "Alma", "Berg"));
        ids.add_person(&person(vec![pnr(982)], "Sixten", "Ek"));
        ids.resolve_all();
        assert!(matches!(
            ids.resolve(&pnr(981)),
            Resolution::HeldBack {
                conflict: Conflict::TwoNames,
                ..
            }
        ));
        assert_eq!(
            ids.resolve(&pnr(982)),
            Resolution::Person(key_of(&pnr(982)))
        );
        // Never named by a person record: a person of its own.
        assert_eq!(
            ids.resolve(&pnr(983)),
            Resolution::Person(key_of(&pnr(983)))
        );
    }

    #[test]
    fn the_key_of_a_person_known_only_by_local_ids_does_not_depend_on_arrival_order() {
        let prorenata = Identifier::Local(LocalId {
            namespace: "prorenata:syntetisk".into(),
            value: "8c1f".into(),
        });
        // PMO links its id to ProRenata's; ProRenata knows only its own.
        let records = [
            person(vec![local("4711"), prorenata.clone()], "Alva", "Berg"),
            person(vec![prorenata], "Alva", "Berg"),
        ];
        let reversed = [records[1].clone(), records[0].clone()];
        assert_eq!(
            resolved(&records).resolve(&local("4711")),
            resolved(&reversed).resolve(&local("4711"))
        );
    }

    // --- properties ----------------------------------------------------------

    /// The sources' given and family names for true person `k`, spelt as
    /// sources do: case and spacing vary, the name does not.
    fn spelling(k: usize, variant: usize) -> (String, String) {
        let (given, family) = [("Alva", "Berg"), ("Sixten", "Ek"), ("Maja Li", "Åberg")][k % 3];
        let given = format!("{given} {}", ["", "Test", "Prov"][k / 3 % 3]);
        match variant {
            0 => (given, family.to_owned()),
            1 => (given.to_uppercase(), format!(" {}", family.to_lowercase())),
            _ => (format!("  {given}  "), format!("{family} ")),
        }
    }

    fn normalised(given: &str, family: &str) -> String {
        let words: Vec<String> = format!("{given} {family}")
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        words.join(" ")
    }

    /// One true person: which identifiers they have, and the person records
    /// the sources hold (a subset of the identifiers each, a spelling, and
    /// sometimes a different name altogether).
    #[derive(Debug, Clone)]
    struct TruePerson {
        personnummer: bool,
        samordningsnummer: bool,
        locals: usize,
        records: Vec<(u8, usize, bool)>,
    }

    fn true_person() -> impl Strategy<Value = TruePerson> {
        (
            proptest::bool::weighted(0.8),
            proptest::bool::weighted(0.5),
            0..3usize,
            proptest::collection::vec(
                (any::<u8>(), 0..3usize, proptest::bool::weighted(0.08)),
                1..4,
            ),
        )
            .prop_map(
                |(personnummer, samordningsnummer, locals, records)| TruePerson {
                    personnummer,
                    samordningsnummer,
                    locals,
                    records,
                },
            )
    }

    /// Person records of up to six people; sometimes one local id is given
    /// to two of them (a source's mistake that must become a conflict when
    /// both have a personnummer).
    fn population() -> impl Strategy<Value = Vec<Person>> {
        (
            proptest::collection::vec(true_person(), 1..7),
            proptest::option::weighted(0.25, (0..6usize, 0..6usize)),
        )
            .prop_map(|(people, shared)| {
                let mut records = Vec::new();
                for (k, p) in people.iter().enumerate() {
                    let serial = 980 + k as u16;
                    let mut ids = Vec::new();
                    if p.personnummer {
                        ids.push(pnr(serial));
                    }
                    if p.samordningsnummer {
                        ids.push(samordning(serial));
                    }
                    for j in 0..p.locals.max(usize::from(ids.is_empty())) {
                        ids.push(local(&format!("{k}-{j}")));
                    }
                    for &(mask, variant, renamed) in &p.records {
                        let mut listed: Vec<Identifier> = ids
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| mask & (1 << i) != 0)
                            .map(|(_, id)| id.clone())
                            .collect();
                        if listed.is_empty() {
                            listed.push(ids[usize::from(mask) % ids.len()].clone());
                        }
                        let (given, family) = if renamed {
                            ("Annan".to_owned(), "Person".to_owned())
                        } else {
                            spelling(k, variant)
                        };
                        records.push(person(listed, &given, &family));
                    }
                }
                if let Some((a, b)) = shared {
                    let n = records.len();
                    for i in [a % n, b % n] {
                        records[i].identifiers.push(local("delad"));
                    }
                }
                records
            })
    }

    fn rank_of(id: &Identifier) -> u8 {
        match id {
            Identifier::Person(p) => match p.kind() {
                PersonIdKind::Personnummer => 0,
                PersonIdKind::Samordningsnummer => 1,
                PersonIdKind::Reservnummer => 2,
                PersonIdKind::Temporary => 3,
            },
            Identifier::Local(_) => 4,
        }
    }

    /// The people the links make, worked out plainly: every record joins
    /// all groups it shares an identifier with. Each with its names.
    fn linked(records: &[Person]) -> Vec<(HashSet<Identifier>, HashSet<String>)> {
        let mut groups: Vec<(HashSet<Identifier>, HashSet<String>)> = Vec::new();
        for record in records {
            let mut ids: HashSet<Identifier> = record.identifiers.iter().cloned().collect();
            let mut names = HashSet::from([normalised(&record.given_name, &record.family_name)]);
            let (joined, rest): (Vec<_>, Vec<_>) = groups
                .into_iter()
                .partition(|(group, _)| !group.is_disjoint(&ids));
            for (group, group_names) in joined {
                ids.extend(group);
                names.extend(group_names);
            }
            groups = rest;
            groups.push((ids, names));
        }
        groups
    }

    fn resolved(records: &[Person]) -> Identities {
        let mut identities = Identities::default();
        for record in records {
            identities.add_person(record);
        }
        identities.resolve_all();
        identities
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Each person resolves to one key — the best identifier they have —
        /// whatever order their person records arrive in; two numbers or two
        /// names hold the whole person back; two people never share a key.
        #[test]
        fn linked_identifiers_resolve_to_one_person_whatever_the_arrival_order(
            records in population(),
            seed in any::<u64>(),
        ) {
            let mut shuffled = records.clone();
            shuffled.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
            let people = linked(&records);
            let mut keys: HashSet<String> = HashSet::new();
            let orders = [resolved(&records), resolved(&shuffled)];
            for (ids, names) in &people {
                let numbers = ids.iter().filter(|id| rank_of(id) == 0).count();
                let best = ids.iter().map(rank_of).min().expect("a person has an identifier");
                let candidates: Vec<String> =
                    ids.iter().filter(|id| rank_of(id) == best).map(key_of).collect();
                let mut answers = Vec::new();
                for identities in &orders {
                    let mut answer: Option<Resolution> = None;
                    for id in ids {
                        let got = identities.resolve(id);
                        prop_assert!(
                            answer.as_ref().is_none_or(|a| *a == got),
                            "one person's identifiers resolve differently"
                        );
                        answer = Some(got);
                    }
                    let answer = answer.expect("a person has an identifier");
                    match &answer {
                        Resolution::HeldBack { key, conflict } => {
                            let expected = if numbers > 1 {
                                Conflict::TwoNumbers
                            } else {
                                Conflict::TwoNames
                            };
                            prop_assert!(numbers > 1 || names.len() > 1, "held back without a conflict");
                            prop_assert_eq!(conflict, &expected);
                            prop_assert!(ids.iter().any(|id| key_of(id) == *key));
                            prop_assert_eq!(identities.resolve_key(key), answer.clone());
                        }
                        Resolution::Person(key) => {
                            prop_assert!(numbers <= 1 && names.len() == 1, "a conflict was merged silently");
                            prop_assert!(candidates.contains(key), "filed under {key}, not the best identifier");
                            prop_assert_eq!(identities.resolve_key(key), answer.clone());
                        }
                    }
                    answers.push(answer);
                }
                // The arrival order never matters, not even among equally
                // good identifiers (the smallest text is the key).
                prop_assert_eq!(&answers[0], &answers[1]);
                if let Resolution::Person(key) = &answers[0] {
                    prop_assert!(keys.insert(key.clone()), "two people filed under one key");
                }
            }
        }
    }
}
