//! A pupil's school-health journal: the EMI basprogram up to the pupil's
//! current school year, open visits, phone contacts, referrals, vaccinations,
//! and some psychologist and counsellor notes — written to PMO before the
//! municipality's switch date and to ProRenata from it.
//!
//! This is also where the cases a migration must survive are planted:
//! date-only notes (older PMO notes), late signatures, amendments (and the
//! odd amendment of an amendment), nullified notes, notes in both
//! occurrences of the repeated October hour and on the March night that
//! skips an hour, notes with identical times, and notes copied from PMO to
//! ProRenata at the switch. Each is counted in the manifest.

use brygga_mapping::id::Sex;
use brygga_mapping::model::{
    CareOrganisation, Contact, ContactKind, EntryStatus, Immunization, JournalEntry,
    KeywordSection, Measurement, MeasurementKind, MeasurementValue, NoteContent, NoteType,
    NoteTypeCode, Practitioner, Record, SecrecyDomain, SourceRef, VaccinationProgramme, Vaccine,
};
use brygga_mapping::time::ClinicalTime;
use jiff::civil::Date;
use rand::RngExt;

use super::calendar::{
    SchoolYear, add_days, date, days_between, last_sunday, local, next_weekday, plus_minutes,
    school_day, working_time,
};
use super::clinical::{self, finding, lot, quantity};
use super::family::{Family, Pupil};
use super::growth::{GrowthCurve, bmi, round};
use super::manifest::Tally;
use super::output::SourceExport;
use super::random::{Purpose, Rng, chance, count, pick, uuid};
use super::text::{self, Sections, acuity, child_word, decimal};
use super::world::{PMO_SYSTEM, PRORENATA_SYSTEM, SWITCH_DATE, Stage, World};
use crate::exit::Failure;

/// PMO notes before this day often carry a date only: the older version
/// recorded no time of day.
const DATE_ONLY_BEFORE: Date = Date::constant(2017, 1, 1);
const DATE_ONLY_SHARE: f64 = 0.6;
const LATE_SIGNATURE_SHARE: f64 = 0.05;
const AMENDMENT_SHARE: f64 = 0.03;
const SECOND_AMENDMENT_SHARE: f64 = 0.15;
const NULLIFIED_SHARE: f64 = 0.01;
/// Pupils given a pair of notes in the repeated October hour, and pupils
/// given a note at 02:xx on the March night that skips it.
const OCTOBER_SHARE: f64 = 0.03;
const MARCH_SHARE: f64 = 0.03;
/// Pupils whose latest PMO note was copied into ProRenata at the switch.
const COPY_SHARE: f64 = 0.06;
/// Pupils who block their journal from other care providers.
const BLOCK_SHARE: f64 = 0.02;

/// The journal system in use on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum System {
    Pmo = 0,
    ProRenata = 1,
}

impl System {
    fn on(day: Date) -> System {
        if day < SWITCH_DATE {
            System::Pmo
        } else {
            System::ProRenata
        }
    }

    fn source_system(self) -> &'static str {
        match self {
            System::Pmo => PMO_SYSTEM,
            System::ProRenata => PRORENATA_SYSTEM,
        }
    }

    /// The keyword for what the patient tells and for what is planned: the
    /// two systems' templates name them differently.
    fn history_keyword(self) -> &'static str {
        match self {
            System::Pmo => "Aktuellt",
            System::ProRenata => "Anamnes",
        }
    }

    fn plan_keyword(self) -> &'static str {
        match self {
            System::Pmo => "Åtgärd",
            System::ProRenata => "Planering",
        }
    }
}

/// The municipality's journal templates, named differently in each system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Template {
    HealthVisit(u8),
    HealthTalk(u8),
    Visit,
    Phone,
    Referral,
    ReferralResponse,
    Vaccination,
    Psychologist,
    Counsellor,
    General,
}

impl Template {
    fn code(self) -> NoteTypeCode {
        match self {
            Template::HealthVisit(_) => NoteTypeCode::HealthVisit,
            Template::HealthTalk(_) => NoteTypeCode::HealthTalk,
            Template::Visit => NoteTypeCode::Visit,
            Template::Phone => NoteTypeCode::PhoneContact,
            Template::Referral => NoteTypeCode::Referral,
            Template::ReferralResponse => NoteTypeCode::ReferralResponse,
            Template::Vaccination => NoteTypeCode::Vaccination,
            Template::Psychologist => NoteTypeCode::PsychologicalAssessment,
            Template::Counsellor => NoteTypeCode::CounsellorNote,
            Template::General => NoteTypeCode::GeneralNote,
        }
    }

