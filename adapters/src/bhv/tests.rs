use std::io::Cursor;
use std::sync::{Arc, Mutex};

use brygga_mapping::model::{NoteContent, NoteTypeCode, Record, SecrecyDomain};
use brygga_mapping::profile::Profile;

use super::decode::{decimal, shown};
use super::reader::ExtractReader;
use super::vocab;
use super::*;
use crate::{DecodeError, EncodeError};

const CHILD: &str = "201801012392";
const MOTHER: &str = "199001012385";
const FATHER: &str = "199001032391";

fn builtin() -> Arc<Profile> {
    Arc::new(Profile::builtin("bhv"))
}

/// A profile file extending the shared default with `extra` lines; kept
/// alive with the profile.
fn profile_with(extra: &str) -> (tempfile::TempDir, Arc<Profile>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let default = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../config/mappings/default.toml")
        .canonicalize()
        .expect("default profile");
    let text = format!(
        "[profile]\nname = \"Test\"\nsystem = \"bhv\"\nextends = {:?}\n{extra}",
        default.display().to_string()
    );
    let path = dir.path().join("test.toml");
    std::fs::write(&path, text).expect("write profile");
    let profile = Profile::load(&path).expect("profile loads");
    (dir, Arc::new(profile))
}

fn decode_with(xml: &[u8], profile: Arc<Profile>) -> (Vec<Record>, Vec<String>) {
    let mut decoder = Bhv.decoder(Box::new(Cursor::new(xml.to_vec())), profile);
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

fn decode(xml: &str) -> (Vec<Record>, Vec<String>) {
    decode_with(xml.as_bytes(), builtin())
}

/// An extract with these records between the root tags.
fn extract(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<bhv-utdrag version=\"1\">\n{body}\n</bhv-utdrag>\n"
    )
}

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("sink").extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Encodes every record; returns the bytes and each refusal's text.
fn encode_with(records: &[Record], profile: Arc<Profile>) -> (Vec<u8>, Vec<String>) {
    let sink = Sink::default();
    let mut encoder = Bhv.encoder(Box::new(sink.clone()), profile);
    let mut refused = Vec::new();
    for record in records {
        match encoder.encode(record) {
            Ok(()) => {}
            Err(EncodeError::Unsupported(reason)) => refused.push(reason),
            Err(e) => panic!("write failed: {e}"),
        }
    }
    encoder.finish().expect("finish");
    let bytes = sink.0.lock().expect("sink").clone();
    (bytes, refused)
}

fn encode(records: &[Record]) -> String {
    let (bytes, refused) = encode_with(records, builtin());
    assert!(refused.is_empty(), "{refused:?}");
    String::from_utf8(bytes).expect("UTF-8")
}

