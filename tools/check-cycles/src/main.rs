//! Fails when the files of a crate's `src/` import one another in a cycle, or when its top-level
//! modules do, and names the cycle. Run from the repository's root:
//!
//! ```text
//! cargo run --quiet --manifest-path tools/check-cycles/Cargo.toml -- src
//! cargo run --quiet --manifest-path tools/check-cycles/Cargo.toml -- src --edges   # print the graph
//! ```
//!
//! What counts as a use of a file (the rule `docs/ARCHITECTURE.md` states):
//!
//! - a path in the code (not in comments or strings) that starts with `crate::`, `super::`,
//!   `self::`, the name of a child module, or a name a `use` brought in, and leads into another
//!   file: `use crate::remote::task::Pending;`, `super::codec::decode(..)`, `os::Signal`;
//! - a path that ends at a name another file re-exports counts as a use of the file that defines
//!   it (re-exports are followed), so `use crate::TaskError` uses `error.rs`, not `lib.rs`;
//! - `mod child;` is not a use, and neither is a re-export (`pub use`, `pub(crate) use`) of a
//!   name the file does not itself use: a parent's `mod.rs` may declare and re-export its
//!   children while they import from it, as long as it imports nothing from them;
//! - a file's inline modules belong to the file; its unit tests (`mod tests { .. }`) are left
//!   out (test code may use anything).
//!
//! Top-level modules are the first segment of a file's module path (`src/remote/codec.rs` is in
//! `remote`); `lib.rs`, which only declares and re-exports, is left out of that graph.
//!
//! No dependencies: it builds on a bare Rust toolchain.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Punct(&'static str),
    Other,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: usize,
}

impl Token {
    fn is(&self, p: &str) -> bool {
        match &self.tok {
            Tok::Punct(q) => *q == p,
            Tok::Ident(i) => i == p,
            Tok::Other => false,
        }
    }

    fn ident(&self) -> Option<&str> {
        match &self.tok {
            Tok::Ident(i) => Some(i),
            _ => None,
        }
    }
}

/// Rust's tokens, as far as paths need them: identifiers and punctuation, without comments,
/// strings, char literals or numbers.
fn lex(text: &str) -> Vec<Token> {
    let c: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let count_lines = |from: usize, to: usize, line: &mut usize| {
        *line += c[from..to.min(c.len())].iter().filter(|&&ch| ch == '\n').count();
    };
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && c.get(i + 1) == Some(&'*') {
            let (start, mut depth) = (i, 0);
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            count_lines(start, i, &mut line);
        } else if ch == '"' {
            let start = i;
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            count_lines(start, i, &mut line);
            out.push(Token { tok: Tok::Other, line });
        } else if ch == '\'' {
            if c.get(i + 1) == Some(&'\\') {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push(Token { tok: Tok::Other, line });
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push(Token { tok: Tok::Other, line });
            } else {
                i += 1; // a lifetime: its name follows as an identifier
            }
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            if (word == "r" || word == "br" || word == "cr") && matches!(c.get(i), Some('"' | '#')) {
                let mut hashes = 0;
                while c.get(i) == Some(&'#') {
                    hashes += 1;
                    i += 1;
                }
                if c.get(i) == Some(&'"') {
                    let from = i;
                    i += 1;
                    'raw: while i < c.len() {
                        if c[i] == '"' && (0..hashes).all(|h| c.get(i + 1 + h) == Some(&'#')) {
                            i += 1 + hashes;
                            break 'raw;
                        }
                        i += 1;
                    }
                    count_lines(from, i, &mut line);
                    out.push(Token { tok: Tok::Other, line });
                    continue;
                }
                // `r#ident`: a raw identifier
                let start = i;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
                out.push(Token { tok: Tok::Ident(c[start..i].iter().collect()), line });
                continue;
            }
            out.push(Token { tok: Tok::Ident(word), line });
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '.') {
                if c[i] == '.' && !c.get(i + 1).is_some_and(char::is_ascii_digit) {
                    break;
                }
                i += 1;
            }
            out.push(Token { tok: Tok::Other, line });
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push(Token { tok: Tok::Punct("::"), line });
            i += 2;
        } else {
            const PUNCT: [&str; 12] = ["{", "}", "(", ")", ";", ",", "*", "<", ">", "$", "#", "="];
            let s = ch.to_string();
            let tok = PUNCT.iter().find(|p| **p == s).map_or(Tok::Other, |p| Tok::Punct(p));
            out.push(Token { tok, line });
            i += 1;
        }
    }
    out
}

/// A module path: `["remote", "codec"]`; the crate root is empty.
type ModPath = Vec<String>;

