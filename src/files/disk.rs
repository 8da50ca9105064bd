//! Where a download is saved: its hidden partial file in the downloads folder, opened so that
//! a resume keeps only whole pieces, and the free space check before a transfer starts.

use crate::protocol::FileHash;
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The hidden partial file of a download, in the downloads folder it will end up in.
pub fn partial_path(dir: &Path, hash: &FileHash) -> PathBuf {
    dir.join(format!(".{}.lanchat-part", &hash.as_str()[..16]))
}

/// Opens a partial file of a `size`-byte file and cuts it to its last whole piece below `cap`
/// (only verified pieces are ever written, but a crash can leave half of one). A partial
/// longer than the file is not this file's: it starts over.
pub(crate) fn open_partial(
    path: &Path,
    piece_len: u64,
    size: u64,
    cap: u64,
) -> io::Result<(std::fs::File, u64)> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
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

/// Bytes free for a new file in `dir` (or its nearest existing parent).
pub fn free_space(dir: &Path) -> io::Result<u64> {
    let mut probe = dir;
    while !probe.exists() {
        probe = probe.parent().unwrap_or(Path::new("."));
    }
    fs4::available_space(probe)
}
