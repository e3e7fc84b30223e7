//! The child-health (BHV) extract: the region's child-health record of one or
//! more children, as an XML document the school's EMI receives when a child
//! starts school.
//!
//! No vendor publishes such a format, so Brygga defines it
//! (`docs/adapters/bhv.md`, schema `schemas/bhv/bhv.xsd`): one root element,
//! `<bhv-utdrag version="1">`, holding a flat run of self-contained record
//! elements — the child (`<barn>`), the region and its child-health centres
//! (`<vardgivare>`, `<vardenhet>`), contacts, notes, measurements,
//! vaccinations and the guardians' consent — each carrying the child's
//! identifier, so a file of any size is read one record at a time. The
//! reader (`reader.rs`) applies [`crate::xml`]'s protections (no DTDs or
//! foreign entities, UTF-8 only, truncation noticed) and keeps the current
//! record in buffers reused from record to record.
//!
//! Templates, measurement names, titles and journal names are the region's
//! own words; the mapping profile (system `bhv`) classifies them, and the
//! record element names are `[elements]` keys.
//!
//! **Withheld parts.** When the guardians consent to the transfer only in
//! part, the region's extract may still hold what they withheld, wrapped in
//! `<undanhallet del="…" orsak="…">` inside a note. The reader never keeps
//! what that element wraps — it reads past it without copying a byte — so
//! each becomes only a [`WithheldPart`] marker on the note. The encoder
//! writes only the markers.
//!
//! [`WithheldPart`]: brygga_mapping::model::WithheldPart

mod decode;
mod encode;
mod reader;
mod vocab;

#[cfg(test)]
mod tests;

use std::io::{BufRead, Write};
use std::sync::Arc;

use brygga_mapping::profile::Profile;

use crate::{Decoder, Encoder, Format};

/// The child-health extract format, `bhv`.
#[derive(Debug)]
pub struct Bhv;

impl Format for Bhv {
    fn name(&self) -> &'static str {
        "bhv"
    }

    fn description(&self) -> &'static str {
        "child-health (BHV) record extract for the transfer to school health, XML"
    }

    fn extension(&self) -> &'static str {
        "xml"
    }

    fn profile_system(&self) -> Option<&'static str> {
        Some("bhv")
    }

    fn element_keys(&self) -> &'static [&'static str] {
        &ELEMENT_KEYS
    }

    fn decoder(&self, input: Box<dyn BufRead + Send>, profile: Arc<Profile>) -> Box<dyn Decoder> {
        Box::new(decode::BhvDecoder::new(input, profile))
    }

    fn encoder(&self, output: Box<dyn Write + Send>, profile: Arc<Profile>) -> Box<dyn Encoder> {
        Box::new(encode::BhvEncoder::new(output, profile))
    }
}

/// The format's version, in the root's `version` attribute.
const VERSION: &str = "1";

/// The `[elements]` keys, in the order of [`Names`]' fields.
const ELEMENT_KEYS: [&str; 9] = [
    "root",
    "child",
    "care_provider",
    "care_unit",
    "contact",
    "note",
    "measurement",
    "vaccination",
    "consent",
];

/// The names of the root and record elements: the profile's `[elements]`
/// values, else the defaults. Only these are configurable; the elements
/// inside a record have fixed names.
#[derive(Debug, Clone)]
struct Names {
    root: String,
    child: String,
    care_provider: String,
    care_unit: String,
    contact: String,
    note: String,
    measurement: String,
    vaccination: String,
    consent: String,
}

/// The kinds of record element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Child,
    CareProvider,
    CareUnit,
    Contact,
    Note,
    Measurement,
    Vaccination,
    Consent,
}

impl Names {
    fn from_profile(profile: &Profile) -> Names {
        let name = |key: &str, default: &str| profile.element(key, default).to_owned();
        Names {
            root: name("root", "bhv-utdrag"),
            child: name("child", "barn"),
            care_provider: name("care_provider", "vardgivare"),
            care_unit: name("care_unit", "vardenhet"),
            contact: name("contact", "kontakt"),
            note: name("note", "anteckning"),
            measurement: name("measurement", "matning"),
            vaccination: name("vaccination", "vaccination"),
            consent: name("consent", "samtycke"),
        }
    }

