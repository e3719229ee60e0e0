//! The shape of `src/`, held by a test: the file-level import graph has no circle, and every
//! import between two top-level modules goes down the layers of `src/README.md` (core, the
//! seams the state holds, the state and the HTTP plumbing, the domains in their order, then
//! the worker, the pages and the assembly). A change that makes a domain call back into one
//! above it fails here, naming the import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path → rank; the longest matching prefix decides. A domain's `routes` sits half a step
/// above its domain (it may use `http::auth`, which sits on identity).
const LAYERS: &[(&str, u32)] = &[
    ("error", 0),
    ("money", 1),
    ("ids", 1),
    ("clock", 1),
    ("config", 1),
    ("validate", 10),
    ("telemetry", 10),
    ("db", 10),
    ("ctx", 10),
    ("outbox", 20),
    ("idempotency", 20),
    ("batches", 20),
    // The seams the state holds: leaves that import only the core.
    ("search::engine", 30),
    ("payments::gateway", 30),
    ("notify::mailer", 30),
    ("ops::metrics", 30),
    ("http::throttle", 30),
    ("state", 40),
    ("http", 50),
    ("worker::job", 50),
    ("worker::payloads", 50),
    // The domains, lowest first.
    ("identity", 100),
    ("http::auth", 102),
    ("regions", 120),
    ("catalog", 130),
    ("search", 140),
    ("accounting", 140),
    ("settlement", 145),
    ("live", 147),
    ("orders", 150),
    ("payments", 160),
    ("groupbuy", 170),
    ("notify", 180),
    ("dashboard", 190),
    ("workplace", 195),
    // What runs and assembles them.
    ("ops", 200),
    ("worker", 200),
    ("demo", 200),
    ("app", 210),
    ("server", 220),
];

type Module = Vec<String>;

fn name(m: &[String]) -> String {
    if m.is_empty() { "crate".into() } else { m.join("::") }
}

fn rank(m: &[String]) -> Option<u32> {
    let joined = name(m);
    let (prefix, base) = LAYERS
        .iter()
        .filter(|(p, _)| joined == *p || joined.starts_with(&format!("{p}::")))
        .max_by_key(|(p, _)| p.len())?;
    let routes = m.last().is_some_and(|l| l == "routes") && prefix.split("::").count() == 1;
    Some(base + if routes { 5 } else { 0 })
}

