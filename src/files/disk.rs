//! Where a download is saved: its hidden partial file in the downloads folder, opened so that
//! a resume keeps only whole pieces, and the free space check before a transfer starts.

use crate::protocol::FileHash;
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The folder inside a downloads folder that holds downloads still arriving: a dot-folder,
/// and on Windows (where dots hide nothing) one with the hidden attribute.
const PARTIAL_DIR: &str = ".lanchat-partial";

/// The partial file of a download, in the hidden folder inside the downloads folder it will
/// end up in (the same volume, so finishing it is a rename).
pub fn partial_path(dir: &Path, hash: &FileHash) -> PathBuf {
    dir.join(PARTIAL_DIR)
        .join(format!("{}.part", &hash.as_str()[..16]))
}

/// Makes the hidden folder for `partial` (see [`partial_path`]): a real folder, not a link
/// someone planted in its place, hidden on every system. Blocking.
pub(crate) fn prepare_partial_dir(partial: &Path) -> io::Result<()> {
    let Some(dir) = partial.parent() else {
        return Ok(());
    };
    match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.file_type().is_dir() => return Ok(()),
        // Anything else in its place is moved out of the way (the link, not its target).
        Ok(_) => std::fs::remove_file(dir)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(dir)?;
    hide(dir);
    Ok(())
}

/// Removes the hidden folder of partial files once nothing is left in it, so a finished
/// download leaves the downloads folder as it found it. Blocking; best effort.
pub(crate) fn tidy_partial_dir(partial: &Path) {
    if let Some(dir) = partial.parent() {
        let _ = std::fs::remove_dir(dir); // fails, as it should, while others are arriving
    }
}

/// Gives a file or folder the hidden attribute where names alone do not hide it (Windows).
fn hide(path: &Path) {
    #[cfg(windows)]
    {
        use std::os::windows::ffi::OsStrExt;
        use windows_sys::Win32::Storage::FileSystem::{
            FILE_ATTRIBUTE_HIDDEN, GetFileAttributesW, INVALID_FILE_ATTRIBUTES, SetFileAttributesW,
        };
        let wide: Vec<u16> = path.as_os_str().encode_wide().chain(Some(0)).collect();
        // SAFETY: `wide` is a NUL-terminated UTF-16 path that outlives both calls.
        unsafe {
            let attributes = GetFileAttributesW(wide.as_ptr());
            if attributes != INVALID_FILE_ATTRIBUTES {
                SetFileAttributesW(wide.as_ptr(), attributes | FILE_ATTRIBUTE_HIDDEN);
            }
        }
    }
    #[cfg(not(windows))]
    let _ = path; // the leading dot hides it
}

/// Opens a partial file of a `size`-byte file and cuts it to its last whole piece below `cap`
/// (only verified pieces are ever written, but a crash can leave half of one). A partial
/// longer than the file is not this file's: it starts over.
///
/// Whoever can write to the folder could have planted something at this predictable name: a
/// symlink or a hard link to a file elsewhere. Neither is ever followed or written through:
/// a new partial is created exclusively, an existing one is opened without following links,
/// and anything but a plain file of its own is removed (the link, not its target) and made
/// afresh.
pub(crate) fn open_partial(
    path: &Path,
    piece_len: u64,
    size: u64,
    cap: u64,
) -> io::Result<(std::fs::File, u64)> {
    let mut file = open_own_file(path)?;
    let len = file.metadata()?.len();
    let whole = if len > size {
        0
    } else {
        len.min(cap) / piece_len * piece_len
    };
    file.set_len(whole)?;
    file.seek(SeekFrom::Start(whole))?;
    Ok((file, whole))
}

/// Opens the plain file at `path` for reading and writing, creating it if nothing is there,
/// without ever following a link.
fn open_own_file(path: &Path) -> io::Result<std::fs::File> {
    for _ in 0..3 {
        // Creating exclusively never follows a link: one that is there makes it fail.
        match new_file(path) {
            Ok(file) => return Ok(file),
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            Err(_) => {}
        }
        match existing_file(path) {
            Ok(file) if is_own_plain_file(&file.metadata()?) => return Ok(file),
            // A link, a device, a folder's name taken: not ours to write through.
            Ok(_) | Err(_) => {
                tracing::warn!("{} was not a plain file; replacing it", path.display());
                match std::fs::remove_file(path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
        }
    }
    Err(io::Error::other(format!(
        "{} keeps being replaced; not writing there",
        path.display()
    )))
}

fn new_file(path: &Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Opens an existing file without following a link at `path` (the link itself is opened, or
/// the open fails).
fn existing_file(path: &Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Not through a link; and a planted FIFO cannot make the open wait.
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::OpenOptionsExt;
        /// Opens a symlink or junction itself instead of what it points to.
        const FILE_FLAG_OPEN_REPARSE_POINT: u32 = 0x0020_0000;
        options.custom_flags(FILE_FLAG_OPEN_REPARSE_POINT);
    }
    options.open(path)
}

/// A plain file of ours with no other name (a hard link elsewhere would let us write into
/// another file) and no link in its place.
fn is_own_plain_file(meta: &std::fs::Metadata) -> bool {
    if !meta.file_type().is_file() {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        meta.nlink() == 1 && meta.uid() == unsafe { libc::geteuid() }
    }
    #[cfg(not(unix))]
    true
}

/// How much of a partial file is there, without following a link planted in its place.
pub(crate) fn partial_len(path: &Path) -> u64 {
    std::fs::symlink_metadata(path)
        .ok()
        .filter(|m| m.file_type().is_file())
        .map_or(0, |m| m.len())
}

/// Bytes free for a new file in `dir` (or its nearest existing parent).
pub fn free_space(dir: &Path) -> io::Result<u64> {
    let mut probe = dir;
    while !probe.exists() {
        probe = probe.parent().unwrap_or(Path::new("."));
    }
    fs4::available_space(probe)
}
