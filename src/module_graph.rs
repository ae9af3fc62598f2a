//! Imports point one way: the modules directly under `src/` (each a file or a folder, the
//! crate root aside) and the `crate::` paths between them form a graph without a circle. A
//! module's own files may refer to each other (a `mod.rs` re-exporting its children, a child
//! using its parent's error type); between modules, a circle means neither can be understood,
//! tested or moved without the other.
//!
//! The graph is read from the source text: every `crate::a` path outside comments and string
//! literals (in `use` lines or inline, `crate::{a, b::C}` groups too) is an edge from the file's
//! module to `a`. A name the crate root re-exports (`crate::App`) counts as its module; any
//! other item of the root is the root itself, which depends on every module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What an edge was first seen at: `src/file.rs:line`.
type Witnesses = BTreeMap<(String, String), String>;

const ROOT: &str = "(crate root)";

/// `source` without comments, string and character literals, line breaks kept.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('#') || next == Some('"')) && !ident_char(chars.get(i.wrapping_sub(1))) {
            let hashes = chars[i + 1..].iter().take_while(|&&c| c == '#').count();
            if chars.get(i + 1 + hashes) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            i += 2 + hashes;
            while i < chars.len() {
                if chars[i] == '"' && chars[i + 1..].iter().take(hashes).filter(|&&c| c == '#').count() == hashes {
                    i += 1 + hashes;
                    break;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                if let Some(&c) = chars.get(i) {
                    out.push(blank(c));
                }
                i += 1;
            }
            i += 1;
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A character literal ('x', '\n', '\u{1b}'), not a lifetime.
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_char(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// The first segment of every `crate::` path in `code` (comments and literals removed), with
/// its line number.
fn crate_paths(code: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        if ident_char(code[..at].chars().next_back().as_ref()) {
            continue;
        }
        let line = code[..at].matches('\n').count() + 1;
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The first name of each item of the group, at its top level.
            let mut depth = 0;
            let mut item_start = true;
            let mut name = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && depth == 0 && (c.is_alphanumeric() || c == '_') => name.push(c),
                    _ if item_start && !name.is_empty() => {
                        found.push((std::mem::take(&mut name), line));
                        item_start = false;
                    }
                    _ => {}
                }
            }
            if !name.is_empty() {
                found.push((name, line));
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                found.push((name, line));
            }
        }
    }
    found
}

/// The names `lib.rs` re-exports, each with the module it comes from (`pub use m::{A, B};`).
fn re_exports(lib: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for statement in lib.split(';') {
        let Some(path) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, items)) = path.split_once("::") else {
            continue;
        };
        for item in items.trim_matches(|c| c == '{' || c == '}').split(',') {
            let name = item.rsplit(" as ").next().unwrap_or(item).trim();
            let name = name.rsplit("::").next().unwrap_or(name);
            names.insert(name.to_owned(), module.trim().to_owned());
        }
    }
    names
}

/// The module graph of the crate in `src`: each module's edges, and where each was seen.
fn module_graph(src: &Path) -> (BTreeMap<String, BTreeSet<String>>, Witnesses) {
    let mut modules = BTreeSet::new();
    for entry in std::fs::read_dir(src).expect("src/ is readable").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() {
            modules.insert(name);
        } else if let Some(stem) = name.strip_suffix(".rs")
            && stem != "lib"
            && stem != "main"
        {
            modules.insert(stem.to_owned());
        }
    }
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("src/lib.rs");
    let re_exported = re_exports(&code_only(&lib));
    let mut graph: BTreeMap<String, BTreeSet<String>> = modules.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    graph.insert(ROOT.to_owned(), modules.clone());
    let mut witnesses = Witnesses::new();
    let mut files = vec![src.to_path_buf()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).expect("readable folder").flatten().map(|e| e.path()));
            continue;
        }
        let relative = path.strip_prefix(src).expect("under src");
        let Some(from) = relative.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned()) else {
            continue;
        };
        let from = from.strip_suffix(".rs").unwrap_or(&from).to_owned();
        if path.extension().is_none_or(|e| e != "rs") || !modules.contains(&from) {
            continue;
        }
        let source = std::fs::read_to_string(&path).expect("readable source");
        for (name, line) in crate_paths(&code_only(&source)) {
            let to = if modules.contains(&name) {
                name
            } else {
                re_exported.get(&name).cloned().unwrap_or_else(|| ROOT.to_owned())
            };
            if to == from {
                continue;
            }
            witnesses.entry((from.clone(), to.clone())).or_insert_with(|| format!("src/{}:{line}", relative.display()));
            graph.entry(from.clone()).or_default().insert(to);
        }
    }
    (graph, witnesses)
}

