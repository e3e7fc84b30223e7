//! Where every random choice comes from, so that the same seed gives the same
//! bytes: one ChaCha8 key per run, and one independent stream per (pupil,
//! purpose). A pupil's register data, child-health record and school journal
//! each draw from their own stream, so changing how one of them is generated
//! never shifts the others, and no choice depends on the order or thread in
//! which pupils are made.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The generator every synthetic choice draws from.
pub type Rng = ChaCha8Rng;

/// What a stream is used for; part of the stream number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A family: number of children, guardians, home, protected identity.
    Family = 0,
    /// A pupil's own person data and school placement.
    Pupil = 1,
    /// The pupil's SS 12000 register data: grades, absence, attendance.
    Register = 2,
    /// The pupil's child-health (BHV) record.
    ChildHealth = 3,
    /// The pupil's school-health journal (PMO, then ProRenata).
    SchoolHealth = 4,
    /// The municipality's staff and other fixed choices, by an index.
    World = 5,
    /// The order in which a test-number list is used, by birth year.
    TestList = 6,
    /// A pupil's place on the growth charts, shared by the child-health
    /// centre and the school nurse.
    Growth = 7,
}

/// The run's key, expanded from the seed.
#[derive(Debug, Clone, Copy)]
pub struct SeedKey([u8; 32]);

impl SeedKey {
    pub fn new(seed: u64) -> Self {
        let mut key = [0u8; 32];
        let mut state = seed;
        for chunk in key.chunks_exact_mut(8) {
            state = splitmix64(state);
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        SeedKey(key)
    }

    /// The stream for `purpose` of item `index` (a pupil index, a staff
    /// number, a birth year).
    pub fn stream(&self, purpose: Purpose, index: u64) -> Rng {
        let mut rng = ChaCha8Rng::from_seed(self.0);
        rng.set_stream((index << 4) | purpose as u64);
        rng
    }

    /// A 64-bit key for keyed permutations, derived from the seed key.
    pub fn subkey(&self, label: u64) -> u64 {
        let mut state = label;
        for chunk in self.0.chunks_exact(8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            state = splitmix64(state ^ u64::from_le_bytes(word));
        }
        state
    }
}

/// SplitMix64's output function: a fast, well-mixed bijection on `u64`.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One item of a non-empty constant list.
pub fn pick<T: Copy>(rng: &mut Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

/// True with probability `p` (0..=1).
pub fn chance(rng: &mut Rng, p: f64) -> bool {
    rng.random_bool(p.clamp(0.0, 1.0))
}

/// An approximately standard-normal number, cut at ±2.5 so that no synthetic
/// child lands far outside the growth charts.
pub fn normal(rng: &mut Rng) -> f64 {
    // The sum of four uniforms on (-1, 1) has variance 4/3.
    let sum: f64 = (0..4).map(|_| rng.random_range(-1.0..1.0)).sum();
    (sum * 0.75_f64.sqrt()).clamp(-2.5, 2.5)
}

/// A small count with mean `mean`: the number of successes in ten trials.
pub fn count(rng: &mut Rng, mean: f64) -> u32 {
    let p = (mean / 10.0).clamp(0.0, 1.0);
    (0..10).filter(|_| rng.random_bool(p)).count() as u32
}

/// A random (version 4) UUID, as SS 12000 and ProRenata use for ids.
pub fn uuid(rng: &mut Rng) -> String {
    let mut bytes: [u8; 16] = rng.random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let key = SeedKey::new(7);
        let a: u64 = key.stream(Purpose::Pupil, 3).random();
        let b: u64 = key.stream(Purpose::Pupil, 3).random();
        let c: u64 = key.stream(Purpose::Pupil, 4).random();
        let d: u64 = key.stream(Purpose::Register, 3).random();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        let other: u64 = SeedKey::new(8).stream(Purpose::Pupil, 3).random();
        assert_ne!(a, other);
    }

    #[test]
    fn uuid_has_the_version_4_shape() {
        let id = uuid(&mut SeedKey::new(1).stream(Purpose::World, 0));
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
    }
}
