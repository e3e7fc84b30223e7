//! A pupil's child-health (BHV) record as the region's extract for the
//! transfer to school health holds it: the visits of the child-health
//! programme from the home visit to the five-year visit, with growth, the
//! vaccinations of the national programme at their ages, development
//! assessments, the final note (slutanteckning), and each guardian's consent
//! to the transfer.
//!
//! When guardians consent only in part, what they withheld is not in the
//! extract at all: not the development assessments, not the family-situation
//! talk, not those sections of the final note. Only the markers travel —
//! `withheld` on the final note and `withheld_parts` on the consent.

use brygga_mapping::model::{
    CareOrganisation, Consent, ConsentDecision, ConsentGiver, ConsentPurpose, Contact, ContactKind,
    EntryStatus, Immunization, JournalEntry, Measurement, MeasurementKind, MeasurementValue,
    NoteType, NoteTypeCode, Practitioner, Record, SecrecyDomain, SourceRef, VaccinationProgramme,
    Vaccine, WithheldPart,
};
use brygga_mapping::time::ClinicalTime;
use jiff::civil::Date;
use rand::RngExt;

use super::calendar::{
    add_days, age_in_months, date, days_between, local, next_weekday, plus_minutes, working_time,
};
use super::clinical::{self, lot, quantity};
use super::family::{Family, Pupil};
use super::growth::GrowthCurve;
use super::manifest::Tally;
use super::output::SourceExport;
use super::random::{Purpose, Rng, chance, pick};
use super::text::{self, Sections, acuity, child_word, decimal};
use super::world::{CHILD_HEALTH_SYSTEM, World};
use crate::exit::Failure;

/// The part withheld when guardians object to the development assessments.
pub const DEVELOPMENT_PART: &str = "development_assessment";
/// The part withheld when guardians object to the family-situation notes.
pub const FAMILY_PART: &str = "family_situation";
const WITHHELD_REASON: &str = "Vårdnadshavare har motsatt sig överföring av denna del";

/// Share of transfers where the guardians withhold a part.
const PARTIAL_SHARE: f64 = 0.03;

/// The region offered rotavirus vaccine to children born from this day, some
/// years before it joined the national programme.
const ROTAVIRUS_FROM: Date = Date::constant(2014, 9, 1);

/// One dose of the national programme.
#[derive(Debug, Clone, Copy)]
enum Dose {
    Hexavalent(u8),
    Pneumococcal(u8),
    Rotavirus(u8),
    Mmr,
    DtpPolio,
}

impl Dose {
    fn vaccine(self, later_product: bool) -> (Vaccine, u8, &'static str) {
        let (atc, product, programme, dose, side) = match self {
            Dose::Hexavalent(n) => (
                "J07CA09",
                if later_product {
                    "Hexyon"
                } else {
                    "Infanrix hexa"
                },
                VaccinationProgramme::Hexavalent,
                n,
                "vänster lår",
            ),
            Dose::Pneumococcal(n) => (
                "J07AL02",
                if later_product {
                    "Prevenar 13"
                } else {
                    "Synflorix"
                },
                VaccinationProgramme::Pneumococcal,
                n,
                "höger lår",
            ),
            Dose::Rotavirus(n) => (
                "J07BH01",
                "Rotarix",
                VaccinationProgramme::Rotavirus,
                n,
                "munnen",
            ),
            Dose::Mmr => (
                "J07BD52",
                if later_product {
                    "Priorix"
                } else {
                    "M-M-RvaxPro"
                },
                VaccinationProgramme::Mmr,
                1,
                "vänster överarm",
            ),
            Dose::DtpPolio => (
                "J07CA02",
                if later_product {
                    "Tetravac"
                } else {
                    "Infanrix-Polio"
                },
                VaccinationProgramme::DtpBooster,
                4,
                "vänster överarm",
            ),
        };
        (
            Vaccine {
                atc: atc.to_owned(),
                product: Some(product.to_owned()),
                programme,
            },
            dose,
            side,
        )
    }
}

