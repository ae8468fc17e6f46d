#!/usr/bin/env python3
"""Holds the code to the three layers of `STYLE.md` and the README's "How it is built": shared types, server
services, entry points, with every arrow pointing one way and no import circles.

Reads every `src/**/*.rs` for `crate::…` / `super::…` / `self::…` paths (in `use` trees and inline), maps each to the
file it names, and checks:
  1. shared types (`src/model/`) import only each other, hold no `#[server]` function and no `cfg(feature = "ssr")`
     code (a `cfg_attr(feature = "ssr", derive(…))` is allowed: it adds a derive, not code);
  2. server services (`src/server/`) never import server functions, pages or components (`rpc`, `pages`,
     `components`, `app`) — only the composition root, which builds the router around the app, may;
  3. pages, components and the app (`src/pages/`, `src/components/`, `src/app.rs`) import shared types, server
     functions and each other, never `server`;
  4. server functions (`src/rpc/`) never import pages or components;
  5. no two files import each other, directly or around a circle.
Prints each broken rule with the file and line and exits 1; with --list, also every circle; with --arrows, every
import arrow. Python 3 standard
library only, so `make test` needs nothing installed. Run: `python3 tools/layers.py` (from `make lint`)."""
import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
# The largest import circle allowed, in files: none. (Issue 25 allowed up to 3; there are none, so none may come back.)
MAX_CIRCLE = 0
# Files that wire everything together (the router around the app, the document shell, the command line): they may
# import from every layer, and nothing but each other imports them.
COMPOSITION_ROOT = {"lib.rs", "main.rs", "server/startup.rs", "server/shell.rs", "server/cli.rs"}


def layer_of(rel):
    if rel in COMPOSITION_ROOT:
        return "root"
    top = rel.split("/")[0]
    if top == "model":
        return "model"
    if top == "server":
        return "server"
    if top == "rpc":
        return "rpc"
    if top in ("pages", "components") or rel == "app.rs":
        return "ui"
    return "root"


ALLOWED = {
    "model": {"model"},
    "server": {"model", "server"},
    "rpc": {"model", "server", "rpc"},
    "ui": {"model", "rpc", "ui"},
    "root": {"model", "server", "rpc", "ui", "root"},
}
WHY = {
    "model": "shared types import only each other",
    "server": "services never import server functions, pages or components",
    "rpc": "server functions never import pages or components",
    "ui": "pages and components import shared types and server functions, never the server",
}

files = {}
for root, _, names in os.walk(SRC):
    for name in names:
        if name.endswith(".rs"):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, SRC).replace(os.sep, "/")
            with open(path, encoding="utf-8") as f:
                files[rel] = f.read()


def module_of(rel):
    parts = rel[:-3].split("/")
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return parts


def file_for(segs):
    """The file a module path lives in: the longest prefix of `segs` that is a file."""
    for k in range(len(segs), 0, -1):
        head = "/".join(segs[:k])
        for candidate in (head + ".rs", head + "/mod.rs"):
            if candidate in files:
                return candidate
    return None


def use_paths(tree, prefix=()):
    """Flattens a `use` tree (`a::{b, c::{d as e, self}}`) into paths."""
    out, depth, item = [], 0, ""
    for ch in tree + ",":
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            item = item.strip()
            if item:
                if "{" in item:
                    head, inner = item.split("{", 1)
                    segs = tuple(s for s in head.strip().rstrip(":").split("::") if s)
                    out += use_paths(inner.rsplit("}", 1)[0], prefix + segs)
                else:
                    segs = tuple(s.split(" as ")[0].strip() for s in item.split("::") if s)
                    out.append(prefix + segs)
            item = ""
        else:
            item += ch
    return out


USE = re.compile(r"\buse\s+((?:crate|super|self)\b[^;]*);", re.S)
INLINE = re.compile(r"\b(crate|super)((?:::(?:super|[A-Za-z_][A-Za-z0-9_]*))+)")


