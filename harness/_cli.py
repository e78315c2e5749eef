"""The `argocd-chaos` command: build the embedded binaries, manage clusters, print the ledger."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from harness._config import settings_from_options, timeouts_from_env, unknown_env_warning
from harness._errors import ConfigError, HarnessError
from harness._signals import install_sigterm_handler

PROVIDERS = ("embedded", "kind", "existing")


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="argocd-chaos", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="compile the embedded cluster's binaries (cached per version)")
    b.add_argument(
        "--argocd-version", default=None, help="Argo CD release tag, e.g. v3.6.1 (default: pinned)"
    )
    b.add_argument(
        "--print",
        choices=("bin", "release"),
        default="bin",
        help="what to print on stdout when done: the bin folder (default) or the release name",
    )
    b.add_argument(
        "--argocd-source",
        default=None,
        metavar="DIR",
        help="build a git checkout of argo-cd instead (release tag, fork, PR branch); v3.3 to v3.5 "
        "build this way only",
    )

    im = sub.add_parser(
        "images",
        help="build the local container images kind runs on machines with no registry (cached per release)",
    )
    imsub = im.add_subparsers(dest="action", required=True)
    imb = imsub.add_parser(
        "build", help="build (or find cached) the kind node, Argo CD, redis, dex and busybox images"
    )
    imb.add_argument(
        "--argocd-version", default=None, help="Argo CD release tag, e.g. v3.6.1 (default: pinned)"
    )
    imb.add_argument(
        "--print",
        choices=("images", "kind"),
        default="images",
        help="what to print on stdout when done: the image names (default) or the kind binary they are for",
    )
    imb.add_argument(
        "--engine-log",
        default=None,
        metavar="FILE",
        help="where a Docker engine started for the build logs (default: in the cache's logs/)",
    )

    c = sub.add_parser("cluster", help="bring a cluster up or down, or show what runs")
    csub = c.add_subparsers(dest="action", required=True)
    up = csub.add_parser("up", help="start a cluster and leave it running")
    up.add_argument("--provider", choices=PROVIDERS, default="embedded")
    up.add_argument("--argocd-version", default=None)
    up.add_argument("--argocd-source", default=None, metavar="DIR", help="a git checkout of argo-cd to build")
    up.add_argument("--name", default="argocd-chaos")
    up.add_argument(
        "--api-port", type=_port, default=None, help="fixed kube-apiserver port (default: any free)"
    )
    up.add_argument(
        "--keep-on-failure", action="store_true", help="keep state and logs of a cluster that fails to boot"
    )
    up.add_argument(
        "--controller-arg",
        action="append",
        default=[],
        metavar="--FLAG=VALUE",
        help="an extra argocd-application-controller flag, repeatable, given with '='",
    )
    up.add_argument(
        "--argocd-cm", action="append", default=[], metavar="KEY=VALUE", help="an argocd-cm entry, repeatable"
    )
    for action in ("down", "status"):
        a = csub.add_parser(action)
        a.add_argument("--name", default="argocd-chaos")
    for action in ("stop", "kill", "start", "restart"):
        a = csub.add_parser(action, help=f"{action} one component of a running embedded cluster")
        a.add_argument("component")
        a.add_argument("--name", default="argocd-chaos")
    pz = csub.add_parser(
        "pause", help="freeze one component (SIGSTOP) for some seconds, then let it run again"
    )
    pz.add_argument("component")
    pz.add_argument("--seconds", type=float, required=True, help="how long it stays frozen")
    pz.add_argument("--name", default="argocd-chaos")

    r = sub.add_parser(
        "reproduce",
        help="replay an incident from an Application and its manifests on a test cluster",
        description="Replay an incident from files: the Application as "
        "`kubectl get application NAME -o yaml` prints it and its rendered manifests. Hooks succeed "
        "unless a flag says otherwise. Exit 0: the replay ran and every expectation held; "
        "1: an expectation did not hold; 2: bad input.",
    )
    r.add_argument("--app", required=True, type=Path, metavar="APPLICATION.yaml", help="the Application")
    r.add_argument(
        "--manifests",
        required=True,
        type=Path,
        metavar="PATH",
        help="a file, a folder or a multi-document stream",
    )
    r.add_argument(
        "--steps", type=Path, default=None, metavar="STEPS.yaml", help="steps after the default ones"
    )
    r.add_argument("--argocd-version", default=None, help="Argo CD release to replay on (default: pinned)")
    r.add_argument(
        "--cluster", choices=PROVIDERS, default="embedded", help="cluster provider (default: embedded)"
    )
    r.add_argument(
        "--cluster-name", default="argocd-chaos-reproduce", help="a running cluster of it is reused"
    )
    r.add_argument("--context", default=None, help="kubeconfig context (existing provider)")
    r.add_argument("--keep-cluster", choices=("never", "always"), default="never")
    r.add_argument("--fail", action="append", default=[], metavar="HOOK[=EXIT_CODE]", help="this hook fails")
    r.add_argument("--hang", action="append", default=[], metavar="HOOK", help="this hook runs until deleted")
    r.add_argument(
        "--duration",
        action="append",
        default=[],
        metavar="HOOK=5s",
        help="this hook runs that long before it ends",
    )
    r.add_argument(
        "--reports", type=Path, default=None, metavar="DIR", help="default: reports/reproduce/<app>/"
    )

    inc = sub.add_parser(
        "incidents",
        help="replay the catalogue of known hook bugs (incidents/) on one release and write the table",
    )
    inc.add_argument("--catalogue", type=Path, default=Path("incidents"), metavar="DIR")
    inc.add_argument("--reports", type=Path, default=Path("reports"), metavar="DIR")
    inc.add_argument("--argocd-version", default=None)
    inc.add_argument("--cluster-name", default="argocd-chaos-incidents")
    inc.add_argument("--only", action="append", default=[], metavar="INCIDENT", help="replay only these")
    inc.add_argument(
        "--table-only",
        action="store_true",
        help="write reports/incidents.md/.json from the runs already there",
    )

    cl = sub.add_parser("claims", help="print the last claims ledger")
    cl.add_argument("--reports", default="reports", help="reports directory (default: reports)")
    cl.add_argument(
        "--compare",
        default=None,
        metavar="OLD_REPORTS",
        help="compare with the ledger of an earlier run (its reports directory or claims.json): "
        "verdicts, every check that differs, and measured figures side by side",
    )
    cl.add_argument(
        "--matrix",
        default=None,
        metavar="DIR",
        help="assemble the claims matrix from DIR/<release>/claims.json (what `make matrix` leaves), "
        "write DIR/matrix.json and DIR/matrix.md, and print it",
    )
    cl.add_argument(
        "--html",
        action="store_true",
        help="write the claims page, DIR/claims.html (verdicts, checks, evidence, charts, and the "
        "release grid when DIR has a matrix.json), and print its path",
    )
    cl.add_argument(
        "--diff",
        nargs=2,
        default=None,
        metavar=("FROM", "TO"),
        help="with --html: the upgrade to open on the page, two releases of matrix.json "
        "(default: the last two)",
    )
    cl.add_argument(
        "--fail-on-change",
        action="store_true",
        help="with --compare: exit 1 when a verdict or a check differs (an upgrade gate for CI)",
    )
    return p


def _port(value: str) -> int:
    """A TCP port number, checked by argparse so that a bad one is a usage error before any work."""
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is out of range 1-65535")
    return port


def _images(args: argparse.Namespace) -> int:
    """`images build`: every local image of the release, in a Docker engine started here if none runs."""
    from harness._build.images import ensure_images
    from harness._build.images.docker import Docker
    from harness._build.images.engine import started_engine
    from harness._build.versions import normalise_version
    from harness._paths import cache_root

    if args.argocd_version:
        normalise_version(args.argocd_version)  # a malformed tag is refused before any slow work
    log = Path(args.engine_log) if args.engine_log else cache_root() / "logs" / "dockerd.log"
    with started_engine(log, _say) as engine:
        made = ensure_images(args.argocd_version, docker=Docker(engine.docker, _say), say=_say)
    if args.print == "kind":
        print(made.kind)
        return 0
    for image in (made.node_image, *made.app_images):
        print(image)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    install_sigterm_handler()
    warning = unknown_env_warning()
    if warning:
        _say(f"argocd-chaos: warning: {warning}")
    try:
        timeouts_from_env()  # a bad ARGOCD_CHAOS_TIMEOUT_* is an input error, found before any work
        return _dispatch(args)
    except HarnessError as exc:
        _say(f"argocd-chaos: error: {exc}")
        return 2 if isinstance(exc, ConfigError) else 1
    except KeyboardInterrupt:
        _say("argocd-chaos: interrupted; everything started by this command was stopped")
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "build":
        from harness._build.binaries import ensure_build
        from harness._build.render_tools import ensure_render_tools

        b = ensure_render_tools(ensure_build(args.argocd_version, source=args.argocd_source, out=_say), _say)
        print(b.versions.argocd if args.print == "release" else b.bin)
        return 0
    if args.command == "images":
        return _images(args)
    if args.command == "reproduce":
        return _reproduce(args)
    if args.command == "incidents":
        from harness._reproduce.incidents import run_incidents

        return run_incidents(
            catalogue=args.catalogue,
            reports=args.reports,
            argocd_version=args.argocd_version,
            cluster_name=args.cluster_name,
            only=args.only,
            table_only=args.table_only,
            say=_say,
        )
    if args.command == "claims" and args.matrix is not None:
        from harness._report.matrix import format_matrix_markdown, write_matrix

        if args.compare is not None or args.fail_on_change:
            raise ConfigError("--matrix compares every adjacent pair itself; drop --compare/--fail-on-change")
        json_path, md_path, m = write_matrix(Path(args.matrix))
        print(format_matrix_markdown(m), end="")
        _say(f"argocd-chaos: wrote {json_path} and {md_path}")
        from harness._reproduce.incidents import matrix_section

        # The incident catalogue's verdicts per release, when `make incidents` wrote them there too.
        incidents = matrix_section(Path(args.matrix))
        if incidents:
            with md_path.open("a", encoding="utf-8") as f:
                f.write(incidents)
            print(incidents, end="")
        return 0
    if args.command == "claims":
        from harness._report.ledger import format_ledger_table, load_ledger

        if args.diff is not None and not args.html:
            raise ConfigError("--diff FROM TO chooses the upgrade shown on the page: give it with --html")
        if args.html:
            if args.compare is not None or args.fail_on_change:
                raise ConfigError("--html writes the page of one reports directory; run --compare separately")
            from harness._report.html import write_claims_page
            from harness._report.lanes import replay_reports

            reports = Path(args.reports)
            if (
                not (reports / "claims.json").is_file()
                and not (reports / "matrix.json").is_file()
                and not replay_reports(reports)
            ):
                raise ConfigError(
                    f"no ledger at {reports / 'claims.json'}, no matrix.json and no replay report beside it; "
                    "run `make chaos` first (or pass --reports DIR)"
                )
            print(write_claims_page(reports, diff_pair=tuple(args.diff) if args.diff else None))
            return 0
        path = Path(args.reports) / "claims.json"
        if not path.is_file():
            raise ConfigError(f"no ledger at {path}; run `make chaos` first (or pass --reports DIR)")
        if args.compare is None:
            if args.fail_on_change:
                raise ConfigError("--fail-on-change needs --compare OLD_REPORTS: there is nothing to compare")
            print(format_ledger_table(load_ledger(path)))
            return 0
        from harness._report.ledger_diff import diff_ledgers, format_ledger_diff
        from harness._reproduce.incidents import compare_runs, format_compare

        diff = diff_ledgers(load_ledger(Path(args.compare)), load_ledger(path))
        print(format_ledger_diff(diff, args.compare, args.reports), end="")
        # The catalogue of known hook bugs, when both runs replayed it (`make incidents`).
        bugs = compare_runs(Path(args.compare), Path(args.reports))
        print(format_compare(bugs), end="")
        if args.fail_on_change and any(b["change"] == "appears" for b in bugs):
            return 1
        if args.fail_on_change and not diff.changed and not diff.compared:
            raise HarnessError(
                f"--fail-on-change: nothing to compare, no claim ran in both {args.compare} and "
                f"{args.reports}; a gate cannot pass without evidence: run the suites on both releases"
            )
        return 1 if args.fail_on_change and diff.changed else 0
    return _cluster(args)


def _reproduce(args: argparse.Namespace) -> int:
    from harness._report.html import refresh_claims_page
    from harness._reproduce.command import ClusterOptions, page_root, reproduce

    result, json_path, md_path = reproduce(
        app=args.app,
        manifests=args.manifests,
        steps=args.steps,
        fail=args.fail,
        hang=args.hang,
        duration=args.duration,
        reports=args.reports,
        cluster=ClusterOptions(
            provider=args.cluster,
            argocd_version=args.argocd_version,
            cluster_name=args.cluster_name,
            keep_cluster=args.keep_cluster,
            context=args.context,
        ),
        say=_say,
    )
    failed = [e for e in result.expectations if not e.held]
    for e in failed:
        _say(f"argocd-chaos: expectation not held (step {e.step}): {e.expectation}; observed: {e.observed}")
    _say(f"argocd-chaos: wrote {json_path} and {md_path}")
    refresh_claims_page(page_root(json_path.parent), _say)
    return 1 if failed else 0


def _cluster(args: argparse.Namespace) -> int:
    from harness._cluster.embedded.cluster import EmbeddedCluster, EmbeddedOptions, validate_name
    from harness._paths import state_root

    name = validate_name(args.name)
    if args.action == "up":
        if args.provider != "embedded":
            raise ConfigError(
                f"`cluster up --provider {args.provider}` is not available from the CLI; the {args.provider} "
                "provider is driven by pytest (`make chaos CLUSTER=kind`). Use --provider embedded here."
            )
        from harness._build.binaries import ensure_build
        from harness._build.versions import normalise_version
        from harness._cluster.embedded.ports import require_free

        # Every input first: a build can take many minutes on a cold cache.
        controller_args, argocd_cm = settings_from_options(args.controller_arg, args.argocd_cm)
        if args.argocd_version is not None:
            normalise_version(args.argocd_version)
        if args.api_port is not None:
            require_free(args.api_port, "kube-apiserver")
        from harness._build.render_tools import ensure_render_tools

        build = ensure_render_tools(
            ensure_build(args.argocd_version, source=args.argocd_source, out=_say), _say
        )
        cluster = EmbeddedCluster(name, build)
        options = EmbeddedOptions(
            name=name,
            api_port=args.api_port,
            keep_on_failure=args.keep_on_failure,
            controller_args=list(controller_args),
            argocd_cm=argocd_cm,
        )
        cluster.up(options, say=_say)
        print(f"kubeconfig: {cluster.kubeconfig}")
        print(f"export KUBECONFIG={cluster.kubeconfig}")
        return 0
    if args.action == "down":
        # Whatever is there, readable state or not: stop what runs and remove the directory.
        if EmbeddedCluster.remove(name):
            print(f"cluster {name}: stopped and removed")
        else:
            print(f"cluster {name}: not running, nothing to do")
        return 0
    cluster_or_none = EmbeddedCluster.attach(name)  # StateFileError says what is wrong and what to do
    if args.action == "status":
        if cluster_or_none is None:
            leftover = state_root() / name
            if leftover.exists():
                print(f"cluster {name}: not running; `cluster down --name {name}` removes {leftover}")
            else:
                print(f"cluster {name}: not running")
            return 3
        running = cluster_or_none.running()
        print(
            json.dumps(
                {
                    "name": name,
                    "state_dir": str(cluster_or_none.state_dir),
                    "kubeconfig": str(cluster_or_none.kubeconfig),
                    "versions": json.loads(cluster_or_none.versions.to_json()),
                    "ports": cluster_or_none.ports,
                    "components": {k: ("running" if v else "stopped") for k, v in running.items()},
                },
                indent=2,
            )
        )
        return 0 if all(running.values()) else 4
    if cluster_or_none is None:
        raise ConfigError(
            f"cluster {name!r} is not running; start it with `argocd-chaos cluster up --name {name}`"
        )
    if args.action == "pause":
        # The command lasts as long as the pause; Ctrl-C ends it early and resumes the component.
        with cluster_or_none.pause(args.component, args.seconds) as paused:
            print(f"cluster {name}: {args.component} paused for {args.seconds:g}s", flush=True)
            paused.wait()
        print(f"cluster {name}: {args.component} resumed")
        return 0
    getattr(cluster_or_none, args.action)(args.component)
    print(f"cluster {name}: {args.action} {args.component}: done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