/// A visit of the child-health programme.
#[derive(Debug)]
struct Visit {
    /// Age in days, and how many days either side it may fall.
    age: i64,
    spread: i64,
    name: &'static str,
    kind: ContactKind,
    doctor: bool,
    height: bool,
    head: bool,
    vision: bool,
    doses: &'static [Dose],
    /// Title of the development assessment made at this visit, and which
    /// row of [`text::DEVELOPMENT_FINDINGS`] fits the age.
    development: Option<(&'static str, usize)>,
    /// The talk about the family's situation (with the EPDS screening).
    family_talk: bool,
}

const fn visit(age: i64, spread: i64, name: &'static str) -> Visit {
    Visit {
        age,
        spread,
        name,
        kind: ContactKind::Visit,
        doctor: false,
        height: true,
        head: true,
        vision: false,
        doses: &[],
        development: None,
        family_talk: false,
    }
}

const PROGRAMME: &[Visit] = &[
    Visit {
        kind: ContactKind::HomeVisit,
        ..visit(10, 3, "Hembesök nyfödd")
    },
    Visit {
        height: false,
        ..visit(28, 3, "BVC-besök 4 veckor")
    },
    Visit {
        doctor: true,
        doses: &[Dose::Rotavirus(1)],
        family_talk: true,
        ..visit(49, 4, "Läkarundersökning 6–8 veckor")
    },
    Visit {
        doses: &[
            Dose::Hexavalent(1),
            Dose::Pneumococcal(1),
            Dose::Rotavirus(2),
        ],
        ..visit(91, 5, "Vaccinationsbesök 3 månader")
    },
    Visit {
        height: false,
        ..visit(122, 5, "BVC-besök 4 månader")
    },
    Visit {
        doses: &[Dose::Hexavalent(2), Dose::Pneumococcal(2)],
        ..visit(152, 5, "Vaccinationsbesök 5 månader")
    },
    visit(183, 7, "BVC-besök 6 månader"),
    Visit {
        doctor: true,
        ..visit(244, 7, "Läkarundersökning 8 månader")
    },
    Visit {
        head: false,
        ..visit(304, 7, "BVC-besök 10 månader")
    },
    Visit {
        doses: &[Dose::Hexavalent(3), Dose::Pneumococcal(3)],
        ..visit(365, 10, "Vaccinationsbesök 12 månader")
    },
    Visit {
        head: false,
        doses: &[Dose::Mmr],
        development: Some(("Utvecklingsbedömning 18 månader", 0)),
        ..visit(548, 14, "BVC-besök 18 månader")
    },
    Visit {
        head: false,
        development: Some(("Utvecklingsbedömning 2,5 år", 1)),
        ..visit(913, 20, "BVC-besök 2,5 år")
    },
    Visit {
        head: false,
        ..visit(1096, 20, "BVC-besök 3 år")
    },
    Visit {
        head: false,
        vision: true,
        development: Some(("Utvecklingsbedömning 4 år", 2)),
        ..visit(1461, 25, "BVC-besök 4 år")
    },
    Visit {
        head: false,
        vision: true,
        doses: &[Dose::DtpPolio],
        ..visit(1826, 25, "BVC-besök 5 år")
    },
];

/// A note about to be written.
#[derive(Debug)]
struct Draft {
    time: ClinicalTime,
    code: NoteTypeCode,
    template: &'static str,
    sections: Sections,
    contact: Option<String>,
    withheld: Vec<WithheldPart>,
}

impl Draft {
    fn new(
        time: ClinicalTime,
        code: NoteTypeCode,
        template: &'static str,
        sections: Sections,
    ) -> Self {
        Draft {
            time,
            code,
            template,
            sections,
            contact: None,
            withheld: Vec::new(),
        }
    }

    fn in_contact(mut self, contact: &str) -> Self {
        self.contact = Some(contact.to_owned());
        self
    }
}

/// What the final note sums up from the visits.
#[derive(Debug)]
struct FinalSummary {
    /// Height and weight at the last visit that measured both.
    growth: (f64, f64),
    /// What the child was vaccinated against, in the order given.
    vaccinations: Vec<&'static str>,
    /// Whether a development assessment found something to follow up.
    development_concern: bool,
}

/// One child's extract, built in memory (a few dozen records) and written
/// grouped by record type.
struct Extract<'a> {
    world: &'a World,
    pupil: &'a Pupil,
    rng: Rng,
    curve: GrowthCurve,
    centre: u32,
    unit: CareOrganisation,
    seq: u32,
    withheld: Vec<&'static str>,
    contacts: Vec<Record>,
    entries: Vec<Record>,
    measurements: Vec<Record>,
    immunizations: Vec<Record>,
    consents: Vec<Record>,
}

