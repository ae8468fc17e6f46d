#!/usr/bin/env python3
"""Turns `perf report --stdio -g none --sort symbol` into a short table for bench/profiles/*.txt.

    perf report ... | bench/profile_summary.py self|inclusive|where CPU_MICROSECONDS_PER_REQUEST LIMIT

Each row: the share of the server's samples, the same in microseconds of CPU per request (the share of what a request
costs in all, measured from /proc while sampling), and the function, with generic arguments and closures folded
so that the name reads (`<T as Trait>::f` stays, `Foo<Bar<Baz>>` becomes `Foo<…>`).

`where` reads `perf report --no-children --sort comm,symbol` and sums self time by thread and by whose code ran: the
kernel, SQLite, the allocator, the C library, or the Rust crate a function belongs to (a generic function counts for
the crate that defines it, whatever it was instantiated with: `tachys::…::to_html<gatehouse::…>` is tachys). Code
the compiler inlined counts for the function it was inlined into.
"""

import re
import sys


PLUMBING = re.compile(
    r"^(<)?(std::|core::|tokio::runtime|start_thread|__rust_begin|<std::|futures_util::future|axum::util::|"
    r"tower::util::|hyper_util::service::oneshot|hyper_util::server::graceful|axum::routing::route::|"
    r"axum::middleware::from_fn|tracing::instrument|tower_http::compression::future|tower_cookies::service|"
    r"<F as axum::handler|clone$|kernel: entry_SYSCALL|kernel: do_syscall)"
)


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


THREADS = {"tokio-rt-worker": "request thread", "sqlx-sqlite-wor": "SQLite threads", "postgres": "PostgreSQL backends"}


def owner(where: str, thread: str, symbol: str) -> str:
    """Whose code a sample's function is: see the module's comment."""
    if where == "k":
        return "the kernel"
    if re.match(r"(_?mi_|__rustc::__rust_(alloc|dealloc|realloc|no_alloc)|_int_(malloc|free)|malloc|free|cfree)", symbol):
        return "allocator (mimalloc)"
    if re.match(r"(__mem|__GI_|syscall|__vdso|__lll|pthread|__pthread|__libc|__str|epoll|__futex|_IO_|__clock|__sched|clock_)", symbol):
        return "C library"
    if thread == "PostgreSQL backends":
        return "PostgreSQL"
    if "::" not in symbol:
        # Another C function: SQLite's (its internals share no prefix) on its threads, else the C library's.
        return "SQLite (C)" if thread == "SQLite threads" or symbol.startswith("sqlite3") else "C library"
    # `<T as trait::…>`, `<(A, B) as trait::…>`: a blanket or tuple impl, the trait's crate's code.
    blanket = re.match(r"^<(?:[A-Z][A-Za-z0-9]*|\(.*?\)|\[.*?\]|str|&\S+) as ([a-z_][a-z0-9_]*)::", symbol)
    name = re.sub(r"^(?:[<&(]|dyn |mut |\*const |\*mut )+", "", symbol)
    crate = blanket.group(1) if blanket else re.split(r"::|<| ", name, maxsplit=1)[0]
    if not crate or not re.match(r"^[a-z_][a-z0-9_]*$", crate):
        return "other"
    return "Gatehouse" if crate == "gatehouse" else crate


def where_table(lines, per_request: float, limit: int) -> None:
    totals: dict = {}
    for line in lines:
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)$", line.rstrip("\n"))
        if not m:
            continue
        share, comm, where = float(m.group(1)), m.group(2), m.group(3)
        symbol = re.split(r"\s{2,}", m.group(4).strip())[0]
        thread = THREADS.get(comm, comm)
        key = (thread, owner(where, thread, symbol))
        totals[key] = totals.get(key, 0.0) + share
    print("## Whose code ran (self time by thread and by crate or library)")
    print()
    print("| share | µs/request | thread | code |")
    print("|---:|---:|---|---|")
    for (thread, code), share in sorted(totals.items(), key=lambda kv: -kv[1])[:limit]:
        print(f"| {share:.1f} % | {share / 100 * per_request:.1f} | {thread} | {code} |")
    print()


def main() -> None:
    kind, per_request, limit = sys.argv[1], float(sys.argv[2] or 0), int(sys.argv[3])
    if kind == "where":
        where_table(sys.stdin, per_request, limit)
        return
    rows = []
    for line in sys.stdin:
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r"\s*([\d.]+)%\s+(?:([\d.]+)%\s+)?\[(.)\]\s+(.*)$", line.rstrip("\n"))
        if not m:
            continue
        share, where = float(m.group(1)), m.group(3)
        symbol = re.split(r"\s{2,}", m.group(4).strip())[0]
        rows.append((share, ("kernel: " if where == "k" else "") + fold(symbol)))
    def table(title: str, chosen: list) -> None:
        print(f"## {title}")
        print()
        print("| share | µs/request | function |")
        print("|---:|---:|---|")
        for share, symbol in chosen[:limit]:
            print(f"| {share:.1f} % | {share / 100 * per_request:.1f} | `{symbol.replace('|', '/')}` |")
        print()

    if kind == "self":
        table("By self time (the function's own code)", rows)
        return
    # Inclusive: Gatehouse's own functions (each layer and step), then everything else that is not plumbing (the
    # runtime, futures' combinators and the layers' wrappers, which hold 100 % between them and say nothing).
    ours = [r for r in rows if "gatehouse::" in r[1]]
    others = [r for r in rows if "gatehouse::" not in r[1] and not PLUMBING.search(r[1])]
    table("By inclusive time (the function and what it calls): Gatehouse's code", ours)
    table("By inclusive time: libraries and the kernel", others)


if __name__ == "__main__":
    main()