    fn name(self, system: System) -> &'static str {
        let pmo = system == System::Pmo;
        match self {
            Template::HealthVisit(0) if pmo => "Hälsobesök F-klass",
            Template::HealthVisit(0) => "Hälsobesök förskoleklass",
            Template::HealthVisit(4) if pmo => "Hälsobesök åk 4",
            Template::HealthVisit(4) => "Hälsobesök årskurs 4",
            Template::HealthVisit(8) if pmo => "Hälsobesök åk 8",
            Template::HealthVisit(8) => "Hälsobesök årskurs 8",
            Template::HealthVisit(_) if pmo => "Hälsobesök gy 1",
            Template::HealthVisit(_) => "Hälsobesök gymnasiet år 1",
            Template::HealthTalk(2) if pmo => "Hälsosamtal åk 2",
            Template::HealthTalk(2) => "Kort hälsosamtal årskurs 2",
            Template::HealthTalk(_) if pmo => "Hälsosamtal åk 6",
            Template::HealthTalk(_) => "Kort hälsosamtal årskurs 6",
            Template::Visit if pmo => "Mottagningsbesök",
            Template::Visit => "Besök skolsköterska",
            Template::Phone if pmo => "Telefonkontakt",
            Template::Phone => "Telefonsamtal",
            Template::Referral => "Remiss",
            Template::ReferralResponse => "Remissvar",
            Template::Vaccination if pmo => "Vaccination",
            Template::Vaccination => "Vaccinationsanteckning",
            Template::Psychologist if pmo => "Psykologanteckning",
            Template::Psychologist => "Psykolog - samtal",
            Template::Counsellor if pmo => "Kuratorsanteckning",
            Template::Counsellor => "Kurator - samtal",
            Template::General if pmo => "Journalanteckning",
            Template::General => "Anteckning",
        }
    }
}

/// When something happened, and in which system it was written down.
#[derive(Debug, Clone, Copy)]
struct When {
    day: Date,
    time: ClinicalTime,
    system: System,
}

/// A note's four times.
#[derive(Debug, Clone, Copy)]
struct NoteTimes {
    event: ClinicalTime,
    record: ClinicalTime,
    author: ClinicalTime,
    signing: Option<ClinicalTime>,
}

/// Who wrote a note, where, and on which side of the secrecy boundary.
#[derive(Debug, Clone)]
struct Writer {
    author: Practitioner,
    care_unit: Option<CareOrganisation>,
    domain: SecrecyDomain,
}

/// A note about to be written.
#[derive(Debug)]
struct Draft {
    when: When,
    template: Template,
    sections: Sections,
    writer: Writer,
    contact: Option<String>,
}

/// The records of one patient in one system, in the order they are written.
#[derive(Debug, Default)]
struct PatientRecords {
    contacts: Vec<Record>,
    entries: Vec<Record>,
    measurements: Vec<Record>,
    immunizations: Vec<Record>,
}

impl PatientRecords {
    fn is_empty(&self) -> bool {
        self.contacts.is_empty()
            && self.entries.is_empty()
            && self.measurements.is_empty()
            && self.immunizations.is_empty()
    }
}

/// Writes the pupil's school-health journal to PMO and ProRenata.
pub fn write_pupil(
    world: &World,
    family: &Family,
    pupil: &Pupil,
    pmo: &mut SourceExport,
    prorenata: &mut SourceExport,
    tally: &mut Tally,
) -> Result<(), Failure> {
    let mut rng = world
        .key
        .stream(Purpose::SchoolHealth, u64::from(pupil.index));
    let blocked_from = chance(&mut rng, BLOCK_SHARE).then(|| {
        let year = rng.random_range(0..=pupil.school_year);
        SchoolYear {
            start_year: pupil.school_year_start(world, year),
        }
        .autumn_start()
    });
    let mut journal = Journal {
        world,
        pupil,
        curve: GrowthCurve::for_pupil(world, pupil),
        rng,
        records: [PatientRecords::default(), PatientRecords::default()],
        seq: 0,
        blocked_from,
        tally,
    };
    journal.build();
    let [pmo_records, prorenata_records] = journal.records;
    for (records, out) in [(pmo_records, pmo), (prorenata_records, prorenata)] {
        if records.is_empty() {
            continue;
        }
        out.emit(&Record::Person(family.patient_person(pupil)))?;
        for group in [
            &records.contacts,
            &records.entries,
            &records.measurements,
            &records.immunizations,
        ] {
            out.emit_all(group)?;
        }
    }
    Ok(())
}

/// One pupil's journal while it is being made.
struct Journal<'a> {
    world: &'a World,
    pupil: &'a Pupil,
    rng: Rng,
    curve: GrowthCurve,
    records: [PatientRecords; 2],
    seq: u32,
    blocked_from: Option<Date>,
    tally: &'a mut Tally,
}

