//! Tests of the FHIR formats as a whole: round trips, order, the write
//! profiles, protected identity, and the reader's refusals.
//!
//! The golden vectors' FHIR files are what the encoder writes for their
//! `expected.ndjson`; `BRYGGA_BLESS_FHIR=1 cargo test -p brygga-adapters fhir`
//! rewrites them after a deliberate change of the mapping (review the diff).

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use brygga_mapping::id::{Identifier, PersonId};
use brygga_mapping::model::*;
use brygga_mapping::ndjson::NdjsonReader;
use brygga_mapping::profile::Profile;
use brygga_mapping::time::ClinicalTime;

use super::*;
use crate::{DecodeError, EncodeError};

fn profile() -> Arc<Profile> {
    Arc::new(Profile::builtin("pmo"))
}

fn vectors(format: &str, case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../conformance-tests/vectors")
        .join(format)
        .join(case)
}

fn main_records() -> Vec<Record> {
    let path = vectors("fhir-ndjson", "main").join("expected.ndjson");
    let file = std::fs::File::open(&path).expect("main vector");
    NdjsonReader::new(BufReader::new(file))
        .collect::<Result<_, _>>()
        .expect("valid canonical records")
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Encodes with `format`; the refusals by record index.
fn encode(format: &Fhir, records: &[Record]) -> (Vec<u8>, Vec<(usize, String)>) {
    let out = Shared::default();
    let mut encoder = format.encoder(Box::new(out.clone()), profile());
    let mut refused = Vec::new();
    for (index, record) in records.iter().enumerate() {
        match encoder.encode(record) {
            Ok(()) => {}
            Err(EncodeError::Unsupported(reason)) => refused.push((index, reason)),
            Err(e) => panic!("write failed: {e}"),
        }
    }
    encoder.finish().expect("finish");
    let bytes = out.0.lock().expect("lock").clone();
    (bytes, refused)
}

fn decode(format: &Fhir, bytes: &[u8]) -> (Vec<Record>, Vec<String>) {
    let mut decoder = format.decoder(Box::new(std::io::Cursor::new(bytes.to_vec())), profile());
    let mut records = Vec::new();
    let mut errors = Vec::new();
    while let Some(item) = decoder.next_record() {
        match item {
            Ok(record) => records.push(record),
            Err(DecodeError::Reject(r)) => errors.push(r.to_string()),
            Err(DecodeError::Fatal(f)) => errors.push(format!("fatal: {f}")),
        }
    }
    (records, errors)
}

fn lines(bytes: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8(bytes.to_vec())
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

fn bless_or_compare(path: &Path, bytes: &[u8]) {
    if std::env::var_os("BRYGGA_BLESS_FHIR").is_some() {
        std::fs::write(path, bytes).expect("write vector");
        return;
    }
    let want = std::fs::read(path).unwrap_or_default();
    assert!(
        want == bytes,
        "{} is not what the encoder writes now; rerun with BRYGGA_BLESS_FHIR=1 if the change is deliberate",
        path.display()
    );
}

#[test]
fn the_main_vectors_are_what_the_encoders_write() {
    let records = main_records();
    for format in [&FHIR_NDJSON, &FHIR_BUNDLE] {
        let (bytes, refused) = encode(format, &records);
        assert!(refused.is_empty(), "{refused:?}");
        let dir = vectors(format.name, "main");
        bless_or_compare(&dir.join("input.ndjson"), &bytes);
        bless_or_compare(&dir.join("reencoded.ndjson"), &bytes);
        if format.name == "fhir-bundle" {
            bless_or_compare(
                &dir.join("expected.ndjson"),
                &std::fs::read(vectors("fhir-ndjson", "main").join("expected.ndjson"))
                    .expect("expected"),
            );
        }
    }
}

#[test]
fn every_record_comes_back_exactly_in_both_layouts() {
    let records = main_records();
    for format in [&FHIR_NDJSON, &FHIR_BUNDLE] {
        let (bytes, refused) = encode(format, &records);
        assert!(refused.is_empty(), "{refused:?}");
        let (back, errors) = decode(format, &bytes);
        assert!(errors.is_empty(), "{}: {errors:?}", format.name);
        assert_eq!(back.len(), records.len());
        for (want, got) in records.iter().zip(&back) {
            assert_eq!(want, got, "{}", format.name);
        }
    }
}

#[test]
fn encoding_is_deterministic() {
    let records = main_records();
    for format in [&FHIR_NDJSON, &FHIR_BUNDLE, &FHIR_BUNDLE_EHR_STRICT] {
        assert_eq!(encode(format, &records).0, encode(format, &records).0);
    }
}

fn person(id: &str) -> Person {
    Person {
        identifiers: vec![Identifier::Person(
            PersonId::parse_normalized(id).expect("test personnummer"),
        )],
        given_name: "Test".into(),
        family_name: "Testsson".into(),
        birth_date: None,
        sex: None,
        security_marking: SecurityMarking::None,
        guardians: Vec::new(),
        addresses: vec![Address {
            kind: AddressKind::Registered,
            lines: vec!["Hemliga vägen 7".into()],
            postal_code: Some("99977".into()),
            city: Some("Gömstad".into()),
            country: None,
        }],
        telecom: vec![Telecom {
            kind: TelecomKind::Mobile,
            value: "070-1740699".into(),
        }],
        municipality_code: Some("9999".into()),
    }
}

#[test]
fn a_protected_persons_address_and_telecom_never_leave() {
    for marking in [
        SecurityMarking::Sekretessmarkering,
        SecurityMarking::SkyddadFolkbokforing,
    ] {
        let mut protected = person("201501012395");
        protected.security_marking = marking;
        for format in [&FHIR_NDJSON, &FHIR_BUNDLE, &FHIR_BUNDLE_EHR_STRICT] {
            let (bytes, refused) = encode(format, &[Record::Person(protected.clone())]);
            assert!(refused.is_empty());
            let text = String::from_utf8(bytes.clone()).expect("utf-8");
            for secret in [
                "Hemliga",
                "99977",
                "Gömstad",
                "070-1740699",
                "address",
                "telecom",
            ] {
                assert!(!text.contains(secret), "{secret} leaked: {text}");
            }
            assert!(text.contains("\"code\":\"R\""), "{text}");
            assert!(
                text.contains(vocab::security_marking::code(marking)),
                "{text}"
            );
            // Identity, name and municipality still pass.
            assert!(text.contains("201501012395") && text.contains("Testsson"));
            assert!(text.contains("9999"));
            let (back, errors) = decode(format, &bytes);
            assert!(errors.is_empty(), "{errors:?}");
            let Record::Person(back) = &back[0] else {
                panic!("a person")
            };
            assert_eq!(back.security_marking, marking);
            assert!(back.addresses.is_empty() && back.telecom.is_empty());
        }
    }
    let (bytes, _) = encode(&FHIR_NDJSON, &[Record::Person(person("201501012395"))]);
    let text = String::from_utf8(bytes).expect("utf-8");
    assert!(
        text.contains("Gömstad"),
        "an unprotected person's address is written"
    );
}

fn note(id: &str, event: &str) -> JournalEntry {
    JournalEntry {
        source: SourceRef {
            system: "pmo:test".into(),
            record_id: id.into(),
            version: 1,
        },
        patient: Identifier::Person(PersonId::parse_normalized("201201012380").expect("pnr")),
        event_time: ClinicalTime::parse(event).expect("time"),
        author_time: None,
        signing_time: Some(ClinicalTime::parse("2020-01-02T10:00:00+01:00").expect("time")),
        record_time: None,
        author: None,
        signer: None,
        care_provider: None,
        care_unit: None,
        contact: None,
        note_type: NoteType {
            code: NoteTypeCode::GeneralNote,
            original: None,
        },
        title: None,
        content: NoteContent::Text {
            text: "Text.".into(),
        },
        status: EntryStatus::Current,
        secrecy_domain: SecrecyDomain::EmiMedical,
        approved_for_patient: false,
        patient_block: false,
        withheld: Vec::new(),
    }
}

#[test]
fn ehr_strict_refuses_what_the_ehr_cannot_take_and_says_why() {
    let good = note("ok", "2020-01-01T09:00:00+01:00");
    let mut nullified = note("nullified", "2020-01-01T09:00:00+01:00");
    nullified.status = EntryStatus::Nullified {
        reason: "Fel patient".into(),
    };
    let mut unsigned = note("unsigned", "2020-01-01T09:00:00+01:00");
    unsigned.signing_time = None;
    let date_only = note("date-only", "2020-01-01");
    let mut pdf = note("pdf", "2020-01-01T09:00:00+01:00");
    pdf.content = NoteContent::Attachment(Attachment {
        media_type: "application/pdf".into(),
        title: None,
        data: "JVBERi0xLjQK".into(),
    });
    let records: Vec<Record> = [&good, &nullified, &unsigned, &date_only, &pdf]
        .into_iter()
        .cloned()
        .map(Record::JournalEntry)
        .collect();
    let (bytes, refused) = encode(&FHIR_BUNDLE_EHR_STRICT, &records);
    let reasons: Vec<&str> = refused.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(
        refused.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [1, 2, 3, 4],
        "{reasons:?}"
    );
    assert!(reasons[0].contains("status=current"), "{}", reasons[0]);
    assert!(reasons[1].contains("docStatus=final"), "{}", reasons[1]);
    assert!(reasons[2].contains("date only"), "{}", reasons[2]);
    assert!(reasons[3].contains("charset"), "{}", reasons[3]);
    // The same notes all go under se-base.
    assert!(encode(&FHIR_BUNDLE, &records).1.is_empty());

    let bundle = &lines(&bytes)[0];
    let document = bundle["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["resourceType"] == "DocumentReference")
        .expect("a DocumentReference");
    assert_eq!(document["status"], "current");
    assert_eq!(document["docStatus"], "final");
    assert_eq!(document["content"].as_array().map(Vec::len), Some(1));
    assert!(
        document["content"][0]["attachment"]["contentType"]
            .as_str()
            .is_some_and(|t| t.contains("charset="))
    );
    assert_eq!(
        document["context"]["period"]["end"],
        document["context"]["period"]["start"]
    );
    assert!(
        document["content"][0]["attachment"]
            .get("creation")
            .is_none()
    );
    assert!(document.get("date").is_none());
}

#[test]
fn ehr_strict_moves_the_creation_date_to_an_extension_and_provenance() {
    let mut entry = note("n", "2020-01-01T09:00:00+01:00");
    entry.author_time = Some(ClinicalTime::parse("2020-01-01T09:30:00+01:00").expect("time"));
    let records = [Record::JournalEntry(entry)];
    let (strict, refused) = encode(&FHIR_NDJSON_EHR_STRICT, &records);
    assert!(refused.is_empty());
    let resources = lines(&strict);
    let document = &resources[0];
    assert!(
        document["content"][0]["attachment"]
            .get("creation")
            .is_none()
    );
    assert!(
        document["extension"]
            .as_array()
            .expect("extensions")
            .iter()
            .any(|e| e["url"] == vocab::EXT_AUTHOR_TIME
                && e["valueDateTime"] == "2020-01-01T09:30:00+01:00")
    );
    let provenance = &resources[1];
    assert_eq!(provenance["resourceType"], "Provenance");
    assert_eq!(provenance["occurredDateTime"], "2020-01-01T09:30:00+01:00");
    // Read back, it is the same record.
    assert_eq!(decode(&FHIR_NDJSON_EHR_STRICT, &strict).0, records);
    let (base, _) = encode(&FHIR_NDJSON, &records);
    assert_eq!(
        lines(&base)[0]["content"][0]["attachment"]["creation"],
        "2020-01-01T09:30:00+01:00"
    );
}

#[test]
fn each_patients_resources_come_out_patient_first_and_in_order() {
    let later = note("later", "2021-05-01T09:00:00+02:00");
    let earlier = note("earlier", "2020-05-01");
    let same_day_timed = note("timed", "2020-05-01T08:00:00+02:00");
    let records = vec![
        Record::JournalEntry(later),
        Record::JournalEntry(same_day_timed),
        Record::Person(person("201201012380")),
        Record::JournalEntry(earlier),
    ];
    let (bytes, refused) = encode(&FHIR_NDJSON, &records);
    assert!(refused.is_empty());
    let order: Vec<String> = lines(&bytes)
        .iter()
        .filter(|r| r["resourceType"] != "Provenance")
        .map(|r| {
            r["identifier"][0]["value"]
                .as_str()
                .unwrap_or("patient")
                .to_owned()
        })
        .collect();
    assert_eq!(order, ["201201012380", "earlier", "timed", "later"]);
}

#[test]
fn a_replaced_note_is_superseded_under_se_base_only() {
    let mut first = note("n", "2020-01-01T09:00:00+01:00");
    first.author_time = Some(ClinicalTime::parse("2020-01-01T09:10:00+01:00").expect("time"));
    let mut second = first.clone();
    second.source.version = 2;
    second.author_time = Some(ClinicalTime::parse("2020-01-05T09:00:00+01:00").expect("time"));
    second.status = EntryStatus::Amended {
        supersedes: first.source.clone(),
    };
    let records = [
        Record::JournalEntry(first.clone()),
        Record::JournalEntry(second),
    ];
    let statuses = |format: &Fhir| -> Vec<String> {
        lines(&encode(format, &records).0)
            .iter()
            .filter(|r| r["resourceType"] == "DocumentReference")
            .map(|r| r["status"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(statuses(&FHIR_NDJSON), ["superseded", "current"]);
    assert_eq!(statuses(&FHIR_NDJSON_EHR_STRICT), ["current", "current"]);
    // Both versions are resources of their own, and read back unchanged.
    let (bytes, _) = encode(&FHIR_NDJSON, &records);
    let ids: Vec<String> = lines(&bytes)
        .iter()
        .filter(|r| r["resourceType"] == "DocumentReference")
        .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_ne!(ids[0], ids[1]);
    assert_eq!(decode(&FHIR_NDJSON, &bytes).0, records);
}

#[test]
fn ids_are_the_same_on_every_run_and_within_fhirs_rules() {
    let (bytes, _) = encode(&FHIR_NDJSON, &main_records());
    for resource in lines(&bytes) {
        let id = resource["id"].as_str().expect("id");
        assert!(
            id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'),
            "{id}"
        );
    }
    let entry = note("n-1", "2020-01-01T09:00:00+01:00");
    let id = ids::source_id("DocumentReference", &entry.source);
    assert_eq!(
        lines(&encode(&FHIR_NDJSON, &[Record::JournalEntry(entry)]).0)[0]["id"],
        id.as_str()
    );
}

#[test]
fn school_records_are_refused_with_the_reason() {
    let grade = Record::Grade(Grade {
        source: SourceRef {
            system: "ss12000:test".into(),
            record_id: "g".into(),
            version: 1,
        },
        pupil: Identifier::Person(PersonId::parse_normalized("201201012380").expect("pnr")),
        school_unit: None,
        subject_code: "MA".into(),
        course_code: None,
        grade_value: "A".into(),
        final_grade: false,
        trial: false,
        correction: None,
        semester: Semester::VT,
        year: 2024,
        registered_date: ClinicalTime::parse("2024-06-10")
            .expect("date")
            .local_date(),
    });
    let (bytes, refused) = encode(&FHIR_NDJSON, &[grade]);
    assert!(bytes.is_empty());
    assert!(refused[0].1.contains("school record"), "{refused:?}");
}

#[test]
fn what_fhir_strings_cannot_hold_is_refused_not_changed() {
    let mut entry = note("n", "2020-01-01T09:00:00+01:00");
    entry.title = Some(String::new());
    let (_, refused) = encode(&FHIR_NDJSON, &[Record::JournalEntry(entry.clone())]);
    assert!(refused[0].1.contains("title is empty"), "{refused:?}");
    entry.title = Some("non\u{a0}breaking".into());
    let (_, refused) = encode(&FHIR_NDJSON, &[Record::JournalEntry(entry.clone())]);
    assert!(refused[0].1.contains("U+00A0"), "{refused:?}");
    entry.title = None;
    entry.content = NoteContent::Attachment(Attachment {
        media_type: "text/plain; charset=utf-8".into(),
        title: None,
        data: "not base64!".into(),
    });
    let (_, refused) = encode(&FHIR_NDJSON, &[Record::JournalEntry(entry)]);
    assert!(refused[0].1.contains("base64"), "{refused:?}");
}

#[test]
fn samordningsnummer_and_rivta_oids_are_read() {
    let birth = ClinicalTime::parse("2012-01-01")
        .expect("date")
        .local_date();
    let id = PersonId::samordningsnummer(birth, 238).expect("samordningsnummer");
    let mut entry = note("n", "2020-01-01T09:00:00+01:00");
    entry.patient = Identifier::Person(id);
    let records = [Record::JournalEntry(entry)];
    let (bytes, _) = encode(&FHIR_NDJSON, &records);
    let text = String::from_utf8(bytes).expect("utf-8");
    assert!(text.contains("http://electronichealth.se/identifier/samordningsnummer"));
    assert_eq!(decode(&FHIR_NDJSON, text.as_bytes()).0, records);
    let oid = text.replace(
        "http://electronichealth.se/identifier/samordningsnummer",
        vocab::SAMORDNINGSNUMMER_OID,
    );
    assert_eq!(decode(&FHIR_NDJSON, oid.as_bytes()).0, records);
    let wrong = text.replace(
        "http://electronichealth.se/identifier/samordningsnummer",
        "http://electronichealth.se/identifier/personnummer",
    );
    let (_, errors) = decode(&FHIR_NDJSON, wrong.as_bytes());
    assert!(
        errors[0].contains("is a samordningsnummer, but the system says personnummer"),
        "{errors:?}"
    );
    assert!(!errors[0].contains(id.as_str()), "masked");
}

#[test]
fn the_reader_refuses_what_it_cannot_read_and_goes_on() {
    let (bytes, _) = encode(
        &FHIR_NDJSON,
        &[Record::JournalEntry(note("n", "2020-01-01T09:00:00+01:00"))],
    );
    let good = String::from_utf8(bytes).expect("utf-8");
    let document = good.lines().next().expect("line");
    let modifier = document.replacen(
        "\"status\"",
        "\"modifierExtension\":[{\"url\":\"urn:x\",\"valueBoolean\":true}],\"status\"",
        1,
    );
    let input = format!(
        "{{\"resourceType\":\"AllergyIntolerance\",\"id\":\"a\"}}\n{modifier}\nnot json\n{good}"
    );
    let (records, errors) = decode(&FHIR_NDJSON, input.as_bytes());
    assert_eq!(records.len(), 1);
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors[0].starts_with("record 1 (line 1) AllergyIntolerance, field resourceType"),
        "{errors:?}"
    );
    assert!(
        errors[1].contains("DocumentReference.modifierExtension"),
        "{errors:?}"
    );
    assert!(
        errors[2].starts_with("record 3 (line 3): expected"),
        "{errors:?}"
    );
}

#[test]
fn the_directory_layout_writes_one_file_per_resource_type() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut encoder = FHIR_NDJSON
        .directory_encoder(dir.path(), profile())
        .expect("directory encoder");
    for record in main_records() {
        encoder.encode(&record).expect("encodes");
    }
    encoder.finish().expect("finish");
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "Consent.ndjson",
            "DocumentReference.ndjson",
            "Encounter.ndjson",
            "Immunization.ndjson",
            "Observation.ndjson",
            "Organization.ndjson",
            "Patient.ndjson",
            "Practitioner.ndjson",
            "PractitionerRole.ndjson",
            "Provenance.ndjson",
            "RelatedPerson.ndjson",
        ]
    );
    for name in names {
        let text = std::fs::read_to_string(dir.path().join(&name)).expect("read");
        let resource_type = name.trim_end_matches(".ndjson");
        for line in text.lines() {
            let value: serde_json::Value = serde_json::from_str(line).expect("json");
            assert_eq!(value["resourceType"], resource_type);
        }
    }
    // Each file read on its own gives its records.
    let patients = std::fs::read(dir.path().join("Patient.ndjson")).expect("patients");
    let (persons, errors) = decode(&FHIR_NDJSON, &patients);
    assert!(errors.is_empty(), "{errors:?}");
    let expected: Vec<Record> = main_records()
        .into_iter()
        .filter(|r| matches!(r, Record::Person(_)))
        .collect();
    assert_eq!(persons, expected);
}

#[test]
fn patient_resources_and_bundles_for_a_rest_sink() {
    let records = main_records();
    let patient: Vec<Record> = records
        .iter()
        .filter(|r| {
            r.subject()
                .is_some_and(|s| matches!(s, Identifier::Person(p) if p.as_str() == "201201012380"))
        })
        .cloned()
        .collect();
    let mapped = patient_resources(&patient, WriteProfile::EhrStrict);
    // n-2 is unsigned, n-4 nullified: refused under ehr-strict; n-3 is date-only.
    let refused: Vec<usize> = mapped.refused.iter().map(|(i, _)| *i).collect();
    assert_eq!(refused.len(), 3, "{:?}", mapped.refused);
    assert!(matches!(mapped.resources[0], types::Resource::Patient(_)));
    let bundle = transaction_bundle(mapped.resources);
    assert_eq!(bundle.type_, "transaction");
    for entry in &bundle.entry {
        let request = entry.request.as_ref().expect("request");
        let resource = entry.resource.as_ref().expect("resource");
        assert_eq!(request.method, "PUT");
        assert_eq!(
            request.url,
            format!("{}/{}", resource.type_name(), resource.id())
        );
    }
}

#[test]
fn write_profiles_have_names_for_configuration() {
    assert_eq!(
        WriteProfile::parse("ehr-strict"),
        Some(WriteProfile::EhrStrict)
    );
    assert_eq!(WriteProfile::parse("se-base"), Some(WriteProfile::SeBase));
    assert_eq!(WriteProfile::parse("strict"), None);
    let options = FhirOptions {
        layout: Layout::Bundle,
        profile: WriteProfile::EhrStrict,
    };
    assert_eq!(options.format().name(), "fhir-bundle-ehr-strict");
    assert_eq!(options.format().options(), options);
    for name in [
        "fhir-ndjson",
        "fhir-bundle",
        "fhir-ndjson-ehr-strict",
        "fhir-bundle-ehr-strict",
    ] {
        assert!(crate::registry::format(name).is_some(), "{name} registered");
    }
}

/// Encodes with `format`, each batch prepared first (as a migration does
/// on other threads); the refusals by record index.
fn encode_prepared(format: &Fhir, batches: &[&[Record]]) -> (Vec<u8>, Vec<(usize, String)>) {
    let out = Shared::default();
    let mut encoder = format.encoder(Box::new(out.clone()), profile());
    let preparer = encoder.preparer().expect("the FHIR encoders prepare");
    let mut refused = Vec::new();
    let mut index = 0;
    for batch in batches {
        let prepared = preparer.prepare(batch);
        for answer in encoder.encode_prepared(batch, prepared) {
            match answer {
                Ok(()) => {}
                Err(EncodeError::Unsupported(reason)) => refused.push((index, reason)),
                Err(e) => panic!("write failed: {e}"),
            }
            index += 1;
        }
    }
    encoder.finish().expect("finish");
    let bytes = out.0.lock().expect("lock").clone();
    (bytes, refused)
}

#[test]
fn prepared_groups_are_written_as_record_by_record_encoding_writes_them() {
    let mut records = main_records();
    let mut first = note("n", "2020-01-01T09:00:00+01:00");
    let mut second = first.clone();
    second.source.version = 2;
    second.status = EntryStatus::Amended {
        supersedes: first.source.clone(),
    };
    first.author_time = Some(ClinicalTime::parse("2020-01-01T09:10:00+01:00").expect("time"));
    let mut refused_note = note("bad", "2020-01-02T09:00:00+01:00");
    refused_note.title = Some(String::new());
    records.extend([
        Record::JournalEntry(second),
        Record::JournalEntry(refused_note),
        Record::JournalEntry(first),
    ]);
    // One batch per group, as a migration sends them.
    let mut groups: Vec<&[Record]> = Vec::new();
    let mut start = 0;
    for i in 1..=records.len() {
        if i == records.len() || records[i].subject() != records[start].subject() {
            groups.push(&records[start..i]);
            start = i;
        }
    }
    assert!(groups.len() >= 4, "{} groups", groups.len());
    // Batches that are not one group each, or continue the group of the
    // batch before: encoded record by record.
    let second_group = groups[0].len();
    assert!(groups[1].len() >= 3);
    let mixed: Vec<&[Record]> = vec![
        &records[..second_group + 1],
        &records[second_group + 1..second_group + 2],
        &records[second_group + 2..],
    ];
    let preparer = FHIR_NDJSON
        .encoder(Box::new(std::io::sink()), profile())
        .preparer()
        .expect("a preparer");
    let prepared = |batch: &[Record]| preparer.prepare(batch).take::<stream::PreparedGroup>();
    assert!(prepared(groups[1]).is_some());
    assert!(prepared(mixed[0]).is_none());
    for format in [
        &FHIR_NDJSON,
        &FHIR_BUNDLE,
        &FHIR_NDJSON_EHR_STRICT,
        &FHIR_BUNDLE_EHR_STRICT,
    ] {
        let (want, want_refused) = encode(format, &records);
        assert!(!want_refused.is_empty(), "{}: a refusal", format.name);
        for batches in [&groups, &mixed] {
            let (got, got_refused) = encode_prepared(format, batches);
            assert_eq!(got_refused, want_refused, "{}", format.name);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "{}",
                format.name
            );
        }
    }
}