/// Every circle the graph has, one per knot of modules that reach each other, each as the
/// modules along it (the first again at the end).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let mut circles = Vec::new();
    let mut in_a_circle = BTreeSet::new();
    for start in graph.keys() {
        if in_a_circle.contains(start) {
            continue;
        }
        // The shortest way back to `start`, breadth first.
        let mut came_from: BTreeMap<&String, &String> = BTreeMap::new();
        let mut frontier = vec![start];
        let mut back = None;
        while back.is_none() && !frontier.is_empty() {
            let mut next = Vec::new();
            for node in frontier {
                for to in graph.get(node).into_iter().flatten() {
                    if to == start {
                        back = Some(node);
                        break;
                    }
                    if !came_from.contains_key(to) {
                        came_from.insert(to, node);
                        next.push(to);
                    }
                }
                if back.is_some() {
                    break;
                }
            }
            frontier = next;
        }
        let Some(mut node) = back else {
            continue;
        };
        let mut way = Vec::new();
        while node != start {
            way.push(node.clone());
            node = came_from[node];
        }
        way.reverse();
        let circle: Vec<String> = std::iter::once(start.clone()).chain(way).chain([start.clone()]).collect();
        in_a_circle.extend(circle.iter().cloned());
        circles.push(circle);
    }
    circles
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let (graph, witnesses) = module_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(graph.len() > 10 && graph.values().map(BTreeSet::len).sum::<usize>() > 20, "{graph:?}");
    let found = circles(&graph);
    let shown: Vec<String> = found
        .iter()
        .map(|circle| {
            let steps: Vec<String> = circle
                .windows(2)
                .map(|step| {
                    let at = witnesses.get(&(step[0].clone(), step[1].clone())).map_or("", String::as_str);
                    format!("{} -> {} ({at})", step[0], step[1])
                })
                .collect();
            steps.join(", ")
        })
        .collect();
    assert!(found.is_empty(), "import circles between modules:\n{}", shown.join("\n"));
}

#[test]
fn paths_are_found_in_code_only() {
    let code = code_only(
        "use crate::{a::B, c};\n// crate::d\nlet s = \"crate::e\"; let r = r#\"crate::f\"#;\n\
         fn g<'x>(c: char) { let _ = ('\"', crate::h::i()); }\n/* crate::j */ pub(crate) use crate::k as l;",
    );
    let names: Vec<(String, usize)> = crate_paths(&code);
    let expected = [("a", 1), ("c", 1), ("h", 4), ("k", 5)].map(|(n, l)| (n.to_owned(), l));
    assert_eq!(names, expected);
}

#[test]
fn a_circle_is_found_and_named() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("config", &["access_log"][..]),
        ("access_log", &["state"]),
        ("state", &["service", "config"]),
        ("service", &["traffic"]),
        ("traffic", &["service"]),
        ("domain", &[]),
    ]
    .into_iter()
    .map(|(from, to)| (from.to_owned(), to.iter().map(|t| (*t).to_owned()).collect()))
    .collect();
    let found = circles(&graph);
    assert_eq!(
        found,
        vec![
            vec!["access_log", "state", "config", "access_log"].into_iter().map(String::from).collect::<Vec<_>>(),
            vec!["service", "traffic", "service"].into_iter().map(String::from).collect(),
        ]
    );
    let acyclic: BTreeMap<String, BTreeSet<String>> =
        [("a".to_owned(), BTreeSet::from(["b".to_owned()])), ("b".to_owned(), BTreeSet::new())].into();
    assert!(circles(&acyclic).is_empty());
}
