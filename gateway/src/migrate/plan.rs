//! What a migration does, from the command line or a reviewable TOML plan
//! file: sources, target, profiles, where its state and report go, and how
//! much memory it may use.
//!
//! ```toml
//! # plan.toml — paths are relative to this file
//! sources = ["bhv:exports/bhv.xml", "pmo:exports/pmo.xml", "prorenata:exports/prorenata.json"]
//! target = "fhir-ndjson:out/fhir"
//! profiles = ["../config/mappings/syntetisk-pmo.toml"]
//! state = "data/migrate.sqlite"        # or a postgres:// URL
//! report = "out/report"
//! memory_mib = 512
//! dry_run = false
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use brygga_adapters::{Format, registry};
use brygga_mapping::profile::Profile;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::exit::Failure;

/// Default memory budget: the issue's bound for a county-sized run.
pub const DEFAULT_MEMORY_MIB: u64 = 512;

/// Where checkpoints and report rows live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Sqlite(PathBuf),
    Postgres(String),
}

pub struct Input {
    pub format: &'static dyn Format,
    pub path: PathBuf,
    pub profile: Arc<Profile>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("format", &self.format.name())
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub struct Plan {
    pub sources: Vec<Input>,
    pub target: Input,
    pub state: State,
    pub report: PathBuf,
    pub memory_mib: u64,
    pub dry_run: bool,
    /// A pupil whose before/after timeline the report shows.
    pub timeline: Option<String>,
    /// Identifies the job: the same plan over the same files resumes it.
    pub key: String,
    /// The plan as a reviewer would read it, stored with the job.
    pub text: String,
}

/// The plan as given: from flags or from a file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlan {
    #[serde(default)]
    pub sources: Vec<String>,
    pub target: Option<String>,
    #[serde(default)]
    pub profiles: Vec<PathBuf>,
    pub state: Option<String>,
    pub report: Option<PathBuf>,
    pub memory_mib: Option<u64>,
    #[serde(default)]
    pub dry_run: bool,
    pub timeline: Option<String>,
}

