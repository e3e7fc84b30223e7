//! Families: the pupils and their guardians, with names, identities, homes
//! and protected identity. Pupils are made a family at a time so that
//! siblings share guardians and a home; a family's choices come from the
//! stream of its first pupil's index, each pupil's own from its own stream.

use brygga_mapping::id::{Identifier, PersonId, Sex};
use brygga_mapping::model::{
    Address, AddressKind, Guardian, GuardianRelation, Person, Record, SecurityMarking, Telecom,
    TelecomKind,
};
use jiff::civil::Date;
use rand::RngExt;

use super::ids::Identities;
use super::names;
use super::random::{Purpose, Rng, chance, pick};
use super::world::{MUNICIPALITY_CODE, NEIGHBOUR_CODE, Stage, World};
use crate::exit::Failure;

/// Share of families with a protected identity (≈0.5% of pupils).
const PROTECTED_SHARE: f64 = 0.005;
/// Share of pupils born outside the region, who have no child-health record
/// there.
const MOVED_IN_SHARE: f64 = 0.04;

/// A registered home.
#[derive(Debug, Clone, Copy)]
pub struct Home {
    street: &'static str,
    number: u16,
    postal_code: u32,
    pub municipality_code: &'static str,
}

impl Home {
    fn new(rng: &mut Rng, municipality_code: &'static str) -> Home {
        Home {
            street: pick(rng, names::STREETS),
            number: rng.random_range(1..=140),
            postal_code: 99_900 + rng.random_range(1..=99),
            municipality_code,
        }
    }

    fn address(&self) -> Address {
        Address {
            kind: AddressKind::Registered,
            lines: vec![format!("{} {}", self.street, self.number)],
            postal_code: Some(self.postal_code.to_string()),
            city: Some(names::TOWN.to_owned()),
            country: Some("SE".to_owned()),
        }
    }
}

/// A guardian (vårdnadshavare).
#[derive(Debug)]
pub struct Adult {
    pub id: PersonId,
    given_name: &'static str,
    family_name: &'static str,
    home: Home,
    phone: u8,
}

/// A pupil, with what the generators need to know about them.
#[derive(Debug)]
pub struct Pupil {
    /// Position in the run, 0-based; also the pupil's stream number.
    pub index: u32,
    pub id: PersonId,
    pub given_name: &'static str,
    pub family_name: &'static str,
    pub birth: Date,
    pub sex: Sex,
    /// School year as of the world's today: 0 = förskoleklass … 12.
    pub school_year: u8,
    /// The unit and class the pupil is in now.
    pub unit: u32,
    pub class: u32,
    /// The unit of each stage the pupil went through, by [`Stage`].
    pub stage_units: [u32; 3],
    /// Born outside the region: no child-health record here.
    pub moved_in: bool,
    pub marking: SecurityMarking,
    mobile: Option<u8>,
}

impl Pupil {
    /// The calendar year in which the pupil was in `school_year`'s autumn.
    pub fn school_year_start(&self, world: &World, school_year: u8) -> i16 {
        world.current_school_year - i16::from(self.school_year) + i16::from(school_year)
    }

    pub fn identifier(&self) -> Identifier {
        Identifier::Person(self.id)
    }
}

/// Guardians and their children, made together.
#[derive(Debug)]
pub struct Family {
    pub guardians: Vec<Adult>,
    pub children: Vec<Pupil>,
    pub marking: SecurityMarking,
    home: Home,
}

impl Family {
    /// The family whose first child is pupil `first`, with at most
    /// `remaining` children.
    pub fn generate(
        world: &World,
        ids: &mut Identities,
        first: u32,
        remaining: u32,
    ) -> Result<Family, Failure> {
        let mut rng = world.key.stream(Purpose::Family, u64::from(first));
        let wanted: u32 = match rng.random_range(0..10) {
            0..=5 => 1,
            6..=8 => 2,
            _ => 3,
        };
        let years = school_years(&mut rng, wanted.min(remaining).max(1));
        let count = years.len() as u32;
        let forced = world
            .forced_protected_pupil
            .is_some_and(|pupil| (first..first + count).contains(&pupil));
        let marking = if forced || chance(&mut rng, PROTECTED_SHARE) {
            if rng.random_ratio(7, 10) {
                SecurityMarking::Sekretessmarkering
            } else {
                SecurityMarking::SkyddadFolkbokforing
            }
        } else {
            SecurityMarking::None
        };
        let eldest_alone_in_upper_secondary = count == 1 && years[0] >= 10;
        let municipality_code = if eldest_alone_in_upper_secondary && chance(&mut rng, 0.1) {
            NEIGHBOUR_CODE
        } else {
            MUNICIPALITY_CODE
        };
        let home = Home::new(&mut rng, municipality_code);
        let neighbourhood: u32 = rng.random();

        // Guardians are at least 20 years older than the eldest child.
        let birth_year = |school_year: u8| world.current_school_year - 6 - i16::from(school_year);
        let youngest = birth_year(years[years.len() - 1]);
        let eldest = birth_year(years[0]);
        let first_parent_year =
            (youngest - rng.random_range(24..=40)).min(eldest - 20 - rng.random_range(0..4));
        let guardian_count = if rng.random_ratio(4, 5) { 2 } else { 1 };
        let separated = guardian_count == 2 && rng.random_ratio(1, 4);
        let first_family_name = pick(&mut rng, names::FAMILY);
        let mut guardians = Vec::with_capacity(guardian_count);
        for g in 0..guardian_count {
            let year = if g == 0 {
                first_parent_year
            } else {
                (first_parent_year + rng.random_range(-4..=6)).min(eldest - 20)
            };
            let id = ids.born_in(year)?;
            let family_name = if g == 0 || rng.random_ratio(2, 3) {
                first_family_name
            } else {
                pick(&mut rng, names::FAMILY)
            };
            guardians.push(Adult {
                id,
                given_name: given_name(&mut rng, id.sex()),
                family_name,
                home: if g == 1 && separated {
                    Home::new(&mut rng, MUNICIPALITY_CODE)
                } else {
                    home
                },
                phone: rng.random_range(5..=99),
            });
        }

        let mut children = Vec::with_capacity(years.len());
        for (i, &school_year) in years.iter().enumerate() {
            let index = first + i as u32;
            let id = ids.born_in(birth_year(school_year))?;
            let mut own = world.key.stream(Purpose::Pupil, u64::from(index));
            let stage = Stage::of(school_year);
            let upper_secondary = world.unit(Stage::UpperSecondary, own.random());
            let stage_units = [
                world.unit(Stage::Primary, neighbourhood),
                world.unit(Stage::Secondary, neighbourhood / 7),
                upper_secondary,
            ];
            let sex = id.sex().unwrap_or(Sex::Female);
            children.push(Pupil {
                index,
                id,
                given_name: given_name(&mut own, Some(sex)),
                family_name: first_family_name,
                birth: id.birth_date().unwrap_or(Date::MIN),
                sex,
                school_year,
                unit: stage_units[stage as usize],
                class: own.random_range(0..world.classes_per_year(stage)),
                stage_units,
                moved_in: chance(&mut own, MOVED_IN_SHARE),
                marking,
                mobile: (school_year >= 4 && own.random_ratio(3, 4))
                    .then(|| own.random_range(5..=99)),
            });
        }
        Ok(Family {
            guardians,
            children,
            marking,
            home,
        })
    }