def resolve(rel, segs, inline):
    """The file `segs` names, seen from `rel`; `inline` when the path sits in an inline `mod x { … }` (tests)."""
    here = module_of(rel)
    head, rest = segs[0], list(segs[1:])
    if head == "crate":
        mod = []
    elif head == "self" or inline:  # `super` of an inline module is the file's own module
        mod = list(here)
    else:  # `super` of a file, or of a folder's mod.rs
        mod = list(here[:-1])
    while rest and rest[0] == "super":
        mod, rest = mod[:-1], rest[1:]
    rest = [s for s in rest if s not in ("self", "*")]
    target = file_for(mod + rest) if mod + rest else None
    return target if target != rel else None


edges = {rel: {} for rel in files}  # file -> {target: first line}
problems = []
for rel, text in files.items():
    code = re.sub(r"//[^\n]*", lambda m: " " * len(m.group(0)), text)
    found, spans = [], []
    for m in USE.finditer(code):
        spans.append((m.start(), m.end()))
        tree = re.sub(r"\s+", "", re.sub(r"\s+as\s+", "\0", m.group(1))).replace("\0", " as ")
        for segs in use_paths(tree):
            found.append((m.start(), segs))
    for m in INLINE.finditer(code):
        if not any(a <= m.start() < b for a, b in spans):
            found.append((m.start(), (m.group(1),) + tuple(s for s in m.group(2).split("::") if s)))
    inline_mod = re.search(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+\w+\s*\{", code, re.M)
    for pos, segs in found:
        target = resolve(rel, segs, bool(inline_mod) and pos > inline_mod.start())
        if target:
            edges[rel].setdefault(target, code.count("\n", 0, pos) + 1)
    if layer_of(rel) == "model":
        for m in re.finditer(r"#\[server\b|#\[cfg\([^\]]*feature\s*=\s*\"ssr\"", code):
            line = code.count("\n", 0, m.start()) + 1
            problems.append(f"src/{rel}:{line}: shared types hold no server functions and no server-only code")

for rel, targets in sorted(edges.items()):
    mine = layer_of(rel)
    for target, line in sorted(targets.items(), key=lambda t: t[1]):
        theirs = layer_of(target)
        if theirs not in ALLOWED[mine]:
            problems.append(f"src/{rel}:{line}: imports src/{target} — {WHY[mine]}")

# Circles: strongly connected components (Tarjan), iteratively.
index, low, on, stack, circles, counter = {}, {}, set(), [], [], [0]
for start in sorted(files):
    if start in index:
        continue
    work = [(start, iter(sorted(edges[start])))]
    index[start] = low[start] = counter[0]
    counter[0] += 1
    stack.append(start)
    on.add(start)
    while work:
        node, it = work[-1]
        advanced = False
        for nxt in it:
            if nxt not in index:
                index[nxt] = low[nxt] = counter[0]
                counter[0] += 1
                stack.append(nxt)
                on.add(nxt)
                work.append((nxt, iter(sorted(edges[nxt]))))
                advanced = True
                break
            if nxt in on:
                low[node] = min(low[node], index[nxt])
        if advanced:
            continue
        work.pop()
        if work:
            low[work[-1][0]] = min(low[work[-1][0]], low[node])
        if low[node] == index[node]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == node:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))
circles.sort(key=len, reverse=True)
for circle in circles:
    if len(circle) > MAX_CIRCLE:
        problems.append(f"an import circle of {len(circle)} files: " + " ".join(circle))

arrows = sum(len(t) for t in edges.values())
largest = len(circles[0]) if circles else 0
print(f"layers: {len(files)} files, {arrows} arrows, {len(circles)} circles (largest {largest}, allowed {MAX_CIRCLE})")
if "--list" in sys.argv:
    for circle in circles:
        print(f"  circle of {len(circle)}: " + " ".join(circle))
if "--arrows" in sys.argv:
    for rel, targets in sorted(edges.items()):
        for target, line in sorted(targets.items()):
            print(f"  src/{rel}:{line} -> src/{target}")
for problem in problems:
    print(problem)
sys.exit(1 if problems else 0)
