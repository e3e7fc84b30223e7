//! Where generated records go. Each source system's export (the school
//! register, the region's child-health extract, the PMO and ProRenata
//! journals) is one [`SourceExport`]: it counts every record once and hands
//! it to each format writer registered for that source: canonical NDJSON,
//! and the source system's own export format ([`NativeFile`], any encoder
//! from the adapter registry).

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use brygga_adapters::{EncodeError, Encoder, registry};
use brygga_mapping::model::Record;
use brygga_mapping::ndjson::NdjsonWriter;
use brygga_mapping::profile::Profile;

use crate::exit::Failure;

/// Large enough that writes reach the disk in big blocks.
const BUFFER_BYTES: usize = 256 * 1024;

/// A writer of one file format for one source's records.
pub trait RecordSink: fmt::Debug {
    /// The file written, relative to the output folder, for the manifest.
    fn relative_path(&self) -> &str;
    fn write(&mut self, record: &Record) -> Result<(), Failure>;
    /// Flushes everything to disk.
    fn finish(&mut self) -> Result<(), Failure>;
}

/// Canonical NDJSON, one record per line (`canonical/<source>.ndjson`).
#[derive(Debug)]
pub struct CanonicalNdjson {
    relative: String,
    path: PathBuf,
    writer: NdjsonWriter<BufWriter<File>>,
}

impl CanonicalNdjson {
    pub fn create(out: &Path, relative: String) -> Result<Self, Failure> {
        let path = out.join(&relative);
        let file = File::create(&path).map_err(|e| Failure::io(&path, e))?;
        Ok(CanonicalNdjson {
            relative,
            path,
            writer: NdjsonWriter::new(BufWriter::with_capacity(BUFFER_BYTES, file)),
        })
    }
}

impl RecordSink for CanonicalNdjson {
    fn relative_path(&self) -> &str {
        &self.relative
    }

    fn write(&mut self, record: &Record) -> Result<(), Failure> {
        self.writer
            .write(record)
            .map_err(|e| Failure::io(&self.path, e))
    }

    fn finish(&mut self) -> Result<(), Failure> {
        self.writer.flush().map_err(|e| Failure::io(&self.path, e))
    }
}

/// The source system's own export format (`native/<source>.<ext>`), written
/// by the format's encoder from the adapter registry with the shared default
/// profile.
pub struct NativeFile {
    relative: String,
    path: PathBuf,
    /// `None` once finished.
    encoder: Option<Box<dyn Encoder>>,
}

impl fmt::Debug for NativeFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NativeFile")
            .field("relative", &self.relative)
            .finish_non_exhaustive()
    }
}

impl NativeFile {
    pub fn create(out: &Path, name: &str, format_name: &str) -> Result<Self, Failure> {
        let format = registry::format(format_name)
            .ok_or_else(|| Failure::Usage(format!("no {format_name} format is registered")))?;
        let relative = format!("native/{name}.{}", format.extension());
        let path = out.join(&relative);
        let file = File::create(&path).map_err(|e| Failure::io(&path, e))?;
        let profile = Arc::new(Profile::builtin(format.profile_system().unwrap_or("pmo")));
        let encoder = format.encoder(
            Box::new(BufWriter::with_capacity(BUFFER_BYTES, file)),
            profile,
        );
        Ok(NativeFile {
            relative,
            path,
            encoder: Some(encoder),
        })
    }
}

impl RecordSink for NativeFile {
    fn relative_path(&self) -> &str {
        &self.relative
    }

    fn write(&mut self, record: &Record) -> Result<(), Failure> {
        let Some(encoder) = &mut self.encoder else {
            return Err(Failure::io(
                &self.path,
                io::Error::other("already finished"),
            ));
        };
        encoder.encode(record).map_err(|e| match e {
            EncodeError::Io(e) => Failure::io(&self.path, e),
            // Synth only writes what each source system holds, so this is
            // a defect in synth or the encoder, reported as such.
            EncodeError::Unsupported(reason) => Failure::io(
                &self.path,
                io::Error::other(format!("cannot write a {}: {reason}", record.type_name())),
            ),
        })
    }

    fn finish(&mut self) -> Result<(), Failure> {
        match self.encoder.take() {
            Some(encoder) => encoder.finish().map_err(|e| Failure::io(&self.path, e)),
            None => Ok(()),
        }
    }
}

