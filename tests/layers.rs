//! Imports run one way, from the wire up to the front ends (issue 16):
//! `protocol` ← `store` ← `net` (and `discovery`) ← `files` ← `bridge` (the contract types)
//! ← `runtime` ← the front ends (`app`, `headless`). This reads every module's source and
//! fails on an import that runs back down that list, so a circle cannot creep in unnoticed.
//!
//! An old import that still runs back up would be listed in `STILL_UP` with why (none is now),
//! and the test fails when one of them is gone too (take it off the list) as well as on a new
//! one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Everything the runtime stands on.
const BELOW_RUNTIME: [&str; 7] = [
    "protocol",
    "store",
    "net",
    "discovery",
    "files",
    "bridge",
    "desktop",
];

/// What each top-level module may import from the crate besides itself (and `units`).
fn allowed(module: &str) -> Vec<&'static str> {
    let below: &[&str] = match module {
        "protocol" | "units" => &[],
        "store" => &["protocol"],
        "net" => &["protocol", "store"],
        "discovery" => &["protocol", "net"],
        "files" => &["protocol", "store", "net"],
        "bridge" => &["protocol", "store", "net", "discovery", "files"],
        "desktop" => &["protocol", "bridge"],
        "runtime" => &BELOW_RUNTIME,
        "instance" => &["store", "bridge"],
        // Everything the runtime stands on, the runtime itself and the profile's lock.
        "headless" | "app" => return [&BELOW_RUNTIME[..], &["runtime", "instance"]].concat(),
        other => panic!("src/{other}: a new top-level module; give it its place in `allowed`"),
    };
    below.to_vec()
}

/// Imports that still run back up, by file and module imported, and why they are still here.
const STILL_UP: &[(&str, &str, &str)] = &[];

/// The top-level modules each source file of `src/` names as `crate::…`, outside comments
/// and test modules.
fn imports(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut found = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let mut names = BTreeSet::new();
            for line in code.lines() {
                let line = line.trim_start();
                if line.starts_with("//") {
                    continue;
                }
                names.extend(crate_paths(line));
            }
            let file = path
                .strip_prefix(src)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            found.insert(file, names);
        }
    }
    found
}

/// The first segment of each `crate::…` path on a line, `use crate::{a::…, b}` included.
fn crate_paths(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in line.match_indices("crate::") {
        let rest = &line[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = group.split('}').next().unwrap_or_default();
            for item in group.split(',') {
                out.extend(first_segment(item.trim()));
            }
        } else {
            out.extend(first_segment(rest));
        }
    }
    out
}

fn first_segment(path: &str) -> Option<String> {
    let name: String = path
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The top-level module a file of `src/` belongs to.
fn module_of(file: &str) -> Option<String> {
    let first = file.split(['/', '\\']).next()?;
    let module = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(module, "lib" | "main")).then(|| module.to_owned())
}

#[test]
fn imports_run_one_way_from_the_wire_up_to_the_front_ends() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut up = BTreeSet::new();
    for (file, names) in imports(&src) {
        let Some(module) = module_of(&file) else {
            continue;
        };
        for name in names {
            // `units` is below everything.
            let allowed =
                name == module || name == "units" || allowed(&module).contains(&name.as_str());
            if !allowed {
                up.insert((file.replace('\\', "/"), name));
            }
        }
    }
    let listed: BTreeSet<(String, String)> = STILL_UP
        .iter()
        .map(|(file, name, _)| (file.to_string(), name.to_string()))
        .collect();
    let new: Vec<_> = up.difference(&listed).collect();
    assert!(new.is_empty(), "imports running back up: {new:?}");
    let gone: Vec<_> = listed.difference(&up).collect();
    assert!(
        gone.is_empty(),
        "no longer imported, take off `STILL_UP`: {gone:?}"
    );
}

#[test]
fn the_import_reader_sees_grouped_and_plain_paths() {
    assert_eq!(
        crate_paths("use crate::{net::link, files::FileStore};"),
        ["net", "files"]
    );
    assert_eq!(
        crate_paths("let x = crate::protocol::now_ms();"),
        ["protocol"]
    );
    assert_eq!(module_of("net/host/room/mod.rs").as_deref(), Some("net"));
    assert_eq!(module_of("runtime.rs").as_deref(), Some("runtime"));
}
