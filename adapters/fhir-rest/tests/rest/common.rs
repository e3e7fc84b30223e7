//! What the tests share: the golden vector's records, a generator of many
//! pupils from them, a server with a client configured for it, and the
//! checks of what the server holds.

use std::collections::BTreeSet;
use std::io::BufReader;
use std::path::Path;

use brygga_adapters::fhir::{WriteProfile, ids, patient_resources};
use brygga_adapters::stream::{Delivery, Sink};
use brygga_fhir_rest::testing::{FhirTestServer, ServerOptions};
use brygga_fhir_rest::{RestConfig, RestSink};
use brygga_mapping::id::{Identifier, PersonId};
use brygga_mapping::model::Record;
use brygga_mapping::ndjson::NdjsonReader;
use serde_json::Value;

/// Every record of the FHIR golden vector.
pub fn vector_records() -> Vec<Record> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../conformance-tests/vectors/fhir-ndjson/main/expected.ndjson");
    let file = std::fs::File::open(&path).expect("the FHIR golden vector");
    NdjsonReader::new(BufReader::new(file))
        .collect::<Result<_, _>>()
        .expect("valid canonical records")
}

/// The vector's organisations.
pub fn organisations() -> Vec<Record> {
    vector_records()
        .into_iter()
        .filter(|r| r.subject().is_none())
        .collect()
}

/// The vector's first pupil: the first person and every record about them.
fn first_pupil() -> Vec<Record> {
    let records = vector_records();
    let subject = records
        .iter()
        .find(|r| matches!(r, Record::Person(_)))
        .and_then(Record::subject)
        .expect("a person")
        .clone();
    records
        .into_iter()
        .filter(|r| r.subject() == Some(&subject))
        .collect()
}

/// `count` pupils, each the vector's first pupil under a fresh personnummer
/// (same birth date and sex, a new birth number with its Luhn check digit)
/// and with its source record ids suffixed, so every pupil's resources are
/// its own.
pub fn pupils(count: usize) -> Vec<Vec<Record>> {
    let template = first_pupil();
    let Some(Identifier::Person(original)) = template[0].subject().cloned() else {
        panic!("the first pupil has a person id");
    };
    let birth = original.birth_date().expect("a birth date");
    let original_serial: u16 = original.as_str()[8..11].parse().expect("birth number");
    (1..=count)
        .map(|number| {
            // Even birth numbers keep the pupil's sex (female).
            let mut serial = u16::try_from(2 * number).expect("few pupils");
            if serial == original_serial {
                serial += 500;
            }
            let fresh = PersonId::personnummer(birth, serial).expect("a valid personnummer");
            template
                .iter()
                .map(|record| {
                    let mut value = serde_json::to_value(record).expect("serialisable");
                    rewrite(
                        &mut value,
                        original.as_str(),
                        fresh.as_str(),
                        &format!("-{number}"),
                    );
                    serde_json::from_value(value).expect("still a record")
                })
                .collect()
        })
        .collect()
}

fn rewrite(value: &mut Value, old: &str, new: &str, suffix: &str) {
    match value {
        Value::String(s) if s == old => *s = new.to_owned(),
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite(v, old, new, suffix)),
        Value::Object(object) => {
            for (key, v) in object.iter_mut() {
                match v {
                    Value::String(s) if key == "record_id" || key == "contact" => {
                        s.push_str(suffix)
                    }
                    _ => rewrite(v, old, new, suffix),
                }
            }
        }
        _ => {}
    }
}

/// A pupil's Patient id.
pub fn patient_id(pupil: &[Record]) -> String {
    ids::patient_id(pupil[0].subject().expect("a subject"))
}

/// The `Type/id` of the pupil's own resources in the order the sink must
/// first write them: the writing order of `patient_resources`, keeping the
/// resources about the patient (the Patient, what refers to it as subject
/// or patient, and their Provenance).
pub fn expected_order(pupil: &[Record]) -> Vec<String> {
    let patient = format!("Patient/{}", patient_id(pupil));
    let mut own: Vec<String> = Vec::new();
    for resource in patient_resources(pupil, WriteProfile::SeBase).resources {
        let value = serde_json::to_value(&resource).expect("serialisable");
        let key = format!("{}/{}", resource.type_name(), resource.id());
        let about_patient = key == patient
            || ["subject", "patient"].iter().any(|element| {
                value
                    .pointer(&format!("/{element}/reference"))
                    .and_then(Value::as_str)
                    == Some(patient.as_str())
            })
            || value
                .pointer("/target/0/reference")
                .and_then(Value::as_str)
                .is_some_and(|target| own.iter().any(|k| k == target));
        if about_patient && !own.contains(&key) {
            own.push(key);
        }
    }
    own
}

/// A server and a client configuration for it: its CA trusted, short
/// timeouts and delays so failures are quick.
pub struct Setup {
    pub server: FhirTestServer,
    pub dir: tempfile::TempDir,
    pub config: RestConfig,
}

pub fn setup(options: ServerOptions) -> Setup {
    let server = FhirTestServer::start_with(options).expect("server starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    server.write_ca(&ca).expect("CA written");
    let mut config = RestConfig::new(server.base_url());
    config.allow_plain_http = server.base_url().starts_with("http:");
    config.tls.ca_file = Some(ca);
    // Long enough that a loaded machine does not time out (and retry) a
    // request no fault was injected into; the fault tests shorten it.
    config.timeout_seconds = 3.0;
    config.retry.max_attempts = 6;
    config.retry.min_delay_ms = 10;
    config.retry.max_delay_ms = 100;
    Setup {
        server,
        dir,
        config,
    }
}

/// Sends the organisations, then each pupil as a batch; every answer.
pub fn deliver(config: &RestConfig, pupils: &[Vec<Record>]) -> Vec<Delivery> {
    let mut sink = RestSink::new(config).expect("sink");
    let mut answers = sink.send(&organisations());
    for pupil in pupils {
        answers.extend(sink.send(pupil));
    }
    Box::new(sink).close().expect("closes");
    answers
}

/// Every resource has exactly one version, and each pupil's resources were
/// first written in the expected order.
pub fn assert_once_and_in_order(server: &FhirTestServer, pupils: &[Vec<Record>]) {
    let counts = server.version_counts();
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        repeated.is_empty(),
        "resources with other than one version: {repeated:?}"
    );
    for pupil in pupils {
        let written = server.first_writes(&patient_id(pupil));
        assert_eq!(
            written,
            expected_order(pupil),
            "the order of one pupil's writes"
        );
    }
    let patients: BTreeSet<String> = counts
        .keys()
        .filter(|k| k.starts_with("Patient/"))
        .cloned()
        .collect();
    assert_eq!(patients.len(), pupils.len());
}
