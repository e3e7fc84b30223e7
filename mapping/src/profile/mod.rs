//! Mapping profiles: data files that fit one municipality's journal design to
//! the canonical codes, without recompiling.
//!
//! Every municipality designed its own EMI journal templates and keywords
//! (sökord) — up to 49 designs in one county — so `"Hälsobesök åk 4"` in one
//! export is `"HB4"` or `"Hälsosamtal år 4"` in the next. A profile is a TOML
//! file (see `docs/mapping-profiles.md`) that maps those names onto
//! [`NoteTypeCode`], [`MeasurementKind`], [`SecrecyDomain`] and
//! [`Profession`], and names the format-specific elements an adapter reads.
//! It may `extends` another profile (normally the shared
//! `config/mappings/default.toml`, which is also built in); its own entries
//! win.
//!
//! A profile is checked completely when it is loaded: an unknown code, two
//! keys that clash once case and whitespace are ignored, an unknown table or
//! key, a broken `extends` chain — each is reported as one line,
//! `FILE:LINE:COLUMN: KEY: REASON`, and all of them at once. What is loaded
//! is a set of hash tables on normalised names (case and whitespace folded), which is
//! what adapters consult per record.
//!
//! A template no table maps is, by the profile's `unmapped_keywords` policy,
//! either kept as [`NoteTypeCode::Unclassified`] and counted (see
//! [`Profile::unclassified_counts`], for the end-of-run warning) or refused
//! with [`Unmapped`].

mod error;
mod load;
mod normalise;
mod targets;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

pub use error::{Issue, Position, Problem, ProfileError};

use error::Origin;
use load::{Element, Entry, Raw};
use normalise::normalise;
use targets::Target;

use crate::model::{MeasurementKind, NoteType, NoteTypeCode, Profession, SecrecyDomain};

/// The shared default profile, built into the binary.
const DEFAULT_PROFILE: &str = include_str!("../../../config/mappings/default.toml");

/// How the built-in default is named in messages.
const DEFAULT_PROFILE_FILE: &str = "config/mappings/default.toml (built in)";

/// How many distinct unmapped names are remembered for the end-of-run
/// warning. A broken or hostile export could hold millions; past this many,
/// further names are only counted, so memory stays bounded.
pub const MAX_UNCLASSIFIED_NAMES: usize = 1000;

/// The [`Profile::unclassified_counts`] entry that counts the occurrences of
/// names beyond [`MAX_UNCLASSIFIED_NAMES`].
pub const OTHER_UNCLASSIFIED: &str = "(further unmapped names, not listed)";

/// The source system kinds a profile can be for: `pmo`, `prorenata`, `bhv`.
pub const SYSTEMS: &[&str] = load::SYSTEMS;

/// What to do with a template or keyword that no `[note_types]` entry maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnmappedPolicy {
    /// Keep the note as [`NoteTypeCode::Unclassified`] with the source name as
    /// its `original`, and count the name for the end-of-run warning.
    #[default]
    Unclassified,
    /// Refuse the record: the profile is expected to be complete.
    Reject,
}

/// A note type the profile does not map, under the `reject` policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "note type {keyword:?} is not mapped by profile {profile:?} ({file}), which rejects unmapped keywords; add it under [note_types]"
)]
pub struct Unmapped {
    /// The template or keyword as the source wrote it.
    pub keyword: String,
    /// The profile's name.
    pub profile: String,
    /// The profile's file.
    pub file: String,
}

/// A compiled mapping profile. Cheap to look up in from many threads; share
/// it as `Arc<Profile>`.
#[derive(Debug)]
pub struct Profile {
    name: String,
    system: String,
    /// Where `system` was set; `None` when the caller chose it (built in).
    system_origin: Option<Origin>,
    /// The file messages name: the loaded file, or the built-in default.
    file: Arc<Path>,
    source_path: Option<PathBuf>,
    unmapped: UnmappedPolicy,
    default_secrecy_domain: SecrecyDomain,
    note_types: Table<NoteTypeCode>,
    measurements: Table<MeasurementKind>,
    secrecy_domains: Table<SecrecyDomain>,
    professions: Table<Profession>,
    elements: HashMap<String, Element>,
    unclassified: Mutex<Unclassified>,
}

/// The unmapped names seen so far.
#[derive(Debug, Default)]
struct Unclassified {
    /// Normal form → (first spelling seen, count).
    names: HashMap<String, (String, u64)>,
    /// Occurrences of names past [`MAX_UNCLASSIFIED_NAMES`].
    others: u64,
}

/// One mapping table, looked up by normalised name, with the name to write
/// back for each code.
#[derive(Debug)]
struct Table<T> {
    by_name: HashMap<String, T>,
    /// The first source name mapping to each code, most specific file first.
    names: HashMap<T, String>,
}

