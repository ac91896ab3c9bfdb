#!/usr/bin/env python3
"""The code's shape, as issue 19 measures it: files over 600 lines, functions over 60 and
80 lines (tests excluded), pairs of files in src/ that import each other, and each room's
`crate::` uses against the written list of what it may use (ROOMS, as ARCHITECTURE.md
states it).

    python3 scripts/shape.py          # from the project root; exit 1 if a limit is broken
"""
import os
import re
import sys

ROOT = "src"

# What each room (a top-level module of src/) may use, besides itself and the leaves.
# ARCHITECTURE.md states the same table in words; change both together.
LEAVES = {"format", "redact", "files", "out", "note", "fdlimit", "signals", "yaml_text"}
ROOMS = {
    "cli": {"prom", "scenario"},  # clap value parsers: the listen address, a scenario's units
    "scenario": {"metrics"},  # thresholds are judged on a Snapshot
    "metrics": set(),
    "engine": {"scenario", "metrics"},
    "report": {"scenario", "metrics"},
    "tui": {"metrics", "report"},  # the summary's warnings, worded once
    "progress": {"metrics"},
    "prom": {"metrics"},
    "demo": set(),
    "convert": set(),  # stampede init: a document in, a scenario's text out
    "run": None,  # the composition root (run, session) may use everything
    "session": None,
}


def rust_files():
    for d, _, fs in os.walk(ROOT):
        for f in fs:
            if f.endswith(".rs"):
                yield os.path.join(d, f)


def module_of(path):
    """The module path of a file: src/engine/transport/http1/mod.rs -> engine::transport::http1."""
    rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return rel


def functions(lines):
    """(name, first line, length) of each fn outside #[cfg(test)] modules, by brace depth."""
    out, i, n = [], 0, len(lines)
    test_depth = None
    depth = 0
    while i < n:
        line = lines[i]
        if test_depth is None and re.match(r"\s*#\[cfg\(test\)\]", line):
            test_depth = depth
        m = re.match(r"\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)", line)
        if m and test_depth is None:
            # find the body's opening brace, then its matching close
            j, d, opened = i, 0, False
            while j < n:
                code = re.sub(r'"(\\.|[^"\\])*"|\'(\\.|[^\'\\])\'|//.*', "", lines[j])
                for ch in code:
                    if ch == "{":
                        d += 1
                        opened = True
                    elif ch == "}":
                        d -= 1
                if opened and d == 0:
                    break
                if not opened and code.rstrip().endswith(";"):
                    break
                j += 1
            if opened:
                out.append((m.group(6), i + 1, j - i + 1))
        code = re.sub(r'"(\\.|[^"\\])*"|\'(\\.|[^\'\\])\'|//.*', "", line)
        depth += code.count("{") - code.count("}")
        if test_depth is not None and depth <= test_depth and "}" in code:
            test_depth = None
        i += 1
    return out


def imports(path, text):
    """The files of src/ that this file names through `crate::`, `super::` or `self::`."""
    mod = module_of(path)
    targets = set()
    for m in re.finditer(r"\b(crate|super|self)((?:::\w+)+)", text):
        head, rest = m.group(1), [p for p in m.group(2).split("::") if p]
        if head == "crate":
            base = []
        elif head == "super":
            base = mod[:-1]
            # super::super::
            while rest and rest[0] == "super":
                base, rest = base[:-1], rest[1:]
        else:
            base = mod
        parts = base + rest
        # the longest prefix that is a file
        for k in range(len(parts), 0, -1):
            cand = os.path.join(ROOT, *parts[:k])
            for f in (cand + ".rs", os.path.join(cand, "mod.rs")):
                if os.path.exists(f):
                    if os.path.normpath(f) != os.path.normpath(path):
                        targets.add(os.path.normpath(f))
                    break
            else:
                continue
            break
    return targets


def room_breaches():
    """(file, room it may not use) for every `crate::` use outside its room's list."""
    out = []
    for path in sorted(rust_files()):
        room = os.path.relpath(path, ROOT).split(os.sep)[0].removesuffix(".rs")
        if room in ("lib", "main"):
            continue
        allowed = ROOMS.get(room, set())
        if allowed is None:
            continue
        code = re.sub(r"//.*", "", open(path, encoding="utf-8").read().split("#[cfg(test)]")[0])
        used = {m.group(1) for m in re.finditer(r"\bcrate::(\w+)", code)}
        for other in sorted(used - {room} - LEAVES - allowed):
            out.append((path, other))
    return out


def main():
    big, fn60, fn80, graph = [], [], [], {}
    for path in sorted(rust_files()):
        text = open(path, encoding="utf-8").read()
        lines = text.split("\n")
        if len(lines) > 600:
            big.append((len(lines), path))
        for name, at, length in functions(lines):
            if length > 60:
                fn60.append((length, f"{path}:{at} {name}"))
            if length > 80:
                fn80.append((length, f"{path}:{at} {name}"))
        body = text.split("#[cfg(test)]")[0]
        graph[os.path.normpath(path)] = imports(path, body)
    cycles = sorted(
        {tuple(sorted((a, b))) for a, ts in graph.items() for b in ts if a in graph.get(b, ())}
    )
    print(f"files over 600 lines: {len(big)}")
    for n, p in sorted(big, reverse=True):
        print(f"  {n:5} {p}")
    print(f"functions over 60 lines: {len(fn60)}; over 80: {len(fn80)}")
    for n, p in sorted(fn80, reverse=True):
        print(f"  {n:5} {p}")
    print(f"files that import each other: {len(cycles)}")
    for a, b in cycles:
        print(f"  {a} <-> {b}")
    breaches = room_breaches()
    print(f"uses outside a room's list: {len(breaches)}")
    for path, other in breaches:
        print(f"  {path} uses crate::{other}")
    return 1 if big or len(fn80) > 3 or cycles or breaches else 0


if __name__ == "__main__":
    sys.exit(main())
