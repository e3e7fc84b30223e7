//! A pupil's entries in the school register, as an SS 12000 server would
//! give them: the person, placements (now and the stage before), grades from
//! year 6 on with the odd change, correction and prövning, absence this
//! school year, and attendance for the last school day's lessons.

use brygga_mapping::model::{
    Absence, AbsenceKind, Attendance, Grade, GradeCorrection, Placement, Record, Semester,
    SourceRef,
};
use jiff::civil::Date;
use rand::RngExt;

use super::calendar::{SchoolYear, add_days, local, school_day};
use super::family::{Family, Pupil};
use super::manifest::Tally;
use super::output::SourceExport;
use super::random::{Purpose, Rng, chance, count, normal, pick, uuid};
use super::world::{REGISTER_SYSTEM, Stage, World};
use crate::exit::Failure;

/// Subjects graded in compulsory school (Skolverket's subject codes).
const COMPULSORY_SUBJECTS: &[&str] = &[
    "BL", "EN", "HKK", "IDH", "MA", "MU", "SV", "SL", "TK", "BI", "FY", "KE", "GE", "HI", "RE",
    "SH",
];

/// (subject code, course code) of an upper-secondary course.
type Course = (&'static str, &'static str);

/// Upper-secondary courses finished per school year and term.
const COURSES: &[(u8, Semester, &[Course])] = &[
    (
        10,
        Semester::VT,
        &[
            ("ENG", "ENGENG05"),
            ("MAT", "MATMAT01c"),
            ("SVE", "SVESVE01"),
            ("IDR", "IDRIDR01"),
            ("HIS", "HISHIS01a1"),
            ("SAM", "SAMSAM01b"),
        ],
    ),
    (
        11,
        Semester::HT,
        &[("REL", "RELREL01"), ("NAK", "NAKNAK01b")],
    ),
    (
        11,
        Semester::VT,
        &[
            ("ENG", "ENGENG06"),
            ("MAT", "MATMAT02c"),
            ("SVE", "SVESVE02"),
        ],
    ),
    (
        12,
        Semester::HT,
        &[("SVE", "SVESVE03"), ("MAT", "MATMAT03c")],
    ),
    (12, Semester::VT, &[("GYA", "GYARKE"), ("FIL", "FILFIO01")]),
];

/// Writes the pupil's register records.
pub fn write_pupil(
    world: &World,
    family: &Family,
    pupil: &Pupil,
    out: &mut SourceExport,
    tally: &mut Tally,
) -> Result<(), Failure> {
    let mut rng = world.key.stream(Purpose::Register, u64::from(pupil.index));
    out.emit(&family.register_person(pupil))?;
    for placement in placements(world, pupil) {
        out.emit(&Record::Placement(placement))?;
    }
    let mut grades = Grades {
        world,
        pupil,
        rng: &mut rng,
        ability: 0.0,
        tally,
        out,
    };
    grades.write()?;
    write_absence_and_attendance(world, pupil, &mut rng, out)
}

fn source(rng: &mut Rng) -> SourceRef {
    SourceRef {
        system: REGISTER_SYSTEM.to_owned(),
        record_id: uuid(rng),
        version: 1,
    }
}

/// The current placement, and the one in the stage before when the pupil
/// has moved on from it.
fn placements(world: &World, pupil: &Pupil) -> Vec<Placement> {
    let stage = Stage::of(pupil.school_year);
    let first_year_of = |stage: Stage| match stage {
        Stage::Primary => 0,
        Stage::Secondary => 7,
        Stage::UpperSecondary => 10,
    };
    let started = |year: u8| {
        SchoolYear {
            start_year: pupil.school_year_start(world, year),
        }
        .autumn_start()
    };
    let mut placements = Vec::with_capacity(2);
    let previous = match stage {
        Stage::Primary => None,
        Stage::Secondary => Some((Stage::Primary, 6)),
        Stage::UpperSecondary => Some((Stage::Secondary, 9)),
    };
    if let Some((before, last_year)) = previous {
        let unit = pupil.stage_units[before as usize];
        placements.push(Placement {
            pupil: pupil.identifier(),
            school_unit: world.school_unit_id(unit),
            group: None,
            school_year: Some(last_year),
            start: started(first_year_of(before)),
            end: Some(
                SchoolYear {
                    start_year: pupil.school_year_start(world, last_year),
                }
                .spring_end(),
            ),
        });
    }
    placements.push(Placement {
        pupil: pupil.identifier(),
        school_unit: world.school_unit_id(pupil.unit),
        group: Some(world.group_id(pupil.unit, pupil.school_year, pupil.class)),
        school_year: Some(pupil.school_year),
        start: started(first_year_of(stage)),
        end: None,
    });
    placements
}

