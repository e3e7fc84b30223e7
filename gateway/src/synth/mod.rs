//! `brygga synth`: a deterministic synthetic municipality — pupils, their
//! guardians, the school register, the region's child-health records and
//! the school-health journals in PMO and ProRenata — written as canonical
//! NDJSON, at any size, with flat memory.
//!
//! Same arguments, same bytes: every choice comes from a seeded stream per
//! pupil and purpose ([`random`]), there is no wall clock (the world's today
//! is `--as-of`), and nothing iterates a hash map. Pupils are made a family
//! at a time and written straight through buffered files, so memory holds
//! one family, never the municipality.
//!
//! Layout of a run (see `docs/synth.md`):
//!
//! ```text
//! DIR/manifest.json
//! DIR/canonical/register.ndjson    school register (SS 12000)
//! DIR/canonical/bhv.ndjson         the region's child-health extract
//! DIR/canonical/pmo.ndjson         school-health journal before the switch
//! DIR/canonical/prorenata.ndjson   school-health journal from the switch
//! DIR/native/bhv.xml               the same records in each system's own
//! DIR/native/pmo.xml               export format (unless --canonical-only)
//! DIR/native/prorenata.json
//! ```

mod bhv;
mod calendar;
mod clinical;
mod family;
mod growth;
mod ids;
mod manifest;
mod names;
mod output;
mod random;
mod register;
mod school_health;
mod text;
mod world;

use std::path::PathBuf;

use jiff::civil::Date;

pub use ids::TestList;

use crate::exit::Failure;
use family::Family;
use ids::Identities;
use manifest::{Manifest, Municipality, Tally};
use output::Exports;
use world::{CHILD_HEALTH_SYSTEM, PMO_SYSTEM, PRORENATA_SYSTEM, REGISTER_SYSTEM, World};

/// What to generate.
#[derive(Debug)]
pub struct Settings {
    pub pupils: u32,
    pub seed: u64,
    /// The world's today: nothing happens after it.
    pub as_of: Date,
    pub out: PathBuf,
    /// Also write each journal system's export in its own format.
    pub native: bool,
}

/// What a run wrote.
#[derive(Debug)]
pub struct Summary {
    /// Files written, relative to the output folder, manifest included.
    pub files: usize,
    pub records: u64,
}

/// Generates the municipality into `settings.out`, calling `progress` with
/// the number of pupils done after each family.
pub fn generate(
    settings: &Settings,
    test_list: Option<TestList>,
    mut progress: impl FnMut(u32),
) -> Result<Summary, Failure> {
    let world = World::new(settings.seed, settings.pupils, settings.as_of);
    let mut ids = Identities::new(world.key, test_list);
    let mut exports = Exports::create(
        &settings.out,
        [
            REGISTER_SYSTEM,
            CHILD_HEALTH_SYSTEM,
            PMO_SYSTEM,
            PRORENATA_SYSTEM,
        ],
        settings.native,
    )?;
    world.write_register_organisations(&mut exports.register)?;
    world.write_child_health_organisations(&mut exports.child_health)?;
    world.write_school_health_organisations(&mut exports.pmo)?;
    world.write_school_health_organisations(&mut exports.prorenata)?;

    let mut tally = Tally::default();
    let mut guardians = 0u64;
    let mut done = 0u32;
    while done < settings.pupils {
        let family = Family::generate(&world, &mut ids, done, settings.pupils - done)?;
        let protected = family.marking.is_protected();
        guardians += family.guardians.len() as u64;
        if protected {
            tally.protected_guardians += family.guardians.len() as u64;
            tally.protected_pupils += family.children.len() as u64;
        }
        for record in family.guardian_records() {
            exports.register.emit(&record)?;
        }
        for pupil in &family.children {
            register::write_pupil(&world, &family, pupil, &mut exports.register, &mut tally)?;
            bhv::write_pupil(
                &world,
                &family,
                pupil,
                &mut exports.child_health,
                &mut tally,
            )?;
            school_health::write_pupil(
                &world,
                &family,
                pupil,
                &mut exports.pmo,
                &mut exports.prorenata,
                &mut tally,
            )?;
        }
        done += family.children.len() as u32;
        progress(done);
    }
    exports.finish()?;

    let files = exports.file_counts();
    let summary = Summary {
        files: files.len() + 1,
        records: exports.records(),
    };
    let manifest = Manifest {
        synthetic: true,
        generator: format!("brygga synth {}", env!("CARGO_PKG_VERSION")),
        seed: settings.seed,
        pupils: settings.pupils,
        as_of: settings.as_of,
        municipality: Municipality::synthetic(),
        identities: ids.report(),
        guardians,
        files,
        adversarial: tally,
    };
    manifest.write(&settings.out.join("manifest.json"))?;
    Ok(summary)
}
