//! Small builders the child-health and school-health generators share:
//! measurement values and their names, screening findings, vaccine batch
//! numbers.

use brygga_mapping::model::{Finding, MeasurementKind, MeasurementValue};
use rand::RngExt;

use super::random::{Rng, pick};

/// A number with its UCUM unit (`cm`, `kg`, `kg/m2`, `1` for visual acuity).
pub fn quantity(value: f64, unit: &str) -> MeasurementValue {
    MeasurementValue::Quantity {
        value,
        unit: unit.to_owned(),
    }
}

/// The name a journal system writes for a measurement, as the exports carry
/// it (`Measurement::original_code`). ProRenata's forms say "Visus" where
/// the others say "Syn"; every name is in the shared default profile.
pub fn measurement_name(kind: MeasurementKind, prorenata: bool) -> &'static str {
    match kind {
        MeasurementKind::Height => "Längd",
        MeasurementKind::Weight => "Vikt",
        MeasurementKind::Bmi => "BMI",
        MeasurementKind::HeadCircumference => "Huvudomfång",
        MeasurementKind::VisionRight if prorenata => "Visus höger",
        MeasurementKind::VisionLeft if prorenata => "Visus vänster",
        MeasurementKind::VisionRight => "Syn höger",
        MeasurementKind::VisionLeft => "Syn vänster",
        MeasurementKind::HearingRight => "Hörsel höger",
        MeasurementKind::HearingLeft => "Hörsel vänster",
        MeasurementKind::Scoliosis => "Skolios",
    }
}

/// A screening result that passes or not.
pub fn finding(abnormal: bool) -> MeasurementValue {
    MeasurementValue::Finding {
        finding: if abnormal {
            Finding::Abnormal
        } else {
            Finding::Normal
        },
    }
}

/// A vaccine batch number in the usual letters-and-digits shape.
pub fn lot(rng: &mut Rng) -> String {
    let letters = pick(rng, &["AB", "HX", "PC", "RV", "MM", "TV", "GA", "BX"]);
    format!("{letters}{:04}", rng.random_range(0..10_000))
}