    fn all(&self) -> [(&'static str, &str); 9] {
        [
            ("root", &self.root),
            ("child", &self.child),
            ("care_provider", &self.care_provider),
            ("care_unit", &self.care_unit),
            ("contact", &self.contact),
            ("note", &self.note),
            ("measurement", &self.measurement),
            ("vaccination", &self.vaccination),
            ("consent", &self.consent),
        ]
    }

    /// Why these names cannot be used: two keys naming the same element
    /// (records could not be told apart), or a name that is no XML name.
    fn problem(&self) -> Option<String> {
        let all = self.all();
        for (i, (key, name)) in all.iter().enumerate() {
            if !is_xml_name(name) {
                return Some(format!(
                    "[elements] {key} = {name:?} is not an XML element name"
                ));
            }
            if let Some((other, _)) = all[..i].iter().find(|(_, n)| n == name) {
                return Some(format!(
                    "[elements] {other} and {key} both name the element <{name}>; record elements need names of their own"
                ));
            }
        }
        None
    }

    fn kind(&self, element: &str) -> Option<Kind> {
        // The most frequent records first.
        [
            (&self.measurement, Kind::Measurement),
            (&self.note, Kind::Note),
            (&self.contact, Kind::Contact),
            (&self.vaccination, Kind::Vaccination),
            (&self.child, Kind::Child),
            (&self.consent, Kind::Consent),
            (&self.care_unit, Kind::CareUnit),
            (&self.care_provider, Kind::CareProvider),
        ]
        .into_iter()
        .find_map(|(name, kind)| (name == element).then_some(kind))
    }

    fn of(&self, kind: Kind) -> &str {
        match kind {
            Kind::Child => &self.child,
            Kind::CareProvider => &self.care_provider,
            Kind::CareUnit => &self.care_unit,
            Kind::Contact => &self.contact,
            Kind::Note => &self.note,
            Kind::Measurement => &self.measurement,
            Kind::Vaccination => &self.vaccination,
            Kind::Consent => &self.consent,
        }
    }
}

/// A plain XML name without a namespace prefix (ASCII letters, digits, `-`,
/// `_`, `.`, not starting with a digit, `-` or `.`): what the writer can emit
/// and the reader will match.
fn is_xml_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The fixed names of the elements and attributes inside records.
mod tag {
    // Every sourced record.
    pub const ID: &str = "id";
    pub const VERSION: &str = "version";
    pub const SYSTEM: &str = "system";
    pub const PATIENT: &str = "patient";
    pub const JOURNAL: &str = "journal";
    pub const CARE_PROVIDER: &str = "vardgivare";
    pub const CARE_UNIT: &str = "vardenhet";
    pub const CONTACT_ID: &str = "kontakt-id";
    pub const SUPERSEDES: &str = "ersatter";
    pub const NULLIFIED: &str = "makulerad";
    // Identifiers and references.
    pub const TYPE: &str = "typ";
    pub const NAMESPACE: &str = "namnrymd";
    pub const HSA_ID: &str = "hsa-id";
    pub const NAME: &str = "namn";
    pub const TITLE: &str = "titel";
    // The child.
    pub const GIVEN_NAME: &str = "fornamn";
    pub const FAMILY_NAME: &str = "efternamn";
    pub const BIRTH_DATE: &str = "fodelsedatum";
    pub const SEX: &str = "kon";
    pub const PROTECTION: &str = "skydd";
    pub const GUARDIAN: &str = "vardnadshavare";
    pub const RELATION: &str = "relation";
    pub const ADDRESS: &str = "adress";
    pub const LINE: &str = "rad";
    pub const POSTAL_CODE: &str = "postnummer";
    pub const CITY: &str = "ort";
    pub const COUNTRY: &str = "land";
    pub const TELECOM: &str = "kontaktuppgift";
    pub const MUNICIPALITY: &str = "kommunkod";
    // Organisations.
    pub const ORGANISATION_NUMBER: &str = "organisationsnummer";
    pub const PARENT: &str = "overordnad";
    // Contacts.
    pub const START: &str = "start";
    pub const END: &str = "slut";
    pub const PERFORMER: &str = "utforare";
    // Notes.
    pub const TEMPLATE: &str = "mall";
    pub const HEADING: &str = "rubrik";
    pub const EVENT_TIME: &str = "handelsetid";
    pub const AUTHOR_TIME: &str = "skrivtid";
    pub const SIGNING_TIME: &str = "signeringstid";
    pub const RECORD_TIME: &str = "registreringstid";
    pub const AUTHOR: &str = "forfattare";
    pub const SIGNER: &str = "signerare";
    pub const APPROVED_FOR_PATIENT: &str = "godkand-for-patient";
    pub const PATIENT_BLOCK: &str = "sparr";
    pub const TEXT: &str = "fritext";
    pub const KEYWORD: &str = "sokord";
    pub const ATTACHMENT: &str = "bilaga";
    pub const MEDIA_TYPE: &str = "mediatyp";
    pub const WITHHELD: &str = "undanhallet";
    pub const PART: &str = "del";
    pub const REASON: &str = "orsak";
    // Measurements.
    pub const TIME: &str = "tid";
    pub const VALUE: &str = "varde";
    pub const UNIT: &str = "enhet";
    pub const FINDING: &str = "fynd";
    // Vaccinations.
    pub const ATC: &str = "atc";
    pub const PRODUCT: &str = "produkt";
    pub const PROGRAMME: &str = "program";
    pub const DOSE: &str = "dos";
    pub const LOT: &str = "batchnummer";
    pub const VACCINATOR: &str = "vaccinator";
    // Consent.
    pub const GIVEN_BY: &str = "givet-av";
    pub const ROLE: &str = "roll";
    pub const PURPOSE: &str = "syfte";
    pub const DECISION: &str = "beslut";
    pub const WITHHELD_PART: &str = "undanhallen-del";
    pub const RECORDED: &str = "registrerat";
    pub const VALID_FROM: &str = "giltigt-fran";
    pub const VALID_TO: &str = "giltigt-till";
}
