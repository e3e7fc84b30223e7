//! Where a job's output goes: one file, or a directory for formats that
//! write several files, always written under a temporary name
//! (`PATH.partial`) and moved into place only when complete, so a run that
//! stops part-way never leaves output that looks finished.

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use brygga_adapters::{Encoder, Format};
use brygga_mapping::profile::Profile;

use crate::exit::Failure;

/// Large enough that writes reach the disk in big blocks.
const BUFFER_BYTES: usize = 256 * 1024;

/// The output — one file, or a directory for formats that write several
/// files — written under a temporary name (`PATH.partial`) until complete.
pub struct Output {
    /// `None` for standard output.
    path: Option<PathBuf>,
    partial: Option<PathBuf>,
    directory: bool,
}

impl Output {
    pub fn create(path: &Path, format: &dyn Format) -> Result<Self, Failure> {
        if path == Path::new("-") {
            if format.writes_directory() {
                return Err(Failure::Usage(format!(
                    "{} writes a directory; --out must name one, not -",
                    format.name()
                )));
            }
            return Ok(Output {
                path: None,
                partial: None,
                directory: false,
            });
        }
        let directory = format.writes_directory();
        if directory
            && path.exists()
            && fs::read_dir(path)
                .map_err(|e| Failure::io(path, e))?
                .next()
                .is_some()
        {
            return Err(Failure::Usage(format!(
                "{}: {} writes a directory, and this one is not empty",
                path.display(),
                format.name()
            )));
        }
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        Ok(Output {
            path: Some(path.to_path_buf()),
            partial: Some(PathBuf::from(partial)),
            directory,
        })
    }

    pub fn path(&self) -> PathBuf {
        self.path.clone().unwrap_or_else(|| PathBuf::from("-"))
    }

    pub fn encoder(
        &mut self,
        format: &dyn Format,
        profile: Arc<Profile>,
    ) -> Result<Box<dyn Encoder>, Failure> {
        let Some(partial) = &self.partial else {
            let stdout = BufWriter::with_capacity(BUFFER_BYTES, io::stdout());
            return Ok(format.encoder(Box::new(stdout), profile));
        };
        if self.directory {
            if partial.exists() {
                fs::remove_dir_all(partial).map_err(|e| Failure::io(partial, e))?;
            }
            fs::create_dir_all(partial).map_err(|e| Failure::io(partial, e))?;
            return format
                .directory_encoder(partial, profile)
                .map_err(|e| Failure::io(partial, e));
        }
        let file = File::create(partial).map_err(|e| Failure::io(partial, e))?;
        Ok(format.encoder(
            Box::new(BufWriter::with_capacity(BUFFER_BYTES, file)),
            profile,
        ))
    }

    /// Moves the finished output into place.
    pub fn commit(&mut self) -> Result<(), Failure> {
        if let (Some(partial), Some(path)) = (self.partial.take(), &self.path) {
            if self.directory && path.exists() {
                // Checked empty when the run started.
                fs::remove_dir(path).map_err(|e| Failure::io(path, e))?;
            }
            fs::rename(&partial, path).map_err(|e| Failure::io(path, e))?;
        }
        Ok(())
    }
}

impl Drop for Output {
    /// A run that stopped part-way removes its partial output.
    fn drop(&mut self) {
        if let Some(partial) = self.partial.take() {
            let _ = if self.directory {
                fs::remove_dir_all(partial)
            } else {
                fs::remove_file(partial)
            };
        }
    }
}
