//! Unit tests for the parts a golden vector shows poorly: exact strings
//! through escaping, refusals of what XML or the profile cannot carry, the
//! names a profile sets, and the decoder's refusals one field at a time.

use std::io::Write as _;
use std::sync::Arc;

use brygga_mapping::id::{HsaId, Identifier, LocalId, PersonId};
use brygga_mapping::model::{
    Address, AddressKind, Attachment, CareOrganisation, Contact, ContactKind, EntryStatus, Finding,
    Grade, GradeCorrection, Guardian, GuardianRelation, Immunization, JournalEntry, KeywordSection,
    Measurement, MeasurementKind, MeasurementValue, NoteContent, NoteType, NoteTypeCode,
    Organisation, OrganisationKind, Person, Practitioner, Profession, Record, SecrecyDomain,
    SecurityMarking, Semester, SourceRef, Telecom, TelecomKind, VaccinationProgramme, Vaccine,
    WithheldPart,
};
use brygga_mapping::profile::Profile;
use brygga_mapping::time::ClinicalTime;

use super::Pmo;
use super::names::{DEFAULT_NAMES, ELEMENT_KEYS, Names};
use crate::{DecodeError, EncodeError, Format};

// Numbers from Skatteverket's list of test personnummer.
const PUPIL: &str = "201201012380";
const GUARDIAN: &str = "197901012380";

fn default_profile() -> Arc<Profile> {
    Arc::new(Profile::builtin("pmo"))
}

fn profile_from(text: &str) -> Arc<Profile> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("profile.toml");
    std::fs::write(&path, text).expect("write profile");
    let profile = Profile::load(&path).expect("valid profile");
    Pmo.check_profile(&profile).expect("fits pmo");
    Arc::new(profile)
}

fn time(text: &str) -> ClinicalTime {
    ClinicalTime::parse(text).expect("valid time")
}

fn person_id(text: &str) -> PersonId {
    PersonId::parse_normalized(text).expect("valid person id")
}

fn hsa(text: &str) -> HsaId {
    HsaId::parse(text).expect("valid HSA-id")
}

fn pupil() -> Identifier {
    Identifier::Person(person_id(PUPIL))
}

fn source(id: &str) -> SourceRef {
    SourceRef {
        system: "pmo:test".to_owned(),
        record_id: id.to_owned(),
        version: 1,
    }
}

fn nurse() -> Practitioner {
    Practitioner {
        hsa_id: Some(hsa("SE9999990001-P1000000001")),
        name: Some("Anna Test".to_owned()),
        profession: Some(Profession::Nurse),
    }
}

fn unit() -> CareOrganisation {
    CareOrganisation {
        hsa_id: hsa("SE9999990001-E000000000001"),
        name: Some("Elevhälsan Testskolan".to_owned()),
    }
}

fn note() -> JournalEntry {
    JournalEntry {
        source: source("n1"),
        patient: pupil(),
        event_time: time("2019-05-14T08:30:00"),
        author_time: Some(time("2019-05-14T09:00:00")),
        signing_time: Some(time("2019-05-16")),
        record_time: None,
        author: Some(nurse()),
        signer: Some(Practitioner {
            hsa_id: None,
            name: None,
            profession: Some(Profession::Physician),
        }),
        care_provider: Some(CareOrganisation {
            hsa_id: hsa("SE9999990001-E000000000000"),
            name: None,
        }),
        care_unit: Some(unit()),
        contact: Some("c1".to_owned()),
        note_type: NoteType {
            code: NoteTypeCode::HealthVisit,
            original: Some("Hälsobesök åk 4".to_owned()),
        },
        title: Some(String::new()),
        content: NoteContent::Keywords {
            sections: vec![
                KeywordSection {
                    keyword: "Aktuellt \"nu\" & <då>".to_owned(),
                    text: "  Rad ett\r\nrad två\n\ttabb & <tecken> ]]> \"citat\"  ".to_owned(),
                },
                KeywordSection {
                    keyword: "Tom".to_owned(),
                    text: String::new(),
                },
            ],
        },
        status: EntryStatus::Amended {
            supersedes: SourceRef {
                version: 7,
                ..source("n0")
            },
        },
        secrecy_domain: SecrecyDomain::EmiMedical,
        approved_for_patient: true,
        patient_block: true,
        withheld: vec![WithheldPart {
            part: "development_assessment".to_owned(),
            reason: "Vårdnadshavarna avböjde".to_owned(),
        }],
    }
}