/// Writes the pupil's child-health extract, unless the pupil was born
/// outside the region.
pub fn write_pupil(
    world: &World,
    family: &Family,
    pupil: &Pupil,
    out: &mut SourceExport,
    tally: &mut Tally,
) -> Result<(), Failure> {
    if pupil.moved_in {
        return Ok(());
    }
    let mut rng = world
        .key
        .stream(Purpose::ChildHealth, u64::from(pupil.index));
    let centre = rng.random_range(0..world.child_health_centres());
    let withheld = if chance(&mut rng, PARTIAL_SHARE) {
        match rng.random_range(0..3) {
            0 => vec![DEVELOPMENT_PART],
            1 => vec![FAMILY_PART],
            _ => vec![DEVELOPMENT_PART, FAMILY_PART],
        }
    } else {
        Vec::new()
    };
    let mut extract = Extract {
        world,
        pupil,
        curve: GrowthCurve::for_pupil(world, pupil),
        rng,
        centre,
        unit: world.centre(centre).clone(),
        seq: 0,
        withheld,
        contacts: Vec::with_capacity(16),
        entries: Vec::with_capacity(24),
        measurements: Vec::with_capacity(48),
        immunizations: Vec::with_capacity(12),
        consents: Vec::with_capacity(2),
    };
    extract.build(family, tally);
    out.emit(&Record::Person(family.patient_person(pupil)))?;
    for group in [
        &extract.contacts,
        &extract.entries,
        &extract.measurements,
        &extract.immunizations,
        &extract.consents,
    ] {
        out.emit_all(group)?;
    }
    Ok(())
}