/// Where and when a grade was set.
#[derive(Debug, Clone, Copy)]
struct Slot<'s> {
    unit: u32,
    subject: &'s str,
    course: Option<&'s str>,
    /// Slutbetyg (year 9, spring) — and the grades a prövning may follow.
    final_grade: bool,
    semester: Semester,
    registered: Date,
}

/// Grade writer for one pupil: a general ability plus per-subject strengths
/// keep a pupil's grades consistent from term to term.
struct Grades<'a> {
    world: &'a World,
    pupil: &'a Pupil,
    rng: &'a mut Rng,
    ability: f64,
    tally: &'a mut Tally,
    out: &'a mut SourceExport,
}

impl Grades<'_> {
    fn write(&mut self) -> Result<(), Failure> {
        if self.pupil.school_year < 6 {
            return Ok(());
        }
        self.ability = normal(self.rng);
        let strengths: Vec<f64> = COMPULSORY_SUBJECTS
            .iter()
            .map(|_| 0.5 * normal(self.rng))
            .collect();
        for year in 6..=self.pupil.school_year.min(9) {
            for semester in [Semester::HT, Semester::VT] {
                let Some(registered) = self.registered(year, semester) else {
                    continue;
                };
                let unit = self.pupil.stage_units[Stage::of(year) as usize];
                for (subject, strength) in COMPULSORY_SUBJECTS.iter().zip(&strengths) {
                    let value = self.value(*strength);
                    let slot = Slot {
                        unit,
                        subject,
                        course: None,
                        final_grade: year == 9 && semester == Semester::VT,
                        semester,
                        registered,
                    };
                    self.grade(slot, value)?;
                }
            }
        }
        for &(year, semester, courses) in COURSES {
            if year > self.pupil.school_year {
                continue;
            }
            let Some(registered) = self.registered(year, semester) else {
                continue;
            };
            let unit = self.pupil.stage_units[Stage::UpperSecondary as usize];
            for (subject, course) in courses {
                let strength = 0.5 * normal(self.rng);
                let value = self.value(strength);
                let slot = Slot {
                    unit,
                    subject,
                    course: Some(course),
                    final_grade: false,
                    semester,
                    registered,
                };
                self.grade(slot, value)?;
            }
        }
        Ok(())
    }

    /// When the term's grades were registered, if that is not after today.
    fn registered(&mut self, year: u8, semester: Semester) -> Option<Date> {
        let school_year = SchoolYear {
            start_year: self.pupil.school_year_start(self.world, year),
        };
        let end = match semester {
            Semester::HT => school_year.autumn_end(),
            Semester::VT => school_year.spring_end(),
        };
        let day = add_days(end, -self.rng.random_range(0..4));
        (day <= self.world.as_of).then_some(day)
    }

    /// A grade A–F, now and then `-` (no basis for grading).
    fn value(&mut self, strength: f64) -> &'static str {
        if chance(self.rng, 0.004) {
            return "-";
        }
        let score = 0.9 * self.ability + strength + 0.4 * normal(self.rng);
        match score {
            s if s < -1.6 => "F",
            s if s < -0.9 => "E",
            s if s < -0.3 => "D",
            s if s < 0.3 => "C",
            s if s < 0.9 => "B",
            _ => "A",
        }
    }

    /// Writes a grade, and sometimes a later change, correction or — after
    /// a failed final or course grade — a prövning.
    fn grade(&mut self, slot: Slot<'_>, value: &str) -> Result<(), Failure> {
        let grade = Grade {
            source: source(self.rng),
            pupil: self.pupil.identifier(),
            school_unit: Some(self.world.school_unit_id(slot.unit)),
            subject_code: slot.subject.to_owned(),
            course_code: slot.course.map(str::to_owned),
            grade_value: value.to_owned(),
            final_grade: slot.final_grade,
            trial: false,
            correction: None,
            semester: slot.semester,
            year: slot.registered.year(),
            registered_date: slot.registered,
        };
        let later = add_days(slot.registered, self.rng.random_range(14..=60));
        let may_be_tried = slot.final_grade || slot.course.is_some();
        let follow_up = if later > self.world.as_of {
            None
        } else if value == "F" && may_be_tried && chance(self.rng, 0.3) {
            self.tally.grade_trials += 1;
            Some(Grade {
                source: source(self.rng),
                grade_value: pick(self.rng, &["E", "E", "D"]).to_owned(),
                trial: true,
                semester: if later.month() >= 7 {
                    Semester::HT
                } else {
                    Semester::VT
                },
                year: later.year(),
                registered_date: later,
                ..grade.clone()
            })
        } else if chance(self.rng, 0.001) {
            let correction = if self.rng.random_bool(0.5) {
                self.tally.grade_changes += 1;
                GradeCorrection::Change
            } else {
                self.tally.grade_corrections += 1;
                GradeCorrection::Correction
            };
            Some(Grade {
                source: source(self.rng),
                grade_value: neighbour_grade(value).to_owned(),
                correction: Some(correction),
                registered_date: later,
                ..grade.clone()
            })
        } else {
            None
        };
        self.out.emit(&Record::Grade(grade))?;
        if let Some(follow_up) = follow_up {
            self.out.emit(&Record::Grade(follow_up))?;
        }
        Ok(())
    }
}