impl RawPlan {
    /// Reads a plan file; its relative paths are taken from its directory.
    pub fn read(path: &Path) -> Result<RawPlan, Failure> {
        let text = std::fs::read_to_string(path).map_err(|e| Failure::io(path, e))?;
        let mut raw: RawPlan = toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|span| text[..span.start].matches('\n').count() + 1)
                .unwrap_or(1);
            Failure::Usage(format!("{}:{line}: {}", path.display(), e.message()))
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let rebase = |p: &str| -> String {
            if Path::new(p).is_absolute() {
                p.to_owned()
            } else {
                base.join(p).display().to_string()
            }
        };
        raw.sources = raw
            .sources
            .iter()
            .map(|s| match s.split_once(':') {
                Some((format, p)) => format!("{format}:{}", rebase(p)),
                None => s.clone(),
            })
            .collect();
        raw.target = raw.target.as_deref().map(|s| match s.split_once(':') {
            Some((format, p)) => format!("{format}:{}", rebase(p)),
            None => s.to_owned(),
        });
        raw.profiles = raw.profiles.iter().map(|p| base.join(p)).collect();
        raw.report = raw.report.map(|p| base.join(p));
        raw.state = raw.state.map(|s| {
            if s.starts_with("postgres://") || s.starts_with("postgresql://") {
                s
            } else {
                rebase(&s)
            }
        });
        Ok(raw)
    }

    /// Checks everything and loads the profiles.
    pub fn resolve(self) -> Result<Plan, Failure> {
        if self.sources.is_empty() {
            return Err(Failure::Usage(
                "a migration needs at least one --source FORMAT:PATH".into(),
            ));
        }
        let target_spec = self
            .target
            .as_deref()
            .ok_or_else(|| Failure::Usage("a migration needs --target FORMAT:PATH".into()))?;
        let mut profiles: Vec<Arc<Profile>> = Vec::new();
        for path in &self.profiles {
            let profile = Profile::load(path).map_err(|e| Failure::Usage(e.to_string()))?;
            if profiles.iter().any(|p| p.system() == profile.system()) {
                return Err(Failure::Usage(format!(
                    "{}: a second profile for {}; give one per source system",
                    path.display(),
                    profile.system()
                )));
            }
            profiles.push(Arc::new(profile));
        }
        let input = |spec: &str, role: &str| -> Result<Input, Failure> {
            let (name, path) = spec
                .split_once(':')
                .ok_or_else(|| Failure::Usage(format!("{role} {spec:?}: expected FORMAT:PATH")))?;
            let format = registry::format(name).ok_or_else(|| {
                let known: Vec<&str> = registry::formats().iter().map(|f| f.name()).collect();
                Failure::Usage(format!(
                    "{role} {spec:?}: unknown format {name:?}; known formats: {}",
                    known.join(", ")
                ))
            })?;
            let profile = match format.profile_system() {
                Some(system) => profiles
                    .iter()
                    .find(|p| p.system() == system)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(Profile::builtin(system))),
                None => Arc::new(Profile::builtin("pmo")),
            };
            format
                .check_profile(&profile)
                .map_err(|e| Failure::Usage(e.to_string()))?;
            Ok(Input {
                format,
                path: PathBuf::from(path),
                profile,
            })
        };
        let sources = self
            .sources
            .iter()
            .map(|s| input(s, "--source"))
            .collect::<Result<Vec<_>, _>>()?;
        let target = input(target_spec, "--target")?;
        for profile in &profiles {
            let used = sources
                .iter()
                .chain(std::iter::once(&target))
                .any(|i| i.format.profile_system() == Some(profile.system()));
            if !used {
                return Err(Failure::Usage(format!(
                    "profile {:?} is for {}, which no source or the target reads",
                    profile.name(),
                    profile.system()
                )));
            }
        }
        let state = match self.state {
            Some(s) if s.starts_with("postgres://") || s.starts_with("postgresql://") => {
                State::Postgres(s)
            }
            Some(s) => State::Sqlite(PathBuf::from(s)),
            None => State::Sqlite(PathBuf::from("data/migrate.sqlite")),
        };
        let report = self.report.unwrap_or_else(|| {
            let mut name = target.path.as_os_str().to_owned();
            name.push(".report");
            PathBuf::from(name)
        });
        let memory_mib = self.memory_mib.unwrap_or(DEFAULT_MEMORY_MIB);
        if memory_mib < 64 {
            return Err(Failure::Usage(format!(
                "--memory {memory_mib}: at least 64 MiB"
            )));
        }
        let text = describe(&sources, &target, &profiles, memory_mib, self.dry_run);
        let key = job_key(&text, &sources)?;
        Ok(Plan {
            sources,
            target,
            state,
            report,
            memory_mib,
            dry_run: self.dry_run,
            timeline: self.timeline,
            key,
            text,
        })
    }
}

/// The plan in words, one item per line.
fn describe(
    sources: &[Input],
    target: &Input,
    profiles: &[Arc<Profile>],
    memory_mib: u64,
    dry_run: bool,
) -> String {
    let mut text = String::new();
    for s in sources {
        text.push_str(&format!(
            "source {}:{}\n",
            s.format.name(),
            s.path.display()
        ));
    }
    text.push_str(&format!(
        "target {}:{}\n",
        target.format.name(),
        target.path.display()
    ));
    for p in profiles {
        let file = p
            .source_path()
            .map_or_else(|| "(built in)".to_owned(), |f| f.display().to_string());
        text.push_str(&format!("profile {} {file}\n", p.system()));
    }
    text.push_str(&format!("memory_mib {memory_mib}\ndry_run {dry_run}\n"));
    text
}

/// A hash of the plan and of each source file's size and modification time:
/// the same command over the same files resumes; a changed file is a new job.
fn job_key(text: &str, sources: &[Input]) -> Result<String, Failure> {
    let mut hash = Sha256::new();
    hash.update(text.as_bytes());
    for source in sources {
        let meta = std::fs::metadata(&source.path).map_err(|e| Failure::io(&source.path, e))?;
        hash.update(meta.len().to_le_bytes());
        if let Ok(since) = meta
            .modified()
            .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).map_err(io_error))
        {
            hash.update(since.as_nanos().to_le_bytes());
        }
    }
    let digest = hash.finalize();
    Ok(digest.iter().take(12).map(|b| format!("{b:02x}")).collect())
}

fn io_error(e: std::time::SystemTimeError) -> std::io::Error {
    std::io::Error::other(e)
}
