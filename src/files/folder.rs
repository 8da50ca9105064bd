//! Sending a folder, as LocalSend and BeeBEEP do: each of its files is sent on its own, named
//! by its path inside the folder ("Photos/2026/a.jpg"), and each member saves it there, in a
//! folder of that name in its downloads (see `names::clean_path` and `names::folder_for`).

use std::path::{Path, PathBuf};

/// Most files one folder sends: a folder picked by mistake (a home folder) must not start
/// a hundred thousand uploads.
pub const MOST_FILES: usize = 5000;

/// A folder's files, as they are to be sent.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Listed {
    /// Each file, and its name to send: the folder's own name, then its path inside it.
    pub files: Vec<(PathBuf, String)>,
    /// Files and folders that could not be read (they are left out), and links to folders
    /// (never followed: a link back up would never end).
    pub skipped: usize,
    /// More files than [`MOST_FILES`] were found: only the first are listed.
    pub cut: bool,
}

/// What `paths` send (blocking: it reads the disk): a file itself, under its name; a folder,
/// its files (see [`list`]), together at most [`MOST_FILES`].
pub fn expand(paths: Vec<PathBuf>) -> Listed {
    let mut all = Listed::default();
    for path in paths {
        if !std::fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
            let name = super::names::name_of(&path);
            all.files.push((path, name));
            continue;
        }
        let listed = list(&path);
        all.files.extend(listed.files);
        all.skipped += listed.skipped;
        all.cut |= listed.cut;
    }
    if all.files.len() > MOST_FILES {
        all.files.truncate(MOST_FILES);
        all.cut = true;
    }
    all
}

/// The files in `folder` and in the folders within it, in name order (blocking: it reads
/// the disk).
pub fn list(folder: &Path) -> Listed {
    let top = folder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "folder".into());
    let mut listed = Listed::default();
    let walk = walkdir::WalkDir::new(folder)
        .follow_links(false)
        .sort_by_file_name();
    for entry in walk {
        let Ok(entry) = entry else {
            listed.skipped += 1;
            continue;
        };
        let kind = entry.file_type();
        // A link to a file is sent as the file; a link to a folder is not followed.
        let is_file = kind.is_file()
            || (kind.is_symlink() && std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file()));
        if !is_file {
            if kind.is_symlink() {
                listed.skipped += 1;
            }
            continue;
        }
        if listed.files.len() == MOST_FILES {
            listed.cut = true;
            break;
        }
        let Ok(inside) = entry.path().strip_prefix(folder) else {
            continue;
        };
        let mut name = top.clone();
        for part in inside.components() {
            name.push('/');
            name.push_str(&part.as_os_str().to_string_lossy());
        }
        listed.files.push((entry.into_path(), name));
    }
    listed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_lists_its_files_with_their_paths_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        let photos = dir.path().join("Photos");
        std::fs::create_dir_all(photos.join("2026/summer")).unwrap();
        std::fs::create_dir_all(photos.join("empty")).unwrap();
        std::fs::write(photos.join("b.jpg"), b"b").unwrap();
        std::fs::write(photos.join("2026/a.jpg"), b"a").unwrap();
        std::fs::write(photos.join("2026/summer/c.jpg"), b"c").unwrap();
        #[cfg(unix)]
        {
            // A link back up is not followed; a link to a file is sent as the file.
            std::os::unix::fs::symlink(&photos, photos.join("2026/loop")).unwrap();
            std::os::unix::fs::symlink(photos.join("b.jpg"), photos.join("link.jpg")).unwrap();
        }
        let listed = list(&photos);
        let names: Vec<&str> = listed.files.iter().map(|(_, n)| n.as_str()).collect();
        let mut want = vec![
            "Photos/2026/a.jpg",
            "Photos/2026/summer/c.jpg",
            "Photos/b.jpg",
        ];
        if cfg!(unix) {
            want.push("Photos/link.jpg");
        }
        assert_eq!(names, want);
        assert_eq!(listed.files[0].0, photos.join("2026/a.jpg"));
        assert_eq!(listed.skipped, usize::from(cfg!(unix)));
        assert!(!listed.cut);
    }

    #[test]
    fn files_go_as_themselves_and_folders_as_their_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("Notes")).unwrap();
        std::fs::write(dir.path().join("Notes/n.txt"), b"n").unwrap();
        std::fs::write(dir.path().join("plan.pdf"), b"p").unwrap();
        let listed = expand(vec![dir.path().join("plan.pdf"), dir.path().join("Notes")]);
        let names: Vec<&str> = listed.files.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, ["plan.pdf", "Notes/n.txt"]);
    }

    #[test]
    fn a_huge_folder_is_cut_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        for n in 0..=MOST_FILES {
            std::fs::write(dir.path().join(format!("{n:05}")), b"").unwrap();
        }
        let listed = list(dir.path());
        assert_eq!(listed.files.len(), MOST_FILES);
        assert!(listed.cut);
    }
}
