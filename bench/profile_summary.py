#!/usr/bin/env python3
"""Turns `perf report --stdio -g none --sort symbol` into a short table for bench/profiles/*.txt.

    perf report ... | bench/profile_summary.py self|inclusive REQUESTS_PER_SECOND LIMIT

Each row: the share of the server's samples, the same in microseconds per request (the server's one core is busy the
whole time, so a request costs 1e6 / rate µs in all), and the function, with generic arguments and closures folded
so that the name reads (`<T as Trait>::f` stays, `Foo<Bar<Baz>>` becomes `Foo<…>`).
"""

import re
import sys


def fold(name: str) -> str:
    name = name.replace("{{closure}}", "{closure}")
    out, depth = [], 0
    for ch in name:
        if ch == "<":
            depth += 1
            if depth == 2:
                out.append("…")
            if depth >= 2:
                continue
        elif ch == ">":
            depth -= 1
            if depth >= 1:
                continue
        elif depth >= 2:
            continue
        out.append(ch)
    folded = "".join(out)
    folded = re.sub(r"::h[0-9a-f]{16}$", "", folded)
    return folded if len(folded) <= 150 else folded[:149] + "…"


def main() -> None:
    kind, rate, limit = sys.argv[1], float(sys.argv[2] or 0), int(sys.argv[3])
    per_request = 1e6 / rate if rate > 0 else 0.0
    rows = []
    for line in sys.stdin:
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r"\s*([\d.]+)%\s+(?:([\d.]+)%\s+)?\[(.)\]\s+(.*)$", line.rstrip("\n"))
        if not m:
            continue
        share, where, symbol = float(m.group(1)), m.group(3), m.group(4).strip()
        rows.append((share, ("kernel: " if where == "k" else "") + fold(symbol)))
    title = "self time (the function's own code)" if kind == "self" else "inclusive time (the function and what it calls)"
    print(f"## Top {min(limit, len(rows))} by {title}")
    print()
    print("| share | µs/request | function |")
    print("|---:|---:|---|")
    for share, symbol in rows[:limit]:
        print(f"| {share:.1f} % | {share / 100 * per_request:.1f} | `{symbol.replace('|', '/')}` |")


if __name__ == "__main__":
    main()
