//! Synthetic person identities: unique, deterministic, and never a number
//! that could be a real person's.
//!
//! Two sources, in this order:
//!
//! 1. **Skatteverket's test personnummer** (`--test-ids`), grouped by birth
//!    year and used in an order shuffled by the seed, so a pupil in year 4
//!    gets a test number of a child born in the right year and a guardian
//!    one of an adult.
//! 2. **Generated numbers** when there is no list or a birth year's share of
//!    it has run out: Luhn-valid personnummer with birth numbers 980–999,
//!    then samordningsnummer (day + 60) in the same block, then — only at a
//!    very large size — lower blocks (960–979, …), alternating the two kinds.
//!    A number that is in the test list is never generated, so the two
//!    sources cannot collide.
//!
//! Uniqueness costs O(1) memory: the k-th number generated for a birth year
//! is slot `permute(k)` of that year's (day, birth number) slots, where
//! `permute` is a bijection keyed by the seed. Only one counter per birth
//! year is kept, however many persons are made.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use brygga_mapping::id::{PersonId, PersonIdKind};
use rand::seq::SliceRandom;
use serde::Serialize;

use super::calendar::{add_days, date};
use super::random::{Purpose, SeedKey};
use crate::exit::Failure;

/// Birth numbers per block: 980–999, 960–979, …, 000–019.
const BLOCK: u64 = 20;
/// Blocks × two kinds. Block 0 (980–999) comes first.
const TIERS: u64 = 100;

/// Skatteverket's test personnummer as read from `--test-ids`.
#[derive(Debug)]
pub struct TestList {
    /// How the file was named on the command line, for the manifest.
    name: String,
    by_year: BTreeMap<i16, Vec<PersonId>>,
    /// Every accepted number as an integer, sorted, for the exclusion check.
    all: Vec<u64>,
    accepted: u64,
    skipped_lines: u64,
}

impl TestList {
    /// Reads one 12-digit number per line. A line that is not a personnummer
    /// or samordningsnummer is skipped with a warning naming the line (the
    /// number itself is masked); blank lines are ignored.
    pub fn read(path: &Path) -> Result<TestList, Failure> {
        let file = File::open(path).map_err(|e| Failure::io(path, e))?;
        let mut reader = BufReader::new(file);
        let mut list = TestList {
            name: path.display().to_string(),
            by_year: BTreeMap::new(),
            all: Vec::new(),
            accepted: 0,
            skipped_lines: 0,
        };
        let mut line = Vec::new();
        let mut number = 0u64;
        loop {
            line.clear();
            let read = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| Failure::io(path, e))?;
            if read == 0 {
                break;
            }
            number += 1;
            let Ok(text) = std::str::from_utf8(&line) else {
                tracing::warn!("{}: line {number}: skipped: not UTF-8", path.display());
                list.skipped_lines += 1;
                continue;
            };
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            match PersonId::parse_normalized(text) {
                Ok(id) => match (id.kind(), id.birth_date(), as_integer(&id)) {
                    (
                        PersonIdKind::Personnummer | PersonIdKind::Samordningsnummer,
                        Some(birth),
                        Some(value),
                    ) => {
                        list.by_year.entry(birth.year()).or_default().push(id);
                        list.all.push(value);
                        list.accepted += 1;
                    }
                    (kind, ..) => {
                        tracing::warn!(
                            "{}: line {number}: skipped: {id} is a {kind}, not a personnummer",
                            path.display()
                        );
                        list.skipped_lines += 1;
                    }
                },
                Err(e) => {
                    tracing::warn!("{}: line {number}: skipped: {e}", path.display());
                    list.skipped_lines += 1;
                }
            }
        }
        list.all.sort_unstable();
        list.all.dedup();
        for numbers in list.by_year.values_mut() {
            numbers.sort_unstable();
            numbers.dedup();
        }
        Ok(list)
    }

    /// Lines that were not a usable number.
    pub fn skipped_lines(&self) -> u64 {
        self.skipped_lines
    }
}

/// The 12 digits as an integer; `None` for ids with letters.
fn as_integer(id: &PersonId) -> Option<u64> {
    id.as_str().parse().ok()
}

