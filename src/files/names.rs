//! File names from the network, made safe to create in the downloads folder.
//!
//! A sender chooses the name, so it is hostile until cleaned: it may try to climb out of the
//! folder, hide its real extension behind bidi controls, hit a Windows device name, or be too
//! long for the filesystem. [`clean_file_name`] fixes all that; [`create_unique`] then creates
//! the file without ever overwriting one that is already there.
//!
//! A file of a folder sent comes with its path inside that folder ("Photos/2026/a.jpg"):
//! [`clean_path`] cleans each of its parts as a name and drops those that would climb
//! (`..`), and [`folder_for`] makes the folders inside the downloads folder, never through
//! a link and never over a file.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// Longest file name (in bytes) that every common filesystem accepts.
const MAX_NAME_BYTES: usize = 255;
/// Extensions up to this length (dot included) survive a cut, so `.jpeg` stays `.jpeg`.
const MAX_KEPT_EXT_BYTES: usize = 16;
/// What an empty or all-dots name becomes.
const FALLBACK: &str = "file";

/// A file name from the network made safe to create inside the downloads folder on Windows, macOS and Linux.
pub fn clean_file_name(name: &str) -> String {
    // Invisible characters go first so they cannot split a drive prefix or a device name.
    let visible: String = name.chars().filter(|&c| !is_invisible(c)).collect();
    let last = visible.rsplit(['/', '\\']).next().unwrap_or_default();
    let last = strip_drive(last);
    let mapped: String = last
        .chars()
        .map(|c| if is_forbidden(c) { '_' } else { c })
        .collect();
    let mut out = trim_ends(&mapped).to_owned();
    if is_reserved(&out) {
        out.insert(0, '_');
    }
    out = fit(&out, MAX_NAME_BYTES, "");
    // The cut may trim a long stem down to a device name ("CON      x.txt" → "CON.txt").
    if is_reserved(&out) {
        out.insert(0, '_');
    }
    if out.is_empty() {
        out = FALLBACK.to_owned();
    }
    out
}

/// A local file's name as it is sent: the last part of its path (lossily, if it is not
/// UTF-8), or "file" for a path without one.
pub fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| FALLBACK.to_owned())
}

/// Most folders a received file's path keeps (deeper ones are dropped: no filesystem is
/// troubled by 16, and a hostile path cannot make thousands).
const MAX_FOLDERS: usize = 16;

/// A file's path from the network, cleaned: its folders (at most [`MAX_FOLDERS`]) and its
/// name, each a clean name. Parts that are empty, `.` or `..` are dropped, so the path
/// never leads out of the folder it is saved in; a name without folders is one part.
pub fn clean_path(name: &str) -> (Vec<String>, String) {
    let visible: String = name.chars().filter(|&c| !is_invisible(c)).collect();
    let mut parts: Vec<String> = visible
        .split(['/', '\\'])
        .filter(|part| !trim_ends(strip_drive(part)).is_empty())
        .map(clean_file_name)
        .collect();
    let name = parts.pop().unwrap_or_else(|| FALLBACK.to_owned());
    parts.truncate(MAX_FOLDERS);
    (parts, name)
}

/// A file's name to send (for a folder's file, its path inside the folder), as the network
/// carries it: its parts cleaned and joined by `/`, the deepest folders dropped until it
/// fits the protocol's limit on a file's name.
pub fn wire_path(name: &str) -> String {
    let (mut folders, name) = clean_path(name);
    loop {
        let mut parts = folders.clone();
        parts.push(name.clone());
        let path = parts.join("/");
        if path.len() <= crate::protocol::MAX_SHORT_BYTES || folders.is_empty() {
            return path;
        }
        folders.pop();
    }
}

/// A file's path from the network as a person reads it: its clean parts joined by `/`.
pub fn shown_path(name: &str) -> String {
    let (mut parts, name) = clean_path(name);
    parts.push(name);
    parts.join("/")
}