/// One record of every type PMO holds, with the awkward values: empty and
/// absent strings, line breaks and tabs in attributes and text, local ids,
/// date-only times and the repeated October hour.
fn sample() -> Vec<Record> {
    let samordningsnummer = match time("2012-03-04") {
        ClinicalTime::Date(date) => PersonId::samordningsnummer(date, 981).expect("valid"),
        ClinicalTime::DateTime(_) => unreachable!("a date"),
    };
    vec![
        Record::Organisation(Organisation {
            id: "hsa:SE9999990001-E000000000000".to_owned(),
            kind: OrganisationKind::CareProvider,
            name: "Testkommunen".to_owned(),
            hsa_id: Some(hsa("SE9999990001-E000000000000")),
            school_unit_code: None,
            organisation_number: Some("9999990001".to_owned()),
            municipality_code: Some("9999".to_owned()),
            parent: None,
            school_year: None,
        }),
        Record::Organisation(Organisation {
            id: "unit with\ttab".to_owned(),
            kind: OrganisationKind::CareUnit,
            name: String::new(),
            hsa_id: None,
            school_unit_code: None,
            organisation_number: None,
            municipality_code: None,
            parent: Some("hsa:SE9999990001-E000000000000".to_owned()),
            school_year: None,
        }),
        Record::Person(Person {
            identifiers: vec![
                pupil(),
                Identifier::Local(LocalId {
                    namespace: "pmo:test".to_owned(),
                    value: " 42 ".to_owned(),
                }),
            ],
            given_name: "Åsa\nMaria".to_owned(),
            family_name: "O'Brien & Söner".to_owned(),
            birth_date: match time("2012-01-01") {
                ClinicalTime::Date(date) => Some(date),
                ClinicalTime::DateTime(_) => None,
            },
            sex: Some(brygga_mapping::id::Sex::Female),
            security_marking: SecurityMarking::SkyddadFolkbokforing,
            guardians: vec![
                Guardian {
                    person: person_id(GUARDIAN),
                    relation: GuardianRelation::Guardian,
                },
                Guardian {
                    person: samordningsnummer,
                    relation: GuardianRelation::OtherResponsible,
                },
            ],
            addresses: vec![Address {
                kind: AddressKind::Registered,
                lines: vec!["Testgatan 1".to_owned(), String::new()],
                postal_code: Some("999 99".to_owned()),
                city: None,
                country: Some("SE".to_owned()),
            }],
            telecom: vec![
                Telecom {
                    kind: TelecomKind::Mobile,
                    value: "070-1740605".to_owned(),
                },
                Telecom {
                    kind: TelecomKind::Email,
                    value: "test@example.com".to_owned(),
                },
            ],
            municipality_code: Some("9999".to_owned()),
        }),
        Record::Person(Person {
            identifiers: vec![Identifier::Local(LocalId {
                namespace: "pmo:test".to_owned(),
                value: String::new(),
            })],
            given_name: String::new(),
            family_name: String::new(),
            birth_date: None,
            sex: None,
            security_marking: SecurityMarking::None,
            guardians: Vec::new(),
            addresses: Vec::new(),
            telecom: Vec::new(),
            municipality_code: None,
        }),
        Record::Contact(Contact {
            source: source("c1"),
            patient: pupil(),
            kind: ContactKind::HomeVisit,
            start: time("2024-10-27T02:30:00+01:00"),
            end: None,
            performer: Some(Practitioner {
                hsa_id: None,
                name: Some(String::new()),
                profession: None,
            }),
            care_unit: None,
            secrecy_domain: SecrecyDomain::Psychological,
        }),
        Record::JournalEntry(note()),
        Record::JournalEntry(JournalEntry {
            source: source("n2"),
            content: NoteContent::Text {
                text: "\r".to_owned(),
            },
            note_type: NoteType {
                code: NoteTypeCode::Unclassified,
                original: Some("Tandvård".to_owned()),
            },
            status: EntryStatus::Nullified {
                reason: "Fel patient".to_owned(),
            },
            secrecy_domain: SecrecyDomain::Counsellor,
            approved_for_patient: false,
            patient_block: false,
            withheld: Vec::new(),
            title: None,
            ..note()
        }),
        Record::JournalEntry(JournalEntry {
            source: source("n3"),
            content: NoteContent::Attachment(Attachment {
                media_type: "application/pdf".to_owned(),
                title: None,
                data: "JVBERi0xLjQK".to_owned(),
            }),
            status: EntryStatus::Current,
            ..note()
        }),
        Record::Measurement(Measurement {
            source: source("m1"),
            patient: pupil(),
            kind: MeasurementKind::Weight,
            time: time("2024-03-31T03:30:00+02:00"),
            value: MeasurementValue::Quantity {
                value: 22.1,
                unit: "kg".to_owned(),
            },
            performer: Some(nurse()),
            care_unit: Some(unit()),
            contact: Some("c1".to_owned()),
            secrecy_domain: SecrecyDomain::EmiMedical,
            original_code: Some("Vikt".to_owned()),
        }),
        Record::Measurement(Measurement {
            source: source("m2"),
            patient: Identifier::Local(LocalId {
                namespace: "pmo:test".to_owned(),
                value: "42".to_owned(),
            }),
            kind: MeasurementKind::HearingLeft,
            time: time("2019-05-14"),
            value: MeasurementValue::Finding {
                finding: Finding::NotAssessed,
            },
            performer: None,
            care_unit: None,
            contact: None,
            secrecy_domain: SecrecyDomain::EmiMedical,
            original_code: Some("Hörsel vä".to_owned()),
        }),
        Record::Immunization(Immunization {
            source: source("v1"),
            patient: pupil(),
            time: time("2019-05-14T08:30:00"),
            vaccine: Vaccine {
                atc: "J07BM03".to_owned(),
                product: Some("Gardasil 9".to_owned()),
                programme: VaccinationProgramme::Hpv,
            },
            dose_number: Some(2),
            lot: Some(String::new()),
            given_by: Some(nurse()),
            care_unit: Some(unit()),
            secrecy_domain: SecrecyDomain::EmiMedical,
            status: EntryStatus::Nullified {
                reason: "Registrerad två gånger".to_owned(),
            },
        }),
    ]
}

