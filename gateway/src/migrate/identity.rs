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
//! their samordningsnummer, reservnummer or temporary number, else their
//! first-seen local id; each as its canonical identifier text.

use std::collections::HashMap;

use brygga_mapping::id::{Identifier, PersonIdKind};
use brygga_mapping::model::Person;

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
    index: HashMap<Identifier, usize>,
    /// Union–find parents, one per identifier seen.
    parent: Vec<usize>,
    identifiers: Vec<Identifier>,
    /// Normalised names given per identifier (at most a few).
    names: HashMap<usize, Vec<String>>,
    /// Filled by [`Identities::resolve_all`].
    resolved: Vec<Option<Resolution>>,
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
        self.resolved = vec![None; n];
        for members in groups.values() {
            let key = members
                .iter()
                .min_by_key(|&&i| (rank(&self.identifiers[i]), i))
                .map(|&i| key_of(&self.identifiers[i]))
                .unwrap_or_default();
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
            let resolution = if numbers.len() > 1 {
                Resolution::HeldBack {
                    key,
                    conflict: Conflict::TwoNumbers,
                }
            } else if names.len() > 1 {
                Resolution::HeldBack {
                    key,
                    conflict: Conflict::TwoNames,
                }
            } else {
                Resolution::Person(key)
            };
            if let Resolution::HeldBack { key, conflict } = &resolution {
                self.held_back.insert(key.clone(), conflict.clone());
            }
            for &i in members {
                self.resolved[i] = Some(resolution.clone());
            }
        }
    }

    /// The person an identifier belongs to. An identifier no `person`
    /// record named is a person of its own.
    pub fn resolve(&self, identifier: &Identifier) -> Resolution {
        self.index
            .get(identifier)
            .and_then(|&i| self.resolved.get(i).cloned().flatten())
            .unwrap_or_else(|| Resolution::Person(key_of(identifier)))
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
        if let Some(&i) = self.index.get(identifier) {
            return i;
        }
        let i = self.identifiers.len();
        self.identifiers.push(identifier.clone());
        self.parent.push(i);
        self.index.insert(identifier.clone(), i);
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
    match identifier {
        Identifier::Person(id) => format!("{}:{}", id.kind().as_str(), id.as_str()),
        Identifier::Local(local) => format!("local:{}:{}", local.namespace, local.value),
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
    use brygga_mapping::id::{LocalId, PersonId};
    use jiff::civil::date;

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
}
