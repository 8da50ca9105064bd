//! The copies of shared files a host keeps for its room, named by their BLAKE3 hash, within a
//! size limit: past it, the least recently stored go first. Blocking: call off async threads.

use crate::protocol::{FileHash, FileOffer};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// One room's kept files.
#[derive(Debug, Clone)]
pub struct FileStore {
    /// Holds `<hash>` (the file), `<hash>.part` (an upload under way) and `<hash>.offer` (its
    /// name and piece hashes, to give downloaders).
    dir: PathBuf,
    /// Most bytes of files kept; the oldest go past it. Shared by the store's clones, so a
    /// new setting reaches a running room.
    limit: Arc<AtomicU64>,
}

/// A partial upload untouched this long was given up: it is removed.
const STALE_PARTIAL: Duration = Duration::from_secs(24 * 3600);

impl FileStore {
    /// A store in `dir` keeping at most `limit` bytes of files.
    pub fn new(dir: PathBuf, limit: u64) -> Self {
        Self {
            dir,
            limit: Arc::new(AtomicU64::new(limit)),
        }
    }

    /// The folder the files are kept in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Most bytes of files kept.
    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    /// Changes the limit; it applies from the next kept file.
    pub fn set_limit(&self, limit: u64) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// Where an upload of this file is written until it is whole.
    pub fn partial(&self, hash: &FileHash) -> PathBuf {
        self.dir.join(format!("{hash}.part"))
    }

    fn complete_path(&self, hash: &FileHash) -> PathBuf {
        self.dir.join(hash.as_str())
    }

    fn offer_path(&self, hash: &FileHash) -> PathBuf {
        self.dir.join(format!("{hash}.offer"))
    }

    /// The kept file and its offer, if this host still has it.
    pub fn get(&self, hash: &FileHash) -> Option<(PathBuf, FileOffer)> {
        let path = self.complete_path(hash);
        let offer: FileOffer =
            rmp_serde::from_slice(&fs::read(self.offer_path(hash)).ok()?).ok()?;
        (offer.hash == *hash && offer.validate().is_ok() && path.is_file()).then_some((path, offer))
    }