fn encode(records: &[Record], profile: &Arc<Profile>) -> Result<Vec<u8>, String> {
    let sink = Sink::default();
    let mut encoder = Pmo.encoder(Box::new(sink.clone()), profile.clone());
    for record in records {
        encoder.encode(record).map_err(|e| e.to_string())?;
    }
    encoder.finish().map_err(|e| e.to_string())?;
    Ok(sink.take())
}

/// Every record, or every reject's and fatal error's text, in order.
fn decode(xml: &[u8], profile: &Arc<Profile>) -> Vec<Result<Record, String>> {
    let mut decoder = Pmo.decoder(
        Box::new(std::io::Cursor::new(xml.to_vec())),
        profile.clone(),
    );
    let mut out = Vec::new();
    while let Some(item) = decoder.next_record() {
        out.push(item.map_err(|e| match e {
            DecodeError::Reject(r) => r.to_string(),
            DecodeError::Fatal(f) => format!("fatal: {f}"),
        }));
    }
    out
}

fn decode_ok(xml: &[u8], profile: &Arc<Profile>) -> Vec<Record> {
    decode(xml, profile)
        .into_iter()
        .map(|item| item.expect("decodes"))
        .collect()
}

fn errors(xml: &str) -> Vec<String> {
    decode(xml.as_bytes(), &default_profile())
        .into_iter()
        .filter_map(Result::err)
        .collect()
}

/// A document with `body` under the root.
fn doc(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<pmo-export version=\"1\">\n{body}</pmo-export>\n"
    )
}

const NOTE_HEAD: &str = "<anteckning system=\"pmo:test\" id=\"n1\">\n<patient typ=\"personnummer\">201201012380</patient>\n";

#[derive(Clone, Default)]
struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);

impl Sink {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().expect("not poisoned"))
    }
}

impl std::io::Write for Sink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn every_record_type_and_awkward_value_survives_a_round_trip() {
    let profile = default_profile();
    let records = sample();
    let xml = encode(&records, &profile).expect("encodes");
    let back = decode_ok(&xml, &profile);
    assert_eq!(back.len(), records.len());
    for (want, got) in records.iter().zip(&back) {
        assert_eq!(want, got);
    }
    // And the bytes are stable: decoding and encoding again writes them again.
    assert_eq!(encode(&back, &profile).expect("encodes"), xml);
}