impl Journal<'_> {
    fn build(&mut self) {
        for year in 0..=self.pupil.school_year {
            self.school_year(year);
        }
        if chance(&mut self.rng, OCTOBER_SHARE) {
            self.october_night();
        }
        if chance(&mut self.rng, MARCH_SHARE) {
            self.march_night();
        }
        if chance(&mut self.rng, COPY_SHARE) {
            self.copy_latest_pmo_note();
        }
    }

    /// Everything that happened in one school year of the pupil's.
    fn school_year(&mut self, year: u8) {
        let terms = SchoolYear {
            start_year: self.pupil.school_year_start(self.world, year),
        };
        let unit = self.pupil.stage_units[Stage::of(year) as usize];
        let autumn = (add_days(terms.autumn_start(), 10), terms.autumn_end());
        let spring = (terms.spring_start(), add_days(terms.spring_end(), -10));
        let whole = (autumn.0, spring.1);
        match year {
            0 => self.health_visit(year, unit, terms, whole, Checks::VISION_AND_HEARING),
            1 => self.vaccinate(unit, terms, spring, SchoolVaccine::Mmr),
            2 | 6 => self.health_talk(year, unit, terms, whole),
            4 => self.health_visit(year, unit, terms, whole, Checks::VISION),
            5 => {
                let day = school_day(&mut self.rng, autumn.0, add_days(autumn.0, 50));
                let girl = self.pupil.sex == Sex::Female;
                // HPV was offered to boys from the autumn of 2020.
                if (girl || day >= date(2020, 8, 1)) && !chance(&mut self.rng, 0.08) {
                    self.vaccinate(unit, terms, (day, day), SchoolVaccine::Hpv(1));
                    let second = next_weekday(add_days(day, self.rng.random_range(180..=200)));
                    self.vaccinate(unit, terms, (second, second), SchoolVaccine::Hpv(2));
                }
            }
            8 => {
                self.health_visit(year, unit, terms, whole, Checks::SCOLIOSIS);
                self.vaccinate(unit, terms, spring, SchoolVaccine::DtpBooster);
            }
            10 => self.health_visit(year, unit, terms, whole, Checks::NONE),
            _ => {}
        }
        for _ in 0..count(&mut self.rng, 0.3 + 0.05 * f64::from(year)) {
            self.open_visit(unit, terms, whole);
        }
        for _ in 0..count(&mut self.rng, 0.25) {
            self.phone_call(unit, terms, whole);
        }
        if year >= 2 && chance(&mut self.rng, 0.012) {
            self.psychologist_series(unit, terms, whole);
        }
        if year >= 4 && chance(&mut self.rng, 0.03) {
            self.counsellor_series(unit, terms, whole);
        }
    }

    /// The day's time and system, or `None` when the day is after today.
    fn when(&mut self, day: Date) -> Option<When> {
        if day > self.world.as_of {
            return None;
        }
        let system = System::on(day);
        let date_only = system == System::Pmo
            && day < DATE_ONLY_BEFORE
            && chance(&mut self.rng, DATE_ONLY_SHARE);
        let time = if date_only {
            ClinicalTime::from_date(day)
        } else {
            local(working_time(&mut self.rng, day, 8, 15))
        };
        Some(When { day, time, system })
    }

    fn nurse(&self, unit: u32, terms: SchoolYear) -> Writer {
        Writer {
            author: self.world.school_nurse(unit, terms.start_year),
            care_unit: Some(self.world.emi_unit(unit).clone()),
            domain: SecrecyDomain::EmiMedical,
        }
    }

    fn next_source(&mut self, system: System) -> SourceRef {
        self.seq += 1;
        let record_id = match system {
            // PMO numbers its records; ProRenata uses UUIDs.
            System::Pmo => format!("{:07}{:04}", self.pupil.index, self.seq),
            System::ProRenata => uuid(&mut self.rng),
        };
        SourceRef {
            system: system.source_system().to_owned(),
            record_id,
            version: 1,
        }
    }

    fn contact(&mut self, when: When, kind: ContactKind, writer: &Writer) -> String {
        let source = self.next_source(when.system);
        let id = source.record_id.clone();
        let end = when.time.instant().map(|_| plus_minutes(when.time, 30));
        self.records[when.system as usize]
            .contacts
            .push(Record::Contact(Contact {
                source,
                patient: self.pupil.identifier(),
                kind,
                start: when.time,
                end,
                performer: Some(writer.author.clone()),
                care_unit: writer.care_unit.clone(),
                secrecy_domain: writer.domain,
            }));
        id
    }

    fn measure(
        &mut self,
        when: When,
        kind: MeasurementKind,
        value: MeasurementValue,
        writer: &Writer,
        contact: &str,
    ) {
        let source = self.next_source(when.system);
        self.records[when.system as usize]
            .measurements
            .push(Record::Measurement(Measurement {
                source,
                patient: self.pupil.identifier(),
                kind,
                time: when.time,
                value,
                performer: Some(writer.author.clone()),
                care_unit: writer.care_unit.clone(),
                contact: Some(contact.to_owned()),
                secrecy_domain: writer.domain,
                original_code: Some(
                    clinical::measurement_name(kind, when.system == System::ProRenata).to_owned(),
                ),
            }));
    }

    /// Record, author and signing times for a note: created during the
    /// visit, written shortly after, signed at once or — now and then —
    /// days later, or not yet.
    fn note_times(&mut self, when: When) -> NoteTimes {
        let late = chance(&mut self.rng, LATE_SIGNATURE_SHARE);
        let late_day = next_weekday(add_days(when.day, self.rng.random_range(2..=12)));
        // PMO was closed at the switch: nothing was signed in it after that.
        let late = late && (when.system == System::ProRenata || late_day < SWITCH_DATE);
        let (record, author, signing) = match when.time {
            ClinicalTime::Date(day) => {
                let signing = ClinicalTime::from_date(if late { late_day } else { day });
                (when.time, when.time, signing)
            }
            ClinicalTime::DateTime(_) => {
                let record = plus_minutes(when.time, self.rng.random_range(5..=30));
                let author = plus_minutes(record, self.rng.random_range(1..=20));
                let signing = if late {
                    local(working_time(&mut self.rng, late_day, 8, 16))
                } else {
                    plus_minutes(author, self.rng.random_range(0..=15))
                };
                (record, author, signing)
            }
        };
        let signed = signing.local_date() <= self.world.as_of;
        if late && signed {
            self.tally.late_signatures += 1;
        }
        NoteTimes {
            event: when.time,
            record,
            author,
            signing: signed.then_some(signing),
        }
    }

    /// Writes a note with fresh times, sometimes nullified or amended.
    fn note(&mut self, draft: Draft) -> NoteTimes {
        let times = self.note_times(draft.when);
        self.note_at(draft, times, true);
        times
    }

    /// Writes a note with the given times; `variations` allows the random
    /// nullification and amendments.
    fn note_at(&mut self, draft: Draft, times: NoteTimes, variations: bool) {
        let system = draft.when.system;
        let source = self.next_source(system);
        let blocked = self.blocked_from.is_some_and(|from| draft.when.day >= from);
        let nullified = variations && chance(&mut self.rng, NULLIFIED_SHARE);
        let entry = JournalEntry {
            source,
            patient: self.pupil.identifier(),
            event_time: times.event,
            author_time: Some(times.author),
            signing_time: times.signing,
            record_time: Some(times.record),
            author: Some(draft.writer.author.clone()),
            signer: times.signing.map(|_| draft.writer.author.clone()),
            care_provider: draft
                .writer
                .care_unit
                .as_ref()
                .map(|_| self.world.municipality.clone()),
            care_unit: draft.writer.care_unit.clone(),
            contact: draft.contact,
            note_type: NoteType {
                code: draft.template.code(),
                original: Some(draft.template.name(system).to_owned()),
            },
            title: None,
            content: draft.sections.into_content(),
            status: if nullified {
                EntryStatus::Nullified {
                    reason: pick(
                        &mut self.rng,
                        &[
                            "Skriven i fel journal",
                            "Felaktig uppgift, ersatt av ny anteckning",
                        ],
                    )
                    .to_owned(),
                }
            } else {
                EntryStatus::Current
            },
            secrecy_domain: draft.writer.domain,
            approved_for_patient: false,
            patient_block: blocked,
            withheld: Vec::new(),
        };
        self.count_note(&entry);
        let amend = variations && !nullified && chance(&mut self.rng, AMENDMENT_SHARE);
        let original = amend.then(|| entry.clone());
        self.records[system as usize]
            .entries
            .push(Record::JournalEntry(entry));
        if let Some(original) = original {
            self.amend(original, draft.when);
        }
    }

    fn count_note(&mut self, entry: &JournalEntry) {
        if entry.event_time.instant().is_none() {
            self.tally.date_only_notes += 1;
        }
        if entry.signing_time.is_none() {
            self.tally.unsigned_notes += 1;
        }
        if matches!(entry.status, EntryStatus::Nullified { .. }) {
            self.tally.nullified_notes += 1;
        }
        if entry.patient_block {
            self.tally.patient_blocked_notes += 1;
        }
    }

    /// Writes version 2 of a note (and sometimes version 3), each
    /// superseding the one before; every version stays in the journal.
    fn amend(&mut self, mut previous: JournalEntry, when: When) {
        let mut day = when.day;
        for version in 2..=3u32 {
            if version == 3 && !chance(&mut self.rng, SECOND_AMENDMENT_SHARE) {
                return;
            }
            day = next_weekday(add_days(day, self.rng.random_range(1..=10)));
            if day > self.world.as_of || (when.system == System::Pmo && day >= SWITCH_DATE) {
                return;
            }
            let (author, signing) = match when.time {
                ClinicalTime::Date(_) => {
                    (ClinicalTime::from_date(day), ClinicalTime::from_date(day))
                }
                ClinicalTime::DateTime(_) => {
                    let author = local(working_time(&mut self.rng, day, 8, 16));
                    (author, plus_minutes(author, self.rng.random_range(0..=10)))
                }
            };
            let mut content = previous.content.clone();
            if let NoteContent::Keywords { sections } = &mut content {
                sections.push(KeywordSection {
                    keyword: "Tillägg".to_owned(),
                    text: pick(
                        &mut self.rng,
                        &[
                            "Kompletterande uppgift från vårdnadshavare.",
                            "Rättelse: fel datum för uppföljning i föregående version.",
                            "Förtydligande efter samråd med skolläkare.",
                        ],
                    )
                    .to_owned(),
                });
            }
            let next = JournalEntry {
                source: SourceRef {
                    version,
                    ..previous.source.clone()
                },
                author_time: Some(author),
                signing_time: Some(signing),
                signer: previous.author.clone(),
                content,
                status: EntryStatus::Amended {
                    supersedes: previous.source.clone(),
                },
                ..previous.clone()
            };
            self.tally.amendments += 1;
            if version == 3 {
                self.tally.amendments_of_amendments += 1;
            }
            self.count_note(&next);
            self.records[when.system as usize]
                .entries
                .push(Record::JournalEntry(next.clone()));
            previous = next;
        }
    }

    /// A health visit of the basprogram, with growth and the year's
    /// screenings; an abnormal screening is referred in a note with the very
    /// same times as the visit note.
    fn health_visit(
        &mut self,
        year: u8,
        unit: u32,
        terms: SchoolYear,
        (from, to): (Date, Date),
        checks: Checks,
    ) {
        let day = school_day(&mut self.rng, from, to);
        let Some(when) = self.when(day) else {
            return;
        };
        let writer = self.nurse(unit, terms);
        let contact = self.contact(when, ContactKind::HealthVisit, &writer);
        let system = when.system;
        let mut sections = Sections::new();
        let history = if chance(&mut self.rng, 0.12) {
            pick(&mut self.rng, text::CONDITIONS)
        } else {
            pick(&mut self.rng, text::HEALTHY_HISTORY)
        };
        sections.add(system.history_keyword(), history);
        sections.add("Tillväxt", self.growth(when, &writer, &contact));
        let mut referral = None;
        if checks.vision {
            let abnormal = chance(&mut self.rng, 0.06);
            let (right, left) = if abnormal {
                (0.5, pick(&mut self.rng, &[0.4, 0.65, 0.8]))
            } else {
                (1.0, pick(&mut self.rng, &[0.8, 1.0, 1.0]))
            };
            self.measure(
                when,
                MeasurementKind::VisionRight,
                quantity(right, "1"),
                &writer,
                &contact,
            );
            self.measure(
                when,
                MeasurementKind::VisionLeft,
                quantity(left, "1"),
                &writer,
                &contact,
            );
            sections.add(
                "Syn",
                format!("Visus hö {} vä {}.", acuity(right), acuity(left)),
            );
            if abnormal {
                referral = Some((
                    "Remiss till ögonmottagningen för bedömning av nedsatt synskärpa.",
                    "Undersökt på ögonmottagningen: myopi, glasögon utprovade.",
                ));
            }
        }
        if checks.hearing {
            let abnormal = chance(&mut self.rng, 0.03);
            for kind in [MeasurementKind::HearingRight, MeasurementKind::HearingLeft] {
                self.measure(when, kind, finding(abnormal), &writer, &contact);
            }
            sections.add(
                "Hörsel",
                if abnormal {
                    "Nedsatt vid 4000 Hz bilateralt. Ny kontroll om en månad."
                } else {
                    "Hörselscreening ua."
                },
            );
        }
        if checks.scoliosis {
            let abnormal = chance(&mut self.rng, 0.03);
            self.measure(
                when,
                MeasurementKind::Scoliosis,
                finding(abnormal),
                &writer,
                &contact,
            );
            sections.add(
                "Rygg",
                if abnormal {
                    "Asymmetri vid framåtböjningstest."
                } else {
                    "Rak rygg vid framåtböjningstest."
                },
            );
            if abnormal && referral.is_none() {
                referral = Some((
                    "Remiss till ortopedmottagningen, misstänkt skolios.",
                    "Bedömd på ortopedmottagningen: lätt skolios, kontroll om ett år.",
                ));
            }
        }
        sections.add(
            "Bedömning",
            format!("Frisk {} med normal tillväxt.", child_word(self.pupil.sex)),
        );
        sections.add(
            system.plan_keyword(),
            if referral.is_some() {
                "Remiss skrivs. Vårdnadshavare informeras."
            } else {
                pick(&mut self.rng, text::PLANS)
            },
        );
        let times = self.note(Draft {
            when,
            template: Template::HealthVisit(year),
            sections,
            writer: writer.clone(),
            contact: Some(contact.clone()),
        });
        if let Some((sent, answer)) = referral {
            let mut body = Sections::new();
            body.add("Remiss", sent);
            // Written in the same moment as the visit note: same times.
            self.note_at(
                Draft {
                    when,
                    template: Template::Referral,
                    sections: body,
                    writer: writer.clone(),
                    contact: Some(contact),
                },
                times,
                false,
            );
            self.tally.identical_time_pairs += 1;
            let answered = next_weekday(add_days(day, self.rng.random_range(40..=70)));
            if let Some(later) = self.when(answered) {
                let mut body = Sections::new();
                body.add("Remissvar", answer);
                self.note(Draft {
                    when: later,
                    template: Template::ReferralResponse,
                    sections: body,
                    writer,
                    contact: None,
                });
            }
        }
    }

    /// Height, weight and BMI, measured and written as the note's text.
    fn growth(&mut self, when: When, writer: &Writer, contact: &str) -> String {
        let age = days_between(self.pupil.birth, when.day);
        let height = self.curve.height_cm(&mut self.rng, age);
        // School scales show a tenth of a kilogram.
        let weight = round(self.curve.weight_kg(&mut self.rng, age), 1);
        let bmi = bmi(height, weight);
        self.measure(
            when,
            MeasurementKind::Height,
            quantity(height, "cm"),
            writer,
            contact,
        );
        self.measure(
            when,
            MeasurementKind::Weight,
            quantity(weight, "kg"),
            writer,
            contact,
        );
        self.measure(
            when,
            MeasurementKind::Bmi,
            quantity(bmi, "kg/m2"),
            writer,
            contact,
        );
        format!(
            "Längd {} cm, vikt {} kg, BMI {}. Följer sin kurva.",
            decimal(height, 1),
            decimal(weight, 1),
            decimal(bmi, 1)
        )
    }

    /// The short health talk of years 2 and 6.
    fn health_talk(&mut self, year: u8, unit: u32, terms: SchoolYear, (from, to): (Date, Date)) {
        let day = school_day(&mut self.rng, from, to);
        let Some(when) = self.when(day) else {
            return;
        };
        let writer = self.nurse(unit, terms);
        let contact = self.contact(when, ContactKind::HealthVisit, &writer);
        let mut sections = Sections::new();
        sections.add(
            "Hälsosamtal",
            "Samtal om sömn, kost, fysisk aktivitet och trivsel utifrån hälsoenkäten.",
        );
        sections.add("Tillväxt", self.growth(when, &writer, &contact));
        sections.add(when.system.plan_keyword(), pick(&mut self.rng, text::PLANS));
        self.note(Draft {
            when,
            template: Template::HealthTalk(year),
            sections,
            writer,
            contact: Some(contact),
        });
    }

    fn vaccinate(
        &mut self,
        unit: u32,
        terms: SchoolYear,
        (from, to): (Date, Date),
        vaccine: SchoolVaccine,
    ) {
        let day = school_day(&mut self.rng, from, to);
        let Some(when) = self.when(day) else {
            return;
        };
        let writer = self.nurse(unit, terms);
        let contact = self.contact(when, ContactKind::Visit, &writer);
        let (vaccine, dose) = vaccine.vaccine(day);
        let product = vaccine.product.clone().unwrap_or_default();
        let batch = lot(&mut self.rng);
        let mut sections = Sections::new();
        sections.add(
            "Vaccination",
            format!(
                "{product} dos {dose} given i vänster överarm, batch {batch}. Observerad 15 minuter utan reaktion."
            ),
        );
        let source = self.next_source(when.system);
        self.records[when.system as usize]
            .immunizations
            .push(Record::Immunization(Immunization {
                source,
                patient: self.pupil.identifier(),
                time: when.time,
                vaccine,
                dose_number: Some(dose),
                lot: Some(batch),
                given_by: Some(writer.author.clone()),
                care_unit: writer.care_unit.clone(),
                secrecy_domain: writer.domain,
                status: EntryStatus::Current,
            }));
        self.note(Draft {
            when,
            template: Template::Vaccination,
            sections,
            writer,
            contact: Some(contact),
        });
    }

    /// A mottagningsbesök, now and then leading to a referral.
    fn open_visit(&mut self, unit: u32, terms: SchoolYear, (from, to): (Date, Date)) {
        let day = school_day(&mut self.rng, from, to);
        let Some(when) = self.when(day) else {
            return;
        };
        let mut writer = self.nurse(unit, terms);
        if chance(&mut self.rng, 0.1) {
            writer.author = self.world.school_doctor(unit, terms.start_year);
        }
        let contact = self.contact(when, ContactKind::Visit, &writer);
        let [reason, status, assessment, action] = pick(&mut self.rng, text::VISITS);
        let mut sections = Sections::new();
        sections
            .add("Kontaktorsak", reason)
            .add("Status", status)
            .add("Bedömning", assessment)
            .add(when.system.plan_keyword(), action);
        self.note(Draft {
            when,
            template: Template::Visit,
            sections,
            writer: writer.clone(),
            contact: Some(contact),
        });
        if chance(&mut self.rng, 0.05) {
            let mut body = Sections::new();
            body.add("Remiss", pick(&mut self.rng, text::REFERRALS));
            self.note(Draft {
                when,
                template: Template::Referral,
                sections: body,
                writer,
                contact: None,
            });
        }
    }

    fn phone_call(&mut self, unit: u32, terms: SchoolYear, (from, to): (Date, Date)) {
        let day = school_day(&mut self.rng, from, to);
        let Some(when) = self.when(day) else {
            return;
        };
        let writer = self.nurse(unit, terms);
        let contact = self.contact(when, ContactKind::Phone, &writer);
        let mut sections = Sections::new();
        sections.add("Kontakt", pick(&mut self.rng, text::PHONE_CALLS));
        self.note(Draft {
            when,
            template: Template::Phone,
            sections,
            writer,
            contact: Some(contact),
        });
    }

    /// Weekly sessions with the school psychologist (their own secrecy
    /// domain and care unit).
    fn psychologist_series(&mut self, unit: u32, terms: SchoolYear, range: (Date, Date)) {
        let writer = Writer {
            author: self.world.psychologist(unit, terms.start_year),
            care_unit: Some(self.world.psychology_unit.clone()),
            domain: SecrecyDomain::Psychological,
        };
        let [background, work, plan] = pick(&mut self.rng, text::PSYCHOLOGIST);
        self.series(
            writer,
            Template::Psychologist,
            range,
            2..=5,
            |first, system| {
                let mut sections = Sections::new();
                if first {
                    sections.add("Bakgrund", background);
                }
                sections
                    .add("Genomfört", work)
                    .add(system.plan_keyword(), plan);
                sections
            },
        );
    }

    /// Weekly talks with the counsellor: school side, no care unit.
    fn counsellor_series(&mut self, unit: u32, terms: SchoolYear, range: (Date, Date)) {
        let writer = Writer {
            author: self.world.counsellor(unit, terms.start_year),
            care_unit: None,
            domain: SecrecyDomain::Counsellor,
        };
        let [topic, talk, plan] = pick(&mut self.rng, text::COUNSELLOR);
        self.series(writer, Template::Counsellor, range, 2..=6, |_, system| {
            let mut sections = Sections::new();
            sections
                .add("Aktuellt", topic)
                .add("Samtal", talk)
                .add(system.plan_keyword(), plan);
            sections
        });
    }

    fn series(
        &mut self,
        writer: Writer,
        template: Template,
        (from, to): (Date, Date),
        sessions: std::ops::RangeInclusive<i64>,
        body: impl Fn(bool, System) -> Sections,
    ) {
        let start = school_day(&mut self.rng, from, to);
        for session in 0..self.rng.random_range(sessions) {
            let day = next_weekday(add_days(start, 7 * session));
            let Some(when) = self.when(day) else {
                return;
            };
            let contact = self.contact(when, ContactKind::Visit, &writer);
            self.note(Draft {
                when,
                template,
                sections: body(session == 0, when.system),
                writer: writer.clone(),
                contact: Some(contact),
            });
        }
    }

    /// Two notes in the hour the clock repeats on the last Sunday of
    /// October: the first at 02:mm summer time (+02:00), the second at an
    /// *earlier* 02:mm winter time (+01:00) that happened *later*.
    fn october_night(&mut self) {
        let year = self.rng.random_range(0..=self.pupil.school_year);
        let terms = SchoolYear {
            start_year: self.pupil.school_year_start(self.world, year),
        };
        let day = last_sunday(terms.start_year, 10);
        if day > self.world.as_of {
            return;
        }
        let unit = self.pupil.stage_units[Stage::of(year) as usize];
        let writer = self.nurse(unit, terms);
        let first_minute = self.rng.random_range(30..=50);
        let second_minute = self.rng.random_range(5..=25);
        let first = local(day.at(2, first_minute, 0, 0));
        // The wall clock reads 02:mm twice; the canonical rule takes the
        // first, so the second is the same reading an hour later.
        let second = plus_minutes(local(day.at(2, second_minute, 0, 0)), 60);
        let texts = [
            "Sammanfattning av kvällens kontakter med vårdnadshavare, införd i efterhand.",
            "Kompletterande anteckning om planerad uppföljning.",
        ];
        for (time, text) in [(first, texts[0]), (second, texts[1])] {
            self.night_note(day, time, &writer, text);
        }
        self.tally.october_repeated_hour_first += 1;
        self.tally.october_repeated_hour_second += 1;
    }

    /// A note written at a local 02:mm on the last Sunday of March, a time
    /// the clock skips; the canonical rule moves it to 03:mm (+02:00).
    fn march_night(&mut self) {
        let year = self.rng.random_range(0..=self.pupil.school_year);
        let terms = SchoolYear {
            start_year: self.pupil.school_year_start(self.world, year),
        };
        let day = last_sunday(terms.start_year + 1, 3);
        if day > self.world.as_of {
            return;
        }
        let unit = self.pupil.stage_units[Stage::of(year) as usize];
        let writer = self.nurse(unit, terms);
        let time = local(day.at(2, self.rng.random_range(0..=59), 0, 0));
        self.night_note(
            day,
            time,
            &writer,
            "Anteckning om telefonkontakt, införd i efterhand.",
        );
        self.tally.march_spring_forward_notes += 1;
    }

    fn night_note(&mut self, day: Date, time: ClinicalTime, writer: &Writer, text: &str) {
        let when = When {
            day,
            time,
            system: System::on(day),
        };
        let record = plus_minutes(time, 1);
        let times = NoteTimes {
            event: time,
            record,
            author: plus_minutes(record, 2),
            signing: Some(plus_minutes(record, 3)),
        };
        let mut sections = Sections::new();
        sections.add("Anteckning", text);
        self.note_at(
            Draft {
                when,
                template: Template::General,
                sections,
                writer: writer.clone(),
                contact: None,
            },
            times,
            false,
        );
    }

    /// At the switch, the pupil's latest PMO note was copied into ProRenata:
    /// same patient, times, author and content; a new record in a new
    /// system.
    fn copy_latest_pmo_note(&mut self) {
        let latest = self.records[System::Pmo as usize]
            .entries
            .iter()
            .rev()
            .find_map(|record| match record {
                Record::JournalEntry(entry)
                    if entry.status == EntryStatus::Current && entry.source.version == 1 =>
                {
                    Some(entry.clone())
                }
                _ => None,
            });
        let Some(original) = latest else {
            return;
        };
        if self.world.as_of < SWITCH_DATE {
            return;
        }
        let copy = JournalEntry {
            source: self.next_source(System::ProRenata),
            contact: None,
            ..original
        };
        self.count_note(&copy);
        self.records[System::ProRenata as usize]
            .entries
            .push(Record::JournalEntry(copy));
        self.tally.copied_at_switch += 1;
    }
}

