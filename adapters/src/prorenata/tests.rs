//! The ProRenata format as a whole: round trips, both layouts, the
//! discriminator in any place, `[elements]`, and what is refused.

use std::io::{Cursor, Write};
use std::sync::{Arc, Mutex};

use brygga_mapping::model::Record;
use brygga_mapping::profile::Profile;

use super::ProRenata;
use crate::{DecodeError, EncodeError, Format};

/// Canonical records covering every type and variant the export holds.
const RECORDS: &str = r#"{"type":"organisation","id":"hsa:SE9999990001-E000000000000","kind":"care_provider","name":"Syntetiska kommunen","hsa_id":"SE9999990001-E000000000000","organisation_number":"9999990001","municipality_code":"9999"}
{"type":"organisation","id":"group:99990001-4A","kind":"group","name":"4A","parent":"skolenhet:99990001","school_year":4}
{"type":"person","identifiers":[{"system":"personnummer","value":"201503082396"},{"system":"local","namespace":"prorenata:syntetisk","value":"elev-17"}],"given_name":"Saga","family_name":"Test","birth_date":"2015-03-08","sex":"female","security_marking":"skyddad_folkbokforing","guardians":[{"person":{"system":"personnummer","value":"198501012382"},"relation":"guardian"},{"person":{"system":"personnummer","value":"198501012390"},"relation":"other_responsible"}],"addresses":[{"kind":"registered","lines":["Testgatan 1","Lgh 1001"],"postal_code":"99901","city":"Syntetstad","country":"SE"}],"telecom":[{"kind":"mobile","value":"070-1740605"},{"kind":"email","value":"saga@example.com"}],"municipality_code":"9999"}
{"type":"person","identifiers":[],"given_name":"Utan","family_name":"Id"}
{"type":"contact","source":{"system":"prorenata:syntetisk","record_id":"c-1","version":1},"patient":{"system":"personnummer","value":"201503082396"},"kind":"health_visit","start":"2024-10-27T02:30:00+01:00","end":"2024-10-27T02:59:00+01:00","performer":{"hsa_id":"SE9999990001-P1000000404","name":"Julia Ahmed","profession":"nurse"},"care_unit":{"hsa_id":"SE9999990001-E000000000001","name":"Elevhälsan Björkskolan"},"secrecy_domain":"emi_medical"}
{"type":"contact","source":{"system":"prorenata:annan","record_id":"c-2","version":3},"patient":{"system":"local","namespace":"prorenata:annan","value":"p 9"},"kind":"phone","start":"2015-02-02","secrecy_domain":"counsellor"}
{"type":"journal_entry","source":{"system":"prorenata:syntetisk","record_id":"n-1","version":2},"patient":{"system":"personnummer","value":"201503082396"},"event_time":"2024-03-31T03:15:00+02:00","author_time":"2024-04-02T10:00:00+02:00","signing_time":"2024-04-09T08:00:00+02:00","record_time":"2024-03-31T03:20:00+02:00","author":{"hsa_id":"SE9999990001-P1000000404","name":"Julia Ahmed","profession":"nurse"},"signer":{"name":"Dr Test","profession":"physician"},"care_provider":{"hsa_id":"SE9999990001-E000000000000","name":"Syntetiska kommunen"},"care_unit":{"hsa_id":"SE9999990001-E000000000001"},"contact":"c-1","note_type":{"code":"health_visit","original":"Hälsobesök årskurs 4"},"title":"Hälsobesök \"åk 4\"","content":{"kind":"keywords","sections":[{"keyword":"Anamnes","text":"Rad ett\nrad två\t{[\\\"]}"},{"keyword":"Bedömning","text":""}]},"status":{"state":"amended","supersedes":{"system":"prorenata:syntetisk","record_id":"n-1","version":1}},"secrecy_domain":"emi_medical","approved_for_patient":true,"patient_block":true,"withheld":[{"part":"development_assessment","reason":"Vårdnadshavare avböjde"}]}
{"type":"journal_entry","source":{"system":"prorenata:syntetisk","record_id":"n-2","version":1},"patient":{"system":"personnummer","value":"201503082396"},"event_time":"2016-05-04","note_type":{"code":"unclassified","original":"Okänd mall"},"content":{"kind":"text","text":"Fritext."},"status":{"state":"nullified","reason":"Fel patient"},"secrecy_domain":"psychological","approved_for_patient":false,"patient_block":false}
{"type":"journal_entry","source":{"system":"prorenata:syntetisk","record_id":"n-3","version":1},"patient":{"system":"personnummer","value":"201503082396"},"event_time":"2023-01-10T09:00:00+01:00","note_type":{"code":"certificate","original":"Intyg"},"content":{"kind":"attachment","media_type":"text/plain; charset=utf-8","title":"Intyg","data":"SW50eWc="},"secrecy_domain":"special_education","approved_for_patient":false,"patient_block":false}
{"type":"measurement","source":{"system":"prorenata:syntetisk","record_id":"m-1","version":1},"patient":{"system":"personnummer","value":"201503082396"},"kind":"bmi","time":"2024-03-31T03:15:00+02:00","value":{"value":17.842105263157894,"unit":"kg/m2"},"performer":{"profession":"nurse"},"care_unit":{"hsa_id":"SE9999990001-E000000000001","name":"Elevhälsan Björkskolan"},"contact":"c-1","secrecy_domain":"emi_medical","original_code":"BMI"}
{"type":"measurement","source":{"system":"prorenata:syntetisk","record_id":"m-2","version":1},"patient":{"system":"personnummer","value":"201503082396"},"kind":"hearing_left","time":"2016-05-04","value":{"finding":"not_assessed"},"secrecy_domain":"emi_medical","original_code":"Hörsel vänster"}
{"type":"immunization","source":{"system":"prorenata:syntetisk","record_id":"v-1","version":2},"patient":{"system":"personnummer","value":"201503082396"},"time":"2024-09-02T10:00:00+02:00","vaccine":{"atc":"J07BM03","product":"Gardasil 9","programme":"hpv"},"dose_number":1,"lot":"X123","given_by":{"hsa_id":"SE9999990001-P1000000404","profession":"nurse"},"care_unit":{"hsa_id":"SE9999990001-E000000000001"},"secrecy_domain":"emi_medical","status":{"state":"nullified","reason":"Dubblett"}}
{"type":"immunization","source":{"system":"prorenata:syntetisk","record_id":"v-2","version":1},"patient":{"system":"personnummer","value":"201503082396"},"time":"2021-09-02","vaccine":{"atc":"J07BD52","programme":"mmr"},"secrecy_domain":"school_administration"}
"#;