#[test]
fn text_and_attributes_are_escaped_so_a_reader_gets_them_back_exactly() {
    let xml =
        String::from_utf8(encode(&sample(), &default_profile()).expect("encodes")).expect("UTF-8");
    assert!(xml.contains("<sokord namn=\"Aktuellt &quot;nu&quot; &amp; &lt;då&gt;\">"));
    assert!(xml.contains(
        ">  Rad ett&#13;\nrad två\n\ttabb &amp; &lt;tecken&gt; ]]&gt; \"citat\"  </sokord>"
    ));
    assert!(xml.contains("<vardenhet id=\"unit with&#9;tab\">"));
    assert!(xml.contains("<fornamn>Åsa\nMaria</fornamn>"));
    assert!(xml.contains("<start>2024-10-27T02:30:00+01:00</start>"));
    assert!(xml.contains("<tid>2024-03-31T03:30:00</tid>"));
}

#[test]
fn an_encoder_without_records_writes_an_empty_export() {
    let xml = encode(&[], &default_profile()).expect("encodes");
    assert_eq!(
        String::from_utf8(xml.clone()).expect("UTF-8"),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<pmo-export version=\"1\">\n</pmo-export>\n"
    );
    assert!(decode(&xml, &default_profile()).is_empty());
}

fn refusal(record: Record) -> String {
    let sink = Sink::default();
    let mut encoder = Pmo.encoder(Box::new(sink.clone()), default_profile());
    match encoder.encode(&record) {
        Err(EncodeError::Unsupported(reason)) => {
            encoder.finish().expect("finishes");
            // Nothing of the refused record reaches the output.
            let xml = sink.take();
            assert!(decode(&xml, &default_profile()).is_empty());
            reason
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn what_xml_or_the_format_cannot_carry_is_refused_not_altered() {
    let with_text = |text: &str| {
        Record::JournalEntry(JournalEntry {
            content: NoteContent::Text {
                text: text.to_owned(),
            },
            ..note()
        })
    };
    assert!(refusal(with_text("a\u{1}b")).contains("U+0001, which XML 1.0 cannot carry"));
    assert!(refusal(with_text("a\u{FFFF}")).contains("U+FFFF"));
    let cr_in_attribute = Record::JournalEntry(JournalEntry {
        source: SourceRef {
            record_id: "a\rb".to_owned(),
            ..source("x")
        },
        ..note()
    });
    assert!(refusal(cr_in_attribute).contains("anteckning.id holds a carriage return"));
    let grade = Record::Grade(Grade {
        source: source("g"),
        pupil: pupil(),
        school_unit: None,
        subject_code: "MA".to_owned(),
        course_code: None,
        grade_value: "A".to_owned(),
        final_grade: false,
        trial: false,
        correction: Some(GradeCorrection::Change),
        semester: Semester::HT,
        year: 2024,
        registered_date: match time("2024-12-20") {
            ClinicalTime::Date(date) => date,
            ClinicalTime::DateTime(_) => unreachable!("a date"),
        },
    });
    assert!(refusal(grade).starts_with("PMO exports hold no grade records"));
    let no_keywords = Record::JournalEntry(JournalEntry {
        content: NoteContent::Keywords {
            sections: Vec::new(),
        },
        ..note()
    });
    assert!(refusal(no_keywords).contains("without keywords"));
    let school = Record::Organisation(Organisation {
        id: "skolenhet:99990001".to_owned(),
        kind: OrganisationKind::SchoolUnit,
        name: "Testskolan".to_owned(),
        hsa_id: None,
        school_unit_code: Some("99990001".to_owned()),
        organisation_number: None,
        municipality_code: None,
        parent: None,
        school_year: None,
    });
    assert!(refusal(school).contains("not a school_unit organisation"));
    let bad_base64 = Record::JournalEntry(JournalEntry {
        content: NoteContent::Attachment(Attachment {
            media_type: "text/plain".to_owned(),
            title: None,
            data: "not base64!".to_owned(),
        }),
        ..note()
    });
    assert!(refusal(bad_base64).contains("not base64"));
}

#[test]
fn names_the_profile_would_read_back_differently_are_refused() {
    // The template is mapped, but to another note type than the note's.
    let retyped = Record::JournalEntry(JournalEntry {
        note_type: NoteType {
            code: NoteTypeCode::Referral,
            original: Some("Hälsobesök åk 4".to_owned()),
        },
        ..note()
    });
    assert!(refusal(retyped).contains("reads back as health_visit under profile \"Brygga standard\", not as the note's type referral"));
    let unknown_measurement = Record::Measurement(Measurement {
        source: source("m"),
        patient: pupil(),
        kind: MeasurementKind::Height,
        time: time("2019-05-14"),
        value: MeasurementValue::Quantity {
            value: 1.0,
            unit: "cm".to_owned(),
        },
        performer: None,
        care_unit: None,
        contact: None,
        secrecy_domain: SecrecyDomain::EmiMedical,
        original_code: Some("Längd stående".to_owned()),
    });
    assert!(refusal(unknown_measurement).contains(
        "measurement \"Längd stående\" is not mapped by profile \"Brygga standard\", but the measurement is height"
    ));
    let unmapped_template = Record::JournalEntry(JournalEntry {
        note_type: NoteType {
            code: NoteTypeCode::Visit,
            original: Some("Besök hos skolsköterskan".to_owned()),
        },
        ..note()
    });
    assert!(refusal(unmapped_template).contains("would read back as unclassified, not visit"));
    let infinite = Record::Measurement(Measurement {
        source: source("m"),
        patient: pupil(),
        kind: MeasurementKind::Height,
        time: time("2019-05-14"),
        value: MeasurementValue::Quantity {
            value: f64::INFINITY,
            unit: "cm".to_owned(),
        },
        performer: None,
        care_unit: None,
        contact: None,
        secrecy_domain: SecrecyDomain::EmiMedical,
        original_code: None,
    });
    assert!(refusal(infinite).contains("not a finite number"));
}

#[test]
fn records_without_source_names_get_the_profiles_names() {
    let profile = default_profile();
    let record = Record::JournalEntry(JournalEntry {
        note_type: NoteType {
            code: NoteTypeCode::Referral,
            original: None,
        },
        ..note()
    });
    let xml = String::from_utf8(encode(&[record], &profile).expect("encodes")).expect("UTF-8");
    assert!(xml.contains("<mall>Remiss</mall>"), "{xml}");
    assert!(xml.contains("titel=\"Skolsköterska\""), "{xml}");
    assert!(xml.contains("<journal>Elevhälsans medicinska insats</journal>"));
    let Record::JournalEntry(back) = &decode_ok(xml.as_bytes(), &profile)[0] else {
        panic!("a note");
    };
    assert_eq!(back.note_type.original.as_deref(), Some("Remiss"));
    assert_eq!(back.note_type.code, NoteTypeCode::Referral);
}

#[test]
fn a_profile_renames_elements_for_both_directions() {
    let default_toml = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/mappings/default.toml"
    );
    let profile = profile_from(&format!(
        "[profile]\nsystem = \"pmo\"\nextends = {default_toml:?}\n[elements]\nroot = \"export\"\nnote = \"journalanteckning\"\nkeyword = \"term\"\npatient = \"person\"\n"
    ));
    let records = sample();
    let xml = encode(&records, &profile).expect("encodes");
    let text = String::from_utf8(xml.clone()).expect("UTF-8");
    for renamed in [
        "<export version=\"1\">",
        "<journalanteckning system=",
        "<term namn=\"Tom\"></term>",
        "<person typ=\"personnummer\">",
        "</person>",
    ] {
        assert!(text.contains(renamed), "{renamed} in\n{text}");
    }
    assert!(!text.contains("<anteckning") && !text.contains("<sokord"));
    assert_eq!(decode_ok(&xml, &profile), records);
    // Under the default names the same document is not a PMO export.
    let out = decode(&xml, &default_profile());
    assert!(
        matches!(&out[0], Err(e) if e.contains("the root element is <export>")),
        "{out:?}"
    );
}

#[test]
fn element_names_are_checked_before_anything_is_read_or_written() {
    let clash = profile_from("[profile]\nsystem = \"pmo\"\n[elements]\nstart = \"slut\"\n");
    let out = decode(doc("").as_bytes(), &clash);
    assert_eq!(out.len(), 1);
    assert!(matches!(&out[0], Err(e) if e.contains("start and end are both \"slut\"")));
    let sink = Sink::default();
    let encoder = Pmo.encoder(Box::new(sink), clash);
    assert!(encoder.finish().is_err());

    let not_a_name = profile_from("[profile]\nsystem = \"pmo\"\n[elements]\nnote = \"två ord\"\n");
    let out = decode(doc("").as_bytes(), &not_a_name);
    assert!(
        matches!(&out[0], Err(e) if e.contains("note = \"två ord\" is not an XML element name"))
    );
}

#[test]
fn every_element_key_is_declared_once_and_the_defaults_can_be_told_apart() {
    let mut keys = ELEMENT_KEYS.to_vec();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), ELEMENT_KEYS.len());
    assert_eq!(Pmo.element_keys(), ELEMENT_KEYS);
    Names::from_profile(&default_profile())
        .check()
        .expect("the default names are valid and distinct");
}

