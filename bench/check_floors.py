#!/usr/bin/env python3
"""Checks a `make bench` run against bench/floors; exits 1 naming every row that fell below (or rose above) its bound.

    bench/check_floors.py FLOORS MEASURED

FLOORS has lines `KEY min|max VALUE [p99<MS]` (`#` starts a comment): `min` for a ratio to hello that must not fall
below VALUE, `max` for a figure (ms of CPU, MB) that must not rise above it; `p99<MS` bounds the row's p99 latency
too. MEASURED has lines `KEY VALUE [P99_MS]`, written by bench/run.sh.
"""

import sys


def main() -> int:
    floors_path, measured_path = sys.argv[1], sys.argv[2]
    measured = {}
    for line in open(measured_path):
        parts = line.split()
        if parts:
            measured[parts[0]] = [float(p) for p in parts[1:]]
    failures = []
    for number, line in enumerate(open(floors_path), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key, kind, bound, *rest = line.split()
        if key not in measured:
            failures.append(f"{floors_path}:{number}: no row `{key}` was measured")
            continue
        value = measured[key][0]
        if kind == "min" and value < float(bound):
            failures.append(f"{key}: {value:.3f} is below its floor {bound}")
        if kind == "max" and value > float(bound):
            failures.append(f"{key}: {value:.2f} is above its ceiling {bound}")
        for extra in rest:
            if extra.startswith("p99<") and len(measured[key]) > 1 and measured[key][1] >= float(extra[4:]):
                failures.append(f"{key}: p99 {measured[key][1]:.2f} ms is not under {extra[4:]} ms")
    for failure in failures:
        print(f"bench: FLOOR: {failure}", file=sys.stderr)
    if not failures:
        print("bench: every row holds its floor (bench/floors)", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
