//! The fixed structure of the synthetic municipality, derived from the
//! number of pupils alone: the municipality as school owner and EMI care
//! provider, its school units and classes, the region and its child-health
//! centres, the care units and the staff who write the notes.
//!
//! Nothing here is stored per pupil. Units and classes are numbered, and a
//! pupil's unit and class are numbers into them, so the organisation records
//! can be written before the first pupil and memory stays flat at any size.
//! All codes are fake: kommunkod 9999, skolenhetskoder 9999xxxx,
//! organisation numbers 999999xxxx and HSA-ids under them.

use brygga_mapping::id::HsaId;
use brygga_mapping::model::{
    CareOrganisation, Organisation, OrganisationKind, Practitioner, Profession, Record,
};
use jiff::civil::Date;

use super::calendar::school_year_start;
use super::names;
use super::output::SourceExport;
use rand::RngExt;

use super::random::{Purpose, SeedKey, pick};
use crate::exit::Failure;

/// Source system of the school register.
pub const REGISTER_SYSTEM: &str = "ss12000:syntetisk";
/// Source system of the region's child-health record.
pub const CHILD_HEALTH_SYSTEM: &str = "bhv:region-syntetisk";
/// Source system of the school-health journal before the switch.
pub const PMO_SYSTEM: &str = "pmo:syntetisk";
/// Source system of the school-health journal from the switch on.
pub const PRORENATA_SYSTEM: &str = "prorenata:syntetisk";

/// The municipality's (fake) kommunkod.
pub const MUNICIPALITY_CODE: &str = "9999";
/// A neighbouring (fake) municipality some upper-secondary pupils live in.
pub const NEIGHBOUR_CODE: &str = "9998";
pub const MUNICIPALITY_NAME: &str = "Syntetiska kommunen";
const MUNICIPALITY_ORG_NO: &str = "9999990001";
const REGION_ORG_NO: &str = "9999990002";
const REGION_NAME: &str = "Region Syntetisk";

/// The day the school-health journal moved from PMO to ProRenata.
pub const SWITCH_DATE: Date = Date::constant(2021, 8, 1);

/// Pupils per class the planner aims at.
const CLASS_SIZE: u32 = 25;

/// The three school forms a pupil passes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Förskoleklass and years 1–6.
    Primary = 0,
    /// Years 7–9.
    Secondary = 1,
    /// Upper secondary, years 1–3 (school years 10–12).
    UpperSecondary = 2,
}

impl Stage {
    pub fn of(school_year: u8) -> Stage {
        match school_year {
            0..=6 => Stage::Primary,
            7..=9 => Stage::Secondary,
            _ => Stage::UpperSecondary,
        }
    }

    fn years(self) -> std::ops::RangeInclusive<u8> {
        match self {
            Stage::Primary => 0..=6,
            Stage::Secondary => 7..=9,
            Stage::UpperSecondary => 10..=12,
        }
    }