/// Source text without comments, string and char literals, and `#[cfg(test)]` modules.
fn code_of(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !(i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'))
        {
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            while j < chars.len() && !(chars[j] == '"' && (0..hashes).all(|h| chars.get(j + 1 + h) == Some(&'#'))) {
                j += 1;
            }
            i = j + 1 + hashes;
            out.push_str("\"\"");
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && next == Some('\\') {
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            i += 3;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    strip_test_modules(&out)
}

fn strip_test_modules(code: &str) -> String {
    let mut code = code.to_owned();
    while let Some(at) = code.find("#[cfg(test)]") {
        let rest = &code[at..];
        let Some(open) = rest.find('{') else { break };
        let is_module = rest[..open].split_whitespace().any(|w| w == "mod");
        let end = if is_module {
            let mut depth = 0;
            let mut end = rest.len();
            for (k, ch) in rest.char_indices().skip_while(|(k, _)| *k < open) {
                match ch {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = k + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            at + end
        } else {
            at + "#[cfg(test)]".len()
        };
        code.replace_range(at..end, "");
    }
    code
}

/// `a::{b, c::{d, e as f}}` as leaf paths, each with the name it binds.
fn use_leaves(tree: &str) -> Vec<(Vec<String>, String)> {
    fn split_top(s: &str) -> Vec<String> {
        let (mut parts, mut depth, mut cur) = (Vec::new(), 0, String::new());
        for ch in s.chars() {
            match ch {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(std::mem::take(&mut cur));
                    continue;
                }
                _ => {}
            }
            cur.push(ch);
        }
        parts.push(cur);
        parts.into_iter().map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect()
    }
    fn walk(prefix: Vec<String>, tree: &str, out: &mut Vec<(Vec<String>, String)>) {
        for item in split_top(tree) {
            if let Some(open) = item.find('{') {
                let head: Vec<String> =
                    item[..open].split("::").map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
                let inner = &item[open + 1..item.rfind('}').unwrap_or(item.len())];
                walk([prefix.clone(), head].concat(), inner, out);
            } else {
                let (path, alias) = match item.split_once(" as ") {
                    Some((p, a)) => (p.trim(), Some(a.trim().to_owned())),
                    None => (item.as_str(), None),
                };
                let mut segs = prefix.clone();
                segs.extend(path.split("::").map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned));
                let bound = alias.unwrap_or_else(|| segs.last().cloned().unwrap_or_default());
                if segs.last().is_some_and(|s| s == "self") {
                    segs.pop();
                }
                out.push((segs, bound));
            }
        }
    }
    let mut out = Vec::new();
    walk(Vec::new(), &tree.split_whitespace().collect::<Vec<_>>().join(" "), &mut out);
    out
}

struct Crate {
    modules: BTreeSet<Module>,
}

impl Crate {
    /// The module a path names, as far as it names one (`crate::orders::state::move_order` →
    /// `orders::state`); `None` for paths outside the crate.
    fn resolve(&self, from: &[String], segs: &[String]) -> Option<Module> {
        let (mut module, rest): (Module, &[String]) = match segs.first().map(String::as_str) {
            Some("crate") => (Vec::new(), &segs[1..]),
            Some("self") => (from.to_vec(), &segs[1..]),
            Some("super") => {
                let mut m = from.to_vec();
                let mut k = 0;
                while segs.get(k).map(String::as_str) == Some("super") {
                    m.pop();
                    k += 1;
                }
                (m, &segs[k..])
            }
            _ => return None,
        };
        for s in rest {
            let mut deeper = module.clone();
            deeper.push(s.clone());
            if self.modules.contains(&deeper) {
                module = deeper;
            } else {
                break;
            }
        }
        Some(module)
    }
}

fn modules_of(src: &Path) -> BTreeMap<Module, PathBuf> {
    fn visit(dir: &Path, src: &Path, out: &mut BTreeMap<Module, PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                visit(&path, src, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(src).expect("under src").with_extension("");
                let mut m: Module = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
                if m.last().is_some_and(|l| l == "mod") {
                    m.pop();
                }
                if m == ["main"] {
                    continue;
                }
                if m == ["lib"] {
                    m.clear();
                }
                out.insert(m, path);
            }
        }
    }
    let mut out = BTreeMap::new();
    visit(src, src, &mut out);
    out
}

/// Every file's imports of other files of the crate.
fn import_graph(src: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let files = modules_of(src);
    let krate = Crate { modules: files.keys().cloned().collect() };
    let mut graph = BTreeMap::new();
    for (module, path) in &files {
        let code = code_of(&std::fs::read_to_string(path).expect("source"));
        let mut targets = BTreeSet::new();
        let mut aliases: BTreeMap<String, Module> = BTreeMap::new();
        let mut rest = code.as_str();
        while let Some(at) = rest.find("use ") {
            let before = rest[..at].chars().last();
            rest = &rest[at + 4..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let Some(end) = rest.find(';') else { break };
            for (segs, bound) in use_leaves(&rest[..end]) {
                if let Some(target) = krate.resolve(module, &segs) {
                    if target.last() == segs.last() && !target.is_empty() {
                        aliases.insert(bound, target.clone());
                    }
                    targets.insert(target);
                }
            }
        }
        // Paths in the code itself: `crate::x::y`, `super::x`, and `alias::x` for imported modules.
        let words: Vec<&str> = code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).collect();
        for word in words {
            let segs: Vec<String> = word.split("::").filter(|s| !s.is_empty()).map(str::to_owned).collect();
            if segs.len() < 2 || word.starts_with(':') {
                continue;
            }
            let absolute = match aliases.get(&segs[0]) {
                Some(m) if !matches!(segs[0].as_str(), "crate" | "super" | "self") => {
                    [vec!["crate".to_owned()], m.clone(), segs[1..].to_vec()].concat()
                }
                _ => segs,
            };
            if let Some(target) = krate.resolve(module, &absolute) {
                targets.insert(target);
            }
        }
        targets.remove(module);
        targets.remove(&Vec::new());
        graph.insert(module.clone(), targets);
    }
    graph.insert(Vec::new(), BTreeSet::new());
    graph
}

/// The strongly connected components with more than one file (Tarjan).
fn circles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct State<'a> {
        graph: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        next: usize,
        found: Vec<Vec<Module>>,
    }
    fn connect<'a>(s: &mut State<'a>, v: &'a Module) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let Some((w, _)) = s.graph.get_key_value(w) else { continue };
            if !s.index.contains_key(w) {
                connect(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v) {
            connect(&mut s, v);
        }
    }
    s.found
}

fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    import_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
}