/// Which screenings a health visit includes.
#[derive(Debug, Clone, Copy)]
struct Checks {
    vision: bool,
    hearing: bool,
    scoliosis: bool,
}

impl Checks {
    const NONE: Checks = Checks {
        vision: false,
        hearing: false,
        scoliosis: false,
    };
    const VISION: Checks = Checks {
        vision: true,
        ..Checks::NONE
    };
    const VISION_AND_HEARING: Checks = Checks {
        hearing: true,
        ..Checks::VISION
    };
    const SCOLIOSIS: Checks = Checks {
        scoliosis: true,
        ..Checks::NONE
    };
}

/// The vaccinations school health gives.
#[derive(Debug, Clone, Copy)]
enum SchoolVaccine {
    /// MMR dose 2, in year 1.
    Mmr,
    /// HPV, two doses in year 5.
    Hpv(u8),
    /// Diphtheria–tetanus–pertussis booster, in year 8.
    DtpBooster,
}

impl SchoolVaccine {
    fn vaccine(self, day: Date) -> (Vaccine, u8) {
        let (atc, product, programme, dose) = match self {
            SchoolVaccine::Mmr => ("J07BD52", "M-M-RvaxPro", VaccinationProgramme::Mmr, 2),
            // The nine-valent vaccine replaced the four-valent one in 2019.
            SchoolVaccine::Hpv(dose) if day < date(2019, 8, 1) => {
                ("J07BM01", "Gardasil", VaccinationProgramme::Hpv, dose)
            }
            SchoolVaccine::Hpv(dose) => ("J07BM03", "Gardasil 9", VaccinationProgramme::Hpv, dose),
            SchoolVaccine::DtpBooster => (
                "J07AJ52",
                "diTekiBooster",
                VaccinationProgramme::DtpBooster,
                5,
            ),
        };
        (
            Vaccine {
                atc: atc.to_owned(),
                product: Some(product.to_owned()),
                programme,
            },
            dose,
        )
    }
}