    /// Pupils per school year a unit of this stage takes.
    fn pupils_per_unit_year(self) -> u32 {
        match self {
            Stage::Primary => 56,
            Stage::Secondary => 100,
            Stage::UpperSecondary => 150,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct StagePlan {
    first_unit: u32,
    units: u32,
    classes_per_year: u32,
}

/// Staff roles, part of a staff member's number.
#[derive(Debug, Clone, Copy)]
enum Role {
    SchoolNurse = 1,
    SchoolDoctor = 2,
    Psychologist = 3,
    Counsellor = 4,
    ChildHealthNurse = 5,
    ChildHealthDoctor = 6,
}

/// The municipality, its schools and the region around it.
#[derive(Debug)]
pub struct World {
    pub key: SeedKey,
    pub as_of: Date,
    /// Calendar year in which the current school year began.
    pub current_school_year: i16,
    /// The pupil index whose family is always protected, so that every run
    /// of 20 pupils or more has a protected identity.
    pub forced_protected_pupil: Option<u32>,
    stages: [StagePlan; 3],
    child_health_centres: u32,
    pub municipality: CareOrganisation,
    pub region: CareOrganisation,
    pub psychology_unit: CareOrganisation,
    emi_units: Vec<CareOrganisation>,
    centres: Vec<CareOrganisation>,
}

impl World {
    pub fn new(seed: u64, pupils: u32, as_of: Date) -> World {
        let per_year = pupils.div_ceil(13).max(1);
        let mut first_unit = 0;
        let stages = [Stage::Primary, Stage::Secondary, Stage::UpperSecondary].map(|stage| {
            let units = per_year.div_ceil(stage.pupils_per_unit_year()).max(1);
            let classes_per_year = (per_year / units).div_ceil(CLASS_SIZE).clamp(1, 26);
            let plan = StagePlan {
                first_unit,
                units,
                classes_per_year,
            };
            first_unit += units;
            plan
        });
        let units = first_unit;
        let child_health_centres = pupils
            .div_ceil(1500)
            .clamp(2, names::CHILD_HEALTH_CENTRES.len() as u32 * 4);
        let mut world = World {
            key: SeedKey::new(seed),
            as_of,
            current_school_year: school_year_start(as_of),
            forced_protected_pupil: (pupils >= 20).then_some((seed % 20) as u32),
            stages,
            child_health_centres,
            municipality: care_organisation(
                &format!("SE{MUNICIPALITY_ORG_NO}-E000000000000"),
                MUNICIPALITY_NAME,
            ),
            region: care_organisation(&format!("SE{REGION_ORG_NO}-E000000000000"), REGION_NAME),
            psychology_unit: care_organisation(
                &format!("SE{MUNICIPALITY_ORG_NO}-E900000000001"),
                "Elevhälsans psykologiska insats",
            ),
            emi_units: Vec::new(),
            centres: Vec::new(),
        };
        world.emi_units = (0..units)
            .map(|unit| {
                care_organisation(
                    &format!("SE{MUNICIPALITY_ORG_NO}-E{:012}", unit + 1),
                    &format!("Elevhälsan {}", world.school_unit_name(unit)),
                )
            })
            .collect();
        world.centres = (0..child_health_centres)
            .map(|centre| {
                care_organisation(
                    &format!("SE{REGION_ORG_NO}-E{:012}", centre + 1),
                    &numbered(names::CHILD_HEALTH_CENTRES, centre),
                )
            })
            .collect();
        world
    }

    /// Number of school units of `stage`.
    pub fn units(&self, stage: Stage) -> u32 {
        self.stages[stage as usize].units
    }

    /// The global number of the `local`-th unit of `stage`.
    pub fn unit(&self, stage: Stage, local: u32) -> u32 {
        let plan = self.stages[stage as usize];
        plan.first_unit + local % plan.units
    }

    /// Classes per school year in each unit of `stage`.
    pub fn classes_per_year(&self, stage: Stage) -> u32 {
        self.stages[stage as usize].classes_per_year
    }

    pub fn child_health_centres(&self) -> u32 {
        self.child_health_centres
    }

    /// Skolenhetskod: 8 digits, fake by its 9999 prefix.
    pub fn school_unit_code(&self, unit: u32) -> String {
        format!("9999{:04}", unit + 1)
    }

    /// The `id` other records use for a school unit.
    pub fn school_unit_id(&self, unit: u32) -> String {
        format!("skolenhet:{}", self.school_unit_code(unit))
    }

    fn school_unit_name(&self, unit: u32) -> String {
        let upper = self.stages[Stage::UpperSecondary as usize].first_unit;
        if unit >= upper {
            numbered(names::UPPER_SECONDARY_SCHOOLS, unit - upper)
        } else {
            numbered(names::SCHOOLS, unit)
        }
    }

    /// A class's name: `FA` or `4B` in compulsory school, `NA24B` (programme,
    /// year of starting, parallel) in upper secondary.
    pub fn class_label(&self, school_year: u8, class: u32) -> String {
        let letter = char::from(b'A' + (class % 26) as u8);
        match school_year {
            0 => format!("F{letter}"),
            1..=9 => format!("{school_year}{letter}"),
            _ => {
                let programmes = names::PROGRAMMES.len() as u32;
                let programme = names::PROGRAMMES[(class % programmes) as usize];
                let started = self.current_school_year - i16::from(school_year - 10);
                let parallel = char::from(b'A' + (class / programmes % 26) as u8);
                format!("{programme}{:02}{parallel}", started.rem_euclid(100))
            }
        }
    }

    /// The `id` of a class this school year.
    pub fn group_id(&self, unit: u32, school_year: u8, class: u32) -> String {
        format!(
            "group:{}-{}",
            self.school_unit_code(unit),
            self.class_label(school_year, class)
        )
    }

    /// The EMI care unit serving a school unit.
    pub fn emi_unit(&self, unit: u32) -> &CareOrganisation {
        &self.emi_units[unit as usize % self.emi_units.len().max(1)]
    }

    /// A child-health centre (BVC).
    pub fn centre(&self, centre: u32) -> &CareOrganisation {
        &self.centres[centre as usize % self.centres.len().max(1)]
    }

    /// The school owner, the school units and this year's classes.
    pub fn write_register_organisations(&self, out: &mut SourceExport) -> Result<(), Failure> {
        let owner_id = format!("huvudman:{MUNICIPALITY_ORG_NO}");
        out.emit(&Record::Organisation(Organisation {
            id: owner_id.clone(),
            kind: OrganisationKind::SchoolOwner,
            name: MUNICIPALITY_NAME.to_owned(),
            hsa_id: None,
            school_unit_code: None,
            organisation_number: Some(MUNICIPALITY_ORG_NO.to_owned()),
            municipality_code: Some(MUNICIPALITY_CODE.to_owned()),
            parent: None,
            school_year: None,
        }))?;
        for stage in [Stage::Primary, Stage::Secondary, Stage::UpperSecondary] {
            for local in 0..self.units(stage) {
                let unit = self.unit(stage, local);
                let unit_id = self.school_unit_id(unit);
                out.emit(&Record::Organisation(Organisation {
                    id: unit_id.clone(),
                    kind: OrganisationKind::SchoolUnit,
                    name: self.school_unit_name(unit),
                    hsa_id: None,
                    school_unit_code: Some(self.school_unit_code(unit)),
                    organisation_number: None,
                    municipality_code: Some(MUNICIPALITY_CODE.to_owned()),
                    parent: Some(owner_id.clone()),
                    school_year: None,
                }))?;
                for school_year in stage.years() {
                    for class in 0..self.classes_per_year(stage) {
                        out.emit(&Record::Organisation(Organisation {
                            id: self.group_id(unit, school_year, class),
                            kind: OrganisationKind::Group,
                            name: self.class_label(school_year, class),
                            hsa_id: None,
                            school_unit_code: None,
                            organisation_number: None,
                            municipality_code: None,
                            parent: Some(unit_id.clone()),
                            school_year: Some(school_year),
                        }))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The municipality as EMI care provider, one care unit per school unit
    /// and the psychologists' unit: the same in PMO and ProRenata.
    pub fn write_school_health_organisations(&self, out: &mut SourceExport) -> Result<(), Failure> {
        let provider = care_record(
            &self.municipality,
            OrganisationKind::CareProvider,
            Some(MUNICIPALITY_ORG_NO),
            Some(MUNICIPALITY_CODE),
            None,
        );
        out.emit(&provider)?;
        let parent = Some(format!("hsa:{}", self.municipality.hsa_id));
        for unit in self.emi_units.iter().chain([&self.psychology_unit]) {
            out.emit(&care_record(
                unit,
                OrganisationKind::CareUnit,
                None,
                Some(MUNICIPALITY_CODE),
                parent.clone(),
            ))?;
        }
        Ok(())
    }

    /// The region as care provider and its child-health centres.
    pub fn write_child_health_organisations(&self, out: &mut SourceExport) -> Result<(), Failure> {
        out.emit(&care_record(
            &self.region,
            OrganisationKind::CareProvider,
            Some(REGION_ORG_NO),
            None,
            None,
        ))?;
        let parent = Some(format!("hsa:{}", self.region.hsa_id));
        for centre in &self.centres {
            out.emit(&care_record(
                centre,
                OrganisationKind::CareUnit,
                None,
                None,
                parent.clone(),
            ))?;
        }
        Ok(())
    }

    /// The school nurse of a school unit in a school year. Nurses change
    /// every few years, at different times in different schools.
    pub fn school_nurse(&self, unit: u32, school_year_start: i16) -> Practitioner {
        let era = (i64::from(school_year_start) + i64::from(unit % 5)) / 5;
        self.staff(Role::SchoolNurse, unit, era, Profession::Nurse)
    }

    /// The school doctor, shared by a few school units.
    pub fn school_doctor(&self, unit: u32, school_year_start: i16) -> Practitioner {
        let era = i64::from(school_year_start) / 7;
        self.staff(Role::SchoolDoctor, unit / 6, era, Profession::Physician)
    }

    pub fn psychologist(&self, unit: u32, school_year_start: i16) -> Practitioner {
        let era = i64::from(school_year_start) / 6;
        self.staff(Role::Psychologist, unit / 4, era, Profession::Psychologist)
    }

    /// A counsellor (kurator): school staff, not in the HSA catalogue.
    pub fn counsellor(&self, unit: u32, school_year_start: i16) -> Practitioner {
        let era = i64::from(school_year_start) / 6;
        Practitioner {
            hsa_id: None,
            ..self.staff(Role::Counsellor, unit / 2, era, Profession::Counsellor)
        }
    }

    /// One of a child-health centre's nurses.
    pub fn child_health_nurse(&self, centre: u32, nurse: u32, year: i16) -> Practitioner {
        let era = i64::from(year) / 6;
        self.staff(
            Role::ChildHealthNurse,
            centre * 4 + nurse % 4,
            era,
            Profession::Nurse,
        )
    }

    pub fn child_health_doctor(&self, centre: u32, year: i16) -> Practitioner {
        let era = i64::from(year) / 8;
        self.staff(Role::ChildHealthDoctor, centre, era, Profession::Physician)
    }

    /// A staff member: name and HSA-id follow from (role, number, era), so
    /// the same person appears wherever they worked.
    fn staff(&self, role: Role, number: u32, era: i64, profession: Profession) -> Practitioner {
        let era = era.rem_euclid(10_000) as u64;
        let staff_number =
            (role as u64) * 1_000_000_000 + u64::from(number % 100_000) * 10_000 + era;
        let mut rng = self.key.stream(Purpose::World, staff_number);
        // Most school and child-health nurses are women.
        let given = if rng.random_ratio(4, 5) {
            pick(&mut rng, names::FEMALE_GIVEN)
        } else {
            pick(&mut rng, names::MALE_GIVEN)
        };
        let family = pick(&mut rng, names::FAMILY);
        let organisation = match role {
            Role::ChildHealthNurse | Role::ChildHealthDoctor => REGION_ORG_NO,
            _ => MUNICIPALITY_ORG_NO,
        };
        Practitioner {
            hsa_id: HsaId::parse(&format!("SE{organisation}-P{staff_number:010}")).ok(),
            name: Some(format!("{given} {family}")),
            profession: Some(profession),
        }
    }
}

/// `list[n]`, with a number after it once the list is used up.
fn numbered(list: &[&str], n: u32) -> String {
    let len = list.len() as u32;
    let name = list[(n % len) as usize];
    if n < len {
        name.to_owned()
    } else {
        format!("{name} {}", n / len + 1)
    }
}

fn care_organisation(hsa_id: &str, name: &str) -> CareOrganisation {
    CareOrganisation {
        hsa_id: HsaId::parse(hsa_id).expect("the synthetic HSA-ids are well formed"),
        name: Some(name.to_owned()),
    }
}

fn care_record(
    org: &CareOrganisation,
    kind: OrganisationKind,
    organisation_number: Option<&str>,
    municipality_code: Option<&str>,
    parent: Option<String>,
) -> Record {
    Record::Organisation(Organisation {
        id: format!("hsa:{}", org.hsa_id),
        kind,
        name: org.name.clone().unwrap_or_default(),
        hsa_id: Some(org.hsa_id),
        school_unit_code: None,
        organisation_number: organisation_number.map(str::to_owned),
        municipality_code: municipality_code.map(str::to_owned),
        parent,
        school_year: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_scales_with_the_number_of_pupils() {
        let small = World::new(1, 1000, Date::constant(2026, 6, 12));
        assert_eq!(small.units(Stage::Primary), 2);
        assert_eq!(small.units(Stage::Secondary), 1);
        let large = World::new(1, 300_000, Date::constant(2026, 6, 12));
        assert!(large.units(Stage::Primary) > 300);
        assert!(large.classes_per_year(Stage::Primary) <= 26);
    }

    #[test]
    fn class_labels_follow_swedish_usage() {
        let world = World::new(1, 1000, Date::constant(2026, 6, 12));
        assert_eq!(world.class_label(0, 1), "FB");
        assert_eq!(world.class_label(4, 0), "4A");
        assert_eq!(world.class_label(10, 0), "NA25A");
        assert_eq!(world.class_label(12, 1), "SA23A");
    }

    #[test]
    fn staff_are_stable_and_have_hsa_ids() {
        let world = World::new(1, 1000, Date::constant(2026, 6, 12));
        let a = world.school_nurse(1, 2024);
        assert_eq!(a, world.school_nurse(1, 2024));
        assert!(a.hsa_id.is_some());
        assert!(world.counsellor(1, 2024).hsa_id.is_none());
    }
}
