//! Atomic writes: a temporary file in the target's folder, renamed over the target once complete,
//! and the registry of temporary files in flight that an interrupted run removes.

use super::{write_error, IoError, Reason};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Temporary files being written right now, so that an interrupted run can remove them.
static IN_FLIGHT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes the temporary files of writes still in progress (for a SIGINT/SIGTERM handler: the
/// outputs they would have replaced stay as they were).
/// Called just before the process exits: the registry stays locked, so no write can create a
/// new temporary file after this.
pub fn remove_temporary_files() {
    let mut files = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
    for f in files.drain(..) {
        let _ = fs::remove_file(f);
    }
    std::mem::forget(files);
}

/// Registers a temporary file for [`remove_temporary_files`] while it lives.
struct InFlight(PathBuf);

impl InFlight {
    /// Creates a temporary file with `create` and registers it, under the registry's lock: an
    /// interrupt can come before (no file yet) or after (the file is removed), never between.
    fn create(
        create: impl FnOnce() -> io::Result<tempfile::NamedTempFile>,
    ) -> io::Result<(tempfile::NamedTempFile, InFlight)> {
        let mut files = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
        let temp = create()?;
        files.push(temp.path().to_path_buf());
        let path = temp.path().to_path_buf();
        Ok((temp, InFlight(path)))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| *p != self.0);
    }
}

/// Writes `path` with `encode`, atomically (as [`super::save_atomic`] describes).
pub(super) fn replace(
    path: &Path,
    encode: impl FnOnce(&mut BufWriter<&mut File>) -> Result<(), Reason>,
) -> Result<(), IoError> {
    let fail = |reason| write_error(path, reason);
    let target = if path.is_symlink() {
        fs::canonicalize(path).map_err(|e| fail(Reason::Io(e)))?
    } else {
        path.to_path_buf()
    };
    // A FIFO, device or socket (e.g. a symlink to /dev/null) would be replaced by the rename:
    // refuse instead of destroying it. (Directories fail on their own with a clear message.)
    if let Ok(meta) = fs::metadata(&target) {
        if !meta.is_file() && !meta.is_dir() {
            return Err(fail(Reason::Unsupported(
                "not a regular file (a FIFO or device): jitfilter writes outputs by replacing them"
                    .into(),
            )));
        }
    }
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".jitfilter-").suffix(".tmp");
    // tempfile defaults to 0600; ask for 0666 so the umask decides, as for any new file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let (mut temp, _in_flight) =
        InFlight::create(|| builder.tempfile_in(dir)).map_err(|e| fail(Reason::Io(e)))?;
    // Replacing a file keeps its permissions.
    if let Ok(meta) = fs::metadata(&target) {
        if meta.is_file() {
            fs::set_permissions(temp.path(), meta.permissions())
                .map_err(|e| fail(Reason::Io(e)))?;
        }
    }
    {
        let mut out = BufWriter::new(temp.as_file_mut());
        encode(&mut out).map_err(fail)?;
        out.flush().map_err(|e| fail(Reason::Io(e)))?;
    }
    temp.as_file().sync_all().map_err(|e| fail(Reason::Io(e)))?;
    // On error the returned temporary file is dropped, which deletes it.
    temp.persist(&target)
        .map_err(|e| fail(Reason::Io(e.error)))?;
    Ok(())
}
