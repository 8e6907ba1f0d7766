"""``make fuzz``: many malformed inputs through every CLI entry point and the web upload, and training
killed at many points; prints a table and writes the figures to benchmarks/results/fuzz.json (the
``cli`` key, ``web`` for ``web_upload``, ``faults`` for ``faults``: the disk filled at ``--fault-points``
random points of stylize, apply, train and export, tests/fuzz/faults.py; other keys, and entry points
not run, are kept).

    .venv/bin/python tests/fuzz/run_fuzz.py --cases 1000 --kills 20 [--jobs 2] [--entries apply_file ...]

Each entry point runs in its own process (``--jobs`` at a time); the seed is fixed, so a run repeats.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz.faults import ENTRY as FAULTS_ENTRY  # noqa: E402
from fuzz.harness import ENTRY_POINTS, FAILURES, OUTCOMES  # noqa: E402
from fuzz.web import ENTRY as WEB_ENTRY  # noqa: E402

#: Every entry point: the CLI's (in-process), the web upload (a real server, tests/fuzz/web.py) and the
#: full disk at random points (tests/fuzz/faults.py).
ENTRIES = (*ENTRY_POINTS, WEB_ENTRY, FAULTS_ENTRY)

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "fuzz.json"


def run_faults(points: int, seed: int) -> dict:
    import torch

    from fuzz.faults import fuzz_faults, summary
    from fuzz.harness import Assets, shared_loss_network

    torch.set_num_threads(1)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as root, shared_loss_network():
        figures = fuzz_faults(points, Path(root), Assets(Path(root) / "assets"), seed=seed)
    seconds = round(time.perf_counter() - started, 1)
    return {**summary(figures), "points_per_entry": points, "seconds": seconds}


def run_entry(entry: str, cases: int, seed: int, fault_points: int = 50) -> dict:
    import torch

    from fuzz.harness import Assets, fuzz_entry, shared_loss_network, tally

    if entry == FAULTS_ENTRY:
        return run_faults(fault_points, seed)
    torch.set_num_threads(1)
    started = time.perf_counter()
    server: dict = {}
    with tempfile.TemporaryDirectory() as root, shared_loss_network():
        if entry == WEB_ENTRY:
            from fuzz.web import fuzz_web

            results, server = fuzz_web(cases, Path(root), Assets(Path(root) / "assets"), seed=seed)
        else:
            results = fuzz_entry(entry, cases, Path(root), Assets(Path(root) / "assets"), seed=seed)
    seconds = time.perf_counter() - started
    failures = [asdict(r) for r in results if r.outcome in FAILURES]
    families: dict[str, dict[str, int]] = {}
    for r in results:
        family = families.setdefault(r.case.split(":")[0], {})
        family[r.outcome] = family.get(r.outcome, 0) + 1
    return {**tally(results), "seconds": round(seconds, 1),
            "slowest_case_s": round(max((r.seconds for r in results), default=0), 2),
            "by_family": families, "failures": failures[:50], **({"server": server} if server else {})}


def run_kills(points: int, seed: int) -> dict:
    from fuzz.kills import kill_and_resume

    with tempfile.TemporaryDirectory() as root:
        report = kill_and_resume(Path(root), points, seed)
    return {**asdict(report), "seconds": round(report.seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000, help="cases per entry point")
    parser.add_argument("--kills", type=int, default=20, help="kill points (0: none)")
    parser.add_argument("--entries", nargs="+", default=list(ENTRIES), choices=ENTRIES)
    parser.add_argument("--fault-points", type=int, default=50, help="full-disk points per entry point")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--results", type=Path, default=RESULTS, help="the JSON file to update")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    figures: dict[str, dict] = {}
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
        futures = {pool.submit(run_entry, e, args.cases, args.seed, args.fault_points): e
                   for e in args.entries}
        kills = pool.submit(run_kills, args.kills, args.seed) if args.kills else None
        for future in concurrent.futures.as_completed(futures):
            figures[futures[future]] = future.result()
            _write(args, figures, None, started)
        kill_figures = kills.result() if kills else None
    _write(args, figures, kill_figures, started)
    faults = figures.pop(FAULTS_ENTRY, None)
    _table(figures, kill_figures)
    bad = sum(figures[e][f] for e in figures for f in FAILURES)
    if faults is not None:
        from fuzz.faults import FAILURES as FAULT_FAILURES

        rows = faults.get("entry_points", {})
        print(faults.get("skipped") or "faults (disk filled at random points): " + "; ".join(
            f"{e} {r['tried']} tried, {r['ok']} ok, {r['disk_full']} exit 5, "
            f"{sum(r[f] for f in FAULT_FAILURES)} failed" for e, r in rows.items()))
        bad += sum(r[f] for r in rows.values() for f in FAULT_FAILURES)
    servers = [row["server"] for row in figures.values() if "server" in row]
    bad += sum(s["restarts"] + len(s["half_written_at_end"]) + s["health"]["failures"]
               + (not s["alive_at_end"]) for s in servers)
    kill_bad = kill_figures and (kill_figures["identical"] != kill_figures["points"] or kill_figures["broken"]
                                 or kill_figures["leftover_temp"])
    return 1 if bad or kill_bad else 0


def _write(args, figures: dict, kills: dict | None, started: float) -> None:
    results = args.results
    data = json.loads(results.read_text()) if results.is_file() else {}
    # A run of some entry points (--entries) updates theirs and keeps the others' latest figures.
    for row in figures.values():
        row.setdefault("date", time.strftime("%Y-%m-%d %H:%M"))
        row.setdefault("seed", args.seed)
    cli = {e: row for e, row in figures.items() if e not in (WEB_ENTRY, FAULTS_ENTRY)}
    if FAULTS_ENTRY in figures:
        data["faults"] = {"date": time.strftime("%Y-%m-%d %H:%M"),
                          "machine": f"{platform.machine()}, Python {platform.python_version()}",
                          **figures[FAULTS_ENTRY]}
    web = {e: row for e, row in figures.items() if e == WEB_ENTRY}
    machine = f"{platform.machine()}, Python {platform.python_version()}"
    if cli or kills is not None:
        old = data.get("cli", {})
        data["cli"] = {
            "date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine,
            "outcomes": list(OUTCOMES), "entry_points": {**old.get("entry_points", {}), **cli},
            "kills": kills if kills is not None else old.get("kills"),
        }
    if web:
        old = data.get("web", {})
        data["web"] = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine,
                       "outcomes": list(OUTCOMES), "entry_points": {**old.get("entry_points", {}), **web}}
    results.parent.mkdir(parents=True, exist_ok=True)
    tmp = results.with_name(f".{results.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(results)


def _table(figures: dict, kills: dict | None) -> None:
    columns = ("tried", *OUTCOMES, "seconds")
    print(f"{'entry point':18}" + "".join(f"{c[:12]:>13}" for c in columns))
    for entry, row in figures.items():
        print(f"{entry:18}" + "".join(f"{row[c]:>13}" for c in columns))
        if "server" in row:
            health, server = row["server"]["health"], row["server"]
            print(f"  server: alive at the end {server['alive_at_end']}, {server['restarts']} restarts, "
                  f"{len(server['half_written_at_end'])} half-written files; /api/health "
                  f"{health['probes']} probes, {health['failures']} failed, p50 {health['p50_ms']} ms, "
                  f"max {health['max_ms']} ms")
    if kills:
        print(f"kills: {kills['identical']}/{kills['points']} resumed bit-identical "
              f"({kills['killed']} SIGKILLs), "
              f"{len(kills['broken'])} broken files, {len(kills['leftover_temp'])} temp files left, "
              f"{kills['seconds']:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