fn records(ndjson: &str) -> Vec<Record> {
    ndjson
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Every record type the format holds, with every optional field and
/// variant: the canonical form must survive encoding and decoding exactly.
const EVERY_VARIANT: &str = r#"
{"type":"organisation","id":"hsa:SE9999990002-E000000000000","kind":"care_provider","name":"Region Test","hsa_id":"SE9999990002-E000000000000","organisation_number":"9999990002","municipality_code":"9999"}
{"type":"organisation","id":"bvc:norr","kind":"care_unit","name":"BVC Norr","parent":"hsa:SE9999990002-E000000000000"}
{"type":"person","identifiers":[{"system":"personnummer","value":"201801012392"},{"system":"local","namespace":"bhv:test","value":" 17 "}],"given_name":"Elias","family_name":"Test & <Son>","birth_date":"2018-01-01","sex":"male","security_marking":"skyddad_folkbokforing","guardians":[{"person":{"system":"personnummer","value":"199001012385"},"relation":"guardian"},{"person":{"system":"personnummer","value":"199001032391"},"relation":"other_responsible"}],"addresses":[{"kind":"registered","lines":["Storgatan 1","lgh 1101"],"postal_code":"111 22","city":"Ort","country":"SE"},{"kind":"temporary"}],"telecom":[{"kind":"mobile","value":"070-000 00 00"},{"kind":"email","value":"a@example.invalid"}],"municipality_code":"9999"}
{"type":"person","identifiers":[{"system":"reservnummer","value":"20180103K120"}],"given_name":"","family_name":"Okänd"}
{"type":"contact","source":{"system":"bhv:test","record_id":"k1","version":3},"patient":{"system":"personnummer","value":"201801012392"},"kind":"home_visit","start":"2018-01-11T09:00:00+01:00","end":"2018-01-11T09:30:00+01:00","performer":{"hsa_id":"SE9999990002-P000000000001","name":"Anna Sköterska","profession":"nurse"},"care_unit":{"hsa_id":"SE9999990002-E000000000001","name":"BVC Centrum"},"secrecy_domain":"emi_medical"}
{"type":"contact","source":{"system":"bhv:test","record_id":"k2","version":1},"patient":{"system":"local","namespace":"bhv:test","value":"17"},"kind":"phone","start":"2018-02-01","performer":{},"secrecy_domain":"psychological"}
{"type":"journal_entry","source":{"system":"bhv:test","record_id":"a1","version":1},"patient":{"system":"personnummer","value":"201801012392"},"event_time":"2024-10-27T02:30:00+01:00","author_time":"2024-10-27T02:30:00+02:00","signing_time":"2024-03-31T03:30:00+02:00","record_time":"2024-03-31T01:59:59+01:00","author":{"name":"Anna","profession":"physician"},"signer":{"hsa_id":"SE9999990002-P000000000002"},"care_provider":{"hsa_id":"SE9999990002-E000000000000","name":"Region Test"},"care_unit":{"hsa_id":"SE9999990002-E000000000001"},"contact":"k1","note_type":{"code":"health_visit","original":"BVC-besök 4 veckor"},"title":"Rubrik \"citat\"","content":{"kind":"keywords","sections":[{"keyword":"Aktuellt","text":"Rad ett\nrad två\r\nmed CR\tflik"},{"keyword":"Tom","text":""},{"keyword":"Blanksteg","text":"  inledande och avslutande  "}]},"secrecy_domain":"emi_medical","approved_for_patient":true,"patient_block":true,"withheld":[{"part":"development_assessment","reason":"Vårdnadshavare\nmotsatte sig"},{"part":"family_situation","reason":""}]}
{"type":"journal_entry","source":{"system":"bhv:test","record_id":"a2","version":2},"patient":{"system":"personnummer","value":"201801012392"},"event_time":"2019-05-14","note_type":{"code":"final_note","original":"Slutanteckning BHV"},"content":{"kind":"text","text":""},"status":{"state":"amended","supersedes":{"system":"bhv:test","record_id":"a2","version":1}},"secrecy_domain":"psychological","approved_for_patient":false,"patient_block":false}
{"type":"journal_entry","source":{"system":"bhv:test","record_id":"a3","version":1},"patient":{"system":"personnummer","value":"201801012392"},"event_time":"2019-05-14T08:30:00+02:00","note_type":{"code":"unclassified","original":"Tandvård"},"content":{"kind":"attachment","media_type":"text/plain; charset=utf-8","title":"Brev","data":"SGVq"},"status":{"state":"nullified","reason":"Fel patient"},"secrecy_domain":"emi_medical","approved_for_patient":false,"patient_block":false}
{"type":"journal_entry","source":{"system":"bhv:test","record_id":"a4","version":1},"patient":{"system":"personnummer","value":"201801012392"},"event_time":"2019-05-14","note_type":{"code":"psychological_assessment"},"content":{"kind":"keywords","sections":[]},"secrecy_domain":"psychological","approved_for_patient":false,"patient_block":false,"withheld":[{"part":"a9","reason":"hela anteckningen"}]}
{"type":"measurement","source":{"system":"bhv:test","record_id":"m1","version":1},"patient":{"system":"personnummer","value":"201801012392"},"kind":"weight","time":"2018-01-11T09:00:00+01:00","value":{"value":3.61,"unit":"kg"},"contact":"k1","secrecy_domain":"emi_medical","original_code":"Vikt"}
{"type":"measurement","source":{"system":"bhv:test","record_id":"m2","version":1},"patient":{"system":"personnummer","value":"201801012392"},"kind":"head_circumference","time":"2018-01-11","value":{"value":0.1,"unit":"cm"},"performer":{"name":"Anna"},"care_unit":{"hsa_id":"SE9999990002-E000000000001"},"secrecy_domain":"counsellor","original_code":"huvudomfång"}
{"type":"measurement","source":{"system":"bhv:test","record_id":"m3","version":1},"patient":{"system":"personnummer","value":"201801012392"},"kind":"hearing_right","time":"2022-09-01T10:00:00+02:00","value":{"finding":"not_assessed"},"secrecy_domain":"emi_medical","original_code":"Hörsel hö"}
{"type":"measurement","source":{"system":"bhv:test","record_id":"m4","version":1},"patient":{"system":"personnummer","value":"201801012392"},"kind":"height","time":"2022-09-01T10:00:00+02:00","value":{"value":-12345678.25,"unit":"cm"},"secrecy_domain":"emi_medical","original_code":"Längd"}
{"type":"immunization","source":{"system":"bhv:test","record_id":"v1","version":1},"patient":{"system":"personnummer","value":"201801012392"},"time":"2018-04-02T10:00:00+02:00","vaccine":{"atc":"J07CA09","product":"Infanrix hexa","programme":"hexavalent"},"dose_number":1,"lot":"AB12C","given_by":{"hsa_id":"SE9999990002-P000000000001","profession":"nurse"},"care_unit":{"hsa_id":"SE9999990002-E000000000001","name":"BVC Centrum"},"secrecy_domain":"emi_medical","status":{"state":"nullified","reason":"Registrerad två gånger"}}
{"type":"immunization","source":{"system":"bhv:test","record_id":"v2","version":1},"patient":{"system":"personnummer","value":"201801012392"},"time":"2019-07-01","vaccine":{"atc":"J07BD52","programme":"mmr"},"secrecy_domain":"emi_medical"}
{"type":"consent","source":{"system":"bhv:test","record_id":"s1","version":1},"patient":{"system":"personnummer","value":"201801012392"},"given_by":{"role":"guardian","person":{"system":"personnummer","value":"199001012385"}},"purpose":"bhv_to_emi_transfer","decision":"partial","withheld_parts":["development_assessment","family_situation"],"recorded":"2023-08-01T10:00:00+02:00","valid_from":"2023-08-01","valid_to":"2024-08-01"}
{"type":"consent","source":{"system":"bhv:test","record_id":"s2","version":1},"patient":{"system":"personnummer","value":"201801012392"},"given_by":{"role":"patient"},"purpose":"statistics_database","decision":"revoked","recorded":"2023-08-01","valid_from":"2023-08-01"}
"#;

#[test]
fn every_variant_survives_encoding_and_decoding() {
    let original = records(EVERY_VARIANT);
    let xml = encode(&original);
    let (decoded, errors) = decode(&xml);
    assert!(errors.is_empty(), "{errors:?}\n{xml}");
    for (want, got) in original.iter().zip(&decoded) {
        let want_line = serde_json::to_string(want).expect("json");
        let got_line = serde_json::to_string(got).expect("json");
        // A note without its own template name gets the profile's.
        if let (Record::JournalEntry(w), Record::JournalEntry(g)) = (want, got)
            && w.note_type.original.is_none()
        {
            assert_eq!(g.note_type.code, w.note_type.code);
            assert_eq!(g.note_type.original.as_deref(), Some("Psykologanteckning"));
            let mut g = g.clone();
            g.note_type.original = None;
            assert_eq!(&g, w);
            continue;
        }
        assert_eq!(want_line, got_line);
    }
    assert_eq!(decoded.len(), original.len());
    // Encoding the decoded records again gives the same bytes.
    assert_eq!(encode(&decoded), xml);
}

#[test]
fn the_encoder_writes_the_schema_order_and_escapes_what_xml_would_normalise() {
    let xml = encode(&records(EVERY_VARIANT));
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<bhv-utdrag version=\"1\">\n  <vardgivare>\n    <hsa-id>"), "{xml}");
    assert!(xml.ends_with("\n</bhv-utdrag>\n"));
    // A carriage return in text and a line feed in an attribute would be
    // read back as something else unless written as references.
    assert!(xml.contains("rad två&#13;\nmed CR\tflik"), "{xml}");
    assert!(
        xml.contains("orsak=\"Vårdnadshavare&#10;motsatte sig\""),
        "{xml}"
    );
    assert!(xml.contains("<rubrik>Rubrik \"citat\"</rubrik>"), "{xml}");
    assert!(
        xml.contains("<efternamn>Test &amp; &lt;Son&gt;</efternamn>"),
        "{xml}"
    );
    // Version 1 is the default; other versions are written.
    assert!(xml.contains("<kontakt id=\"k1\" version=\"3\" system=\"bhv:test\">"));
    assert!(xml.contains("<anteckning id=\"a1\" system=\"bhv:test\">"));
    // The id an organisation's HSA-id implies is not repeated.
    assert!(xml.contains("  <vardgivare>\n"));
    assert!(xml.contains("  <vardenhet id=\"bvc:norr\">\n"));
    // A secrecy domain the reader would assume is not written; another is.
    assert!(!xml.contains("<journal>Elevhälsans"));
    assert!(xml.contains("<journal>Psykologjournal</journal>"));
    assert!(xml.contains("<journal>Kuratorsjournal</journal>"));
    // Empty text is an empty element, not an indented pair of tags.
    assert!(xml.contains("<fritext/>"));
    assert!(xml.contains("<sokord namn=\"Tom\"/>"));
}

