"""Run one command with a Docker engine: the running one, or dockerd started for it and stopped after.

`make test-kind` runs its image build, suites and comparison inside this, so a fresh machine needs no
engine set up by hand: the engine gets the runc wrapper where the kernel withholds CAP_SYS_RESOURCE
(`harness._build.images.engine`). Exits with the command's status (2 when no engine can be had).

    .venv/bin/python tools/with_docker_engine.py [--log FILE] -- COMMAND [ARG...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from harness._build.images.engine import started_engine
from harness._errors import ConfigError
from harness._paths import cache_root


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--log", default=None, help="dockerd's log, when started here (default: in the cache)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = p.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        p.error("give the command to run after --")
    log = Path(args.log) if args.log else cache_root() / "logs" / "dockerd.log"
    try:
        with started_engine(log, _say) as engine:
            if engine.started:
                _say(f"docker: engine {engine.version} started for `{' '.join(command)}`; stopped after it")
            return subprocess.run(command, check=False).returncode
    except ConfigError as exc:
        _say(f"with_docker_engine: error: {exc}")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