    /// Creates the folder if needed, and removes partial uploads given up long ago.
    pub fn prepare(&self) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        for entry in fs::read_dir(&self.dir)?.flatten() {
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > STALE_PARTIAL));
            if stale && entry.file_name().to_string_lossy().ends_with(".part") {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// Makes room for an upload of `size` bytes of `hash`: partial uploads count toward the
    /// limit, so the ones broken off (not among `receiving`, the files being received now) go,
    /// oldest first, until the kept files, the partial uploads and this one fit. (Kept files
    /// are trimmed once the upload is whole, see [`FileStore::keep`].) Returns how many went.
    pub fn make_room(
        &self,
        hash: &FileHash,
        size: u64,
        receiving: &std::collections::HashSet<FileHash>,
    ) -> io::Result<usize> {
        let mut total = size;
        let mut broken: Vec<(std::time::SystemTime, u64, PathBuf)> = Vec::new();
        for entry in fs::read_dir(&self.dir)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Gone meanwhile (another upload finished or made room): nothing to count.
            let meta = match entry.metadata() {
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                meta => meta?,
            };
            let partial = name.strip_suffix(".part");
            match partial.and_then(FileHash::parse) {
                Some(h) if h == *hash => {}
                Some(h) => {
                    total += meta.len();
                    if !receiving.contains(&h) {
                        broken.push((meta.modified()?, meta.len(), entry.path()));
                    }
                }
                None if FileHash::parse(&name).is_some() => total += meta.len(),
                None => {}
            }
        }
        broken.sort();
        let mut removed = 0;
        for (_, len, path) in broken {
            if total <= self.limit() {
                break;
            }
            match fs::remove_file(path) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {} // gone meanwhile
                removed_now => removed_now?,
            }
            total -= len;
            removed += 1;
        }
        Ok(removed)
    }

    /// Makes a whole, verified upload a kept file, then trims the store to its limit (never
    /// removing this file). Returns the names of the files removed to make room.
    pub fn keep(&self, offer: &FileOffer) -> io::Result<Vec<String>> {
        let offer_bytes = rmp_serde::to_vec_named(offer).map_err(io::Error::other)?;
        fs::write(self.offer_path(&offer.hash), offer_bytes)?;
        fs::rename(self.partial(&offer.hash), self.complete_path(&offer.hash))?;
        self.trim(&offer.hash)
    }

    /// Removes the least recently kept files until the store fits its limit.
    fn trim(&self, keep: &FileHash) -> io::Result<Vec<String>> {
        let mut files: Vec<(std::time::SystemTime, u64, FileHash)> = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let Some(hash) = entry.file_name().to_str().and_then(FileHash::parse) else {
                continue;
            };
            let meta = entry.metadata()?;
            files.push((meta.modified()?, meta.len(), hash));
        }
        let mut total: u64 = files.iter().map(|(_, len, _)| len).sum();
        files.sort();
        let mut removed = Vec::new();
        for (_, len, hash) in files {
            if total <= self.limit() {
                break;
            }
            if &hash == keep {
                continue;
            }
            let name = self
                .get(&hash)
                .map_or_else(|| hash.to_string(), |(_, offer)| offer.name);
            fs::remove_file(self.complete_path(&hash))?;
            let _ = fs::remove_file(self.offer_path(&hash));
            total -= len;
            removed.push(name);
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::FileHash;

    #[test]
    fn broken_off_uploads_count_toward_the_limit_and_go_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().to_path_buf(), 3000);
        store.prepare().unwrap();
        let hash = |n: u8| FileHash::from_bytes(blake3::hash(&[n]).as_bytes());
        let now = std::time::SystemTime::now();
        for n in 0..5u8 {
            let path = store.partial(&hash(n));
            fs::write(&path, vec![0u8; 1000]).unwrap();
            let file = fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(now - Duration::from_secs(600 - u64::from(n)))
                .unwrap();
        }
        // Partial 4 is being received now; partial 9 is the upload that needs room.
        let receiving = std::collections::HashSet::from([hash(4)]);
        let removed = store.make_room(&hash(9), 1000, &receiving).unwrap();
        assert_eq!(removed, 3);
        let left: Vec<bool> = (0..5).map(|n| store.partial(&hash(n)).exists()).collect();
        assert_eq!(
            left,
            [false, false, false, true, true],
            "the oldest broken ones went"
        );
    }

    fn offer(content: &[u8], name: &str) -> FileOffer {
        FileOffer {
            name: name.into(),
            size: content.len() as u64,
            hash: FileHash::from_bytes(blake3::hash(content).as_bytes()),
            piece_len: 256 * 1024,
            cvs: Vec::new(),
        }
    }

    #[test]
    fn keeps_files_and_drops_the_oldest_past_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("files"), 25);
        store.prepare().unwrap();
        let mut offers = Vec::new();
        for (i, content) in [&b"0123456789"[..], b"abcdefghij", b"ABCDEFGHIJ"]
            .into_iter()
            .enumerate()
        {
            let o = offer(content, &format!("f{i}"));
            fs::write(store.partial(&o.hash), content).unwrap();
            // Distinct modification times, oldest first.
            let removed = store.keep(&o).unwrap();
            let file = fs::File::options()
                .write(true)
                .open(store.complete_path(&o.hash))
                .unwrap();
            file.set_modified(
                std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(i as u64 + 1),
            )
            .unwrap();
            offers.push((o, removed));
        }
        // 30 bytes > 25: the oldest (f0) went when f2 was kept.
        assert_eq!(offers[2].1, vec!["f0".to_owned()]);
        assert!(store.get(&offers[0].0.hash).is_none());
        let (path, got) = store.get(&offers[2].0.hash).unwrap();
        assert_eq!(got, offers[2].0);
        assert_eq!(fs::read(path).unwrap(), b"ABCDEFGHIJ");
    }
}
