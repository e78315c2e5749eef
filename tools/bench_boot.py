"""Warm-boot benchmark of the embedded cluster: `argocd-chaos cluster up`, then `cluster down`, N times.

Prints, per run, the wall time of the whole `cluster up` command (Python start-up and imports
included) and the cluster's own figures (from the `timings` of its state file, read before `down`),
then the median, minimum and maximum of each. Component figures are seconds from the component's
launch to the first successful readiness probe of the boot's wait for it (a component the boot
waits for late, such as the repo-server, shows when it was checked, not when it became ready);
`seed*` count from the start of seeding; `controller-reconciling` is the seconds spent waiting
for the canary; `total` is the cluster's own boot time (from `_prepare` to the
reconciled canary, without the CLI's start-up, which the wall time includes).

A performance target belongs here and in the figures it prints, not in a timed unit test. The
build must be cached (`argocd-chaos build` runs first and is a no-op then). Boots are heavy: on a
shared machine run this alone. Exits 1 if a boot fails (after taking that cluster down).

    .venv/bin/python tools/bench_boot.py [--runs 5] [--name bench-boot] [--argocd-version v3.6.1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness._paths import state_root

#: Figures in the order a boot produces them; any others the cluster records are printed after.
STEPS = (
    "etcd",
    "kube-apiserver",
    "redis",
    "manifests-and-canary-repo",
    "seed-crds-applied",
    "seed-crds-served",
    "seed",
    "argocd-repo-server",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "argocd-application-controller",
    "controller-reconciling",
    "total",
)


def _cli() -> str:
    return str(Path(sys.executable).with_name("argocd-chaos"))


def _one_boot(name: str, version_args: list[str]) -> tuple[float, dict[str, float]]:
    t0 = time.monotonic()
    up = subprocess.run(
        [_cli(), "cluster", "up", "--name", name, *version_args], capture_output=True, text=True, check=False
    )
    wall = time.monotonic() - t0
    try:
        if up.returncode != 0:
            sys.stderr.write(up.stderr)
            raise SystemExit(f"bench-boot: `cluster up --name {name}` failed (exit {up.returncode})")
        state = json.loads((state_root() / name / "cluster.json").read_text())
        return wall, {k: float(v) for k, v in state.get("timings", {}).items()}
    finally:
        subprocess.run([_cli(), "cluster", "down", "--name", name], capture_output=True, check=False)


def _row(label: str, values: list[float]) -> str:
    runs = " ".join(f"{v:6.2f}" for v in values)
    return (
        f"{label:<32} {runs}   median {statistics.median(values):6.2f}"
        f"  min {min(values):6.2f}  max {max(values):6.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5, help="number of boots (default: 5)")
    p.add_argument("--name", default="bench-boot", help="cluster name to use (default: bench-boot)")
    p.add_argument("--argocd-version", default=None, help="Argo CD release tag (default: pinned)")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error(f"--runs must be at least 1, got {args.runs}")
    status = subprocess.run(
        [_cli(), "cluster", "status", "--name", args.name], capture_output=True, check=False
    )
    if status.returncode == 0:
        p.error(f"a cluster named {args.name!r} is running; take it down first or pass another --name")
    version_args = ["--argocd-version", args.argocd_version] if args.argocd_version else []
    subprocess.run([_cli(), "build", *version_args], check=True, stdout=subprocess.DEVNULL)

    walls: list[float] = []
    steps: list[dict[str, float]] = []
    for i in range(args.runs):
        wall, timings = _one_boot(args.name, version_args)
        walls.append(wall)
        steps.append(timings)
        total = timings.get("total", 0.0)
        print(f"run {i + 1}/{args.runs}: `cluster up` {wall:.2f}s (cluster total {total:.2f}s)", flush=True)

    print(f"\nseconds per run ({args.runs} warm boots)")
    print(_row("`cluster up` command, wall", walls))
    in_every_run = set.intersection(*(set(t) for t in steps))
    names = [s for s in STEPS if s in in_every_run] + sorted(in_every_run - set(STEPS))
    for name in names:
        print(_row(name, [t[name] for t in steps]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