/// One birth year's state: its share of the test list, in seeded order, and
/// how many numbers have been generated for it.
#[derive(Debug, Default)]
struct Cohort {
    test_numbers: Vec<PersonId>,
    next_test: usize,
    next_slot: u64,
}

/// Hands out person ids by birth year.
#[derive(Debug)]
pub struct Identities {
    key: SeedKey,
    cohorts: BTreeMap<i16, Cohort>,
    test: Option<TestList>,
    from_test_list: u64,
    /// Generated numbers per tier.
    generated: BTreeMap<u64, u64>,
}

impl Identities {
    pub fn new(key: SeedKey, test: Option<TestList>) -> Self {
        Identities {
            key,
            cohorts: BTreeMap::new(),
            test,
            from_test_list: 0,
            generated: BTreeMap::new(),
        }
    }

    /// A new, unused person id for someone born in `year`.
    pub fn born_in(&mut self, year: i16) -> Result<PersonId, Failure> {
        let cohort = match self.cohorts.entry(year) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::btree_map::Entry::Vacant(entry) => {
                let mut test_numbers = self
                    .test
                    .as_mut()
                    .and_then(|list| list.by_year.remove(&year))
                    .unwrap_or_default();
                let mut rng = self
                    .key
                    .stream(Purpose::TestList, u64::from(year.unsigned_abs()));
                test_numbers.shuffle(&mut rng);
                entry.insert(Cohort {
                    test_numbers,
                    ..Cohort::default()
                })
            }
        };
        if let Some(id) = cohort.test_numbers.get(cohort.next_test) {
            cohort.next_test += 1;
            self.from_test_list += 1;
            return Ok(*id);
        }
        let first_day = date(year, 1, 1);
        let slots = u64::try_from(first_day.days_in_year()).unwrap_or(365) * BLOCK;
        let excluded = self.test.as_ref().map(|list| &list.all[..]).unwrap_or(&[]);
        loop {
            let n = cohort.next_slot;
            cohort.next_slot += 1;
            let tier = n / slots;
            if tier >= TIERS {
                return Err(Failure::Usage(format!(
                    "no synthetic numbers left for persons born in {year}; use fewer --pupils"
                )));
            }
            let permutation_key = self
                .key
                .subkey((u64::from(year.unsigned_abs()) << 8) | tier);
            let slot = permute(n % slots, slots, permutation_key);
            let birth = add_days(first_day, (slot / BLOCK) as i64);
            let serial = (tier_block_start(tier) + slot % BLOCK) as u16;
            let built = if tier.is_multiple_of(2) {
                PersonId::personnummer(birth, serial)
            } else {
                PersonId::samordningsnummer(birth, serial)
            };
            let Ok(id) = built else { continue };
            if as_integer(&id).is_some_and(|v| excluded.binary_search(&v).is_ok()) {
                continue;
            }
            *self.generated.entry(tier).or_default() += 1;
            return Ok(id);
        }
    }

    /// Where the identities came from, for the manifest.
    pub fn report(&self) -> IdentityReport {
        IdentityReport {
            test_list: self.test.as_ref().map(|list| TestListReport {
                file: list.name.clone(),
                numbers: list.accepted,
                skipped_lines: list.skipped_lines,
                used: self.from_test_list,
            }),
            generated: self
                .generated
                .iter()
                .map(|(&tier, &count)| {
                    let start = tier_block_start(tier);
                    GeneratedRange {
                        kind: if tier.is_multiple_of(2) {
                            PersonIdKind::Personnummer
                        } else {
                            PersonIdKind::Samordningsnummer
                        },
                        birth_numbers: format!("{start:03}-{:03}", start + BLOCK - 1),
                        count,
                    }
                })
                .collect(),
        }
    }
}

/// The first birth number of a tier's block: 980 for tiers 0 and 1, 960 for
/// 2 and 3, and so on.
fn tier_block_start(tier: u64) -> u64 {
    980 - BLOCK * (tier / 2)
}