#[test]
fn the_documentation_and_the_schema_name_every_element() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let doc = std::fs::read_to_string(format!("{root}/docs/adapters/pmo.md"))
        .expect("docs/adapters/pmo.md");
    let xsd = std::fs::read_to_string(format!("{root}/schemas/pmo/pmo.xsd"))
        .expect("schemas/pmo/pmo.xsd");
    for (key, default) in DEFAULT_NAMES {
        assert!(
            doc.contains(&format!("| `{key}` | `{default}` |")),
            "docs/adapters/pmo.md does not list [elements] {key} = {default:?}"
        );
        assert!(
            xsd.contains(&format!("name=\"{default}\"")),
            "schemas/pmo/pmo.xsd does not declare <{default}>"
        );
    }
}

#[test]
fn a_bad_record_is_refused_with_its_field_and_the_next_is_read() {
    let xml = doc(&format!(
        "{NOTE_HEAD}<mall>Remiss</mall>\n<handelsetid>2019-02-30</handelsetid>\n<text>x</text>\n</anteckning>\n{NOTE_HEAD}<mall>Remiss</mall>\n<handelsetid>2019-02-28</handelsetid>\n<text>x</text>\n</anteckning>\n"
    ));
    let out = decode(xml.as_bytes(), &default_profile());
    assert_eq!(out.len(), 2);
    let e = out[0].as_ref().expect_err("impossible date");
    assert!(
        e.starts_with("record 1 (line 3) <anteckning>, field anteckning.handelsetid: "),
        "{e}"
    );
    assert!(out[1].is_ok());
}