/// The folder inside `dir` that `folders` (clean names) lead to, made where missing
/// (blocking). A part that is there but is not a folder (a file, or a link, which is never
/// followed) is not used: the first of `name (1)`, `name (2)`, … that is a folder or free is,
/// so the other files of the same folder find the same one.
pub fn folder_for(dir: &Path, folders: &[String]) -> io::Result<PathBuf> {
    let mut at = dir.to_path_buf();
    for folder in folders {
        let mut n = 0u64;
        at = loop {
            let candidate = at.join(numbered(&clean_file_name(folder), n));
            match std::fs::symlink_metadata(&candidate) {
                Ok(meta) if meta.is_dir() => break candidate,
                Ok(_) => n = n.saturating_add(1),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    match std::fs::create_dir(&candidate) {
                        // Made by another file of the folder meanwhile: looked at again.
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(e),
                        Ok(()) => break candidate,
                    }
                }
                Err(e) => return Err(e),
            }
        };
    }
    Ok(at)
}

/// A path inside `dir` for `name` (already clean) that does not exist yet: `name`, else `stem (1).ext`, `stem (2).ext`, … (checks the filesystem; blocking).
pub fn free_path(dir: &Path, name: &str) -> PathBuf {
    // Cleaning again is a no-op for clean names and keeps a careless caller inside `dir`.
    free_path_from(dir, &clean_file_name(name), 0).0
}

/// Creates that file with create_new (never overwrites; retries with the next free name if a race took it) and returns it and its path.
pub fn create_unique(dir: &Path, name: &str) -> io::Result<(File, PathBuf)> {
    let name = clean_file_name(name);
    let mut start = 0;
    loop {
        let (path, n) = free_path_from(dir, &name, start);
        match open_new(&path) {
            Ok(file) => return Ok((file, path)),
            // Someone took it between the check and the create: move past it, never reuse it.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => start = n.saturating_add(1),
            Err(e) => return Err(e),
        }
    }
}

/// Opens a file that did not exist, failing with `AlreadyExists` rather than touching one that does.
fn open_new(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

/// The first free candidate numbered `start` or later, and its number.
fn free_path_from(dir: &Path, name: &str, start: u64) -> (PathBuf, u64) {
    let mut n = start;
    loop {
        let path = dir.join(numbered(name, n));
        // symlink_metadata, so a dangling symlink counts as taken (create_new would fail on it).
        // Other errors (e.g. no permission) count as free: creating will report them properly.
        if std::fs::symlink_metadata(&path).is_err() {
            return (path, n);
        }
        n = n.saturating_add(1);
    }
}

/// `name` for 0, else `stem (n).ext`, still within [`MAX_NAME_BYTES`].
fn numbered(name: &str, n: u64) -> String {
    if n == 0 {
        return name.to_owned();
    }
    fit(name, MAX_NAME_BYTES, &format!(" ({n})"))
}

/// `name` with `suffix` inserted before its short extension, cut to `max` bytes by shortening
/// the stem on a char boundary. With an empty suffix, names that already fit are unchanged.
fn fit(name: &str, max: usize, suffix: &str) -> String {
    if suffix.is_empty() && name.len() <= max {
        return name.to_owned();
    }
    let (stem, ext) = split_ext(name);
    let budget = max.saturating_sub(ext.len() + suffix.len());
    let mut stem = truncate(stem, budget);
    if suffix.is_empty() {
        // The cut may leave the stem ending in dots or spaces, or even empty.
        stem = trim_ends(stem);
    }
    format!("{stem}{suffix}{ext}")
}

/// Splits off a short extension (dot included). Dotfiles like `.bashrc` have none.
fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 && name.len() - i <= MAX_KEPT_EXT_BYTES => name.split_at(i),
        _ => (name, ""),
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Windows drops trailing dots and spaces (so `a.txt.` would be `a.txt`), and leading spaces
/// are invisible in file lists.
fn trim_ends(s: &str) -> &str {
    s.trim_start()
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace())
}

/// `C:x` is a path relative to drive C's current folder, not a name.
fn strip_drive(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        &s[2..]
    } else {
        s
    }
}