#[test]
fn an_extract_without_records_is_an_empty_root() {
    let xml = encode(&[]);
    assert_eq!(
        xml,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<bhv-utdrag version=\"1\">\n</bhv-utdrag>\n"
    );
    assert_eq!(decode(&xml), (vec![], vec![]));
    assert_eq!(decode("<bhv-utdrag version=\"1\"/>"), (vec![], vec![]));
}

/// The marker word only withheld content holds in these inputs.
const SECRET: &str = "HEMLIGHETSORD";

fn withheld_input() -> String {
    extract(&format!(
        r#"<anteckning id="a1" system="bhv:test">
    <patient typ="personnummer">{CHILD}</patient>
    <mall>Slutanteckning BHV</mall>
    <handelsetid>2023-08-01T10:00:00</handelsetid>
    <sokord namn="Sammanfattning">Följd enligt basprogrammet.</sokord>
    <undanhallet del="development_assessment" orsak="Vårdnadshavare motsatte sig">
      <sokord namn="Utveckling">{SECRET} i text</sokord>
      <sokord namn="{SECRET}-sökord">x</sokord>
      <djupare attribut="{SECRET}"><![CDATA[{SECRET} i CDATA]]>{SECRET}&amp;</djupare>
      {SECRET} löptext
    </undanhallet>
    <undanhallet del="family_situation" orsak="Vårdnadshavare motsatte sig"/>
  </anteckning>
  <anteckning id="a2" system="bhv:test">
    <patient typ="personnummer">{CHILD}</patient>
    <mall>Utvecklingsbedömning 18 månader</mall>
    <handelsetid>2019-07-01</handelsetid>
    <undanhallet del="development_assessment" orsak="Hela anteckningen">
      <sokord namn="Motorik">{SECRET}</sokord>
      <sokord namn="Språk">{SECRET}</sokord>
    </undanhallet>
  </anteckning>
  <undanhallet del="development_assessment" orsak="Hela posten">
    <anteckning id="a3" system="bhv:test"><mall>{SECRET}</mall></anteckning>
  </undanhallet>
  <matning id="m1" system="bhv:test">
    <patient typ="personnummer">{CHILD}</patient>
    <namn>Vikt</namn>
    <tid>2019-07-01</tid>
    <varde enhet="kg">11.2</varde>
    <undanhallet del="x" orsak="y">{SECRET}</undanhallet>
  </matning>
  <anteckning id="a4" system="bhv:test">
    <patient typ="personnummer">{CHILD}</patient>
    <mall>BVC-besök 5 år</mall>
    <handelsetid>2023-06-01</handelsetid>
    <sokord namn="Bedömning">Frisk. <undanhallet del="x" orsak="y">{SECRET}</undanhallet></sokord>
  </anteckning>
  <samtycke id="s1" system="bhv:test">
    <patient typ="personnummer">{CHILD}</patient>
    <givet-av roll="vardnadshavare" typ="personnummer">{MOTHER}</givet-av>
    <syfte>overforing-till-elevhalsan</syfte>
    <beslut>delvis</beslut>
    <undanhallen-del>development_assessment</undanhallen-del>
    <registrerat>2023-08-01</registrerat>
    <giltigt-fran>2023-08-01</giltigt-fran>
  </samtycke>"#
    ))
}

/// Decodes `input` and checks that `word` — standing only in withheld
/// content — is nowhere in the records, their Debug text, the rejects or
/// the re-encoded bytes. Returns the records and rejects.
fn assert_nothing_leaks(input: &str, word: &str) -> (Vec<Record>, Vec<String>) {
    let (decoded, errors) = decode(input);
    let debug = format!("{decoded:?} {errors:?}");
    let json: Vec<String> = decoded
        .iter()
        .map(|r| serde_json::to_string(r).expect("json"))
        .collect();
    let reencoded = encode(&decoded);
    for (what, text) in [
        ("Debug of records and rejects", debug.as_str()),
        ("canonical records", &json.join("\n")),
        ("rejects", &errors.join("\n")),
        ("re-encoded bytes", &reencoded),
    ] {
        assert!(
            !text.contains(word),
            "{what} hold withheld content:\n{text}"
        );
    }
    (decoded, errors)
}

#[test]
fn the_withheld_golden_vector_leaks_nothing() {
    let input = include_str!("../../../conformance-tests/vectors/bhv/withheld/input.xml");
    let word = "HEMLIGHETSORD";
    assert_eq!(input.matches(word).count(), 15);
    let (decoded, errors) = assert_nothing_leaks(input, word);
    assert_eq!((decoded.len(), errors.len()), (3, 3));
}