#[test]
fn each_field_is_checked() {
    let cases: &[(&str, &str)] = &[
        (
            "<mall>Remiss</mall><text>x</text>",
            "field anteckning.handelsetid: required element <handelsetid> is missing",
        ),
        (
            "<mall>Remiss</mall><mall>Remiss</mall>",
            "field anteckning.mall: <mall> appears more than once",
        ),
        (
            "<mall>Remiss</mall><handelsetid>2019-01-01</handelsetid><okand/>",
            "unexpected element <okand>",
        ),
        (
            "<mall>Remiss</mall><handelsetid>2019-01-01</handelsetid>",
            "the note has no content",
        ),
        (
            "<mall>Remiss</mall><handelsetid>2019-01-01</handelsetid><text>a</text><sokord namn=\"b\">c</sokord>",
            "only one of them",
        ),
        (
            "<mall>Remiss</mall><handelsetid>2019-01-01</handelsetid><text a=\"1\">x</text>",
            "field anteckning.text.a: unexpected attribute",
        ),
        (
            "<mall>Remiss</mall><handelsetid>2019-01-01</handelsetid><sokord>x</sokord>",
            "field anteckning.sokord.namn: required attribute \"namn\" is missing",
        ),
        (
            "<mall>Remiss</mall><handelsetid>2019-01-01</handelsetid><text>x</text><journal>Tandvård</journal>",
            "field anteckning.journal: journal \"Tandvård\" is not mapped",
        ),
        (
            "<mall>Remiss</mall><handelsetid>2019-01-01</handelsetid><text>x</text><forfattare titel=\"Rektor\"/>",
            "field anteckning.forfattare.titel: title \"Rektor\" is not mapped",
        ),
        (
            "<mall>Remiss</mall><handelsetid>2019-01-01</handelsetid><text>x</text><forfattare hsa-id=\"SE123\"/>",
            "field anteckning.forfattare.hsa-id: invalid HSA-id",
        ),
        (
            "<mall>Remiss</mall><handelsetid>2019-01-01</handelsetid><text>x</text><patientsparr>ja</patientsparr>",
            "\"ja\" is not a boolean",
        ),
        (
            "<mall>Remiss</mall><handelsetid>2019-01-01</handelsetid><bilaga mediatyp=\"text/plain\">a b c</bilaga>",
            "not base64",
        ),
        (
            "<mall>Remiss</mall><handelsetid>2019-01-01</handelsetid><text>x</text><ersatter system=\"s\" id=\"1\"/><makulerad>r</makulerad>",
            "either amended",
        ),
    ];
    for (body, want) in cases {
        let xml = doc(&format!("{NOTE_HEAD}{body}\n</anteckning>\n"));
        let errs = errors(&xml);
        assert_eq!(errs.len(), 1, "{body}: {errs:?}");
        assert!(
            errs[0].contains(want),
            "{body}:\n  {}\n  wanted {want}",
            errs[0]
        );
    }
}