#[test]
fn the_import_graph_has_no_circle() {
    let graph = graph();
    assert!(graph.len() > 100, "only {} files read", graph.len());
    let edges: usize = graph.values().map(BTreeSet::len).sum();
    assert!(edges > 500, "only {edges} imports seen: the reader is broken");
    let found = circles(&graph);
    let shown: Vec<String> = found
        .iter()
        .map(|c| {
            let members: BTreeSet<&Module> = c.iter().collect();
            let inner: Vec<String> = c
                .iter()
                .flat_map(|m| {
                    graph[m].iter().filter(|t| members.contains(t)).map(move |t| format!("{} → {}", name(m), name(t)))
                })
                .collect();
            inner.join(", ")
        })
        .collect();
    assert!(found.is_empty(), "import circles:\n{}", shown.join("\n"));
}

#[test]
fn imports_between_modules_go_down_the_layers() {
    let mut wrong = Vec::new();
    for (from, targets) in &graph() {
        let Some(from_rank) = rank(from) else {
            assert!(from.is_empty(), "{} has no layer in LAYERS", name(from));
            continue;
        };
        for to in targets {
            if from.first() == to.first() {
                continue;
            }
            let to_rank = rank(to).unwrap_or_else(|| panic!("{} has no layer in LAYERS", name(to)));
            if to_rank >= from_rank {
                wrong.push(format!("{} ({from_rank}) imports {} ({to_rank})", name(from), name(to)));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layers:\n{}", wrong.join("\n"));
}

/// The reader itself: it sees a circle and an upward import when there is one.
#[test]
fn the_reader_sees_imports_aliases_and_circles() {
    let code = code_of(
        "use crate::orders::{self as o, state::Who};\n// use crate::nope;\nfn f() { let s = \"crate::x::y\"; o::place(); super::z::w(); }\n#[cfg(test)]\nmod tests { use crate::worker::registry; }",
    );
    assert!(!code.contains("nope") && !code.contains("crate::x") && !code.contains("registry"), "{code}");
    let leaves = use_leaves("crate::orders::{self as o, state::Who}");
    assert_eq!(
        leaves,
        vec![
            (vec!["crate".to_owned(), "orders".to_owned()], "o".to_owned()),
            (vec!["crate".into(), "orders".into(), "state".into(), "Who".into()], "Who".into())
        ]
    );
    let m = |s: &str| s.split("::").map(str::to_owned).collect::<Module>();
    let mut g = BTreeMap::new();
    g.insert(m("a::x"), BTreeSet::from([m("b")]));
    g.insert(m("b"), BTreeSet::from([m("a::x")]));
    g.insert(m("c"), BTreeSet::from([m("b")]));
    assert_eq!(circles(&g).len(), 1);
    assert_eq!(rank(&m("orders::routes")), Some(155));
    assert_eq!(rank(&m("search::engine")), Some(30));
}

/// The OpenAPI components of every `ToSchema` type with the name it is published under: its own,
/// or `#[schema(as = …)]`.
fn schema_names(src: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (module, path) in modules_of(src) {
        let text = std::fs::read_to_string(&path).expect("source readable");
        let mut derived = false;
        let mut alias: Option<String> = None;
        for line in text.lines().map(str::trim) {
            if line.starts_with("#[derive(") && line.contains("ToSchema") {
                derived = true;
                alias = None;
            } else if derived && line.starts_with("#[schema(as = ") {
                alias = line.trim_start_matches("#[schema(as = ").split(')').next().map(str::to_owned);
            } else if derived && !line.starts_with("#[") && !line.starts_with("///") {
                let words: Vec<&str> = line.split(|c: char| !c.is_alphanumeric() && c != '_').collect();
                if let Some(at) = words.iter().position(|w| *w == "struct" || *w == "enum") {
                    let own = words.get(at + 1).copied().unwrap_or_default().to_owned();
                    out.entry(alias.take().unwrap_or(own.clone()))
                        .or_default()
                        .push(format!("{}::{own}", name(&module)));
                }
                derived = false;
            }
        }
    }
    out
}

/// utoipa keys components by name: a second type of the same name silently replaces the first,
/// and the published document then describes one route's body with another's fields.
#[test]
fn every_schema_has_its_own_name() {
    let names = schema_names(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(names.len() > 80, "only {} schemas read: the reader is broken", names.len());
    assert!(names.contains_key("SettlementLineView") && names.contains_key("LineView"), "aliases not read");
    let twice: Vec<String> = names
        .iter()
        .filter(|(_, types)| types.len() > 1)
        .map(|(n, types)| format!("{n}: {}", types.join(", ")))
        .collect();
    assert!(twice.is_empty(), "schema names used by more than one type:\n{}", twice.join("\n"));
}
