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
use std::sync::atomic::{AtomicU64, Ordering};

use std::fs::File;
use std::io::{BufRead, BufReader, Read};

use brygga_adapters::fhir::FHIR_NDJSON;
use brygga_adapters::{Decoder, Format, registry};
use brygga_fhir_rest::{RestConfig, RestSource};
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
    /// For a FHIR server source (`fhir-rest:CONFIG`, `path` the
    /// configuration file): the server, read as FHIR.
    pub server: Option<Box<RestConfig>>,
}

impl Input {
    /// The format as the plan names it.
    pub fn format_name(&self) -> &'static str {
        match self.server {
            Some(_) => FHIR_REST,
            None => self.format.name(),
        }
    }

    /// A decoder over the whole input: the file, or every patient on the
    /// server with their notes, measurements and vaccinations. The bytes
    /// it reads from a file are added to `read` (for the progress bar).
    pub fn decoder(&self, read: Arc<AtomicU64>) -> Result<Box<dyn Decoder>, Failure> {
        if let Some(config) = &self.server {
            let source = RestSource::new(config, Vec::new())
                .map_err(|e| Failure::Usage(format!("{}: {e}", self.path.display())))?;
            return Ok(Box::new(source));
        }
        let file = File::open(&self.path).map_err(|e| Failure::io(&self.path, e))?;
        let file = Counted { inner: file, read };
        let reader: Box<dyn BufRead + Send> = Box::new(BufReader::with_capacity(256 * 1024, file));
        Ok(self.format.decoder(reader, self.profile.clone()))
    }

    /// The input's size in bytes, when it is a file.
    pub fn size(&self) -> Option<u64> {
        match self.server {
            Some(_) => None,
            None => std::fs::metadata(&self.path).ok().map(|m| m.len()),
        }
    }
}

/// A reader that adds what it reads to a shared count.
struct Counted<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("format", &self.format.name())
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The target format that posts to a FHIR server; its PATH is the
/// destination's configuration file (docs/adapters/fhir-rest.md).
pub const FHIR_REST: &str = "fhir-rest";

/// Where the merged journal goes.
#[derive(Debug)]
pub enum Target {
    /// A file (or a directory, for fhir-ndjson) in a registered format.
    File(Input),
    /// A FHIR server, as its configuration file describes it (base URL,
    /// write profile, TLS, credentials).
    FhirRest {
        config_file: PathBuf,
        config: Box<RestConfig>,
    },
}

impl Target {
    /// What the report and the work directory are named after: the file or
    /// directory written, or for a server `data/NAME` after its
    /// configuration file's name.
    pub fn path(&self) -> PathBuf {
        match self {
            Target::File(input) => input.path.clone(),
            Target::FhirRest { config_file, .. } => {
                let name = config_file
                    .file_stem()
                    .map_or_else(|| "fhir-rest".into(), |s| s.to_string_lossy());
                Path::new("data").join(format!("{FHIR_REST}-{name}"))
            }
        }
    }
}

impl std::fmt::Display for Target {
    /// `FORMAT:PATH`, as given, and a server's base URL.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::File(input) => write!(f, "{}:{}", input.format_name(), input.path.display()),
            Target::FhirRest {
                config_file,
                config,
            } => write!(
                f,
                "{FHIR_REST}:{} ({}, {})",
                config_file.display(),
                config.base_url,
                config.write_profile.profile().name()
            ),
        }
    }
}

#[derive(Debug)]
pub struct Plan {
    pub sources: Vec<Input>,
    pub target: Target,
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
            if name == FHIR_REST {
                let config = RestConfig::from_toml_file(Path::new(path))
                    .map_err(|e| Failure::Usage(format!("{role} {FHIR_REST}: {e}")))?;
                return Ok(Input {
                    format: &FHIR_NDJSON,
                    path: PathBuf::from(path),
                    profile: Arc::new(Profile::builtin("pmo")),
                    server: Some(Box::new(config)),
                });
            }
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
                server: None,
            })
        };
        let sources = self
            .sources
            .iter()
            .map(|s| input(s, "--source"))
            .collect::<Result<Vec<_>, _>>()?;
        let target = match target_spec.split_once(':') {
            Some((FHIR_REST, file)) => {
                let config_file = PathBuf::from(file);
                let config = RestConfig::from_toml_file(&config_file)
                    .map_err(|e| Failure::Usage(format!("--target {FHIR_REST}: {e}")))?;
                Target::FhirRest {
                    config_file,
                    config: Box::new(config),
                }
            }
            _ => Target::File(input(target_spec, "--target")?),
        };
        for profile in &profiles {
            let target_input = match &target {
                Target::File(input) => Some(input),
                Target::FhirRest { .. } => None,
            };
            let used = sources
                .iter()
                .chain(target_input)
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
            let mut name = target.path().as_os_str().to_owned();
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
    target: &Target,
    profiles: &[Arc<Profile>],
    memory_mib: u64,
    dry_run: bool,
) -> String {
    let mut text = String::new();
    for s in sources {
        text.push_str(&format!(
            "source {}:{}\n",
            s.format_name(),
            s.path.display()
        ));
    }
    text.push_str(&format!("target {target}\n"));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    fn plan_with_target(target: String) -> Result<Plan, Failure> {
        RawPlan {
            sources: vec![format!(
                "canonical:{}",
                repo()
                    .join("conformance-tests/vectors/canonical/basic/input.ndjson")
                    .display()
            )],
            target: Some(target),
            ..RawPlan::default()
        }
        .resolve()
    }

    #[test]
    fn the_shipped_fhir_destination_is_a_valid_target() {
        let config = repo().join("config/destinations/region-fhir.toml");
        let plan = plan_with_target(format!("{FHIR_REST}:{}", config.display())).expect("plan");
        let Target::FhirRest { config, .. } = &plan.target else {
            panic!("a FHIR server target");
        };
        assert_eq!(config.write_profile.profile().name(), "ehr-strict");
        assert!(plan.text.contains("fhir.region.example.invalid"));
        assert_eq!(plan.target.path(), Path::new("data/fhir-rest-region-fhir"));
    }

    #[test]
    fn a_bad_fhir_destination_is_refused_naming_file_line_and_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("dest.toml");
        std::fs::write(
            &file,
            "base_url = \"https://fhir.example.invalid/fhir\"\nwrite_profile = \"strictest\"\n",
        )
        .expect("written");
        let error = plan_with_target(format!("{FHIR_REST}:{}", file.display()))
            .expect_err("refused")
            .to_string();
        assert!(error.contains("dest.toml:2"), "{error}");
        assert!(error.contains("write_profile"), "{error}");
    }
}