/// Characters Windows (and macOS Finder, for ':') refuses, and lookalikes that would pass for
/// them on screen or be mapped onto them by Windows' "best fit" conversion to ANSI code pages.
fn is_forbidden(c: char) -> bool {
    matches!(
        c,
        '<' | '>' | ':' | '"' | '/' | '\\' | '|' | '?' | '*'
            // Slashes.
            | '\u{2044}' // FRACTION SLASH
            | '\u{2215}' // DIVISION SLASH
            | '\u{2571}' // BOX DRAWINGS LIGHT DIAGONAL UPPER RIGHT TO LOWER LEFT
            | '\u{27CB}' // MATHEMATICAL RISING DIAGONAL
            | '\u{29F8}' // BIG SOLIDUS
            | '\u{FF0F}' // FULLWIDTH SOLIDUS
            | '\u{0337}' // COMBINING SHORT SOLIDUS OVERLAY
            | '\u{0338}' // COMBINING LONG SOLIDUS OVERLAY
            // Backslashes.
            | '\u{2216}' // SET MINUS
            | '\u{2572}' // BOX DRAWINGS LIGHT DIAGONAL UPPER LEFT TO LOWER RIGHT
            | '\u{27CD}' // MATHEMATICAL FALLING DIAGONAL
            | '\u{29F5}' // REVERSE SOLIDUS OPERATOR
            | '\u{29F9}' // BIG REVERSE SOLIDUS
            | '\u{FE68}' // SMALL REVERSE SOLIDUS
            | '\u{FF3C}' // FULLWIDTH REVERSE SOLIDUS
            | '\u{20E5}' // COMBINING REVERSE SOLIDUS OVERLAY
            // Colons (a drive or an NTFS stream).
            | '\u{2236}' // RATIO
            | '\u{A789}' // MODIFIER LETTER COLON
            | '\u{FE13}' // PRESENTATION FORM FOR VERTICAL COLON
            | '\u{FE55}' // SMALL COLON
            | '\u{FF1A}' // FULLWIDTH COLON
            // The other fullwidth forms best-fit maps onto forbidden characters.
            | '\u{FF02}' | '\u{FF0A}' | '\u{FF1C}' | '\u{FF1E}' | '\u{FF1F}' | '\u{FF5C}'
    )
}

/// Control characters (C0, DEL, C1), line/paragraph separators, and the format (`Cf`)
/// characters: bidi overrides that disguise `exe` as `gpj`, zero-width and other invisibles.
fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{0600}'..='\u{0605}'
                | '\u{061C}'
                | '\u{06DD}'
                | '\u{070F}'
                | '\u{0890}'..='\u{0891}'
                | '\u{08E2}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{110BD}'
                | '\u{110CD}'
                | '\u{13430}'..='\u{1343F}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0001}'
                | '\u{E0020}'..='\u{E007F}'
        )
}