/// The grade one step up (or down from A): what a change usually is.
fn neighbour_grade(value: &str) -> &'static str {
    match value {
        "F" => "E",
        "E" => "D",
        "D" => "C",
        "C" => "B",
        "B" => "A",
        "A" => "B",
        _ => "E",
    }
}

/// Reported absence and granted leave this school year, and attendance for
/// two lessons of the last school day up to today.
fn write_absence_and_attendance(
    world: &World,
    pupil: &Pupil,
    rng: &mut Rng,
    out: &mut SourceExport,
) -> Result<(), Failure> {
    let year = SchoolYear {
        start_year: world.current_school_year,
    };
    let from = year.autumn_start();
    let to = world.as_of.min(year.spring_end());
    if to < from {
        return Ok(());
    }
    let school_unit = Some(world.school_unit_id(pupil.unit));
    for _ in 0..count(rng, 4.0) {
        let day = school_day(rng, from, to);
        if day > to {
            continue;
        }
        let end_hour = if rng.random_ratio(4, 5) { 15 } else { 12 };
        out.emit(&Record::Absence(Absence {
            source: source(rng),
            pupil: pupil.identifier(),
            school_unit: school_unit.clone(),
            kind: AbsenceKind::ReportedAbsence,
            start: local(day.at(8, 0, 0, 0)),
            end: local(day.at(end_hour, 0, 0, 0)),
        }))?;
    }
    if chance(rng, 0.15) {
        let first = school_day(rng, from, to);
        let last = add_days(first, rng.random_range(1..=4));
        if last <= to {
            out.emit(&Record::Absence(Absence {
                source: source(rng),
                pupil: pupil.identifier(),
                school_unit: school_unit.clone(),
                kind: AbsenceKind::GrantedLeave,
                start: local(first.at(8, 0, 0, 0)),
                end: local(last.at(16, 0, 0, 0)),
            }))?;
        }
    }
    if !(1..=9).contains(&pupil.school_year) {
        return Ok(());
    }
    let mut day = to;
    while matches!(
        day.weekday(),
        jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday
    ) {
        day = add_days(day, -1);
    }
    let code = world.school_unit_code(pupil.unit);
    let class = world.class_label(pupil.school_year, pupil.class);
    for lesson in 1..=2 {
        let (attended, valid, invalid) = match rng.random_range(0..20) {
            0 => (0, 60, 0),
            1 => (45, 0, 15),
            _ => (60, 0, 0),
        };
        out.emit(&Record::Attendance(Attendance {
            source: source(rng),
            pupil: pupil.identifier(),
            calendar_event: format!("lektion:{code}-{class}-{day}-{lesson}"),
            date: day,
            attendance_minutes: attended,
            valid_absence_minutes: valid,
            invalid_absence_minutes: invalid,
        }))?;
    }
    Ok(())
}