#[test]
fn withheld_content_never_leaves_the_decoder() {
    let input = withheld_input();
    assert_eq!(input.matches(SECRET).count(), 11);
    let (decoded, errors) = assert_nothing_leaks(&input, SECRET);
    let json: Vec<String> = decoded
        .iter()
        .map(|r| serde_json::to_string(r).expect("json"))
        .collect();

    // Only the markers travel: two on the final note, one on the assessment
    // whose content was withheld whole, which keeps its heading.
    let notes: Vec<_> = decoded
        .iter()
        .filter_map(|r| match r {
            Record::JournalEntry(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(notes.len(), 2, "{json:#?}");
    let parts: Vec<&str> = notes[0].withheld.iter().map(|w| w.part.as_str()).collect();
    assert_eq!(parts, ["development_assessment", "family_situation"]);
    assert_eq!(
        notes[0].content,
        NoteContent::Keywords {
            sections: vec![brygga_mapping::model::KeywordSection {
                keyword: "Sammanfattning".into(),
                text: "Följd enligt basprogrammet.".into()
            }]
        }
    );
    assert_eq!(notes[1].note_type.code, NoteTypeCode::DevelopmentAssessment);
    assert_eq!(notes[1].content, NoteContent::Keywords { sections: vec![] });
    assert_eq!(notes[1].withheld[0].reason, "Hela anteckningen");
    assert!(matches!(decoded.last(), Some(Record::Consent(_))));

    // Whole withheld records and withheld parts where the format allows
    // none are refused, and reading goes on.
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert!(
        errors[0]
            .starts_with("record 3 (line 25) <undanhallet>: a whole record cannot be withheld"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].contains(
            "<matning>, field matning.undanhallet: only a note's content can be withheld"
        ),
        "{}",
        errors[1]
    );
    assert!(
        errors[2].contains("field anteckning.sokord: holds an <undanhallet>"),
        "{}",
        errors[2]
    );
}

#[test]
fn the_reader_keeps_nothing_of_withheld_content() {
    let input = withheld_input();
    let mut reader = ExtractReader::new(input.as_bytes());
    let mut seen = 0;
    while let Some(item) = reader.next_record() {
        let tree = item.expect("well-formed");
        let record = tree.record();
        let mut stack = vec![record];
        while let Some(el) = stack.pop() {
            seen += 1;
            assert!(!el.name().contains(SECRET));
            assert!(!el.text().contains(SECRET), "{}", el.name());
            for (name, value) in el.attributes() {
                assert!(!name.contains(SECRET) && !value.contains(SECRET));
            }
            if el.name() == tag::WITHHELD {
                assert!(el.first_child().is_none() && el.text().is_empty());
            }
            stack.extend(el.children());
        }
    }
    assert!(seen > 20);
}

#[test]
fn hostile_xml_is_fatal_even_inside_withheld_content() {
    for (xml, expected) in [
        (
            "<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n<bhv-utdrag><barn/></bhv-utdrag>",
            "fatal: record 1 (line 2): DOCTYPE declarations are refused",
        ),
        (
            "<bhv-utdrag><anteckning><undanhallet del=\"d\" orsak=\"o\">&nbsp;</undanhallet></anteckning></bhv-utdrag>",
            "fatal: record 1 (line 1): entity reference &nbsp; is refused",
        ),
        (
            "<bhv-utdrag><anteckning><undanhallet del=\"d\" orsak=\"o\"><x a=\"&foo;\"/></undanhallet></anteckning></bhv-utdrag>",
            "fatal: record 1 (line 1): entity reference &foo; is refused",
        ),
        (
            "<bhv-utdrag>\n<undanhallet del=\"d\" orsak=\"o\">\n<!DOCTYPE x>\n</undanhallet></bhv-utdrag>",
            "fatal: record 1 (line 3): DOCTYPE declarations are refused",
        ),
        (
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><bhv-utdrag/>",
            "fatal: record 1 (line 1): not UTF-8: the declaration says encoding=\"ISO-8859-1\"",
        ),
        (
            "<bhv-utdrag>\n<anteckning><undanhallet del=\"d\" orsak=\"o\">",
            "fatal: record 1 (line 2): the document ends before its root element is closed",
        ),
        (
            "<pmo-export/>",
            "fatal: record 1 (line 1): the root element is <pmo-export>; a bhv extract's root is <bhv-utdrag>",
        ),
        (
            "<bhv-utdrag version=\"2\"/>",
            "fatal: record 1 (line 1): version \"2\" of the bhv extract is not known",
        ),
        (
            "",
            "fatal: record 1 (line 1): the document has no root element",
        ),
    ] {
        let (records, errors) = decode(xml);
        assert!(records.is_empty(), "{xml}");
        assert_eq!(errors.len(), 1, "{xml}: {errors:?}");
        assert!(errors[0].starts_with(expected), "{xml}:\n{}", errors[0]);
    }
    let mut latin1 =
        extract("<barn><id typ=\"personnummer\">201801012392</id><fornamn>").into_bytes();
    latin1.truncate(latin1.len() - "\n</bhv-utdrag>\n".len());
    latin1.extend_from_slice(b"Sj\xF6</fornamn><efternamn>x</efternamn></barn></bhv-utdrag>");
    let (_, errors) = decode_with(&latin1, builtin());
    assert!(
        errors[0].starts_with("fatal: record 1 (line 3): not UTF-8"),
        "{errors:?}"
    );
    let utf16 = [0xFF, 0xFE, b'<', 0];
    let (_, errors) = decode_with(&utf16, builtin());
    assert!(errors[0].contains("UTF-16 byte-order mark"), "{errors:?}");
}

#[test]
fn an_oversized_record_is_skipped_and_the_next_one_read() {
    let big = "x".repeat(4000);
    let xml = extract(&format!(
        "<barn><id typ=\"personnummer\">{CHILD}</id><fornamn>{big}</fornamn><efternamn>A</efternamn></barn>\n<undanhallet del=\"d\" orsak=\"o\">{big}</undanhallet>\n<barn><id typ=\"personnummer\">{CHILD}</id><fornamn>B</fornamn><efternamn>A</efternamn></barn>"
    ));
    let mut decoder = decode::BhvDecoder::with_max_record_bytes(
        Box::new(Cursor::new(xml.into_bytes())),
        builtin(),
        1000,
    );
    let first = decoder.next_record().expect("item").expect_err("too large");
    assert_eq!(
        first.to_string(),
        "record 1 (line 3): record larger than 1000 bytes; skipped"
    );
    let second = decoder.next_record().expect("item").expect_err("too large");
    assert!(
        second
            .to_string()
            .starts_with("record 2 (line 4): record larger"),
        "{second}"
    );
    let third = decoder.next_record().expect("item").expect("read");
    assert!(matches!(third, Record::Person(p) if p.given_name == "B"));
    assert!(decoder.next_record().is_none());
}

#[test]
fn bad_records_are_rejected_with_their_place_and_reading_goes_on() {
    let good = format!(
        "<matning id=\"ok\" system=\"s\"><patient typ=\"personnummer\">{CHILD}</patient><namn>Vikt</namn><tid>2019-01-01</tid><varde enhet=\"kg\">10</varde></matning>"
    );
    let cases = [
        (
            "<anteckning id=\"a\" system=\"s\"><patient typ=\"personnummer\">201801012393</patient><mall>BVC-besök</mall><handelsetid>2019-01-01</handelsetid></anteckning>",
            "record 1 (line 3) <anteckning>, field anteckning.patient: invalid personnummer \"20180101****\": check digit is 3, Luhn gives 2",
        ),
        (
            "<matning id=\"m\" system=\"s\"><patient typ=\"personnummer\">201801012392</patient><namn>Vikt</namn><tid>2019-02-30</tid><varde enhet=\"kg\">10</varde></matning>",
            "record 1 (line 3) <matning>, field matning.tid: invalid time \"2019-02-30\": ",
        ),
        (
            "<matning id=\"m\" system=\"s\"><patient typ=\"personnummer\">201801012392</patient><namn>Blodtryck</namn><tid>2019-02-03</tid><varde enhet=\"mm[Hg]\">120</varde></matning>",
            "record 1 (line 3) <matning>, field matning.namn: measurement \"Blodtryck\" is not mapped by profile \"Brygga standard\"; add it under [measurements]",
        ),
        (
            "<anteckning id=\"a\" system=\"s\"><patient typ=\"personnummer\">201801012392</patient><mall>BVC-besök</mall></anteckning>",
            "record 1 (line 3) <anteckning>, field anteckning.handelsetid: required element <handelsetid> is missing",
        ),
        (
            "<anteckning system=\"s\"><patient typ=\"personnummer\">201801012392</patient></anteckning>",
            "record 1 (line 3) <anteckning>, field anteckning.id: required attribute id is missing",
        ),
        (
            "<kontakt id=\"k\" system=\"s\"><patient typ=\"personnummer\">201801012392</patient><typ>besok</typ><start>2019-01-01</start><start>2019-01-02</start></kontakt>",
            "record 1 (line 3) <kontakt>, field kontakt.start: appears more than once",
        ),
        (
            "<kontakt id=\"k\" system=\"s\" farg=\"röd\"><patient typ=\"personnummer\">201801012392</patient></kontakt>",
            "record 1 (line 3) <kontakt>, field kontakt: unknown attribute farg",
        ),
        (
            "<kontakt id=\"k\" system=\"s\"><patient typ=\"personnummer\">201801012392</patient><typ>hembesök</typ></kontakt>",
            "record 1 (line 3) <kontakt>, field kontakt.typ: \"hembesök\" is not a kind of contact; expected halsobesok, besok, telefon, meddelande or hembesok",
        ),
        (
            "<anteckning id=\"a\" system=\"s\">Lös journaltext<patient typ=\"personnummer\">201801012392</patient></anteckning>",
            "record 1 (line 3) <anteckning>, field anteckning: holds text directly; its content belongs in its child elements",
        ),
        (
            "<anteckning id=\"a\" system=\"s\"><fritext>a</fritext><sokord namn=\"b\">c</sokord></anteckning>",
            "record 1 (line 3) <anteckning>, field anteckning.sokord: a note holds free text, keyword sections or one attachment",
        ),
        (
            "<barn><id typ=\"samordningsnummer\">201801012392</id><fornamn/><efternamn/></barn>",
            "record 1 (line 3) <barn>, field barn.id: invalid samordningsnummer \"20180101-****\": the value is a personnummer",
        ),
        (
            "<barn><id typ=\"personnummer\" namnrymd=\"x\">201801012392</id></barn>",
            "record 1 (line 3) <barn>, field barn.id.namnrymd: a personnummer has no namnrymd",
        ),
        (
            "<kontakt id=\"k\" system=\"s\"><patient typ=\"personnummer\">201801012392</patient><typ>besok</typ><start>2019-01-01</start><journal>Tandvårdsjournal</journal></kontakt>",
            "record 1 (line 3) <kontakt>, field kontakt.journal: journal \"Tandvårdsjournal\" is not mapped by profile \"Brygga standard\"; add it under [secrecy_domains]",
        ),
        (
            "<matning id=\"m\" system=\"s\"><patient typ=\"personnummer\">201801012392</patient><namn>Vikt</namn><tid>2019-02-03</tid><varde enhet=\"kg\">1e3</varde></matning>",
            "record 1 (line 3) <matning>, field matning.varde: \"1e3\" is not a decimal number",
        ),
        (
            "<journalpost/>",
            "record 1 (line 3) <journalpost>: unknown record element; a bhv extract holds <barn>, <vardgivare>, <vardenhet>, <kontakt>, <anteckning>, <matning>, <vaccination>, <samtycke>",
        ),
        (
            "<kontakt id=\"k\" system=\"s\"><patient typ=\"personnummer\">201801012392</patient><typ>besok</typ><start>2019-01-01</start><utforare titel=\"x\"><namn/></utforare></kontakt>",
            "record 1 (line 3) <kontakt>, field kontakt.utforare: unknown element <namn>",
        ),
        (
            "<kontakt id=\"k\" system=\"s\"><patient typ=\"personnummer\">201801012392</patient><typ>besok</typ><start>2019-01-01</start><utforare hsa-id=\"SE12\"/></kontakt>",
            "record 1 (line 3) <kontakt>, field kontakt.utforare.hsa-id: invalid HSA-id \"SE12\": wrong length",
        ),
        (
            "<samtycke id=\"s\" system=\"s\"><patient typ=\"personnummer\">201801012392</patient><givet-av roll=\"patient\" typ=\"personnummer\">199001012385</givet-av></samtycke>",
            "record 1 (line 3) <samtycke>, field samtycke.givet-av: a consent the patient gave names no person id",
        ),
        (
            "<samtycke id=\"s\" system=\"s\"><patient typ=\"personnummer\">201801012392</patient><giltigt-fran>2019-01-01T10:00</giltigt-fran></samtycke>",
            "record 1 (line 3) <samtycke>, field samtycke.giltigt-fran: \"2019-01-01T10:00\" is a date and time; expected a date",
        ),
        (
            "<anteckning id=\"a\" system=\"s\" version=\"-1\"/>",
            "record 1 (line 3) <anteckning>, field anteckning.version: \"-1\" is not a version number",
        ),
        (
            "<anteckning id=\"a\" system=\"s\"><patient typ=\"personnummer\">201801012392</patient><mall>BVC-besök</mall><handelsetid>2019-01-01</handelsetid><fritext>a&#1;b</fritext></anteckning>",
            "record 1 (line 3) <anteckning>, field anteckning.fritext: holds the character U+0001, which XML 1.0 does not allow",
        ),
    ];
    for (bad, expected) in cases {
        let (decoded, errors) = decode(&extract(&format!("{bad}\n{good}")));
        assert_eq!(errors.len(), 1, "{bad}: {errors:?}");
        assert!(
            errors[0].starts_with(expected),
            "{bad}:\n{}\nexpected\n{expected}",
            errors[0]
        );
        assert_eq!(decoded.len(), 1, "{bad}: the next record is still read");
        assert!(!errors[0].contains("journaltext"));
    }
}

#[test]
fn messages_never_quote_a_full_personnummer() {
    let xml = extract(&format!(
        "<kontakt id=\"k\" system=\"s\"><patient typ=\"personnummer\">{CHILD}</patient><typ>{MOTHER}</typ></kontakt>\n<matning id=\"m\" system=\"s\"><patient typ=\"personnummer\">{CHILD}</patient><namn>{FATHER}</namn></matning>\n<barn><id typ=\"personnummer\">{}</id></barn>",
        "201801012393"
    ));
    let (_, errors) = decode(&xml);
    assert_eq!(errors.len(), 3);
    for error in &errors {
        for number in [MOTHER, FATHER, "201801012393", "0101239"] {
            assert!(!error.contains(number), "{error}");
        }
    }
    assert!(
        errors[0].contains("(12 characters, not shown)"),
        "{}",
        errors[0]
    );
    assert_eq!(shown("Vikt"), "\"Vikt\"");
    assert_eq!(shown("tel 0701234567"), "(14 characters, not shown)");
    assert_eq!(shown(&"a".repeat(50)), format!("\"{}…\"", "a".repeat(40)));
}

#[test]
fn an_unmapped_template_is_refused_under_a_reject_profile() {
    let (_dir, profile) = profile_with("unmapped_keywords = \"reject\"\n");
    let xml = extract(&format!(
        "<anteckning id=\"a\" system=\"s\"><patient typ=\"personnummer\">{CHILD}</patient><mall>Tandvård</mall><handelsetid>2019-01-01</handelsetid></anteckning>"
    ));
    let (records, errors) = decode_with(xml.as_bytes(), profile);
    assert!(records.is_empty());
    assert!(
        errors[0].starts_with("record 1 (line 3) <anteckning>, field anteckning.mall: note type \"Tandvård\" is not mapped by profile \"Test\" ("),
        "{}",
        errors[0]
    );
    assert!(errors[0].ends_with("which rejects unmapped keywords; add it under [note_types]"));
    // Under the default policy the note is kept, unclassified, and counted.
    let profile = builtin();
    let (records, errors) = decode_with(xml.as_bytes(), profile.clone());
    assert!(errors.is_empty());
    let Record::JournalEntry(entry) = &records[0] else {
        panic!("a note")
    };
    assert_eq!(entry.note_type.code, NoteTypeCode::Unclassified);
    assert_eq!(profile.unclassified_counts().get("Tandvård"), Some(&1));
}

#[test]
fn classification_follows_the_profile_and_is_looked_up_once_per_name() {
    let (_dir, profile) = profile_with(
        "[note_types]\n\"Fyraårsbesök\" = \"health_visit\"\n[secrecy_domains]\n\"Fyraårsbesök\" = \"psychological\"\n\"BHV-journal\" = \"emi_medical\"\n[measurements]\n\"Kroppsvikt\" = \"weight\"\n[professions]\n\"BVC-sjuksköterska\" = \"nurse\"\n",
    );
    let note = format!(
        "<anteckning id=\"a\" system=\"s\"><patient typ=\"personnummer\">{CHILD}</patient><mall>FYRAÅRSBESÖK</mall><handelsetid>2022-01-01</handelsetid><forfattare titel=\"okänd titel\"/><signerare titel=\"bvc-sjuksköterska\"/></anteckning>"
    );
    let xml = extract(&format!(
        "{note}\n{note}\n<anteckning id=\"b\" system=\"s\"><patient typ=\"personnummer\">{CHILD}</patient><mall>Fyraårsbesök</mall><handelsetid>2022-01-01</handelsetid><journal>BHV-journal</journal></anteckning>\n<matning id=\"m\" system=\"s\"><patient typ=\"personnummer\">{CHILD}</patient><namn>kroppsvikt</namn><tid>2019-01-01</tid><varde enhet=\"kg\">10</varde></matning>"
    ));
    let (records, errors) = decode_with(xml.as_bytes(), profile.clone());
    assert!(errors.is_empty(), "{errors:?}");
    for record in &records[..2] {
        let Record::JournalEntry(entry) = record else {
            panic!("a note")
        };
        assert_eq!(entry.note_type.code, NoteTypeCode::HealthVisit);
        assert_eq!(entry.note_type.original.as_deref(), Some("FYRAÅRSBESÖK"));
        assert_eq!(entry.secrecy_domain, SecrecyDomain::Psychological);
        assert_eq!(entry.author.as_ref().and_then(|a| a.profession), None);
        assert!(entry.signer.as_ref().and_then(|a| a.profession).is_some());
    }
    let Record::JournalEntry(entry) = &records[2] else {
        panic!("a note")
    };
    assert_eq!(entry.secrecy_domain, SecrecyDomain::EmiMedical);
    let Record::Measurement(measurement) = &records[3] else {
        panic!("a measurement")
    };
    assert_eq!(measurement.original_code.as_deref(), Some("kroppsvikt"));
    // The profile's names are what the encoder writes back.
    let (bytes, refused) = encode_with(&records, profile.clone());
    assert!(refused.is_empty(), "{refused:?}");
    let text = String::from_utf8(bytes.clone()).expect("utf-8");
    assert!(
        text.contains("<signerare titel=\"BVC-sjuksköterska\"/>"),
        "{text}"
    );
    assert!(text.contains("<journal>BHV-journal</journal>"), "{text}");
    assert_eq!(decode_with(&bytes, profile).0, records);
}

#[test]
fn what_the_format_or_profile_cannot_hold_is_refused_and_nothing_half_written() {
    let mut all = records(EVERY_VARIANT);
    let refused_records = records(
        r#"
{"type":"grade","source":{"system":"s","record_id":"g","version":1},"pupil":{"system":"personnummer","value":"201801012392"},"subject_code":"MA","grade_value":"A","final_grade":false,"trial":false,"semester":"HT","year":2024,"registered_date":"2024-12-20"}
{"type":"organisation","id":"skolenhet:12345678","kind":"school_unit","name":"Skolan","school_unit_code":"12345678"}
{"type":"organisation","id":"x","kind":"care_unit","name":"Skolan","school_year":1}
{"type":"journal_entry","source":{"system":"s","record_id":"a","version":1},"patient":{"system":"personnummer","value":"201801012392"},"event_time":"2019-05-14","note_type":{"code":"referral","original":"Hälsobesök"},"content":{"kind":"text","text":"x"},"secrecy_domain":"emi_medical"}
{"type":"journal_entry","source":{"system":"s","record_id":"a","version":1},"patient":{"system":"personnummer","value":"201801012392"},"event_time":"2019-05-14","note_type":{"code":"visit"},"content":{"kind":"text","text":"bell\u0007"},"secrecy_domain":"emi_medical"}
{"type":"journal_entry","source":{"system":"s","record_id":"a","version":1},"patient":{"system":"personnummer","value":"201801012392"},"event_time":"2019-05-14","note_type":{"code":"visit"},"content":{"kind":"attachment","media_type":"text/plain","data":"not base64!"},"secrecy_domain":"emi_medical"}
{"type":"journal_entry","source":{"system":"s","record_id":"a","version":1},"patient":{"system":"personnummer","value":"201801012392"},"event_time":"2019-05-14","note_type":{"code":"visit"},"content":{"kind":"text","text":"x"},"secrecy_domain":"emi_medical","withheld":[{"part":" ","reason":"r"}]}
{"type":"measurement","source":{"system":"s","record_id":"m","version":1},"patient":{"system":"personnummer","value":"201801012392"},"kind":"weight","time":"2019-01-01","value":{"value":1.0,"unit":"kg"},"secrecy_domain":"emi_medical","original_code":"Längd"}
{"type":"measurement","source":{"system":"s","record_id":"m","version":1},"patient":{"system":"personnummer","value":"201801012392"},"kind":"weight","time":"2019-01-01","value":{"value":1.0,"unit":"kg"},"contact":" k1","secrecy_domain":"emi_medical"}
{"type":"person","identifiers":[],"given_name":"A","family_name":"B"}
"#,
    );
    let expected = [
        "a bhv extract holds no grade records",
        "a bhv extract holds care providers and care units, not school organisations",
        "<vardenhet> : a care organisation with a school year",
        "<anteckning> mall: profile \"Brygga standard\" does not read the template \"Hälsobesök\" back as note type referral",
        "<anteckning> fritext: holds the character U+0007, which XML 1.0 cannot carry",
        "<anteckning> bilaga: the data is not base64",
        "<anteckning> undanhallet: a withheld part without a name",
        "<matning> namn: profile \"Brygga standard\" does not read the measurement name \"Längd\" back as weight",
        "<matning> kontakt-id: has leading or trailing whitespace",
        "<barn> id: a child without an identifier",
    ];
    // Refused records between good ones leave no trace in the output.
    let mut mixed = Vec::new();
    for (good, bad) in all.drain(..).zip(refused_records.iter().cycle()) {
        mixed.push(bad.clone());
        mixed.push(good);
    }
    let (bytes, refused) = encode_with(&mixed, builtin());
    for (reason, want) in refused.iter().zip(expected.iter().cycle()) {
        assert!(reason.starts_with(want), "{reason}\nexpected\n{want}");
    }
    assert_eq!(refused.len(), records(EVERY_VARIANT).len());
    let (decoded, errors) = decode_with(&bytes, builtin());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(decoded.len(), records(EVERY_VARIANT).len());
    assert_eq!(
        String::from_utf8(bytes).expect("utf-8"),
        encode(&records(EVERY_VARIANT))
    );
}

#[test]
fn record_element_names_come_from_the_profile() {
    let (_dir, profile) = profile_with(
        "[elements]\nroot = \"utdrag\"\nnote = \"journalanteckning\"\nchild = \"patient-uppgifter\"\n",
    );
    assert!(Bhv.check_profile(&profile).is_ok());
    let original = records(EVERY_VARIANT);
    let (bytes, refused) = encode_with(&original, profile.clone());
    assert!(refused.is_empty());
    let text = String::from_utf8(bytes.clone()).expect("utf-8");
    assert!(text.contains("\n<utdrag version=\"1\">"));
    assert!(text.contains("<journalanteckning id=\"a1\""));
    assert!(text.contains("<patient-uppgifter>"));
    assert!(!text.contains("<anteckning"));
    let (decoded, errors) = decode_with(&bytes, profile);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(decoded.len(), original.len());
    // The default names are then unknown.
    let (_, errors) = decode_with(text.replace("utdrag", "bhv-utdrag").as_bytes(), {
        let (_d, p) = profile_with("[elements]\nnote = \"journalanteckning\"\n");
        p
    });
    assert!(
        errors
            .iter()
            .any(|e| e.contains("<patient-uppgifter>: unknown record element"))
    );

    let (_dir, clash) = profile_with("[elements]\nnote = \"matning\"\n");
    let (records, errors) = decode_with(encode(&[]).as_bytes(), clash.clone());
    assert!(records.is_empty());
    assert_eq!(
        errors,
        [
            "fatal: record 1: [elements] note and measurement both name the element <matning>; record elements need names of their own"
        ]
    );
    let mut encoder = Bhv.encoder(Box::new(Sink::default()), clash);
    assert!(matches!(
        encoder.encode(&original[0]),
        Err(EncodeError::Io(_))
    ));
    let (_dir, unknown) = profile_with("[elements]\nnotes = \"x\"\n");
    let error = Bhv.check_profile(&unknown).expect_err("unknown key");
    assert!(
        error.to_string().contains("elements.notes: unknown key"),
        "{error}"
    );
}

#[test]
fn times_keep_their_precision_across_both_daylight_saving_transitions() {
    let body = format!(
        "<kontakt id=\"k\" system=\"s\"><patient typ=\"personnummer\">{CHILD}</patient><typ>besok</typ><start>2024-10-27T02:30:00</start><slut>2024-10-27T02:30:00+01:00</slut></kontakt>\n<kontakt id=\"k\" system=\"s\"><patient typ=\"personnummer\">{CHILD}</patient><typ>besok</typ><start>2024-03-31T02:30</start><slut>2024-03-31</slut></kontakt>"
    );
    let (records, errors) = decode(&extract(&body));
    assert!(errors.is_empty(), "{errors:?}");
    let shown: Vec<String> = records
        .iter()
        .map(|r| match r {
            Record::Contact(c) => format!(
                "{} {}",
                c.start,
                c.end.as_ref().map(ToString::to_string).unwrap_or_default()
            ),
            _ => String::new(),
        })
        .collect();
    assert_eq!(
        shown,
        [
            "2024-10-27T02:30:00+02:00 2024-10-27T02:30:00+01:00",
            "2024-03-31T03:30:00+02:00 2024-03-31",
        ]
    );
    let xml = encode(&records);
    assert!(
        xml.contains(
            "<start>2024-10-27T02:30:00</start>\n    <slut>2024-10-27T02:30:00+01:00</slut>"
        ),
        "{xml}"
    );
    assert!(
        xml.contains("<start>2024-03-31T03:30:00</start>\n    <slut>2024-03-31</slut>"),
        "{xml}"
    );
    assert_eq!(decode(&xml).0, records);
}

#[test]
fn decimals_are_read_as_xml_schema_writes_them() {
    for (text, value) in [
        ("3.61", 3.61),
        ("-0.5", -0.5),
        ("+7", 7.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("0.0000001", 1e-7),
    ] {
        assert_eq!(decimal(text), Some(value), "{text}");
    }
    for text in [
        "",
        ".",
        "-",
        "1e3",
        "NaN",
        "inf",
        "1,5",
        " 1",
        "0x10",
        &"9".repeat(400),
    ] {
        assert_eq!(decimal(text), None, "{text}");
    }
    for value in [
        0.1,
        3.61,
        1e-7,
        12345678.9,
        1e21,
        f64::MIN_POSITIVE,
        1.0 / 3.0,
    ] {
        assert_eq!(decimal(&value.to_string()), Some(value));
    }
}

#[test]
fn every_canonical_value_has_a_word_and_reads_back() {
    use brygga_mapping::id::{PersonIdKind, Sex};
    use brygga_mapping::model::*;
    fn check<T: Copy + PartialEq + std::fmt::Debug>(vocab: &vocab::Vocab<T>, values: &[T]) {
        for &value in values {
            let word = vocab.word(value).unwrap_or_else(|| panic!("{value:?}"));
            assert_eq!(vocab.parse(word), Some(value));
            assert!(
                word.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{word}"
            );
        }
    }
    check(
        &vocab::PERSON_ID_KINDS,
        &[
            PersonIdKind::Personnummer,
            PersonIdKind::Samordningsnummer,
            PersonIdKind::Reservnummer,
            PersonIdKind::Temporary,
        ],
    );
    check(&vocab::SEXES, &[Sex::Female, Sex::Male]);
    check(
        &vocab::SECURITY_MARKINGS,
        &[
            SecurityMarking::Sekretessmarkering,
            SecurityMarking::SkyddadFolkbokforing,
        ],
    );
    check(
        &vocab::GUARDIAN_RELATIONS,
        &[
            GuardianRelation::Guardian,
            GuardianRelation::OtherResponsible,
        ],
    );
    check(
        &vocab::ADDRESS_KINDS,
        &[
            AddressKind::Registered,
            AddressKind::Postal,
            AddressKind::Temporary,
        ],
    );
    check(
        &vocab::TELECOM_KINDS,
        &[TelecomKind::Phone, TelecomKind::Mobile, TelecomKind::Email],
    );
    check(
        &vocab::CONTACT_KINDS,
        &[
            ContactKind::HealthVisit,
            ContactKind::Visit,
            ContactKind::Phone,
            ContactKind::Message,
            ContactKind::HomeVisit,
        ],
    );
    check(
        &vocab::FINDINGS,
        &[Finding::Normal, Finding::Abnormal, Finding::NotAssessed],
    );
    check(
        &vocab::PROGRAMMES,
        &[
            VaccinationProgramme::Hexavalent,
            VaccinationProgramme::Pneumococcal,
            VaccinationProgramme::Mmr,
            VaccinationProgramme::DtpBooster,
            VaccinationProgramme::Hpv,
            VaccinationProgramme::Rotavirus,
            VaccinationProgramme::Other,
        ],
    );
    check(
        &vocab::GIVER_ROLES,
        &[vocab::GiverRole::Patient, vocab::GiverRole::Guardian],
    );
    check(
        &vocab::PURPOSES,
        &[
            ConsentPurpose::BhvToEmiTransfer,
            ConsentPurpose::SharedRecord,
            ConsentPurpose::ShareWithSchool,
            ConsentPurpose::StatisticsDatabase,
        ],
    );
    check(
        &vocab::DECISIONS,
        &[
            ConsentDecision::Given,
            ConsentDecision::Partial,
            ConsentDecision::Refused,
            ConsentDecision::Revoked,
        ],
    );
}

#[test]
fn line_numbers_count_every_line_feed() {
    let text = "a\n".repeat(600);
    let xml = extract(&format!(
        "<anteckning id=\"a\" system=\"s\"><patient typ=\"personnummer\">{CHILD}</patient><mall>BVC-besök</mall><handelsetid>2019-01-01</handelsetid><fritext>{text}</fritext></anteckning>\n\n<anteckning/>"
    ));
    let (records, errors) = decode(&xml);
    assert_eq!(records.len(), 1);
    assert!(
        errors[0].starts_with("record 2 (line 605) <anteckning>"),
        "{errors:?}"
    );
}

#[test]
fn deeply_nested_elements_neither_overflow_the_stack_nor_stop_the_file() {
    let depth = 200_000;
    let nested = format!("{}{}", "<x>".repeat(depth), "</x>".repeat(depth));
    let good = format!(
        "<matning id=\"m\" system=\"s\"><patient typ=\"personnummer\">{CHILD}</patient><namn>Vikt</namn><tid>2019-01-01</tid><varde enhet=\"kg\">10</varde></matning>"
    );
    let xml = extract(&format!(
        "<anteckning id=\"a\" system=\"s\">{nested}</anteckning>\n<anteckning id=\"b\" system=\"s\"><undanhallet del=\"d\" orsak=\"o\">{nested}</undanhallet></anteckning>\n{good}"
    ));
    let (records, errors) = decode(&xml);
    assert_eq!(records.len(), 1, "{errors:?}");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].contains("field anteckning: unknown element <x>"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].contains("field anteckning.patient: required element <patient> is missing"),
        "{}",
        errors[1]
    );
}

#[test]
fn the_reader_sees_what_the_shared_xml_reader_sees() {
    use crate::xml::{Element, XmlRecords};
    fn same(el: super::reader::El<'_>, element: &Element) {
        let name: &str = &element.name;
        assert_eq!(el.name(), name);
        assert_eq!(el.line(), element.line, "{}", element.name);
        let attributes: Vec<(String, String)> = el
            .attributes()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let expected: Vec<(String, String)> = element
            .attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        assert_eq!(attributes, expected);
        let children: Vec<_> = el.children().collect();
        assert_eq!(children.len(), element.children.len(), "{}", element.name);
        if children.is_empty() {
            assert_eq!(el.text(), element.text, "{}", element.name);
        } else {
            assert!(element.text.trim().is_empty() && !el.has_stray_text());
        }
        for (child, element) in children.into_iter().zip(&element.children) {
            same(child, element);
        }
    }
    let input = include_str!("../../../conformance-tests/vectors/bhv/rich/input.xml");
    let mut ours = ExtractReader::new(input.as_bytes());
    let mut shared = XmlRecords::new(input.as_bytes());
    let root = ours.root().expect("root").name.clone();
    let shared_root: &str = &shared.root().expect("root").name;
    assert_eq!(root, shared_root);
    let mut count = 0;
    loop {
        match (ours.next_record(), shared.next_record()) {
            (None, None) => break,
            (Some(Ok(tree)), Some(Ok(element))) => same(tree.record(), &element),
            (a, b) => panic!("{:?} / {:?}", a.map(|r| r.map(|_| ())), b),
        }
        count += 1;
    }
    assert_eq!(count, 23);
}

#[test]
fn line_feeds_are_counted_exactly_in_any_bytes() {
    let mut bytes: Vec<u8> = (0..=255u8).collect();
    bytes.extend_from_slice("å\n\n\r\nä\u{a0}\n".as_bytes());
    for start in 0..bytes.len() {
        for end in start..bytes.len().min(start + 40) {
            let slice = &bytes[start..end];
            let naive = slice.iter().filter(|&&b| b == b'\n').count() as u64;
            assert_eq!(super::reader::newlines_in(slice), naive, "{start}..{end}");
        }
    }
    assert_eq!(super::reader::newlines_in(&[b'\n'; 1000]), 1000);
    assert_eq!(super::reader::newlines_in(&[0x8A; 1000]), 0);
}

#[test]
fn a_record_of_many_tiny_elements_is_bounded_by_its_memory() {
    let tiny = "<x/>".repeat(5000);
    let xml = extract(&format!(
        "<anteckning id=\"a\" system=\"s\">{tiny}</anteckning>\n<barn><id typ=\"personnummer\">{CHILD}</id><fornamn>B</fornamn><efternamn>A</efternamn></barn>"
    ));
    // 20 000 bytes, but thousands of elements: over a 100 000-byte limit
    // in memory.
    let mut decoder = decode::BhvDecoder::with_max_record_bytes(
        Box::new(Cursor::new(xml.into_bytes())),
        builtin(),
        100_000,
    );
    let first = decoder.next_record().expect("item").expect_err("too large");
    assert_eq!(
        first.to_string(),
        "record 1 (line 3): record larger than 100000 bytes; skipped"
    );
    assert!(matches!(decoder.next_record(), Some(Ok(Record::Person(_)))));
}
