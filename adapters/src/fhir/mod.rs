//! FHIR R4 (4.0.1): the regional shared record's language, vendor-neutral,
//! following HL7 Sweden's base profiles (identifier systems, HSA-ids), with
//! the regional EHR's stricter write rules as one selectable profile.
//!
//! - [`encode`]: canonical → FHIR, one record at a time (Patient,
//!   Organization, Encounter, DocumentReference, Observation, Immunization,
//!   Consent; Provenance for every sourced record; Practitioner,
//!   PractitionerRole, RelatedPerson and referenced Organizations);
//! - [`decode`]: FHIR → canonical, the reading direction, giving back every
//!   record exactly;
//! - [`stream`]: the files — bulk-data NDJSON and transaction Bundles — with
//!   each patient's resources in chronological order, Patient first;
//! - [`types`], [`vocab`], [`ids`], [`keywords`]: the resource structs, the
//!   code systems and extension URLs, deterministic ids, and how keyword
//!   notes become one text attachment.
//!
//! Four formats are registered: `fhir-ndjson` and `fhir-bundle` write under
//! the `se-base` profile, `fhir-ndjson-ehr-strict` and
//! `fhir-bundle-ehr-strict` under `ehr-strict`; [`FhirOptions`] is the typed
//! choice a destination's configuration makes. All four read the same way.
//! `docs/adapters/fhir.md` documents the mapping element by element.

pub mod decode;
pub mod encode;
pub mod ids;
pub mod keywords;
pub mod stream;
pub mod types;
pub mod vocab;

#[cfg(test)]
mod tests;

use std::io::{self, BufRead, Write};
use std::path::Path;
use std::sync::Arc;

use brygga_mapping::profile::Profile;

use crate::{Decoder, Encoder, Format};

pub use stream::{PatientResources, patient_resources, transaction_bundle};

/// The rules a destination's FHIR must keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteProfile {
    /// HL7 Sweden's base profiles: everything the record holds, in FHIR's
    /// elements and Brygga's extensions.
    #[default]
    SeBase,
    /// The regional EHR's write rules on top: a DocumentReference is
    /// `status=current` and `docStatus=final`, has exactly one attachment
    /// with a charset and a `context.period` with an end and with times, and
    /// sets no creation date; a note that cannot is refused with the
    /// reason. What the EHR ignores travels in the Provenance.
    EhrStrict,
}

impl WriteProfile {
    /// The name in configuration and format names: `se-base`, `ehr-strict`.
    pub fn name(self) -> &'static str {
        match self {
            WriteProfile::SeBase => "se-base",
            WriteProfile::EhrStrict => "ehr-strict",
        }
    }

    pub fn parse(name: &str) -> Option<WriteProfile> {
        [WriteProfile::SeBase, WriteProfile::EhrStrict]
            .into_iter()
            .find(|p| p.name() == name)
    }
}

/// How the resources are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Bulk-data NDJSON: one resource per line (a directory of one file per
    /// type, or one stream).
    Ndjson,
    /// One transaction Bundle per line, one per patient.
    Bundle,
}

/// A FHIR destination's settings, as configuration gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FhirOptions {
    pub layout: Layout,
    pub profile: WriteProfile,
}

impl FhirOptions {
    /// The registered format with these options.
    pub fn format(self) -> &'static Fhir {
        match (self.layout, self.profile) {
            (Layout::Ndjson, WriteProfile::SeBase) => &FHIR_NDJSON,
            (Layout::Bundle, WriteProfile::SeBase) => &FHIR_BUNDLE,
            (Layout::Ndjson, WriteProfile::EhrStrict) => &FHIR_NDJSON_EHR_STRICT,
            (Layout::Bundle, WriteProfile::EhrStrict) => &FHIR_BUNDLE_EHR_STRICT,
        }
    }
}

/// One of the FHIR formats.
#[derive(Debug)]
pub struct Fhir {
    name: &'static str,
    description: &'static str,
    options: FhirOptions,
}

impl Fhir {
    pub fn options(&self) -> FhirOptions {
        self.options
    }
}

pub static FHIR_NDJSON: Fhir = Fhir {
    name: "fhir-ndjson",
    description: "FHIR R4 bulk-data NDJSON, one file per resource type (HL7 Sweden base)",
    options: FhirOptions {
        layout: Layout::Ndjson,
        profile: WriteProfile::SeBase,
    },
};

pub static FHIR_BUNDLE: Fhir = Fhir {
    name: "fhir-bundle",
    description: "FHIR R4 transaction Bundles, one per patient per line (HL7 Sweden base)",
    options: FhirOptions {
        layout: Layout::Bundle,
        profile: WriteProfile::SeBase,
    },
};

pub static FHIR_NDJSON_EHR_STRICT: Fhir = Fhir {
    name: "fhir-ndjson-ehr-strict",
    description: "fhir-ndjson under the regional EHR's write rules",
    options: FhirOptions {
        layout: Layout::Ndjson,
        profile: WriteProfile::EhrStrict,
    },
};

pub static FHIR_BUNDLE_EHR_STRICT: Fhir = Fhir {
    name: "fhir-bundle-ehr-strict",
    description: "fhir-bundle under the regional EHR's write rules",
    options: FhirOptions {
        layout: Layout::Bundle,
        profile: WriteProfile::EhrStrict,
    },
};

impl Format for Fhir {
    fn name(&self) -> &'static str {
        self.name
    }

    fn description(&self) -> &'static str {
        self.description
    }

    fn extension(&self) -> &'static str {
        "ndjson"
    }

    /// FHIR carries Brygga's own codes: no municipality's profile applies.
    fn profile_system(&self) -> Option<&'static str> {
        None
    }

    fn decoder(&self, input: Box<dyn BufRead + Send>, _profile: Arc<Profile>) -> Box<dyn Decoder> {
        match self.options.layout {
            Layout::Ndjson => Box::new(stream::NdjsonDecoder::new(input)),
            Layout::Bundle => Box::new(stream::BundleDecoder::new(input)),
        }
    }

    fn encoder(&self, output: Box<dyn Write + Send>, _profile: Arc<Profile>) -> Box<dyn Encoder> {
        let profile = self.options.profile;
        match self.options.layout {
            Layout::Ndjson => Box::new(stream::FhirEncoder::lines(output, profile)),
            Layout::Bundle => Box::new(stream::FhirEncoder::bundles(output, profile)),
        }
    }

    fn writes_directory(&self) -> bool {
        self.options.layout == Layout::Ndjson
    }

    fn directory_encoder(
        &self,
        dir: &Path,
        _profile: Arc<Profile>,
    ) -> io::Result<Box<dyn Encoder>> {
        match self.options.layout {
            Layout::Ndjson => Ok(Box::new(stream::FhirEncoder::directory(
                dir,
                self.options.profile,
            )?)),
            Layout::Bundle => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{} writes one file, not a directory", self.name),
            )),
        }
    }
}