fn records() -> Vec<Record> {
    RECORDS
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn builtin() -> Arc<Profile> {
    Arc::new(Profile::builtin("prorenata"))
}

/// A ProRenata profile extending the built-in default: `header` goes in its
/// `[profile]` table, `tables` after it.
fn profile_with(header: &str, tables: &str) -> Arc<Profile> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("default.toml"),
        include_str!("../../../config/mappings/default.toml"),
    )
    .unwrap();
    let path = dir.path().join("test.toml");
    std::fs::write(
        &path,
        format!(
            "[profile]\nsystem = \"prorenata\"\nextends = \"default.toml\"\n{header}\n{tables}"
        ),
    )
    .unwrap();
    let profile = Profile::load(&path).unwrap();
    ProRenata.check_profile(&profile).unwrap();
    Arc::new(profile)
}

fn profile(tables: &str) -> Arc<Profile> {
    profile_with("name = \"Test\"", tables)
}

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn encode(records: &[Record], profile: Arc<Profile>) -> String {
    let sink = Sink::default();
    let mut encoder = ProRenata.encoder(Box::new(sink.clone()), profile);
    for record in records {
        encoder.encode(record).unwrap();
    }
    encoder.finish().unwrap();
    String::from_utf8(sink.0.lock().unwrap().clone()).unwrap()
}