/// A keyed bijection on `0..domain`: a bijection on the enclosing power of
/// two, applied again while the result falls outside the domain (cycle
/// walking, which stays a bijection on the domain).
fn permute(index: u64, domain: u64, key: u64) -> u64 {
    if domain <= 1 {
        return 0;
    }
    let bits = 64 - (domain - 1).leading_zeros();
    let mask = u64::MAX >> (64 - bits);
    let shift = bits / 2 + 1;
    let mut x = index & mask;
    loop {
        for round in 0..4u64 {
            let k = super::random::splitmix64(key ^ round);
            // Each step is a bijection on `bits`-bit numbers: xor with a
            // constant, multiplication by an odd number, xor-shift right.
            x ^= k & mask;
            x = x.wrapping_mul(k | 1) & mask;
            x ^= x >> shift;
        }
        if x < domain {
            return x;
        }
    }
}

/// Where the manifest says the identities came from.
#[derive(Debug, Serialize)]
pub struct IdentityReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_list: Option<TestListReport>,
    /// Generated numbers by kind and birth-number block, in the order used.
    pub generated: Vec<GeneratedRange>,
}

#[derive(Debug, Serialize)]
pub struct TestListReport {
    /// The file as named on the command line.
    pub file: String,
    /// Usable numbers in it.
    pub numbers: u64,
    pub skipped_lines: u64,
    /// Numbers given to pupils and guardians.
    pub used: u64,
}

#[derive(Debug, Serialize)]
pub struct GeneratedRange {
    pub kind: PersonIdKind,
    pub birth_numbers: String,
    pub count: u64,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::io::Write as _;

    use super::*;

    #[test]
    fn permute_is_a_bijection_on_its_domain() {
        for domain in [1, 2, 7, 7300, 7320] {
            let seen: BTreeSet<u64> = (0..domain).map(|i| permute(i, domain, 42)).collect();
            assert_eq!(seen.len() as u64, domain);
            assert!(seen.iter().all(|&v| v < domain));
        }
    }

    #[test]
    fn generated_numbers_are_unique_and_move_through_the_tiers() {
        let mut ids = Identities::new(SeedKey::new(3), None);
        let mut seen = BTreeSet::new();
        // More than one year's 980–999 personnummer block (365 × 20).
        for _ in 0..16_000 {
            let id = ids.born_in(2015).expect("id");
            assert_eq!(id.birth_date().map(|d| d.year()), Some(2015));
            assert!(seen.insert(id));
        }
        let report = ids.report();
        let ranges: Vec<_> = report
            .generated
            .iter()
            .map(|r| (r.kind, r.birth_numbers.as_str(), r.count))
            .collect();
        assert_eq!(
            ranges,
            vec![
                (PersonIdKind::Personnummer, "980-999", 7300),
                (PersonIdKind::Samordningsnummer, "980-999", 7300),
                (PersonIdKind::Personnummer, "960-979", 1400),
            ]
        );
    }

    #[test]
    fn the_test_list_is_used_first_and_never_generated_again() {
        let mut generator = Identities::new(SeedKey::new(5), None);
        let taken: Vec<PersonId> = (0..30)
            .map(|_| generator.born_in(2012).expect("id"))
            .collect();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("test-ids.txt");
        let mut file = File::create(&path).expect("create");
        for id in &taken[..20] {
            writeln!(file, "{}", id.as_str()).expect("write");
        }
        writeln!(file, "not a number").expect("write");
        writeln!(file).expect("write");
        drop(file);

        let list = TestList::read(&path).expect("read");
        assert_eq!(list.skipped_lines(), 1);
        let mut ids = Identities::new(SeedKey::new(5), Some(list));
        let from_list: BTreeSet<_> = (0..20).map(|_| ids.born_in(2012).expect("id")).collect();
        assert_eq!(from_list, taken[..20].iter().copied().collect());
        let generated: Vec<_> = (0..100).map(|_| ids.born_in(2012).expect("id")).collect();
        assert!(generated.iter().all(|id| !from_list.contains(id)));
        assert_eq!(ids.report().test_list.map(|r| r.used), Some(20));
    }
}