#[test]
fn identifiers_are_checked_against_their_declared_kind_and_never_shown_whole() {
    let patient = |id: &str| {
        doc(&format!(
            "<patient>\n{id}\n<fornamn>A</fornamn><efternamn>B</efternamn>\n</patient>\n"
        ))
    };
    let errs = errors(&patient("<id typ=\"samordningsnummer\">201201012380</id>"));
    assert!(
        errs[0].contains("typ says samordningsnummer, but 20120101-**** is a personnummer"),
        "{errs:?}"
    );
    let errs = errors(&patient("<id typ=\"personnummer\">201201012381</id>"));
    assert!(errs[0].contains("check digit"), "{errs:?}");
    assert!(!errs[0].contains("201201012381"), "{errs:?}");
    let errs = errors(&patient("<id typ=\"reservnummer\">20120315K121</id>"));
    assert!(
        errs[0].contains("invalid reservnummer \"20120315-****\": the check digit does not match"),
        "{errs:?}"
    );
    let errs = errors(&patient("<id typ=\"personnummer\">1201012380</id>"));
    assert!(errs[0].contains("wrong length"), "{errs:?}");
    let errs = errors(&patient("<id typ=\"lokal\">1</id>"));
    assert!(
        errs[0].contains("patient.id.namnrymd: required attribute"),
        "{errs:?}"
    );
    let errs = errors(&patient(
        "<id typ=\"personnummer\" namnrymd=\"x\">201201012380</id>",
    ));
    assert!(errs[0].contains("goes only with typ=\"lokal\""), "{errs:?}");
    // A hyphen after the date is accepted; surrounding blanks too.
    let out = decode(
        patient("<id typ=\"personnummer\"> 20120101-2380 </id>").as_bytes(),
        &default_profile(),
    );
    let Ok(Record::Person(person)) = &out[0] else {
        panic!("{out:?}");
    };
    assert_eq!(person.identifiers, vec![pupil()]);
}

#[test]
fn values_are_read_leniently_where_exports_differ() {
    let xml = doc(
        "<matning system=\"pmo:test\" id=\"m1\">\n<patient typ=\"personnummer\">201201012380</patient>\n<matningstyp>Längd</matningstyp>\n<tid> 2019-05-14 </tid>\n<varde enhet=\"cm\"> 120,5 </varde>\n</matning>\n<anteckning system=\"pmo:test\" id=\"n1\">\n<patient typ=\"personnummer\">201201012380</patient>\n<mall>Psykologanteckning</mall>\n<handelsetid>2019-05-14</handelsetid>\n<bilaga mediatyp=\"text/plain\">\n  aGVq\n  ZA==\n</bilaga>\n</anteckning>\n",
    );
    let out = decode_ok(xml.as_bytes(), &default_profile());
    let Record::Measurement(m) = &out[0] else {
        panic!("a measurement");
    };
    assert_eq!(
        m.value,
        MeasurementValue::Quantity {
            value: 120.5,
            unit: "cm".to_owned()
        }
    );
    assert_eq!(m.secrecy_domain, SecrecyDomain::EmiMedical);
    let Record::JournalEntry(n) = &out[1] else {
        panic!("a note");
    };
    // No journal: the template decides the secrecy domain.
    assert_eq!(n.secrecy_domain, SecrecyDomain::Psychological);
    assert!(matches!(&n.content, NoteContent::Attachment(a) if a.data == "aGVqZA=="));
    for bad in ["1e3", "inf", "NaN", "1.2.3", "", "-"] {
        let xml = doc(&format!(
            "<matning system=\"s\" id=\"m\">\n<patient typ=\"personnummer\">201201012380</patient>\n<matningstyp>Längd</matningstyp>\n<tid>2019-05-14</tid>\n<varde enhet=\"cm\">{bad}</varde>\n</matning>\n"
        ));
        let errs = errors(&xml);
        assert!(
            errs[0].contains("is not a decimal number"),
            "{bad}: {errs:?}"
        );
    }
}