/// One name a `use` brings in: `use a::b::{c as d}` is `path ["a","b","c"]`, `alias "d"`.
#[derive(Debug)]
struct UseItem {
    scope: ModPath,
    path: Vec<String>,
    alias: String,
    line: usize,
    public: bool,
}

/// A path in the code outside `use`.
#[derive(Debug)]
struct PathRef {
    scope: ModPath,
    path: Vec<String>,
    line: usize,
}

#[derive(Debug, Default)]
struct Parsed {
    uses: Vec<UseItem>,
    paths: Vec<PathRef>,
    /// Module path -> its child modules (`mod x;` and inline `mod x { .. }`).
    children: HashMap<ModPath, BTreeSet<String>>,
    /// Identifiers outside `use` items: what tells a re-export the file also uses.
    idents: BTreeSet<String>,
}

fn parse_use_tree(t: &[Token], i: &mut usize, prefix: Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    let mut path = prefix;
    while *i < t.len() {
        if t[*i].is("{") {
            *i += 1;
            while *i < t.len() && !t[*i].is("}") {
                parse_use_tree(t, i, path.clone(), out);
                if *i < t.len() && t[*i].is(",") {
                    *i += 1;
                }
            }
            *i += 1;
            return;
        }
        if t[*i].is("*") {
            *i += 1;
            out.push((path, "*".into()));
            return;
        }
        if t[*i].is("::") {
            *i += 1;
            continue;
        }
        let Some(seg) = t[*i].ident() else { return };
        *i += 1;
        if seg != "self" {
            path.push(seg.to_owned());
        }
        if *i < t.len() && t[*i].is("::") {
            *i += 1;
            continue;
        }
        let mut alias = path.last().cloned().unwrap_or_default();
        if *i + 1 < t.len() && t[*i].is("as") {
            alias = t[*i + 1].ident().unwrap_or("_").to_owned();
            *i += 2;
        }
        out.push((path, alias));
        return;
    }
}

