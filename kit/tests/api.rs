//! The kit's public API is the reviewed list in `API`: every item `src/lib.rs` makes public is
//! listed there, and nothing else, so that a change to the kit's promises is a visible diff of
//! that file. (`make test` also holds rustdoc's own list of items to it.)

use std::collections::BTreeSet;

const LIB: &str = include_str!("../src/lib.rs");
const API: &str = include_str!("../API");

/// The kind of each item the crate root re-exports, from the module that defines it.
fn kind_of(name: &str, module: &str) -> String {
    let path = format!(
        "{}/src/{}",
        env!("CARGO_MANIFEST_DIR"),
        module.replace("::", "/")
    );
    let text = std::fs::read_to_string(format!("{path}.rs"))
        .or_else(|_| std::fs::read_to_string(format!("{path}/mod.rs")))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    for kind in ["struct", "enum", "trait", "fn", "const", "type", "static"] {
        if text.contains(&format!("pub {kind} {name}"))
            || text.contains(&format!("pub const {kind} {name}"))
        {
            return match kind {
                "const" => "constant".into(),
                k => k.into(),
            };
        }
        if kind == "fn" && text.contains(&format!("pub async fn {name}")) {
            return "fn".into();
        }
    }
    panic!("{name}: no item of that name in {module}")
}

/// What `src/lib.rs` makes public: its `pub use` lines (not those of `__private`, which is no
/// promise, nor re-exported crates), its `pub mod` lines (with their feature), and the macros
/// the crate exports.
fn public_items() -> BTreeSet<String> {
    let mut items = BTreeSet::new();
    let root = LIB.split("pub mod __private").next().unwrap();
    let mut feature = None;
    for line in root.lines().map(str::trim) {
        if let Some(f) = line.strip_prefix("#[cfg(feature = \"") {
            feature = f.split('"').next().map(str::to_string);
            continue;
        }
        if let Some(rest) = line.strip_prefix("pub mod ") {
            let name = rest.trim_end_matches(';');
            let feature = feature.take().expect("a public module only with a feature");
            items.insert(format!("mod {name} (feature {feature})"));
            continue;
        }
        if line.starts_with("#[cfg(") {
            // `#[cfg(any(test, feature = "testing"))]` and the like.
            feature = line
                .split("feature = \"")
                .nth(1)
                .and_then(|f| f.split('"').next())
                .map(str::to_string);
            continue;
        }
        feature = None;
        let Some(rest) = line.strip_prefix("pub use ") else {
            continue;
        };
        let rest = rest.trim_end_matches(';');
        let (module, names) = match rest.split_once("::{") {
            Some((m, names)) => (
                m.to_string(),
                names
                    .trim_end_matches('}')
                    .split(',')
                    .map(|n| n.trim().to_string())
                    .collect::<Vec<_>>(),
            ),
            None => match rest.rsplit_once("::") {
                Some((m, n)) => (m.to_string(), vec![n.to_string()]),
                // A crate re-exported whole (`pub use aws_sdk_kms;`): its own API, not the kit's.
                None => continue,
            },
        };
        for name in names.into_iter().filter(|n| !n.is_empty()) {
            items.insert(format!("{} {name}", kind_of(&name, &module)));
        }
    }
    walk(
        &format!("{}/src", env!("CARGO_MANIFEST_DIR")),
        &mut |path, text| {
            // The features' modules' macros come with their feature.
            let feature = ["testing", "tools"].into_iter().find(|f| {
                path.contains(&format!("/src/{f}/")) || path.ends_with(&format!("/src/{f}.rs"))
            });
            let mut lines = text.lines().map(str::trim);
            while let Some(line) = lines.next() {
                if line == "#[macro_export]" {
                    let def = lines.next().unwrap_or_default();
                    if let Some(name) = def.strip_prefix("macro_rules! ") {
                        let name = name.trim_end_matches(" {");
                        items.insert(match feature {
                            Some(f) => format!("macro {name} (feature {f})"),
                            None => format!("macro {name}"),
                        });
                    }
                }
            }
        },
    );
    items
}

fn walk(dir: &str, f: &mut impl FnMut(&str, &str)) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path.display().to_string(), f);
        } else if path.extension().is_some_and(|e| e == "rs") {
            f(
                &path.display().to_string(),
                &std::fs::read_to_string(&path).unwrap(),
            );
        }
    }
}

fn listed() -> BTreeSet<String> {
    API.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_public_api_is_the_reviewed_list() {
    let (public, listed) = (public_items(), listed());
    let unlisted: Vec<_> = public.difference(&listed).collect();
    let gone: Vec<_> = listed.difference(&public).collect();
    assert!(
        unlisted.is_empty() && gone.is_empty(),
        "src/lib.rs makes public what API does not list: {unlisted:?}; API lists what is no \
         longer public: {gone:?}. A change of the public API is a change of the kit's promises: \
         make it in both, on purpose"
    );
    // The reading sees the real surface (a test that cannot fail is no test).
    assert!(
        public.contains("trait Operation") && public.contains("macro keys"),
        "{public:?}"
    );
    assert!(
        public.len() <= 40,
        "{} public items: the kit promises at most 40",
        public.len()
    );
}
