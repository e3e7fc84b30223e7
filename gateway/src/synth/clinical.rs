//! Small builders the child-health and school-health generators share:
//! measurement values, screening findings, vaccine batch numbers.

use brygga_mapping::model::{Finding, MeasurementValue};
use rand::RngExt;

use super::random::{Rng, pick};

/// A number with its UCUM unit (`cm`, `kg`, `kg/m2`, `1` for visual acuity).
pub fn quantity(value: f64, unit: &str) -> MeasurementValue {
    MeasurementValue::Quantity {
        value,
        unit: unit.to_owned(),
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