impl<T: Target> Table<T> {
    fn new(entries: Vec<Entry<T>>) -> Self {
        let mut by_name = HashMap::with_capacity(entries.len());
        let mut names = HashMap::new();
        for entry in entries {
            names.entry(entry.target).or_insert(entry.key);
            by_name.insert(entry.normal, entry.target);
        }
        Table { by_name, names }
    }

    fn get(&self, source: &str) -> Option<T> {
        self.by_name.get(normalise(source).as_ref()).copied()
    }

    fn name(&self, code: T) -> &str {
        self.names
            .get(&code)
            .map_or(code.code_name(), String::as_str)
    }
}

impl Profile {
    /// Loads and checks the profile at `path`, following `extends` (relative
    /// to the file that names it).
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let raw = load::load(path).map_err(ProfileError::new)?;
        let file: Arc<Path> = Arc::from(path);
        let Some((system, origin)) = raw.system.clone() else {
            return Err(ProfileError::new(vec![raw.header.issue(
                "profile.system".to_owned(),
                Problem::Missing {
                    allowed: SYSTEMS.to_vec(),
                },
            )]));
        };
        let name = raw.name.clone().unwrap_or_else(|| {
            path.file_stem().map_or_else(
                || path.display().to_string(),
                |s| s.to_string_lossy().into_owned(),
            )
        });
        Ok(Profile::compile(
            raw,
            name,
            system,
            Some(origin),
            file,
            Some(path.to_path_buf()),
        ))
    }

    /// The built-in default (`config/mappings/default.toml`, compiled into
    /// the binary) for the source system kind `system`.
    pub fn builtin(system: &str) -> Profile {
        // Not input: the file is part of the build, and a unit test loads it.
        Profile::builtin_checked(system).expect("config/mappings/default.toml is a valid profile")
    }

    fn builtin_checked(system: &str) -> Result<Profile, ProfileError> {
        let file: Arc<Path> = Arc::from(Path::new(DEFAULT_PROFILE_FILE));
        let raw = load::from_text(&file, DEFAULT_PROFILE).map_err(ProfileError::new)?;
        let name = raw.name.clone().unwrap_or_else(|| "default".to_owned());
        Ok(Profile::compile(
            raw,
            name,
            system.to_owned(),
            None,
            file,
            None,
        ))
    }

    fn compile(
        raw: Raw,
        name: String,
        system: String,
        system_origin: Option<Origin>,
        file: Arc<Path>,
        source_path: Option<PathBuf>,
    ) -> Profile {
        Profile {
            name,
            system,
            system_origin,
            file,
            source_path,
            unmapped: raw.unmapped.unwrap_or_default(),
            default_secrecy_domain: raw
                .default_secrecy_domain
                .unwrap_or(SecrecyDomain::EmiMedical),
            note_types: Table::new(raw.note_types),
            measurements: Table::new(raw.measurements),
            secrecy_domains: Table::new(raw.secrecy_domains),
            professions: Table::new(raw.professions),
            elements: raw
                .elements
                .into_iter()
                .map(|element| (element.key.clone(), element))
                .collect(),
            unclassified: Mutex::default(),
        }
    }

    /// The profile's `name`, or its file's stem when it has none.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The source system kind: `pmo`, `prorenata` or `bhv`.
    pub fn system(&self) -> &str {
        &self.system
    }

    /// The file the profile was loaded from; `None` for the built-in default.
    pub fn source_path(&self) -> Option<&Path> {
        self.source_path.as_deref()
    }

    pub fn unmapped_policy(&self) -> UnmappedPolicy {
        self.unmapped
    }

    pub fn default_secrecy_domain(&self) -> SecrecyDomain {
        self.default_secrecy_domain
    }

    /// Classifies a source template or keyword. A mapped name gives its code;
    /// an unmapped one is [`NoteTypeCode::Unclassified`] (and counted) or
    /// [`Unmapped`], by the profile's policy. Either way `original` is
    /// `source` verbatim.
    pub fn note_type(&self, source: &str) -> Result<NoteType, Unmapped> {
        if let Some(code) = self.note_types.get(source) {
            return Ok(NoteType {
                code,
                original: Some(source.to_owned()),
            });
        }
        match self.unmapped {
            UnmappedPolicy::Reject => Err(Unmapped {
                keyword: source.to_owned(),
                profile: self.name.clone(),
                file: self.file.display().to_string(),
            }),
            UnmappedPolicy::Unclassified => {
                let mut seen = self
                    .unclassified
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let normal = normalise(source);
                if let Some((_, count)) = seen.names.get_mut(normal.as_ref()) {
                    *count += 1;
                } else if seen.names.len() < MAX_UNCLASSIFIED_NAMES {
                    let first = source.trim().to_owned();
                    seen.names.insert(normal.into_owned(), (first, 1));
                } else {
                    seen.others += 1;
                }
                Ok(NoteType {
                    code: NoteTypeCode::Unclassified,
                    original: Some(source.to_owned()),
                })
            }
        }
    }

    /// The source name to write for `code` when a record carries no
    /// `original`: the first key mapping to it (the profile's own file before
    /// the files it extends), else the snake_case code itself.
    pub fn note_type_name(&self, code: NoteTypeCode) -> &str {
        self.note_types.name(code)
    }

    pub fn measurement(&self, source: &str) -> Option<MeasurementKind> {
        self.measurements.get(source)
    }

    /// The source name to write for `kind`, chosen as for
    /// [`note_type_name`](Profile::note_type_name).
    pub fn measurement_name(&self, kind: MeasurementKind) -> &str {
        self.measurements.name(kind)
    }

    /// The secrecy domain of notes written in `template`: the
    /// `[secrecy_domains]` entry, else the profile's `default_secrecy_domain`.
    pub fn secrecy_domain(&self, template: &str) -> SecrecyDomain {
        self.secrecy_domains
            .get(template)
            .unwrap_or(self.default_secrecy_domain)
    }

    /// The name to write for `domain` (a journal name, normally), chosen as
    /// for [`note_type_name`](Profile::note_type_name).
    pub fn secrecy_domain_name(&self, domain: SecrecyDomain) -> &str {
        self.secrecy_domains.name(domain)
    }

    /// The `[secrecy_domains]` entry for `name`, without the default.
    pub fn secrecy_domain_of(&self, name: &str) -> Option<SecrecyDomain> {
        self.secrecy_domains.get(name)
    }

    pub fn profession(&self, source: &str) -> Option<Profession> {
        self.professions.get(source)
    }

    /// The source name to write for `profession`, chosen as for
    /// [`note_type_name`](Profile::note_type_name).
    pub fn profession_name(&self, profession: Profession) -> &str {
        self.professions.name(profession)
    }

    /// A format-specific name: the profile's `[elements]` value for `key`,
    /// else `default`. Keys match exactly.
    pub fn element<'a>(&'a self, key: &str, default: &'a str) -> &'a str {
        self.elements
            .get(key)
            .map_or(default, |element| element.value.as_str())
    }

    /// Refuses `[elements]` keys the adapter does not know; adapters call it
    /// with every key they read when they are built.
    pub fn check_elements(&self, known: &[&str]) -> Result<(), ProfileError> {
        let mut unknown: Vec<&Element> = self
            .elements
            .values()
            .filter(|element| !known.contains(&element.key.as_str()))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        unknown.sort_by(|a, b| {
            (
                &a.origin.file,
                a.origin.position.line,
                a.origin.position.column,
            )
                .cmp(&(
                    &b.origin.file,
                    b.origin.position.line,
                    b.origin.position.column,
                ))
        });
        let issues = unknown
            .into_iter()
            .map(|element| {
                let problem = if known.is_empty() {
                    Problem::NoElements
                } else {
                    Problem::UnknownKey {
                        allowed: known.iter().map(|k| (*k).to_owned()).collect(),
                    }
                };
                element
                    .origin
                    .issue(load::dotted(&["elements", &element.key]), problem)
            })
            .collect();
        Err(ProfileError::new(issues))
    }

    /// Refuses a profile written for another source system than the format
    /// using it reads (`expected` is the format's system kind).
    pub fn check_system(&self, expected: &str) -> Result<(), ProfileError> {
        if self.system == expected {
            return Ok(());
        }
        let problem = Problem::WrongSystem {
            found: self.system.clone(),
            expected: expected.to_owned(),
        };
        let key = "profile.system".to_owned();
        let issue = match &self.system_origin {
            Some(origin) => origin.issue(key, problem),
            None => Issue {
                file: self.file.to_path_buf(),
                position: None,
                key: Some(key),
                problem,
            },
        };
        Err(ProfileError::new(vec![issue]))
    }

    /// Every unmapped template or keyword seen so far (as first spelt), with
    /// how many times it was seen, for the end-of-run warning. Names that
    /// differ only as the matching rules allow are counted together. Past
    /// [`MAX_UNCLASSIFIED_NAMES`] names, the rest are counted under
    /// [`OTHER_UNCLASSIFIED`].
    pub fn unclassified_counts(&self) -> BTreeMap<String, u64> {
        let seen = self
            .unclassified
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut counts: BTreeMap<String, u64> = seen
            .names
            .values()
            .map(|(name, count)| (name.clone(), *count))
            .collect();
        if seen.others > 0 {
            counts.insert(OTHER_UNCLASSIFIED.to_owned(), seen.others);
        }
        counts
    }
}

#[cfg(test)]
mod tests;