fn parse(file_mod: &ModPath, text: &str) -> Parsed {
    let t = lex(text);
    let mut p = Parsed::default();
    // Inline modules open: (module path, brace depth inside it).
    let mut scopes: Vec<(ModPath, usize)> = vec![(file_mod.clone(), 0)];
    let mut depth = 0;
    let mut i = 0;
    while i < t.len() {
        let scope = scopes.last().unwrap().0.clone();
        // A file's unit tests (`mod tests { .. }`) may use anything: they are not the code's
        // dependencies.
        let in_tests = scopes[1..].iter().any(|(path, _)| path.last().is_some_and(|m| m == "tests"));
        let tok = &t[i];
        if tok.is("{") {
            depth += 1;
            i += 1;
        } else if tok.is("}") {
            if scopes.len() > 1 && scopes.last().unwrap().1 == depth {
                scopes.pop();
            }
            depth = depth.saturating_sub(1);
            i += 1;
        } else if tok.is("mod")
            && i + 2 < t.len()
            && t[i + 1].ident().is_some()
            && (i == 0 || !t[i - 1].is("::"))
        {
            let name = t[i + 1].ident().unwrap().to_owned();
            p.children.entry(scope.clone()).or_default().insert(name.clone());
            if t[i + 2].is("{") {
                let mut inner = scope.clone();
                inner.push(name);
                scopes.push((inner, depth + 1));
            }
            i += 2;
        } else if tok.is("use") && (i == 0 || !t[i - 1].is("::")) {
            let public = i > 0 && (t[i - 1].is("pub") || (t[i - 1].is(")") && i >= 4 && t[i - 4].is("pub")));
            let line = tok.line;
            i += 1;
            let mut items = Vec::new();
            parse_use_tree(&t, &mut i, Vec::new(), &mut items);
            while i < t.len() && !t[i].is(";") {
                i += 1;
            }
            for (path, alias) in items.into_iter().filter(|_| !in_tests) {
                p.uses.push(UseItem { scope: scope.clone(), path, alias, line, public });
            }
        } else if let Some(first) = tok.ident() {
            let starts_path = i + 1 < t.len() && t[i + 1].is("::") && (i == 0 || !t[i - 1].is("::"));
            if starts_path {
                let line = tok.line;
                let mut path = vec![first.to_owned()];
                i += 1;
                while i + 1 < t.len() && t[i].is("::") {
                    match t[i + 1].ident() {
                        Some(seg) => path.push(seg.to_owned()),
                        None => break,
                    }
                    i += 2;
                }
                if !in_tests {
                    p.paths.push(PathRef { scope, path, line });
                }
            } else {
                p.idents.insert(first.to_owned());
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    p
}

struct Crate {
    files: Vec<(PathBuf, ModPath)>,
    by_mod: HashMap<ModPath, usize>,
    parsed: Vec<Parsed>,
    /// Every scope's names brought in by `use`: alias -> absolute path (`*` left out).
    aliases: HashMap<ModPath, HashMap<String, ModPath>>,
    /// Every scope's re-exports: alias -> absolute path.
    reexports: HashMap<ModPath, HashMap<String, ModPath>>,
    children: HashMap<ModPath, BTreeSet<String>>,
}

impl Crate {
    fn absolute(&self, scope: &ModPath, path: &[String], in_use: bool) -> Option<ModPath> {
        let first = path.first()?;
        match first.as_str() {
            "crate" => Some(path[1..].to_vec()),
            "self" => Some(scope.iter().cloned().chain(path[1..].iter().cloned()).collect()),
            "super" => {
                let mut base = scope.clone();
                let mut rest = path;
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
                Some(base.into_iter().chain(rest.iter().cloned()).collect())
            }
            _ if self.children.get(scope).is_some_and(|c| c.contains(first)) => {
                Some(scope.iter().cloned().chain(path.iter().cloned()).collect())
            }
            _ if !in_use => {
                let target = self.aliases.get(scope)?.get(first)?;
                Some(target.iter().cloned().chain(path[1..].iter().cloned()).collect())
            }
            _ => None,
        }
    }

    /// The file that defines what `path` names, following re-exports.
    fn file_of(&self, path: &ModPath, hops: usize) -> Option<usize> {
        let k = (0..=path.len()).rev().find(|&k| self.by_mod.contains_key(&path[..k]))?;
        if hops < 16 {
            for j in (k..path.len()).rev() {
                let target = self.reexports.get(&path[..j]).and_then(|r| r.get(&path[j]));
                if let Some(target) = target {
                    let next: ModPath = target.iter().cloned().chain(path[j + 1..].iter().cloned()).collect();
                    if next != *path {
                        return self.file_of(&next, hops + 1);
                    }
                }
            }
        }
        self.by_mod.get(&path[..k]).copied()
    }
}

fn module_path(root: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut segs: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    if segs.last().is_some_and(|s| s == "mod") || segs == ["lib"] || segs == ["main"] {
        segs.pop();
    }
    segs
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> =
        std::fs::read_dir(dir).expect("read src/").flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Edges `from -> to`, each with the first place (`file:line`) that makes it.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

/// Strongly connected components with more than one node, each with a shortest cycle through
/// its smallest node.
fn cycles(graph: &Graph) -> Vec<(BTreeSet<String>, Vec<String>)> {
    let nodes: Vec<&String> = graph.keys().chain(graph.values().flat_map(|e| e.keys())).collect();
    let nodes: BTreeSet<&String> = nodes.into_iter().collect();
    // Reachability is enough at this size: a and b are in one component if each reaches the other.
    let reach = |from: &String| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([from.clone()]);
        while let Some(n) = queue.pop_front() {
            for next in graph.get(&n).into_iter().flat_map(|e| e.keys()) {
                if seen.insert(next.clone()) {
                    queue.push_back(next.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> = nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut done = BTreeSet::new();
    let mut found = Vec::new();
    for &n in &nodes {
        if done.contains(n) || !reaches[n].contains(n) {
            continue;
        }
        let component: BTreeSet<String> = nodes
            .iter()
            .filter(|m| reaches[n].contains(**m) && reaches[**m].contains(n))
            .map(|m| (*m).clone())
            .collect();
        if component.len() < 2 {
            continue;
        }
        done.extend(component.iter().cloned());
        let members = component.clone();
        // Shortest cycle through n inside the component (BFS back to n).
        let mut parent: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = VecDeque::from([n.clone()]);
        'bfs: while let Some(cur) = queue.pop_front() {
            for next in graph.get(&cur).into_iter().flat_map(|e| e.keys()) {
                if !component.contains(next) {
                    continue;
                }
                if next == n {
                    parent.insert("<back>".into(), cur.clone());
                    break 'bfs;
                }
                if !parent.contains_key(next) {
                    parent.insert(next.clone(), cur.clone());
                    queue.push_back(next.clone());
                }
            }
        }
        let mut cycle = vec![n.clone()];
        let mut cur = parent["<back>"].clone();
        while cur != *n {
            cycle.push(cur.clone());
            cur = parent[&cur].clone();
        }
        cycle[1..].reverse();
        cycle.push(n.clone());
        found.push((members, cycle));
    }
    found
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = PathBuf::from(
        args.iter()
            .enumerate()
            .find(|(i, a)| !a.starts_with("--") && (*i == 0 || args[i - 1] != "--known"))
            .map_or("src", |(_, a)| a.as_str()),
    );
    let print_edges = args.iter().any(|a| a == "--edges");
    // `--known a.rs,b.rs`: a cycle among exactly these files is reported but tolerated (work in
    // progress elsewhere); any other cycle fails.
    let known: Vec<BTreeSet<String>> = args
        .windows(2)
        .filter(|w| w[0] == "--known")
        .map(|w| w[1].split(',').map(str::to_owned).collect())
        .collect();

    let mut paths = Vec::new();
    walk(&root, &mut paths);
    let files: Vec<(PathBuf, ModPath)> = paths
        .into_iter()
        .map(|p| {
            let m = module_path(&root, &p);
            (p, m)
        })
        .collect();
    let by_mod = files.iter().enumerate().map(|(i, (_, m))| (m.clone(), i)).collect();
    let parsed: Vec<Parsed> = files
        .iter()
        .map(|(p, m)| parse(m, &std::fs::read_to_string(p).expect("read a source file")))
        .collect();
    let mut krate = Crate {
        files,
        by_mod,
        parsed: Vec::new(),
        aliases: HashMap::new(),
        reexports: HashMap::new(),
        children: HashMap::new(),
    };
    for p in &parsed {
        for (scope, names) in &p.children {
            krate.children.entry(scope.clone()).or_default().extend(names.iter().cloned());
        }
    }
    for p in &parsed {
        for u in &p.uses {
            if u.alias == "*" {
                continue;
            }
            if let Some(abs) = krate.absolute(&u.scope, &u.path, true) {
                krate.aliases.entry(u.scope.clone()).or_default().insert(u.alias.clone(), abs.clone());
                if u.public {
                    krate.reexports.entry(u.scope.clone()).or_default().insert(u.alias.clone(), abs);
                }
            }
        }
    }
    krate.parsed = parsed;

    let name = |i: usize| krate.files[i].0.display().to_string();
    let mut files_graph: Graph = BTreeMap::new();
    let mut tops_graph: Graph = BTreeMap::new();
    for (from, p) in krate.parsed.iter().enumerate() {
        let mut add = |abs: ModPath, line: usize| {
            let Some(to) = krate.file_of(&abs, 0) else { return };
            if to == from {
                return;
            }
            let place = format!("{}:{line}", name(from));
            files_graph.entry(name(from)).or_default().entry(name(to)).or_insert_with(|| place.clone());
            let top = |i: usize| krate.files[i].1.first().cloned();
            if let (Some(a), Some(b)) = (top(from), top(to))
                && a != b
            {
                tops_graph.entry(a).or_default().entry(b).or_insert(place);
            }
        };
        for u in &p.uses {
            // A re-export is a use only if the file also uses the name itself.
            if u.public && u.alias != "*" && !p.idents.contains(&u.alias) {
                continue;
            }
            if let Some(abs) = krate.absolute(&u.scope, &u.path, true) {
                add(abs, u.line);
            }
        }
        for r in &p.paths {
            if let Some(abs) = krate.absolute(&r.scope, &r.path, false) {
                add(abs, r.line);
            }
        }
    }
    if print_edges {
        for edges in files_graph.values() {
            for (to, place) in edges {
                println!("{place} -> {to}");
            }
        }
        println!();
        for (from, edges) in &tops_graph {
            println!("{from} -> {}", edges.keys().cloned().collect::<Vec<_>>().join(", "));
        }
    }

    let mut failed = false;
    let report = |what: &str, graph: &Graph, members: &BTreeSet<String>, cycle: &[String]| {
        let names: Vec<&str> = members.iter().map(String::as_str).collect();
        println!("import cycle among {what} ({}):", names.join(", "));
        for pair in cycle.windows(2) {
            println!("  {} uses {} ({})", pair[0], pair[1], graph[&pair[0]][&pair[1]]);
        }
    };
    for (members, cycle) in cycles(&files_graph) {
        if known.contains(&members) {
            print!("known, tolerated: ");
        } else {
            failed = true;
        }
        report("the files of src/", &files_graph, &members, &cycle);
    }
    for (members, cycle) in cycles(&tops_graph) {
        report("the top-level modules of src/", &tops_graph, &members, &cycle);
        failed = true;
    }
    if failed {
        println!("\ndependencies must run one way: see docs/ARCHITECTURE.md");
        ExitCode::FAILURE
    } else {
        println!(
            "no import cycle{} among the {} files of {} nor among its top-level modules",
            if known.is_empty() { "" } else { " but the known ones" },
            krate.files.len(),
            root.display()
        );
        ExitCode::SUCCESS
    }
}