impl Extract<'_> {
    fn withholds(&self, part: &str) -> bool {
        self.withheld.contains(&part)
    }

    fn next_source(&mut self, prefix: &str) -> SourceRef {
        self.seq += 1;
        SourceRef {
            system: CHILD_HEALTH_SYSTEM.to_owned(),
            record_id: format!("{prefix}-{:07}-{:03}", self.pupil.index, self.seq),
            version: 1,
        }
    }

    fn build(&mut self, family: &Family, tally: &mut Tally) {
        let birth = self.pupil.birth;
        let newer_products = birth >= date(2016, 1, 1);
        // A few guardians decline a vaccine; the visit still happens.
        let declines_mmr = chance(&mut self.rng, 0.02);
        let mut last_visit = None;
        let mut last_growth = (0.0, 0.0);
        let mut development_concern = false;
        let mut given: Vec<&'static str> = Vec::new();
        for visit in PROGRAMME {
            let offset = visit.age + self.rng.random_range(-visit.spread..=visit.spread);
            let day = next_weekday(add_days(birth, offset));
            let when = working_time(&mut self.rng, day, 8, 16);
            let time = local(when);
            let age_days = days_between(birth, day);
            let nurse =
                self.world
                    .child_health_nurse(self.centre, self.rng.random_range(0..2), day.year());
            let author = if visit.doctor {
                self.world.child_health_doctor(self.centre, day.year())
            } else {
                nurse.clone()
            };
            let contact = self.next_source("kontakt");
            let contact_id = contact.record_id.clone();
            self.contacts.push(Record::Contact(Contact {
                source: contact,
                patient: self.pupil.identifier(),
                kind: visit.kind,
                start: time,
                end: Some(plus_minutes(time, 30)),
                performer: Some(author.clone()),
                care_unit: Some(self.unit.clone()),
                secrecy_domain: SecrecyDomain::EmiMedical,
            }));

            let weight = self.curve.weight_kg(&mut self.rng, age_days);
            self.measure(
                MeasurementKind::Weight,
                time,
                quantity(weight, "kg"),
                &contact_id,
            );
            let mut growth = format!("Vikt {} kg", decimal(weight, 2));
            if visit.height {
                let height = self.curve.height_cm(&mut self.rng, age_days);
                self.measure(
                    MeasurementKind::Height,
                    time,
                    quantity(height, "cm"),
                    &contact_id,
                );
                growth.push_str(&format!(", längd {} cm", decimal(height, 1)));
                last_growth = (height, weight);
            }
            if visit.head {
                let head = self.curve.head_cm(&mut self.rng, age_days);
                self.measure(
                    MeasurementKind::HeadCircumference,
                    time,
                    quantity(head, "cm"),
                    &contact_id,
                );
                growth.push_str(&format!(", huvudomfång {} cm", decimal(head, 1)));
            }
            growth.push_str(". Följer sin kurva.");

            let mut sections = Sections::new();
            sections.add(
                "Aktuellt",
                "Föräldrarna berättar att barnet mår bra, äter och sover.",
            );
            sections.add("Tillväxt", growth);
            if visit.vision {
                let (right, left) = if chance(&mut self.rng, 0.05) {
                    (0.5, 0.65)
                } else {
                    (0.8, 1.0)
                };
                self.measure(
                    MeasurementKind::VisionRight,
                    time,
                    quantity(right, "1"),
                    &contact_id,
                );
                self.measure(
                    MeasurementKind::VisionLeft,
                    time,
                    quantity(left, "1"),
                    &contact_id,
                );
                sections.add(
                    "Syn",
                    format!(
                        "Visus hö {} vä {} med LEA-tavla.",
                        acuity(right),
                        acuity(left)
                    ),
                );
            }
            if !self.withholds(DEVELOPMENT_PART) {
                sections.add(
                    "Utveckling",
                    text::infant_development(age_in_months(birth, day)),
                );
            }
            let mut vaccinations = Vec::new();
            for dose in visit.doses {
                if matches!(dose, Dose::Rotavirus(_)) && birth < ROTAVIRUS_FROM {
                    continue;
                }
                if matches!(dose, Dose::Mmr) && declines_mmr {
                    vaccinations.push(
                        "Vårdnadshavare avböjer MMR-vaccination efter information.".to_owned(),
                    );
                    continue;
                }
                let (vaccine, dose_number, site) = dose.vaccine(newer_products);
                let product = vaccine.product.clone().unwrap_or_default();
                vaccinations.push(format!("{product} dos {dose_number} given i {site}."));
                let protects_against = match dose {
                    Dose::Hexavalent(_) => "hexavalent",
                    Dose::Pneumococcal(_) => "pneumokock",
                    Dose::Rotavirus(_) => "rotavirus",
                    Dose::Mmr => "MMR",
                    Dose::DtpPolio => "DTP-polio",
                };
                if !given.contains(&protects_against) {
                    given.push(protects_against);
                }
                let source = self.next_source("vacc");
                self.immunizations.push(Record::Immunization(Immunization {
                    source,
                    patient: self.pupil.identifier(),
                    time,
                    vaccine,
                    dose_number: Some(dose_number),
                    lot: Some(lot(&mut self.rng)),
                    given_by: Some(nurse.clone()),
                    care_unit: Some(self.unit.clone()),
                    secrecy_domain: SecrecyDomain::EmiMedical,
                    status: EntryStatus::Current,
                }));
            }
            if !vaccinations.is_empty() {
                sections.add("Vaccination", vaccinations.join(" "));
            }
            sections.add(
                "Bedömning",
                format!("Frisk och välmående {}.", child_word(self.pupil.sex)),
            );
            let draft = Draft::new(time, NoteTypeCode::HealthVisit, visit.name, sections);
            self.note(draft.in_contact(&contact_id), &author);

            if visit.family_talk && !self.withholds(FAMILY_PART) {
                let mut talk = Sections::new();
                talk.add("Samtal", pick(&mut self.rng, text::FAMILY_SITUATION));
                talk.add(
                    "Bedömning",
                    "EPDS under gränsvärdet. Inget behov av vidare insatser.",
                );
                let draft = Draft::new(
                    plus_minutes(time, 30),
                    NoteTypeCode::GeneralNote,
                    "Föräldrasamtal",
                    talk,
                );
                self.note(draft.in_contact(&contact_id), &nurse);
            }
            if let Some((title, row)) = visit.development
                && !self.withholds(DEVELOPMENT_PART)
            {
                let [motor, language, assessment] = if chance(&mut self.rng, 0.08) {
                    development_concern = true;
                    text::DEVELOPMENT_CONCERN
                } else {
                    text::DEVELOPMENT_FINDINGS[row]
                };
                let mut findings = Sections::new();
                findings.add("Motorik", motor);
                findings.add("Språk", language);
                findings.add("Bedömning", assessment);
                let draft = Draft::new(
                    plus_minutes(time, 20),
                    NoteTypeCode::DevelopmentAssessment,
                    title,
                    findings,
                );
                self.note(draft.in_contact(&contact_id), &nurse);
            }
            last_visit = Some((time, day, nurse));
        }

        let Some((five_year_visit, five_year_day, nurse)) = last_visit else {
            return;
        };
        let summary = FinalSummary {
            growth: last_growth,
            vaccinations: given,
            development_concern,
        };
        self.final_note(five_year_day, &summary, &nurse, tally);
        self.consents(family, five_year_visit, five_year_day, tally);
    }

    /// A growth or screening value. The centre's growth-chart export links
    /// each value to its visit; who measured and where is on the contact.
    fn measure(
        &mut self,
        kind: MeasurementKind,
        time: ClinicalTime,
        value: MeasurementValue,
        contact: &str,
    ) {
        let source = self.next_source("matning");
        self.measurements.push(Record::Measurement(Measurement {
            source,
            patient: self.pupil.identifier(),
            kind,
            time,
            value,
            performer: None,
            care_unit: None,
            contact: Some(contact.to_owned()),
            secrecy_domain: SecrecyDomain::EmiMedical,
            original_code: Some(clinical::measurement_name(kind, false).to_owned()),
        }));
    }

    fn note(&mut self, draft: Draft, author: &Practitioner) {
        let source = self.next_source("anteckning");
        let record_time = plus_minutes(draft.time, self.rng.random_range(10..=40));
        let author_time = plus_minutes(record_time, self.rng.random_range(1..=15));
        let signing_time = plus_minutes(author_time, self.rng.random_range(0..=30));
        self.entries.push(Record::JournalEntry(JournalEntry {
            source,
            patient: self.pupil.identifier(),
            event_time: draft.time,
            author_time: Some(author_time),
            signing_time: Some(signing_time),
            record_time: Some(record_time),
            author: Some(author.clone()),
            signer: Some(author.clone()),
            care_provider: Some(self.world.region.clone()),
            care_unit: Some(self.unit.clone()),
            contact: draft.contact,
            note_type: NoteType {
                code: draft.code,
                original: Some(draft.template.to_owned()),
            },
            title: None,
            content: draft.sections.into_content(),
            status: EntryStatus::Current,
            secrecy_domain: SecrecyDomain::EmiMedical,
            approved_for_patient: false,
            patient_block: false,
            withheld: draft.withheld,
        }));
    }

    /// The slutanteckning, written a few weeks after the five-year visit.
    fn final_note(
        &mut self,
        five_year_day: Date,
        summary: &FinalSummary,
        nurse: &Practitioner,
        tally: &mut Tally,
    ) {
        let (height, weight) = summary.growth;
        let day = next_weekday(add_days(five_year_day, self.rng.random_range(7..=45)));
        let time = local(working_time(&mut self.rng, day, 8, 16));
        let mut sections = Sections::new();
        sections.add(
            "Sammanfattning",
            format!(
                "{} som följts enligt barnhälsovårdens basprogram. Överförs till elevhälsan inför förskoleklass.",
                capitalised(child_word(self.pupil.sex))
            ),
        );
        sections.add(
            "Tillväxt",
            format!(
                "Senast längd {} cm, vikt {} kg. Normal tillväxt.",
                decimal(height, 1),
                decimal(weight, 1)
            ),
        );
        sections.add(
            "Vaccinationer",
            format!(
                "Vaccinerad enligt programmet: {}.",
                summary.vaccinations.join(", ")
            ),
        );
        if !self.withholds(DEVELOPMENT_PART) {
            sections.add(
                "Utveckling",
                if summary.development_concern {
                    "Språket har följts upp; i övrigt åldersadekvat utveckling."
                } else {
                    "Åldersadekvat utveckling vid samtliga bedömningar."
                },
            );
        }
        if !self.withholds(FAMILY_PART) {
            sections.add("Familj", pick(&mut self.rng, text::FAMILY_SITUATION));
        }
        let mut draft = Draft::new(
            time,
            NoteTypeCode::FinalNote,
            "Slutanteckning BHV",
            sections,
        );
        draft.withheld = self
            .withheld
            .iter()
            .map(|part| WithheldPart {
                part: (*part).to_owned(),
                reason: WITHHELD_REASON.to_owned(),
            })
            .collect();
        if !draft.withheld.is_empty() {
            tally.withheld_final_notes += 1;
        }
        self.note(draft, nurse);
    }

    /// Each guardian's consent to the transfer, recorded at the five-year
    /// visit.
    fn consents(&mut self, family: &Family, time: ClinicalTime, day: Date, tally: &mut Tally) {
        let decision = if self.withheld.is_empty() {
            ConsentDecision::Given
        } else {
            tally.partial_consents += 1;
            ConsentDecision::Partial
        };
        for guardian in &family.guardians {
            let source = self.next_source("samtycke");
            self.consents.push(Record::Consent(Consent {
                source,
                patient: self.pupil.identifier(),
                given_by: ConsentGiver::Guardian {
                    person: guardian.id,
                },
                purpose: ConsentPurpose::BhvToEmiTransfer,
                decision,
                withheld_parts: self.withheld.iter().map(|p| (*p).to_owned()).collect(),
                recorded: time,
                valid_from: day,
                valid_to: None,
            }));
        }
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
