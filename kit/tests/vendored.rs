//! kit/ is the kit as it shipped: each file's SHA-256 is the one `MANIFEST` lists (the format of
//! `sha256sum`, so `cd kit && sha256sum -c MANIFEST` — `shasum -a 256 -c MANIFEST` on macOS —
//! says the same), and no file is missing or added. A function project keeps its vendored kit
//! as it is, so that the next version can replace it whole (`make kit-update`); an edit made
//! here would be lost then, or would keep the project from taking fixes.

use aws_lc_rs::digest::{digest, SHA256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const KIT: &str = env!("CARGO_MANIFEST_DIR");
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every file under `dir`, relative to it, `/`-separated.
fn files(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let relative = format!("{prefix}{name}");
        if path.is_dir() {
            // Python's bytecode caches are the tools' own, not the kit's.
            if name != "__pycache__" {
                files(&path, &format!("{relative}/"), out);
            }
        } else if relative != "MANIFEST" {
            out.push(relative);
        }
    }
}

#[test]
fn kit_is_the_kit_as_it_shipped() {
    let manifest = std::fs::read_to_string(Path::new(KIT).join("MANIFEST")).expect("kit/MANIFEST");
    let listed: BTreeMap<String, String> = manifest
        .lines()
        .filter_map(|line| line.split_once("  "))
        .map(|(sum, file)| (file.to_string(), sum.to_string()))
        .collect();
    assert!(
        listed.contains_key("src/lib.rs"),
        "kit/MANIFEST lists no src/lib.rs: it is not a list of the kit's files"
    );
    let mut present = Vec::new();
    files(Path::new(KIT), "", &mut present);
    let mut problems = Vec::new();
    for file in &present {
        let bytes = std::fs::read(Path::new(KIT).join(file)).expect("a kit file");
        match listed.get(file) {
            None => problems.push(format!("kit/{file} was added")),
            Some(sum) if *sum != hex(digest(&SHA256, &bytes).as_ref()) => {
                problems.push(format!("kit/{file} was edited"))
            }
            Some(_) => {}
        }
    }
    for file in listed.keys().filter(|f| !present.contains(f)) {
        problems.push(format!("kit/{file} was removed"));
    }
    assert!(
        problems.is_empty(),
        "kit/ is not kms-lambda-kit {VERSION} as it shipped (kit/MANIFEST):\n  {}\n\n\
         The kit is kept as shipped, so that a new version can replace it whole.\n\
         - In a function project: undo the change — {} To take another version: `make \
         kit-update FROM=<kms-lambda checkout, or the template's zip or its URL>`. A change the \
         kit needs belongs in kms-lambda, where its tests run.\n\
         - In kms-lambda itself: after changing the kit, `make kit-manifest` (and a line in \
         kit/CHANGELOG.md).",
        problems.join("\n  "),
        undo()
    );
}

/// How to undo an edit of kit/ in this project: git, if git has the kit to restore from; else
/// the same kit taken again (a copy made with `cargo lambda new` and `git init` was never
/// committed, and `git checkout -- kit/` would fail: "pathspec 'kit/' did not match").
fn undo() -> String {
    let committed = std::process::Command::new("git")
        .args(["ls-files", "--error-unmatch", "MANIFEST"])
        .current_dir(KIT)
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if committed {
        "`git checkout -- kit/ && git clean -fd kit/` (git holds the kit as committed).".into()
    } else {
        format!(
            "git holds no kit to restore (this project was never committed): take kit {VERSION} \
             again, `make kit-update FROM=<the kms-lambda checkout or template zip (or its URL) \
             the project was made from>`; then commit, so that git can undo the next edit."
        )
    }
}