    /// The guardians' person records, as the register holds them.
    pub fn guardian_records(&self) -> impl Iterator<Item = Record> + '_ {
        self.guardians.iter().map(|adult| {
            let mut email = String::with_capacity(32);
            names::ascii_fold(adult.given_name, &mut email);
            email.push('.');
            names::ascii_fold(adult.family_name, &mut email);
            email.push_str("@example.com");
            Record::Person(Person {
                identifiers: vec![Identifier::Person(adult.id)],
                given_name: adult.given_name.to_owned(),
                family_name: adult.family_name.to_owned(),
                birth_date: adult.id.birth_date(),
                sex: adult.id.sex(),
                security_marking: self.marking,
                guardians: Vec::new(),
                addresses: vec![adult.home.address()],
                telecom: vec![
                    Telecom {
                        kind: TelecomKind::Mobile,
                        value: fictional_phone(adult.phone),
                    },
                    Telecom {
                        kind: TelecomKind::Email,
                        value: email,
                    },
                ],
                municipality_code: Some(adult.home.municipality_code.to_owned()),
            })
        })
    }

    fn guardian_links(&self) -> Vec<Guardian> {
        self.guardians
            .iter()
            .map(|adult| Guardian {
                person: adult.id,
                relation: GuardianRelation::Guardian,
            })
            .collect()
    }

    /// A pupil's person record as the school register holds it, with
    /// address and phone — also for a protected pupil: this is the register,
    /// and what must not leave it is proven downstream.
    pub fn register_person(&self, pupil: &Pupil) -> Record {
        Record::Person(Person {
            addresses: vec![self.home.address()],
            telecom: pupil
                .mobile
                .map(|n| Telecom {
                    kind: TelecomKind::Mobile,
                    value: fictional_phone(n),
                })
                .into_iter()
                .collect(),
            ..self.patient_person(pupil)
        })
    }

    /// A pupil's person record as a health record holds it: identity, name,
    /// protection, guardians and municipality, no address.
    pub fn patient_person(&self, pupil: &Pupil) -> Person {
        Person {
            identifiers: vec![pupil.identifier()],
            given_name: pupil.given_name.to_owned(),
            family_name: pupil.family_name.to_owned(),
            birth_date: Some(pupil.birth),
            sex: Some(pupil.sex),
            security_marking: pupil.marking,
            guardians: self.guardian_links(),
            addresses: Vec::new(),
            telecom: Vec::new(),
            municipality_code: Some(self.home.municipality_code.to_owned()),
        }
    }
}

/// Distinct school years for `count` siblings, eldest first, at most five
/// years apart from the first.
fn school_years(rng: &mut Rng, count: u32) -> Vec<u8> {
    let first: u8 = rng.random_range(0..=12);
    let mut years = vec![first];
    for _ in 1..count {
        for _ in 0..8 {
            let candidate = i16::from(first) + rng.random_range(-5..=5);
            if let Ok(year) = u8::try_from(candidate)
                && year <= 12
                && !years.contains(&year)
            {
                years.push(year);
                break;
            }
        }
    }
    years.sort_unstable_by(|a, b| b.cmp(a));
    years
}

fn given_name(rng: &mut Rng, sex: Option<Sex>) -> &'static str {
    match sex {
        Some(Sex::Male) => pick(rng, names::MALE_GIVEN),
        _ => pick(rng, names::FEMALE_GIVEN),
    }
}

/// A mobile number from the series the Swedish Post and Telecom Authority
/// (PTS) keeps for fiction: 070-174 06 05 to 070-174 06 99.
fn fictional_phone(n: u8) -> String {
    format!("070-17406{:02}", n.clamp(5, 99))
}