/// Every record and every error (rejects as their text, fatals prefixed).
fn decode(input: impl Into<Vec<u8>>, profile: Arc<Profile>) -> (Vec<Record>, Vec<String>) {
    let mut decoder = ProRenata.decoder(Box::new(Cursor::new(input.into())), profile);
    let mut records = Vec::new();
    let mut errors = Vec::new();
    while let Some(item) = decoder.next_record() {
        match item {
            Ok(record) => records.push(record),
            Err(e @ DecodeError::Reject(_)) => errors.push(e.to_string()),
            Err(e @ DecodeError::Fatal(_)) => errors.push(format!("fatal: {e}")),
        }
    }
    (records, errors)
}

/// Decodes input that should hold exactly one bad record, returning its
/// message.
fn refusal(input: &str, profile: Arc<Profile>) -> String {
    let (records, errors) = decode(input, profile);
    assert!(records.is_empty(), "{records:?}");
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors.into_iter().next().unwrap()
}

/// One journal note as the export writes it, with `fields` added.
fn note(fields: &str) -> String {
    format!(
        r#"{{"objectType":"journalNote","system":"prorenata:x","id":"1","patient":{{"civicNo":"196408233234"}},"template":"Hälsobesök","eventTime":"2024-01-10","text":"t"{fields}}}"#
    )
}

#[test]
fn every_record_survives_a_round_trip() {
    let records = records();
    let encoded = encode(&records, builtin());
    assert!(encoded.starts_with("[\n{\"objectType\":\"organisation\","));
    assert!(encoded.ends_with("}\n]\n"));
    assert_eq!(encoded.lines().count(), records.len() + 2);
    let (decoded, errors) = decode(encoded.clone(), builtin());
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(decoded, records);
    // Serde's own reading of the output agrees that it is one JSON array.
    let array: Vec<serde_json::Value> = serde_json::from_str(&encoded).unwrap();
    assert_eq!(array.len(), records.len());
}

#[test]
fn ndjson_and_any_layout_of_the_array_read_the_same() {
    let records = records();
    let encoded = encode(&records, builtin());
    let array: Vec<serde_json::Value> = serde_json::from_str(&encoded).unwrap();

    let ndjson: String = array.iter().map(|v| format!("{v}\n\n")).collect();
    let pretty = serde_json::to_string_pretty(&array).unwrap();
    let compact = serde_json::to_string(&array).unwrap();
    for (layout, input) in [("ndjson", ndjson), ("pretty", pretty), ("compact", compact)] {
        let (decoded, errors) = decode(input, builtin());
        assert!(errors.is_empty(), "{layout}: {errors:#?}");
        assert_eq!(decoded, records, "{layout}");
    }
}

#[test]
fn the_discriminator_may_come_anywhere_in_a_record() {
    // serde_json's map sorts keys, which puts objectType in the middle.
    let records = records();
    let encoded = encode(&records, builtin());
    let array: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(&encoded).unwrap();
    let moved: String = array
        .iter()
        .map(|object| format!("{}\n", serde_json::Value::Object(object.clone())))
        .collect();
    assert!(!moved.starts_with("{\"objectType\""));
    let (decoded, errors) = decode(moved, builtin());
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(decoded, records);
}