/// One source system's export, fanned out to its format writers.
#[derive(Debug)]
pub struct SourceExport {
    /// The source system, e.g. `pmo:syntetisk`.
    system: &'static str,
    by_type: BTreeMap<&'static str, u64>,
    records: u64,
    sinks: Vec<Box<dyn RecordSink>>,
}

impl SourceExport {
    fn new(system: &'static str, sinks: Vec<Box<dyn RecordSink>>) -> Self {
        SourceExport {
            system,
            by_type: BTreeMap::new(),
            records: 0,
            sinks,
        }
    }

    pub fn emit(&mut self, record: &Record) -> Result<(), Failure> {
        *self.by_type.entry(record.type_name()).or_default() += 1;
        self.records += 1;
        for sink in &mut self.sinks {
            sink.write(record)?;
        }
        Ok(())
    }

    /// Writes every record of `records` in order.
    pub fn emit_all(&mut self, records: &[Record]) -> Result<(), Failure> {
        records.iter().try_for_each(|record| self.emit(record))
    }

    pub fn records(&self) -> u64 {
        self.records
    }

    fn finish(&mut self) -> Result<(), Failure> {
        self.sinks.iter_mut().try_for_each(|sink| sink.finish())
    }
}

/// The four exports a synthetic municipality produces.
#[derive(Debug)]
pub struct Exports {
    /// The school register as SS 12000 would give it.
    pub register: SourceExport,
    /// The region's child-health record extract.
    pub child_health: SourceExport,
    /// The school-health journal until the switch.
    pub pmo: SourceExport,
    /// The school-health journal from the switch on.
    pub prorenata: SourceExport,
}

impl Exports {
    /// Creates `out/canonical/` with one canonical file per source and,
    /// when `native` is set, `out/native/` with each journal system's export
    /// in its own format (`bhv`, `pmo`, `prorenata`).
    pub fn create(out: &Path, systems: [&'static str; 4], native: bool) -> Result<Self, Failure> {
        for folder in ["canonical", "native"] {
            let dir = out.join(folder);
            if folder == "canonical" || native {
                fs::create_dir_all(&dir).map_err(|e| Failure::io(&dir, e))?;
            }
        }
        let [register, child_health, pmo, prorenata] = systems;
        let export = |system: &'static str,
                      name: &str,
                      format: Option<&str>|
         -> Result<SourceExport, Failure> {
            let mut sinks: Vec<Box<dyn RecordSink>> = vec![Box::new(CanonicalNdjson::create(
                out,
                format!("canonical/{name}.ndjson"),
            )?)];
            if let Some(format) = format.filter(|_| native) {
                sinks.push(Box::new(NativeFile::create(out, name, format)?));
            }
            Ok(SourceExport::new(system, sinks))
        };
        Ok(Exports {
            register: export(register, "register", None)?,
            child_health: export(child_health, "bhv", Some("bhv"))?,
            pmo: export(pmo, "pmo", Some("pmo"))?,
            prorenata: export(prorenata, "prorenata", Some("prorenata"))?,
        })
    }

    fn all(&self) -> [&SourceExport; 4] {
        [
            &self.register,
            &self.child_health,
            &self.pmo,
            &self.prorenata,
        ]
    }

    /// Flushes every file.
    pub fn finish(&mut self) -> Result<(), Failure> {
        for export in [
            &mut self.register,
            &mut self.child_health,
            &mut self.pmo,
            &mut self.prorenata,
        ] {
            export.finish()?;
        }
        Ok(())
    }

    /// Records written, over all sources (each counted once, however many
    /// formats it is written in).
    pub fn records(&self) -> u64 {
        self.all().iter().map(|export| export.records()).sum()
    }

    /// Per file written: its source and the records by type, for the manifest.
    pub fn file_counts(&self) -> BTreeMap<String, FileCounts> {
        let mut files = BTreeMap::new();
        for export in self.all() {
            for sink in &export.sinks {
                files.insert(
                    sink.relative_path().to_owned(),
                    FileCounts {
                        source_system: export.system,
                        records: export.records,
                        by_type: export.by_type.clone(),
                    },
                );
            }
        }
        files
    }
}

/// What one written file holds.
#[derive(Debug, serde::Serialize)]
pub struct FileCounts {
    pub source_system: &'static str,
    pub records: u64,
    pub by_type: BTreeMap<&'static str, u64>,
}