/// Windows device names, which open the device instead of a file whatever the extension
/// (`nul.txt`) and with spaces before it (`CON .txt`).
fn is_reserved(name: &str) -> bool {
    let base = name.split('.').next().unwrap_or_default().trim_end();
    if ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"]
        .iter()
        .any(|r| base.eq_ignore_ascii_case(r))
    {
        return true;
    }
    let (Some(prefix), Some(digit)) = (base.get(..3), base.get(3..)) else {
        return false;
    };
    (prefix.eq_ignore_ascii_case("COM") || prefix.eq_ignore_ascii_case("LPT"))
        && matches!(
            digit,
            "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "¹" | "²" | "³"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_from_the_network_is_cleaned_part_by_part_and_never_climbs() {
        let path = |name: &str| {
            let (mut parts, name) = clean_path(name);
            parts.push(name);
            parts
        };
        assert_eq!(path("Photos/2026/a.jpg"), ["Photos", "2026", "a.jpg"]);
        assert_eq!(path("a.jpg"), ["a.jpg"]);
        assert_eq!(path("../../etc/passwd"), ["etc", "passwd"]);
        assert_eq!(path("/abs/./x"), ["abs", "x"]);
        assert_eq!(path("C:\\Windows\\..\\x.dll"), ["Windows", "x.dll"]);
        assert_eq!(path("dir/.."), ["dir"]);
        assert_eq!(path("../.."), ["file"]);
        assert_eq!(path("a\u{202E}/CON/nul.txt"), ["a", "_CON", "_nul.txt"]);
        assert_eq!(path("a/ b /c"), ["a", "b", "c"]);
        let deep = "d/".repeat(40) + "f";
        assert_eq!(path(&deep).len(), MAX_FOLDERS + 1);
        assert_eq!(shown_path("x/../y/\u{200B}z.txt"), "x/y/z.txt");
        // Sent, a long path keeps its top folders and its name within the limit.
        let long = format!(
            "{}/{}/{}/f.txt",
            "a".repeat(100),
            "b".repeat(100),
            "c".repeat(100)
        );
        assert_eq!(
            wire_path(&long),
            format!("{}/{}/f.txt", "a".repeat(100), "b".repeat(100))
        );
        assert_eq!(wire_path("../x.txt"), "x.txt");
    }

    #[test]
    fn folders_are_made_inside_the_downloads_and_never_through_a_link_or_over_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let folders = |f: &[&str]| f.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let made = folder_for(dir.path(), &folders(&["Photos", "2026"])).unwrap();
        assert_eq!(made, dir.path().join("Photos").join("2026"));
        assert!(made.is_dir());
        // The same folder again is the same folder.
        assert_eq!(
            folder_for(dir.path(), &folders(&["Photos", "2026"])).unwrap(),
            made
        );
        // A file where a folder goes: the next name, the same one for every file.
        std::fs::write(dir.path().join("Notes"), b"a file").unwrap();
        let notes = folder_for(dir.path(), &folders(&["Notes"])).unwrap();
        assert_eq!(notes, dir.path().join("Notes (1)"));
        assert_eq!(folder_for(dir.path(), &folders(&["Notes"])).unwrap(), notes);
        // A link where a folder goes is not followed.
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outside.path(), dir.path().join("Linked")).unwrap();
            let linked = folder_for(dir.path(), &folders(&["Linked", "x"])).unwrap();
            assert_eq!(linked, dir.path().join("Linked (1)").join("x"));
            assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        }
        // No folders: the downloads folder itself.
        assert_eq!(folder_for(dir.path(), &[]).unwrap(), dir.path());
    }

    #[test]
    fn hostile_names_table() {
        let a300 = "a".repeat(300);
        let cases: Vec<(String, String)> = vec![
            // Empty and dot names.
            ("".into(), "file".into()),
            (".".into(), "file".into()),
            ("..".into(), "file".into()),
            ("...".into(), "file".into()),
            (" ".into(), "file".into()),
            (" . . ".into(), "file".into()),
            ("\u{0}\u{202E}".into(), "file".into()),
            // Path components.
            ("a/../../b".into(), "b".into()),
            ("..\\..\\win.ini".into(), "win.ini".into()),
            ("../".into(), "file".into()),
            ("dir/..".into(), "file".into()),
            ("/etc/passwd".into(), "passwd".into()),
            ("C:\\Windows\\system32\\x.dll".into(), "x.dll".into()),
            ("C:x".into(), "x".into()),
            ("c:".into(), "file".into()),
            ("\\\\server\\share\\x".into(), "x".into()),
            ("\\\\?\\C:\\x".into(), "x".into()),
            ("\\\\.\\PhysicalDrive0".into(), "PhysicalDrive0".into()),
            ("C\u{200B}:x".into(), "x".into()),
            // Controls and invisibles.
            ("evil\u{202E}gpj.exe".into(), "evilgpj.exe".into()),
            ("name\u{0}.txt".into(), "name.txt".into()),
            ("line\nbreak\r.txt".into(), "linebreak.txt".into()),
            (
                "\u{7F}\u{85}\u{9F}x\u{1B}[31m.txt".into(),
                "x[31m.txt".into(),
            ),
            (
                "\u{200B}\u{FEFF}\u{2066}a\u{2069}\u{061C}\u{AD}.txt".into(),
                "a.txt".into(),
            ),
            ("tag\u{E0041}\u{E007F}.txt".into(), "tag.txt".into()),
            ("a\u{2028}b\u{2029}c".into(), "abc".into()),
            // Forbidden characters and lookalike separators.
            ("a<b>c:d\"e|f?g*h.txt".into(), "a_b_c_d_e_f_g_h.txt".into()),
            (
                "file.txt:Zone.Identifier".into(),
                "file.txt_Zone.Identifier".into(),
            ),
            ("a\u{FF0F}b".into(), "a_b".into()),
            ("a\u{2215}b".into(), "a_b".into()),
            ("a\u{2044}b".into(), "a_b".into()),
            ("a\u{29F8}b".into(), "a_b".into()),
            ("a\u{FF3C}b".into(), "a_b".into()),
            ("..\u{FF0F}..\u{FF0F}etc".into(), ".._.._etc".into()),
            ("x\u{FF1A}y\u{FF1F}".into(), "x_y_".into()),
            // Trimming.
            ("report. . .".into(), "report".into()),
            ("  leading.txt".into(), "leading.txt".into()),
            ("trailing.txt. . ".into(), "trailing.txt".into()),
            ("tab\t".into(), "tab".into()),
            ("ideographic\u{3000}".into(), "ideographic".into()),
            // Device names.
            ("CON".into(), "_CON".into()),
            ("con.txt".into(), "_con.txt".into()),
            ("nul.txt".into(), "_nul.txt".into()),
            ("Com1.tar.gz".into(), "_Com1.tar.gz".into()),
            ("LPT9.log".into(), "_LPT9.log".into()),
            ("COM¹".into(), "_COM¹".into()),
            ("lpt³.x".into(), "_lpt³.x".into()),
            ("aux".into(), "_aux".into()),
            ("PRN ".into(), "_PRN".into()),
            ("CON .txt".into(), "_CON .txt".into()),
            ("conout$".into(), "_conout$".into()),
            ("dir/NUL".into(), "_NUL".into()),
            ("COM10".into(), "COM10".into()),
            ("CONSOLE.txt".into(), "CONSOLE.txt".into()),
            ("LPT".into(), "LPT".into()),
            ("_CON".into(), "_CON".into()),
            // Length.
            (format!("{a300}.jpeg"), format!("{}.jpeg", "a".repeat(250))),
            (a300.clone(), "a".repeat(255)),
            (
                format!("{a300}.averyveryverylongextension"),
                "a".repeat(255),
            ),
            (
                format!("{a300}.123456789abcdef"),
                format!("{}.123456789abcdef", "a".repeat(239)),
            ),
            (
                format!("{}.txt", "é".repeat(200)),
                format!("{}.txt", "é".repeat(125)),
            ),
            ("日".repeat(100), "日".repeat(85)),
            ("😀".repeat(70), "😀".repeat(63)),
            (format!("a{}.txt", " ".repeat(300)), "a.txt".into()),
            (format!("CON{}x.txt", " ".repeat(300)), "_CON.txt".into()),
            (format!("{}.txt", ".".repeat(300)), ".txt".into()),
            // Ordinary names are left alone.
            (
                "Holiday 2024 (final).JPG".into(),
                "Holiday 2024 (final).JPG".into(),
            ),
            ("日本語.txt".into(), "日本語.txt".into()),
            ("ünïcødé.pdf".into(), "ünïcødé.pdf".into()),
            (".bashrc".into(), ".bashrc".into()),
            ("archive.tar.gz".into(), "archive.tar.gz".into()),
            ("-rf".into(), "-rf".into()),
            ("¥100 receipt.png".into(), "¥100 receipt.png".into()),
            ("👨\u{FE0F} emoji.png".into(), "👨\u{FE0F} emoji.png".into()),
        ];
        let mut failures = Vec::new();
        for (input, expected) in &cases {
            let got = clean_file_name(input);
            if &got != expected {
                failures.push(format!("{input:?}: got {got:?}, expected {expected:?}"));
            }
            assert_clean(input, &got);
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    /// Every property a cleaned name must have, whatever the input.
    fn assert_clean(input: &str, out: &str) {
        let ctx = || format!("input {input:?} → {out:?}");
        assert!(!out.is_empty(), "{}", ctx());
        assert!(out.len() <= MAX_NAME_BYTES, "{}", ctx());
        assert!(out != "." && out != "..", "{}", ctx());
        assert!(!out.ends_with(['.', ' ']), "{}", ctx());
        assert!(!out.ends_with(char::is_whitespace), "{}", ctx());
        assert!(!out.starts_with(char::is_whitespace), "{}", ctx());
        for c in out.chars() {
            assert!(!matches!(c, '/' | '\\' | '\0'), "{}", ctx());
            assert!(!c.is_control(), "{}", ctx());
            assert!(
                !matches!(
                    c,
                    '\u{200B}'..='\u{200F}'
                        | '\u{202A}'..='\u{202E}'
                        | '\u{2060}'..='\u{2069}'
                        | '\u{FEFF}'
                        | '\u{061C}'
                ),
                "{}",
                ctx()
            );
            assert!(!is_invisible(c) && !is_forbidden(c), "{}", ctx());
        }
        assert!(!is_reserved(out), "{}", ctx());
        assert_eq!(clean_file_name(out), out, "not idempotent: {}", ctx());
    }

    /// SplitMix64: deterministic, so a failure reproduces.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn generated_name(rng: &mut Rng) -> String {
        const PIECES: &[&str] = &[
            ".",
            "..",
            " ",
            "/",
            "\\",
            ":",
            "C:",
            "\\\\?\\",
            "CON",
            "nul",
            "Com¹",
            "LPT9",
            ".txt",
            ".tar.gz",
            ".jpeg",
            "a",
            "Z",
            "é",
            "日本",
            "😀",
            "\u{202E}",
            "\u{200B}",
            "\u{200D}",
            "\u{FEFF}",
            "\u{2066}",
            "\u{061C}",
            "\u{0}",
            "\u{1F}",
            "\u{7F}",
            "\u{85}",
            "\u{9F}",
            "\u{FF0F}",
            "\u{2215}",
            "\u{2044}",
            "\u{29F8}",
            "\u{FF3C}",
            "\t",
            "\n",
            "\u{3000}",
            "\u{A0}",
            "\u{E0041}",
            "\u{AD}",
            "<",
            ">",
            "\"",
            "|",
            "?",
            "*",
            "\u{301}",
            "$",
        ];
        let mut s = String::new();
        let pieces = rng.below(40);
        for _ in 0..pieces {
            match rng.below(6) {
                0 => {
                    // Any Unicode scalar value.
                    let c = loop {
                        if let Some(c) = char::from_u32((rng.next() % 0x11_0000) as u32) {
                            break c;
                        }
                    };
                    s.push(c);
                }
                1 => s.push(char::from(rng.below(128) as u8)),
                2 => {
                    // A long run, to exercise the cut.
                    let piece = PIECES[rng.below(PIECES.len())];
                    s.push_str(&piece.repeat(1 + rng.below(120)));
                }
                _ => s.push_str(PIECES[rng.below(PIECES.len())]),
            }
        }
        s
    }

    #[test]
    fn generated_names_come_out_clean() {
        let mut rng = Rng(0x01A2_C4A7);
        for _ in 0..30_000 {
            let input = generated_name(&mut rng);
            let out = clean_file_name(&input);
            assert_clean(&input, &out);
            // Numbered alternatives are clean too, even for the longest names and numbers.
            for n in [1, 12, u64::MAX] {
                let alt = numbered(&out, n);
                assert_clean(&out, &alt);
                assert!(alt.ends_with(&format!(" ({n})")) || alt.contains(&format!(" ({n}).")));
            }
        }
    }

    #[test]
    fn free_path_numbers_taken_names() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(free_path(d, "a.txt"), d.join("a.txt"));
        std::fs::write(d.join("a.txt"), "x").unwrap();
        assert_eq!(free_path(d, "a.txt"), d.join("a (1).txt"));
        std::fs::write(d.join("a (1).txt"), "x").unwrap();
        assert_eq!(free_path(d, "a.txt"), d.join("a (2).txt"));

        std::fs::write(d.join("README"), "x").unwrap();
        assert_eq!(free_path(d, "README"), d.join("README (1)"));
        std::fs::write(d.join(".bashrc"), "x").unwrap();
        assert_eq!(free_path(d, ".bashrc"), d.join(".bashrc (1)"));
        std::fs::write(d.join("x.tar.gz"), "x").unwrap();
        assert_eq!(free_path(d, "x.tar.gz"), d.join("x.tar (1).gz"));
        // A folder of that name is taken too.
        std::fs::create_dir(d.join("photos")).unwrap();
        assert_eq!(free_path(d, "photos"), d.join("photos (1)"));
        // An unclean name cannot escape the folder.
        assert_eq!(free_path(d, "../../etc/passwd"), d.join("passwd"));
    }

    #[test]
    fn free_path_keeps_long_names_within_limit() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let name = clean_file_name(&format!("{}.jpeg", "é".repeat(200)));
        assert_eq!(name.len(), 255);
        std::fs::write(d.join(&name), "x").unwrap();
        let alt = free_path(d, &name);
        assert_eq!(alt, d.join(format!("{} (1).jpeg", "é".repeat(123))));
        std::fs::write(&alt, "x").unwrap();
        assert_eq!(
            free_path(d, &name),
            d.join(format!("{} (2).jpeg", "é".repeat(123)))
        );
    }

    #[cfg(unix)]
    #[test]
    fn dangling_symlink_counts_as_taken() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::os::unix::fs::symlink(d.join("nowhere"), d.join("a.txt")).unwrap();
        assert_eq!(free_path(d, "a.txt"), d.join("a (1).txt"));
        let (_, path) = create_unique(d, "a.txt").unwrap();
        assert_eq!(path, d.join("a (1).txt"));
        assert!(!d.join("nowhere").exists());
    }

    #[test]
    fn create_unique_never_overwrites() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.txt"), "original").unwrap();

        let (mut f1, p1) = create_unique(d, "a.txt").unwrap();
        f1.write_all(b"one").unwrap();
        let (mut f2, p2) = create_unique(d, "a.txt").unwrap();
        f2.write_all(b"two").unwrap();
        drop((f1, f2));

        assert_eq!(p1, d.join("a (1).txt"));
        assert_eq!(p2, d.join("a (2).txt"));
        assert_eq!(
            std::fs::read_to_string(d.join("a.txt")).unwrap(),
            "original"
        );
        assert_eq!(std::fs::read_to_string(&p1).unwrap(), "one");
        assert_eq!(std::fs::read_to_string(&p2).unwrap(), "two");

        let (_, p) = create_unique(d, "..\\CON").unwrap();
        assert_eq!(p, d.join("_CON"));
    }

    #[test]
    fn create_unique_skips_a_name_taken_by_a_race() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // free_path_from is what create_unique retries with: after losing `a.txt` to a race it
        // starts at 1 even if `a.txt` were to vanish again.
        std::fs::write(d.join("a.txt"), "x").unwrap();
        let (path, n) = free_path_from(d, "a.txt", 0);
        assert_eq!((path, n), (d.join("a (1).txt"), 1));
        std::fs::remove_file(d.join("a.txt")).unwrap();
        assert_eq!(free_path_from(d, "a.txt", 2).0, d.join("a (2).txt"));
    }

    #[test]
    fn create_unique_reports_a_missing_folder() {
        let dir = tempfile::tempdir().unwrap();
        let err = create_unique(&dir.path().join("missing"), "a.txt").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn open_new_refuses_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        std::fs::write(&p, "original").unwrap();
        assert_eq!(
            open_new(&p).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "original");
    }

    #[test]
    fn many_concurrent_creators_get_distinct_files() {
        const THREADS: usize = 8;
        const EACH: usize = 40;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_owned();
        let start = std::sync::Arc::new(std::sync::Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (d, start) = (d.clone(), start.clone());
                std::thread::spawn(move || {
                    use std::io::Write;
                    start.wait();
                    (0..EACH)
                        .map(|i| {
                            let (mut f, p) = create_unique(&d, "same.bin").unwrap();
                            f.write_all(format!("{t}/{i}").as_bytes()).unwrap();
                            (format!("{t}/{i}"), p)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut paths = std::collections::HashSet::new();
        for h in handles {
            for (content, p) in h.join().unwrap() {
                assert_eq!(
                    std::fs::read_to_string(&p).unwrap(),
                    content,
                    "{p:?} overwritten"
                );
                assert!(paths.insert(p));
            }
        }
        assert_eq!(paths.len(), THREADS * EACH);
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), THREADS * EACH);
    }
}