#[test]
fn a_record_without_its_own_name_gets_the_profile_name_for_its_code() {
    let mut records = records();
    let Some(Record::JournalEntry(note)) = records
        .iter_mut()
        .find(|r| r.type_name() == "journal_entry")
    else {
        panic!("no note");
    };
    note.note_type.original = None;
    let note = Record::JournalEntry(note.clone());
    let encoded = encode(std::slice::from_ref(&note), builtin());
    assert!(encoded.contains(r#""template":"Hälsobesök""#), "{encoded}");
    let (decoded, errors) = decode(encoded, builtin());
    assert!(errors.is_empty(), "{errors:?}");
    let Record::JournalEntry(back) = &decoded[0] else {
        panic!("{decoded:?}")
    };
    assert_eq!(back.note_type.original.as_deref(), Some("Hälsobesök"));
    assert_eq!(
        back.note_type.code,
        brygga_mapping::model::NoteTypeCode::HealthVisit
    );
}

#[test]
fn a_float_comes_back_bit_for_bit() {
    // serde_json's default number parsing misses this one by a unit in the
    // last place; the adapter turns on its exact parsing.
    let mut records = records();
    let Some(Record::Measurement(measurement)) =
        records.iter_mut().find(|r| r.type_name() == "measurement")
    else {
        panic!("no measurement");
    };
    measurement.value = brygga_mapping::model::MeasurementValue::Quantity {
        value: 134.140_674_327_566_61,
        unit: "cm".to_owned(),
    };
    let record = Record::Measurement(measurement.clone());
    let (decoded, errors) = decode(encode(std::slice::from_ref(&record), builtin()), builtin());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(decoded, [record]);
}

#[test]
fn zero_records_make_an_empty_array() {
    assert_eq!(encode(&[], builtin()), "[\n]\n");
    assert_eq!(decode("[\n]\n", builtin()), (vec![], vec![]));
}

#[test]
fn records_the_export_does_not_hold_are_refused_on_encode() {
    let grade = serde_json::from_str::<Record>(
        r#"{"type":"grade","source":{"system":"s","record_id":"1"},"pupil":{"system":"personnummer","value":"196408233234"},"subject_code":"MA","grade_value":"A","semester":"VT","year":2024,"registered_date":"2024-06-10"}"#,
    )
    .unwrap();
    let mut encoder = ProRenata.encoder(Box::new(Sink::default()), builtin());
    match encoder.encode(&grade) {
        Err(EncodeError::Unsupported(reason)) => {
            assert_eq!(reason, "a ProRenata export holds no grade records");
        }
        other => panic!("{other:?}"),
    }
    let mut records = records();
    let Some(Record::Measurement(measurement)) =
        records.iter_mut().find(|r| r.type_name() == "measurement")
    else {
        panic!("no measurement");
    };
    measurement.value = brygga_mapping::model::MeasurementValue::Quantity {
        value: f64::NAN,
        unit: "cm".to_owned(),
    };
    let record = Record::Measurement(measurement.clone());
    assert!(matches!(
        encoder.encode(&record),
        Err(EncodeError::Unsupported(_))
    ));
}

#[test]
fn a_journal_the_profile_cannot_name_is_refused_on_encode() {
    // A profile in which every name of the psychologists' journal reads
    // back as another domain cannot write that domain.
    let profile = profile(
        "[secrecy_domains]\n\"Psykologjournal\" = \"counsellor\"\n\"Psykologanteckning\" = \"counsellor\"\n\"Psykologbedömning\" = \"counsellor\"\n\"Psykologisk bedömning\" = \"counsellor\"\n\"Psykologisk utredning\" = \"counsellor\"\n",
    );
    let records = records();
    let mut encoder = ProRenata.encoder(Box::new(Sink::default()), profile.clone());
    let note = records
        .iter()
        .find(|r| matches!(r, Record::JournalEntry(n) if n.secrecy_domain == brygga_mapping::model::SecrecyDomain::Psychological))
        .unwrap();
    let Err(EncodeError::Unsupported(reason)) = encoder.encode(note) else {
        panic!("written");
    };
    assert!(
        reason.contains("names no journal for secrecy domain psychological"),
        "{reason}"
    );
}

#[test]
fn element_names_come_from_the_profile() {
    let renamed = profile("[elements]\ntype_field = \"typ\"\njournal_note = \"anteckning\"\n");
    let records = records();
    let encoded = encode(&records, renamed.clone());
    assert!(
        encoded.contains("{\"typ\":\"anteckning\",\"system\""),
        "{encoded}"
    );
    assert!(!encoded.contains("objectType"));
    let (decoded, errors) = decode(encoded.clone(), renamed);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(decoded, records);
    // With the default names the renamed export is not understood.
    let (_, errors) = decode(encoded, builtin());
    assert!(errors[0].ends_with(
        "field objectType: required field is missing; it names the record type, one of person, organisation, contact, journalNote, measurement, vaccination"
    ), "{errors:#?}");
}

#[test]
fn a_bad_record_limit_in_the_profile_is_fatal_before_the_first_record() {
    let (_, errors) = decode("[]", profile("[elements]\nmax_record_bytes = \"lots\"\n"));
    assert_eq!(
        errors,
        [
            "fatal: record 1: the profile's [elements] max_record_bytes \"lots\" is not a number of bytes from 1024 to 1073741824"
        ]
    );
    let small = profile("[elements]\nmax_record_bytes = \"1024\"\n");
    let long = note(&format!(r#","title":"{}""#, "x".repeat(2000)));
    let (records, errors) = decode(format!("{long}\n{}\n", note("")), small);
    assert_eq!(records.len(), 1);
    assert_eq!(
        errors,
        ["record 1 (line 1): the line is longer than the limit of 1024 bytes; it was skipped"]
    );
}

#[test]
fn messages_name_the_field_and_never_quote_a_person_id_or_note_text() {
    let builtin = builtin();
    assert_eq!(
        refusal(
            &note(r#","patient":{"civicNo":196408233234}"#).replacen(
                r#""patient":{"civicNo":"196408233234"},"#,
                "",
                1
            ),
            builtin.clone()
        ),
        "record 1 (line 1) journalNote, field journalNote.patient.civicNo: invalid type: a number, expected a string"
    );
    assert_eq!(
        refusal(
            &note("").replace("196408233234", "196408233235"),
            builtin.clone()
        ),
        "record 1 (line 1) journalNote, field journalNote.patient.civicNo: invalid personnummer \"19640823****\": check digit is 5, Luhn gives 4"
    );
    assert_eq!(
        refusal(
            &note(r#","keywords":"Eleven har ont i magen""#),
            builtin.clone()
        ),
        "record 1 (line 1) journalNote, field journalNote.keywords: invalid type: a string, expected a sequence"
    );
    assert_eq!(
        refusal(&note(r#","colour":"blue""#), builtin.clone()),
        "record 1 (line 1) journalNote, field journalNote.colour: unknown field \"colour\"; expected one of `system`, `id`, `version`, `patient`, `journal`, `template`, `title`, `eventTime`, `authorTime`, `signingTime`, `recordTime`, `author`, `signer`, `careProvider`, `careUnit`, `contactId`, `keywords`, `text`, `attachment`, `status`, `supersedes`, `nullifiedReason`, `approvedForPatient`, `patientBlock`, `withheld`"
    );
    assert_eq!(
        refusal(&note(r#","author":{"title":"Trollkarl"}"#), builtin.clone()),
        "record 1 (line 1) journalNote, field journalNote.author.title: title \"Trollkarl\" is not mapped by profile \"Brygga standard\"; add it under [professions]"
    );
    assert_eq!(
        refusal(&note(r#","journal":"Hemlig journal""#), builtin.clone()),
        "record 1 (line 1) journalNote, field journalNote.journal: journal \"Hemlig journal\" is not mapped by profile \"Brygga standard\"; add it under [secrecy_domains]"
    );
    assert_eq!(
        refusal(
            &note("").replace(r#","eventTime":"2024-01-10""#, ""),
            builtin.clone()
        ),
        "record 1 (line 1) journalNote, field journalNote.eventTime: required field is missing"
    );
    assert_eq!(
        refusal(
            &note(r#","author":{"hsaId":"196408233234"}"#),
            builtin.clone()
        ),
        "record 1 (line 1) journalNote, field journalNote.author.hsaId: invalid HSA-id \"196408******\": wrong length: 12 characters, expected 14 to 31 characters: \"SE\", 10 digits, '-', letters or digits"
    );
    assert_eq!(
        refusal(&note(r#","status":"amended""#), builtin.clone()),
        "record 1 (line 1) journalNote, field journalNote.supersedes: required field is missing; status \"amended\" names the version it replaces"
    );
    assert_eq!(
        refusal(&note(r#","keywords":[]"#), builtin.clone()),
        "record 1 (line 1) journalNote, field journalNote.text: a note holds exactly one of keywords, text and attachment"
    );
    assert_eq!(
        refusal(r#"{"objectType":"journalnote"}"#, builtin.clone()),
        "record 1 (line 1), field objectType: unknown record type \"journalnote\"; expected one of person, organisation, contact, journalNote, measurement, vaccination"
    );
    assert_eq!(
        refusal("[\n  1\n]", builtin.clone()),
        "record 1 (line 2): invalid type: a number, expected a record object"
    );
    assert_eq!(
        refusal("{\"objectType\":\"person\" \"x\":1}\n", builtin),
        "record 1 (line 1) person: invalid JSON at line 1, column 24: expected `,` or `}`"
    );
}

#[test]
fn unmapped_templates_follow_the_profile_policy() {
    let input = format!(
        "{}\n{}\n",
        note("").replace("Hälsobesök", "Tandvård"),
        note("")
    );
    let (records, errors) = decode(input.clone(), builtin());
    assert!(errors.is_empty());
    let Record::JournalEntry(first) = &records[0] else {
        panic!()
    };
    assert_eq!(
        first.note_type.code,
        brygga_mapping::model::NoteTypeCode::Unclassified
    );
    let strict = profile_with("name = \"Strikt\"\nunmapped_keywords = \"reject\"", "");
    let (records, errors) = decode(input, strict);
    assert_eq!(records.len(), 1);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with(
            "record 1 (line 1) journalNote, field journalNote.template: note type \"Tandvård\" is not mapped by profile \"Strikt\""
        ),
        "{errors:?}"
    );
}

#[test]
fn unclassified_templates_are_counted_every_time() {
    let profile = builtin();
    let input = format!(
        "{}\n{}\n{}\n",
        note("").replace("Hälsobesök", "Tandvård"),
        note("").replace("Hälsobesök", "Tandvård"),
        note("")
    );
    let (records, _) = decode(input, profile.clone());
    assert_eq!(records.len(), 3);
    assert_eq!(profile.unclassified_counts().get("Tandvård"), Some(&2));
}

#[test]
fn invalid_utf8_and_truncation_are_fatal() {
    let mut input = format!("{}\n", note("")).into_bytes();
    input.extend_from_slice(b"{\"objectType\":\"person\",\"firstName\":\"G\xf6ran\"}\n");
    input.extend_from_slice(format!("{}\n", note("")).as_bytes());
    let (records, errors) = decode(input, builtin());
    assert_eq!(records.len(), 1);
    assert_eq!(
        errors,
        [
            "fatal: record 2 (line 2): invalid UTF-8 (byte 0xF6); a ProRenata export must be encoded in UTF-8"
        ]
    );

    let cut = format!("{}\n{}", note(""), note(""));
    let (records, errors) = decode(&cut[..cut.len() - 5], builtin());
    assert_eq!(records.len(), 1);
    assert_eq!(
        errors,
        ["fatal: record 2 (line 2): the input ends inside this record: the file is truncated"]
    );
}

#[test]
fn a_broken_line_is_rejected_and_the_next_one_read() {
    for input in [
        format!("{}\n{{\"objectType\":\n{}\n", note(""), note("")),
        format!("[\n{},\n{{\"objectType\":\"x,\n{}\n]\n", note(""), note("")),
    ] {
        let (records, errors) = decode(input, builtin());
        assert_eq!(records.len(), 2, "{errors:?}");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("record 2 (line "), "{errors:?}");
    }
}
