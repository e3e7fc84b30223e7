//! Where generated records go. Each source system's export (the school
//! register, the region's child-health extract, the PMO and ProRenata
//! journals) is one [`SourceExport`]: it counts every record once and hands
//! it to each format writer registered for that source. Today the only
//! writer is canonical NDJSON; an adapter that encodes, say, PMO's export
//! format adds its [`RecordSink`] to the PMO export and nothing else changes.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use brygga_mapping::model::Record;
use brygga_mapping::ndjson::NdjsonWriter;

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
    /// Creates `out/canonical/` and one canonical file per source.
    pub fn create(out: &Path, systems: [&'static str; 4]) -> Result<Self, Failure> {
        let canonical = out.join("canonical");
        fs::create_dir_all(&canonical).map_err(|e| Failure::io(&canonical, e))?;
        let [register, child_health, pmo, prorenata] = systems;
        let export = |system: &'static str, name: &str| -> Result<SourceExport, Failure> {
            let sink = CanonicalNdjson::create(out, format!("canonical/{name}.ndjson"))?;
            Ok(SourceExport::new(system, vec![Box::new(sink)]))
        };
        Ok(Exports {
            register: export(register, "register")?,
            child_health: export(child_health, "bhv")?,
            pmo: export(pmo, "pmo")?,
            prorenata: export(prorenata, "prorenata")?,
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