#[test]
fn an_unknown_measurement_or_template_is_refused_by_the_profile() {
    let xml = doc(
        "<matning system=\"s\" id=\"m\">\n<patient typ=\"personnummer\">201201012380</patient>\n<matningstyp>Armlängd</matningstyp>\n<tid>2019-05-14</tid>\n<fynd>normal</fynd>\n</matning>\n",
    );
    let errs = errors(&xml);
    assert!(
        errs[0].contains("field matning.matningstyp: measurement \"Armlängd\" is not mapped by profile \"Brygga standard\""),
        "{errs:?}"
    );
    let rejecting = profile_from(
        "[profile]\nsystem = \"pmo\"\nname = \"Strikt\"\nunmapped_keywords = \"reject\"\n[note_types]\n\"Remiss\" = \"referral\"\n",
    );
    let xml = doc(&format!(
        "{NOTE_HEAD}<mall>Tandvård</mall>\n<handelsetid>2019-01-01</handelsetid>\n<text>x</text>\n</anteckning>\n"
    ));
    let out = decode(xml.as_bytes(), &rejecting);
    let e = out[0].as_ref().expect_err("unmapped");
    assert!(
        e.contains(
            "field anteckning.mall: note type \"Tandvård\" is not mapped by profile \"Strikt\""
        ),
        "{e}"
    );
}

#[test]
fn hostile_or_broken_documents_are_fatal() {
    let fatal = |xml: &str| {
        let out = decode(xml.as_bytes(), &default_profile());
        let last = out.last().expect("an item");
        assert!(
            matches!(last, Err(e) if e.starts_with("fatal: ")),
            "{out:?}"
        );
        last.as_ref().expect_err("fatal").clone()
    };
    assert!(fatal("<?xml version=\"1.0\"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>\n<pmo-export/>").contains("record 1 (line 2): DOCTYPE"));
    assert!(fatal(&doc("<patient>&e;</patient>\n")).contains("entity reference &e;"));
    assert!(fatal("<pmo-export>\n<patient>").contains("truncated"));
    assert!(fatal("<export/>").contains("the root element is <export>, expected <pmo-export>"));
    assert!(fatal("<pmo-export version=\"2\"/>").contains("format version \"2\""));
    let mut latin1 = b"<pmo-export>\n<patient><fornamn>".to_vec();
    latin1.push(0xC5);
    latin1
        .write_all(b"sa</fornamn></patient>\n</pmo-export>\n")
        .expect("in memory");
    let out = decode(&latin1, &default_profile());
    assert!(
        matches!(out.last(), Some(Err(e)) if e.contains("fatal: ") && e.contains("UTF-8")),
        "{out:?}"
    );
}

#[test]
fn unknown_records_and_stray_text_are_refused_and_reading_goes_on() {
    let xml = doc("<betyg/>\nstray\n<vardenhet id=\"x\"><namn>E</namn></vardenhet>\n");
    let out = decode(xml.as_bytes(), &default_profile());
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(
        matches!(&out[0], Err(e) if e.starts_with("record 1 (line 3) <betyg>: unknown record <betyg>")),
        "{out:?}"
    );
    assert!(
        matches!(&out[1], Err(e) if e.contains("text between records")),
        "{out:?}"
    );
    assert!(matches!(&out[2], Ok(Record::Organisation(o)) if o.name == "E"));
}

#[test]
fn base64_is_checked_as_xml_schema_checks_it() {
    for good in ["", "QQ==", "QUI=", "QUJD", "SW50eWcgb20gaMOkbHNhCg=="] {
        assert!(super::is_base64(good), "{good}");
    }
    for bad in [
        "Q",
        "QR==",
        "QUJ=",
        "QQ=A",
        "Q===",
        "QU J",
        "QUJ\n",
        "====",
        "QQ==".replace('=', "-").as_str(),
    ] {
        assert!(!super::is_base64(bad), "{bad}");
    }
}

#[test]
fn a_record_nested_thousands_deep_is_refused_without_overflowing_the_stack() {
    let depth = 200_000;
    let xml = doc(&format!(
        "<anteckning>{}{}</anteckning>\n<vardenhet id=\"x\"><namn>E</namn></vardenhet>\n",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    ));
    // Run on a small stack, so that a recursive drop would fail here too.
    let out = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            decode(xml.as_bytes(), &default_profile())
                .into_iter()
                .map(|item| item.map(|_| ()))
                .collect::<Vec<_>>()
        })
        .expect("thread")
        .join()
        .expect("no overflow");
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(
        // The XML reader's own depth limit refuses it before the decoder's.
        matches!(&out[0], Err(e) if e.contains("nested more than 3 levels deep")
            || e.contains("nests elements more than 64 deep")),
        "{out:?}"
    );
    assert!(out[1].is_ok());
}
