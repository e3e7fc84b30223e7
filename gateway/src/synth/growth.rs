//! Plausible growth for synthetic children: approximate medians of height,
//! weight and head circumference by age and sex, and a child's own position
//! on the curves, so that one child's measurements from the child-health
//! centre and the school nurse follow one curve instead of jumping about.
//!
//! The medians are rounded values in the range of the Swedish and WHO
//! references; they are good enough to look right on a growth chart, not to
//! assess a real child.

use brygga_mapping::id::Sex;

use super::family::Pupil;
use super::random::{Purpose, Rng, normal};
use super::world::World;

/// Median height in cm by age in months (boys, girls).
const HEIGHT: &[(u16, f64, f64)] = &[
    (0, 50.5, 49.7),
    (1, 54.5, 53.5),
    (2, 58.4, 57.1),
    (3, 61.4, 59.8),
    (4, 63.9, 62.1),
    (5, 65.9, 64.0),
    (6, 67.6, 65.7),
    (8, 70.6, 68.7),
    (10, 73.3, 71.5),
    (12, 75.7, 74.0),
    (18, 82.3, 80.7),
    (24, 87.8, 86.4),
    (30, 92.1, 90.9),
    (36, 96.1, 95.1),
    (48, 103.3, 102.7),
    (60, 110.0, 109.4),
    (72, 116.5, 115.8),
    (84, 122.5, 121.8),
    (96, 128.2, 127.5),
    (108, 133.6, 133.0),
    (120, 138.9, 138.6),
    (132, 144.0, 144.9),
    (144, 149.6, 151.2),
    (156, 156.5, 156.8),
    (168, 163.8, 160.6),
    (180, 170.1, 163.0),
    (192, 174.8, 164.4),
    (204, 177.5, 165.1),
    (216, 178.8, 165.5),
    (240, 179.9, 165.9),
];

/// Median weight in kg by age in months (boys, girls).
const WEIGHT: &[(u16, f64, f64)] = &[
    (0, 3.5, 3.4),
    (1, 4.5, 4.2),
    (2, 5.6, 5.1),
    (3, 6.4, 5.8),
    (4, 7.0, 6.4),
    (5, 7.5, 6.9),
    (6, 7.9, 7.3),
    (8, 8.6, 7.9),
    (10, 9.2, 8.5),
    (12, 9.6, 8.9),
    (18, 10.9, 10.2),
    (24, 12.2, 11.5),
    (30, 13.3, 12.7),
    (36, 14.3, 13.9),
    (48, 16.3, 16.1),
    (60, 18.3, 18.2),
    (72, 20.6, 20.2),
    (84, 23.0, 22.4),
    (96, 25.6, 25.0),
    (108, 28.6, 28.2),
    (120, 31.9, 31.9),
    (132, 35.6, 36.3),
    (144, 39.9, 41.0),
    (156, 45.3, 45.8),
    (168, 50.8, 49.6),
    (180, 56.0, 52.5),
    (192, 60.8, 54.6),
    (204, 64.4, 56.0),
    (216, 66.9, 57.0),
    (240, 69.5, 58.0),
];

/// Median head circumference in cm by age in months (boys, girls); measured
/// in infancy only.
const HEAD: &[(u16, f64, f64)] = &[
    (0, 34.5, 33.9),
    (1, 37.3, 36.5),
    (2, 39.1, 38.3),
    (3, 40.5, 39.5),
    (4, 41.6, 40.6),
    (5, 42.6, 41.5),
    (6, 43.3, 42.2),
    (8, 44.5, 43.4),
    (10, 45.4, 44.2),
    (12, 46.1, 45.0),
    (18, 47.4, 46.2),
    (24, 48.3, 47.2),
];

/// A child's own place on the growth charts, kept for life.
#[derive(Debug, Clone, Copy)]
pub struct GrowthCurve {
    sex: Sex,
    height_z: f64,
    weight_z: f64,
    head_z: f64,
}

impl GrowthCurve {
    /// The pupil's curve: the same in the child-health record and the
    /// school journal.
    pub fn for_pupil(world: &World, pupil: &Pupil) -> Self {
        let mut rng = world.key.stream(Purpose::Growth, u64::from(pupil.index));
        GrowthCurve::new(&mut rng, pupil.sex)
    }

    fn new(rng: &mut Rng, sex: Sex) -> Self {
        let height_z = normal(rng);
        GrowthCurve {
            sex,
            height_z,
            // Taller children tend to be heavier and to have larger heads.
            weight_z: (0.6 * height_z + 0.8 * normal(rng)).clamp(-2.5, 2.5),
            head_z: (0.4 * height_z + 0.9 * normal(rng)).clamp(-2.5, 2.5),
        }
    }

    /// Height in cm at `days` of age, to a millimetre.
    pub fn height_cm(&self, rng: &mut Rng, days: i64) -> f64 {
        let median = self.median(HEIGHT, days);
        round(median * (1.0 + 0.04 * self.height_z) + 0.3 * normal(rng), 1)
    }

    /// Weight in kg at `days` of age, to ten grams.
    pub fn weight_kg(&self, rng: &mut Rng, days: i64) -> f64 {
        let median = self.median(WEIGHT, days);
        round(
            median * (1.0 + 0.11 * self.weight_z + 0.01 * normal(rng)),
            2,
        )
    }

    /// Head circumference in cm at `days` of age, to a millimetre.
    pub fn head_cm(&self, rng: &mut Rng, days: i64) -> f64 {
        let median = self.median(HEAD, days);
        round(median * (1.0 + 0.03 * self.head_z) + 0.2 * normal(rng), 1)
    }

    fn median(&self, table: &[(u16, f64, f64)], days: i64) -> f64 {
        let months = days as f64 / 30.4375;
        let value = |row: &(u16, f64, f64)| match self.sex {
            Sex::Male => row.1,
            Sex::Female => row.2,
        };
        let mut previous = &table[0];
        for row in table {
            let at = f64::from(row.0);
            if months <= at {
                let from = f64::from(previous.0);
                if at <= from {
                    return value(row);
                }
                let share = (months - from) / (at - from);
                return value(previous) + share * (value(row) - value(previous));
            }
            previous = row;
        }
        value(previous)
    }
}

/// Body-mass index in kg/m², to one decimal.
pub fn bmi(height_cm: f64, weight_kg: f64) -> f64 {
    let metres = height_cm / 100.0;
    round(weight_kg / (metres * metres), 1)
}

/// `value` rounded to `decimals` decimals, so that the NDJSON shows the
/// precision a nurse would write down.
pub fn round(value: f64, decimals: i32) -> f64 {
    let factor = 10f64.powi(decimals);
    (value * factor).round() / factor
}

#[cfg(test)]
mod tests {
    use super::super::random::{Purpose, SeedKey};
    use super::*;

    #[test]
    fn a_child_grows_and_stays_near_the_median() {
        let mut rng = SeedKey::new(1).stream(Purpose::ChildHealth, 0);
        let curve = GrowthCurve::new(&mut rng, Sex::Female);
        let newborn = curve.height_cm(&mut rng, 10);
        let six = curve.height_cm(&mut rng, 6 * 365);
        assert!((43.0..58.0).contains(&newborn), "{newborn}");
        assert!((100.0..135.0).contains(&six), "{six}");
        let weight = curve.weight_kg(&mut rng, 365);
        assert!((6.0..13.0).contains(&weight), "{weight}");
    }

    #[test]
    fn bmi_is_weight_over_height_squared() {
        assert_eq!(bmi(150.0, 45.0), 20.0);
    }
}
