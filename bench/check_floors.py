#!/usr/bin/env python3
"""Checks a `make bench` run against bench/floors; exits 1 naming every row that fell below (or rose above) its bound.

    bench/check_floors.py FLOORS MEASURED MACHINE

FLOORS has lines `KEY BOUND VALUE [p99<MS]` (`#` starts a comment), where BOUND is
  rel  the row's requests per second ÷ /healthz's, in the same run, must not fall below VALUE;
  min  the row's ratio to the bare axum hello must not fall below VALUE;
  max  a figure (ms of CPU, MB) must not rise above VALUE;
and `p99<MS` bounds the row's p99 latency too. A line `[machine: KIND]` starts the floors of one kind of machine
(MACHINE, as bench/run.sh names it): they are checked only there. The rest are checked everywhere.

Why two kinds of ratio: a ratio to hello moves with the machine (on two kinds of "AMD EPYC" every Gatehouse row fell
by the same 45 % against hello, the hello server gaining more from AVX-512's memcpy than Gatehouse), while a row's
ratio to /healthz of the same run stays within a few per cent across them. So every row is held against /healthz
everywhere, and /healthz against hello on the machine kinds it was measured on.

MEASURED has lines `KEY VALUE [P99_MS [RELATIVE]]`, written by bench/run.sh.
"""

import sys


def main() -> int:
    floors_path, measured_path, machine = sys.argv[1], sys.argv[2], sys.argv[3]
    measured = {}
    for line in open(measured_path):
        parts = line.split()
        if parts:
            measured[parts[0]] = [float(p) for p in parts[1:]]
    failures, section, kinds = [], None, []
    for number, line in enumerate(open(floors_path), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[machine:") and line.endswith("]"):
            section = line[len("[machine:") : -1].strip()
            kinds.append(section)
            continue
        if section is not None and section != machine:
            continue
        key, kind, bound, *rest = line.split()
        if key not in measured:
            failures.append(f"{floors_path}:{number}: no row `{key}` was measured")
            continue
        figures = measured[key]
        if kind == "min" and figures[0] < float(bound):
            failures.append(f"{key}: {figures[0]:.3f} of hello is below its floor {bound} on {machine}")
        if kind == "rel":
            if len(figures) < 3:
                failures.append(f"{key}: no ratio to /healthz was measured")
            elif figures[2] < float(bound):
                failures.append(f"{key}: {figures[2]:.3f} of /healthz is below its floor {bound}")
        if kind == "max" and figures[0] > float(bound):
            failures.append(f"{key}: {figures[0]:.2f} is above its ceiling {bound}")
        for extra in rest:
            if extra.startswith("p99<") and len(figures) > 1 and figures[1] >= float(extra[4:]):
                failures.append(f"{key}: p99 {figures[1]:.2f} ms is not under {extra[4:]} ms")
    if machine not in kinds:
        print(
            f"bench: no floors against hello for this kind of machine ({machine}): only the floors against /healthz "
            f"and the ceilings were checked. Add a [machine: {machine}] section to {floors_path} from this run.",
            file=sys.stderr,
        )
    for failure in failures:
        print(f"bench: FLOOR: {failure}", file=sys.stderr)
    if not failures:
        print("bench: every row holds its floor (bench/floors)", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
