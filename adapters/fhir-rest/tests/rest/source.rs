//! The source reading back what the sink wrote.

use brygga_adapters::stream::{Sink, Source};
use brygga_adapters::{DecodeError, Decoder};
use brygga_fhir_rest::testing::{FhirTestServer, ServerOptions};
use brygga_fhir_rest::{RestConfig, RestSink, RestSource};
use brygga_mapping::id::{Identifier, PersonId};
use brygga_mapping::model::Record;

use crate::common::*;

/// The record types the source reads.
fn read_back(record: &Record) -> bool {
    matches!(
        record,
        Record::Person(_)
            | Record::JournalEntry(_)
            | Record::Measurement(_)
            | Record::Immunization(_)
    )
}

/// Records compared regardless of order, as canonical JSON.
fn sorted(records: &[Record]) -> Vec<String> {
    let mut lines: Vec<String> = records
        .iter()
        .map(|r| serde_json::to_string(r).expect("serialisable"))
        .collect();
    lines.sort();
    lines
}

enum Item {
    Record(Box<Record>),
    Reject(String),
    Fatal(String),
}

fn read_all(decoder: &mut dyn Decoder) -> Vec<Item> {
    std::iter::from_fn(|| decoder.next_record())
        .map(|item| match item {
            Ok(record) => Item::Record(Box::new(record)),
            Err(DecodeError::Reject(r)) => Item::Reject(r.to_string()),
            Err(DecodeError::Fatal(f)) => Item::Fatal(f.to_string()),
        })
        .collect()
}

fn records(items: &[Item]) -> Vec<Record> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Record(r) => Some((**r).clone()),
            _ => None,
        })
        .collect()
}

/// The whole golden vector and a few generated pupils, written.
fn written() -> (Setup, Vec<Record>, Vec<Vec<Record>>) {
    let mut setup = setup(ServerOptions::default());
    setup.config.page_size = 3;
    let vector = vector_records();
    let pupils = pupils(4);
    let mut sink = RestSink::new(&setup.config).expect("sink");
    assert!(
        sink.send(&vector)
            .iter()
            .all(|d| *d == brygga_adapters::stream::Delivery::Delivered)
    );
    for pupil in &pupils {
        assert!(
            sink.send(pupil)
                .iter()
                .all(|d| *d == brygga_adapters::stream::Delivery::Delivered)
        );
    }
    (setup, vector, pupils)
}

#[test]
fn every_patient_is_read_back_as_written() {
    let (setup, vector, pupils) = written();
    let mut source = RestSource::new(&setup.config, Vec::new()).expect("source");
    let items = read_all(&mut source);
    let problems: Vec<&String> = items
        .iter()
        .filter_map(|i| match i {
            Item::Reject(m) | Item::Fatal(m) => Some(m),
            Item::Record(_) => None,
        })
        .collect();
    assert!(problems.is_empty(), "{problems:?}");
    let read = records(&items);

    // What was written about a person with a Patient comes back, exactly.
    let persons: Vec<&Identifier> = vector
        .iter()
        .chain(pupils.iter().flatten())
        .filter(|r| matches!(r, Record::Person(_)))
        .filter_map(Record::subject)
        .collect();
    let expected: Vec<Record> = vector
        .iter()
        .chain(pupils.iter().flatten())
        .filter(|r| read_back(r) && r.subject().is_some_and(|s| persons.contains(&s)))
        .cloned()
        .collect();
    assert_eq!(read.len(), expected.len());
    assert_eq!(sorted(&read), sorted(&expected));

    // Each person comes first, followed by their own records.
    let mut current = None;
    for record in &read {
        match record {
            Record::Person(_) => current = record.subject().cloned(),
            _ => assert_eq!(record.subject(), current.as_ref()),
        }
    }

    // The pages were small: every search was followed through next links.
    let searches = setup
        .server
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.target.contains("_offset="))
        .count();
    assert!(searches > 10, "{searches} follow-up pages");
}

#[test]
fn listed_patients_are_looked_up_and_an_unknown_one_is_a_reject() {
    let (setup, _, pupils) = written();
    let unknown = Identifier::Person(
        PersonId::personnummer(jiff::civil::date(2013, 5, 17), 422).expect("valid"),
    );
    let listed = vec![
        pupils[2][0].subject().expect("subject").clone(),
        unknown.clone(),
        pupils[0][0].subject().expect("subject").clone(),
    ];
    let mut source = RestSource::new(&setup.config, listed).expect("source");
    let items = read_all(&mut source);
    let reject = items
        .iter()
        .position(|i| matches!(i, Item::Reject(_)))
        .expect("a reject");
    let Item::Reject(message) = &items[reject] else {
        unreachable!()
    };
    assert_eq!(
        message,
        &format!(
            "record {} Patient: no Patient on the server has the identifier personnummer 20130517-****",
            reject + 1
        )
    );
    let Identifier::Person(unknown) = unknown else {
        unreachable!()
    };
    assert!(!message.contains(unknown.as_str()));
    let expected = |pupil: &[Record]| -> Vec<String> {
        sorted(
            &pupil
                .iter()
                .filter(|r| read_back(r))
                .cloned()
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(sorted(&records(&items[..reject])), expected(&pupils[2]));
    assert_eq!(sorted(&records(&items[reject + 1..])), expected(&pupils[0]));
    assert_eq!(
        items.len(),
        1 + 2 * pupils[0].iter().filter(|r| read_back(r)).count()
    );
}

#[test]
fn a_source_resumes_where_it_stopped() {
    let (setup, _, _) = written();
    let describe = |item: Option<Result<Record, DecodeError>>| match item {
        Some(Ok(record)) => serde_json::to_string(&record).expect("serialisable"),
        Some(Err(e)) => e.to_string(),
        None => "end".into(),
    };
    let mut first = Source::new(Box::new(
        RestSource::new(&setup.config, Vec::new()).expect("source"),
    ));
    for _ in 0..11 {
        first.next_item();
    }
    assert_eq!(first.position(), 11);
    let rest: Vec<String> = std::iter::from_fn(|| Some(describe(first.next_item())))
        .take_while(|d| d != "end")
        .collect();
    let mut second = Source::new(Box::new(
        RestSource::new(&setup.config, Vec::new()).expect("source"),
    ));
    assert_eq!(second.resume(11), 11);
    let again: Vec<String> = std::iter::from_fn(|| Some(describe(second.next_item())))
        .take_while(|d| d != "end")
        .collect();
    assert!(!rest.is_empty());
    assert_eq!(again, rest);
}

#[test]
fn an_unreachable_server_is_fatal_after_the_retries() {
    let server = FhirTestServer::start().expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    server.write_ca(&ca).expect("CA");
    let mut config = RestConfig::new(server.base_url());
    config.tls.ca_file = Some(ca);
    config.retry.max_attempts = 2;
    config.retry.min_delay_ms = 10;
    drop(server);
    let mut source = RestSource::new(&config, Vec::new()).expect("source");
    let items = read_all(&mut source);
    assert_eq!(items.len(), 1);
    let Item::Fatal(message) = &items[0] else {
        panic!("not fatal");
    };
    assert!(
        message.starts_with("record 1: GET: connection failed")
            && message.ends_with("(gave up after 2 attempts)"),
        "{message}"
    );
    assert!(source.next_record().is_none());
}
