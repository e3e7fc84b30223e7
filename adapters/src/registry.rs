//! The one place formats are registered. Adding a format is one line here.

use crate::Format;
use crate::canonical::Canonical;

static FORMATS: &[&dyn Format] = &[
    &Canonical,
    &crate::pmo::Pmo,
    &crate::bhv::Bhv,
    &crate::prorenata::ProRenata,
    &crate::fhir::FHIR_NDJSON,
    &crate::fhir::FHIR_BUNDLE,
    &crate::fhir::FHIR_NDJSON_EHR_STRICT,
    &crate::fhir::FHIR_BUNDLE_EHR_STRICT,
];

/// Every registered format, in the order `--help` lists them.
pub fn formats() -> &'static [&'static dyn Format] {
    FORMATS
}

/// The format called `name`, if there is one.
pub fn format(name: &str) -> Option<&'static dyn Format> {
    FORMATS.iter().copied().find(|f| f.name() == name)
}
