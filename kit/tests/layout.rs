//! The kit's modules: no import cycle between them (a module's own submodules excepted: a
//! parent composing its parts is not a cycle), and each layer imports only from the layers below
//! it (the order `lib.rs`'s Layout states), so each can be read, tested and replaced on its own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

#[test]
fn no_module_of_src_imports_from_one_that_imports_back() {
    let modules = modules();
    let graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = modules
        .iter()
        .map(|(path, file)| (path.clone(), uses(path, file, &modules)))
        .collect();
    // Depth-first search for a back edge; the first cycle found is reported whole.
    fn visit(
        node: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        state.insert(node.clone(), 1);
        stack.push(node.clone());
        for next in &graph[node] {
            match state.get(next) {
                Some(1) => {
                    let from = stack.iter().position(|n| n == next).unwrap();
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(next, graph, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if !state.contains_key(node) {
            if let Some(cycle) = visit(node, &graph, &mut state, &mut Vec::new()) {
                let shown: Vec<String> = cycle.iter().map(|m| display(m)).collect();
                panic!("import cycle: {}", shown.join(" → "));
            }
        }
    }
    // The checker sees real edges (a test that cannot fail is no test).
    let handler = vec!["handler".to_string()];
    assert!(
        graph[&handler].contains(&vec!["operation".to_string()]),
        "{:?}",
        graph[&handler]
    );
}

/// The kit's layers, lowest first (`lib.rs`'s Layout): a module may import from its own layer
/// and those below it, never from one above. The crate root (`lib.rs`: re-exports only) sits
/// on top.
const LAYERS: &[&[&str]] = &[
    &["error", "key", "secret", "deadline", "logging", "executor"],
    &["event"],
    &["memory"],
    &["config"],
    &["kms"],
    &["envelope", "secrets"],
    &["operation", "reply"],
    &["handler"],
    &["function"],
    &["tools", "testing", "debug_tests"],
];

/// The layer of `module` (by its first path segment); the crate root is above every layer.
fn layer(module: &[String]) -> usize {
    match module.first() {
        None => LAYERS.len(),
        Some(top) => LAYERS
            .iter()
            .position(|l| l.contains(&top.as_str()))
            .unwrap_or_else(|| {
                panic!("module {top} is in no layer of LAYERS: add it where it belongs")
            }),
    }
}

#[test]
fn each_layer_imports_only_from_the_layers_below_it() {
    let modules = modules();
    let mut upward = Vec::new();
    for (path, file) in &modules {
        for target in uses(path, file, &modules) {
            // The crate root holds re-exports only; one of another module's item is followed to
            // that module by `uses`, so what is left at the root is an external crate's.
            if !target.is_empty() && layer(&target) > layer(path) {
                upward.push(format!(
                    "{} (layer {}) imports {} (layer {})",
                    display(path),
                    layer(path) + 1,
                    display(&target),
                    layer(&target) + 1
                ));
            }
        }
    }
    assert!(upward.is_empty(), "imports upwards: {upward:#?}");
    // The checker sees real edges, and would name an upward one (a test that cannot fail is no
    // test): the handler imports the operations below it, and nothing below imports it.
    let handler = vec!["handler".to_string()];
    let seen = uses(&handler, &modules[&handler], &modules);
    assert!(seen.contains(&vec!["operation".to_string()]), "{seen:?}");
    assert!(layer(&["config".into()]) < layer(&["kms".into()]));
    let config = vec!["config".to_string()];
    for upside_down in ["use crate::handler::App;", "use crate::Function;"] {
        assert!(
            uses(&config, upside_down, &modules)
                .iter()
                .any(|t| !t.is_empty() && layer(t) > layer(&config)),
            "{upside_down}"
        );
    }
}

fn display(module: &[String]) -> String {
    if module.is_empty() {
        "crate".into()
    } else {
        module.join("::")
    }
}

/// Every module file under `src/` (but `main.rs`), by module path, with its text.
fn modules() -> BTreeMap<Vec<String>, String> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<Vec<String>, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path: PathBuf = entry.unwrap().path();
            let stem = path.file_stem().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                let mut p = prefix.to_vec();
                p.push(stem);
                walk(&path, &p, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let mut p = prefix.to_vec();
                match stem.as_str() {
                    "main" if prefix.is_empty() => continue,
                    "lib" | "mod" => {}
                    _ => p.push(stem),
                }
                out.insert(p, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(Path::new(SRC), &[], &mut out);
    out
}

/// The modules `file` (module `me`) refers to: every `crate::`, `super::` and `self::` path and
/// `use` tree, resolved to the deepest module file it names, re-exports followed one step.
/// References to `me` itself and to its own submodules are left out.
fn uses(
    me: &[String],
    file: &str,
    modules: &BTreeMap<Vec<String>, String>,
) -> BTreeSet<Vec<String>> {
    let tokens = tokens(file);
    let mut out = BTreeSet::new();
    // Inline modules (`mod tests { … }`) shift what `super` means inside them.
    let mut inline: Vec<usize> = Vec::new(); // brace depth at which each inline module opened
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        match tokens[i].as_str() {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if inline.last() == Some(&depth) {
                    inline.pop();
                }
            }
            // A unit-test module (`#[cfg(test)] mod tests { … }`) may use the kit's test support,
            // which uses what it tests: that is no cycle of the kit's design. Skipped whole.
            "mod"
                if tokens.get(i + 2).map(String::as_str) == Some("{")
                    && i >= 7
                    && tokens[i - 7..i].join("") == "#[cfg(test)]" =>
            {
                let mut nested = 0usize;
                i += 2;
                while i < tokens.len() {
                    match tokens[i].as_str() {
                        "{" => nested += 1,
                        "}" => {
                            nested -= 1;
                            if nested == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            "mod" if tokens.get(i + 2).map(String::as_str) == Some("{") => {
                inline.push(depth);
            }
            "crate" | "$crate" | "super" | "self"
                if tokens.get(i + 1).map(String::as_str) == Some("::") =>
            {
                let mut base: Vec<String> = me.to_vec();
                let mut levels = inline.len();
                let mut j = i;
                loop {
                    match tokens[j].as_str() {
                        "crate" | "$crate" => base.clear(),
                        "super" if levels > 0 => levels -= 1,
                        "super" => {
                            base.pop();
                        }
                        "self" => {}
                        _ => break,
                    }
                    if tokens.get(j + 1).map(String::as_str) != Some("::") {
                        break;
                    }
                    j += 2;
                }
                let (paths, end) = tree(&tokens, j);
                for p in paths {
                    let mut full = base.clone();
                    full.extend(p);
                    let target = resolve(&full, modules);
                    if target.as_slice() != me && !target.starts_with(me) {
                        out.insert(target);
                    }
                }
                i = end.max(i + 1);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The paths of a `use` tree (or a plain path) starting at token `at`: `a::b`, `a::{b, c::d}`.
fn tree(tokens: &[String], at: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    let mut i = at;
    while let Some(t) = tokens.get(i) {
        if t == "{" {
            let mut out = Vec::new();
            i += 1;
            while i < tokens.len() && tokens[i] != "}" {
                if tokens[i] == "," {
                    i += 1;
                    continue;
                }
                let (inner, end) = tree(tokens, i);
                for p in inner {
                    let mut full = prefix.clone();
                    full.extend(p.into_iter().filter(|s| s != "self"));
                    out.push(full);
                }
                i = end;
            }
            return (out, i + 1);
        }
        if !t.chars().all(|c| c.is_alphanumeric() || c == '_') {
            break;
        }
        prefix.push(t.clone());
        if tokens.get(i + 1).map(String::as_str) != Some("::") {
            i += 1;
            break;
        }
        i += 2;
    }
    (vec![prefix], i)
}

/// The deepest module file a path names; a name a module re-exports (`pub use x::Name`) leads
/// to the module it comes from.
fn resolve(path: &[String], modules: &BTreeMap<Vec<String>, String>) -> Vec<String> {
    let mut n = path.len();
    while n > 0 && !modules.contains_key(&path[..n]) {
        n -= 1;
    }
    let module = path[..n].to_vec();
    if let Some(name) = path.get(n) {
        for (from, names) in reexports(&modules[&module]) {
            if names.iter().any(|x| x == name) {
                let mut full = module.clone();
                full.extend(from);
                let target = resolve(&full, modules);
                if target != module {
                    return target;
                }
            }
        }
    }
    module
}

/// `pub use a::b::{C, D};` → (["a", "b"], ["C", "D"]), for each such line.
fn reexports(file: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let tokens = tokens(file);
    let mut out = Vec::new();
    for i in 0..tokens.len() {
        let public = tokens[i] == "pub"
            && (tokens.get(i + 1).map(String::as_str) == Some("use")
                || tokens.get(i + 4).map(String::as_str) == Some("use"));
        if !public {
            continue;
        }
        let start = tokens[i..].iter().position(|t| t == "use").unwrap() + i + 1;
        let (paths, _) = tree(&tokens, start);
        for p in paths {
            if let Some((name, from)) = p.split_last() {
                out.push((from.to_vec(), vec![name.clone()]));
            }
        }
    }
    out
}

/// Rust source as tokens: identifiers (with `$crate`), `::` and single punctuation; comments,
/// strings and character literals dropped.
fn tokens(src: &str) -> Vec<String> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if src[i..].starts_with("//") {
            i += src[i..].find('\n').unwrap_or(src.len() - i);
        } else if src[i..].starts_with("/*") {
            let mut nest = 0;
            while i < b.len() {
                if src[i..].starts_with("/*") {
                    nest += 1;
                    i += 2;
                } else if src[i..].starts_with("*/") {
                    nest -= 1;
                    i += 2;
                    if nest == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == b'"' || ((c == b'r' || c == b'b') && is_string_start(&src[i..])) {
            i = skip_string(src, i);
        } else if c == b'\'' {
            // A character literal ('a', '\n', '\u{7f}') or a lifetime ('a).
            let rest = &src[i + 1..];
            let close = if let Some(escaped) = rest.strip_prefix('\\') {
                escaped.find('\'').map(|p| p + 2)
            } else {
                rest.chars()
                    .next()
                    .filter(|ch| rest[ch.len_utf8()..].starts_with('\''))
                    .map(|ch| ch.len_utf8() + 1)
            };
            i += 1 + close.unwrap_or(0);
        } else if c == b'$' || c == b'_' || c.is_ascii_alphabetic() {
            let start = i;
            i += 1;
            while i < b.len() && (b[i] == b'_' || b[i].is_ascii_alphanumeric()) {
                i += 1;
            }
            out.push(src[start..i].to_string());
        } else if src[i..].starts_with("::") {
            out.push("::".into());
            i += 2;
        } else if c.is_ascii_whitespace() {
            i += 1;
        } else {
            out.push((c as char).to_string());
            i += 1;
        }
    }
    out
}

fn is_string_start(s: &str) -> bool {
    s.starts_with("r\"")
        || s.starts_with("r#")
        || s.starts_with("b\"")
        || s.starts_with("br\"")
        || s.starts_with("br#")
}

/// The index just past the string literal starting at `i` (plain, raw, byte).
fn skip_string(src: &str, mut i: usize) -> usize {
    let b = src.as_bytes();
    if b[i] == b'b' {
        i += 1;
    }
    if b[i] == b'r' {
        i += 1;
        let hashes = src[i..].bytes().take_while(|c| *c == b'#').count();
        i += hashes + 1; // the hashes and the opening quote
        let close = format!("\"{}", "#".repeat(hashes));
        return i + src[i..]
            .find(&close)
            .map_or(src.len() - i, |p| p + close.len());
    }
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

#[test]
fn the_tokenizer_sees_paths_and_not_what_strings_and_comments_say() {
    let src = r##"
        use crate::kit::{error::Error, kms::{call::Kms, skew}};
        // use crate::ops::Nope;
        let s = "crate::ops::Nope"; let r = r#"crate::ops::Nope"#; let c = '"';
        fn f<'a>(x: &'a str) -> &'a str { super::super::thing::f(x) }
    "##;
    let modules: BTreeMap<Vec<String>, String> = [
        vec![],
        vec!["kit".into()],
        vec!["kit".into(), "error".into()],
        vec!["kit".into(), "kms".into()],
        vec!["kit".into(), "kms".into(), "call".into()],
        vec!["kit".into(), "kms".into(), "skew".into()],
        vec!["ops".into()],
        vec!["thing".into()],
    ]
    .into_iter()
    .map(|m| (m, String::new()))
    .collect();
    let me = vec!["a".to_string(), "b".to_string()];
    let found: Vec<String> = uses(&me, src, &modules)
        .iter()
        .map(|m| display(m))
        .collect();
    assert_eq!(
        found,
        ["kit::error", "kit::kms::call", "kit::kms::skew", "thing"]
    );
}
