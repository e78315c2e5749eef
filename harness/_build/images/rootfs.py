"""Debian root file systems for the local images, made with mmdebstrap and cached as tar files.

Two are made, both of Debian trixie (the release kind's own base image uses, `debian:trixie-slim`
in `images/base/Dockerfile` of the kind module):

* `node`: what kind's base Dockerfile installs (systemd, iptables, mount tools, ...) plus the
  container runtime kind builds from source, here Debian's packages of it (containerd, runc, the
  CNI plugins). nfs-common and open-iscsi (storage drivers) are left out: nothing here mounts NFS
  or iSCSI volumes.
* `apps`: what Argo CD's image installs on Ubuntu (git, tini, gpg, gpg-agent, tzdata,
  connect-proxy, openssh-client; git-lfs and kustomize, which its Dockerfile builds), Debian's
  redis-server for the redis image, busybox-static for the hook image, and iptables/conntrack for
  kube-proxy.

The mirror is the first `URIs:` of /etc/apt/sources.list.d/debian.sources (the machine's own
mirror), else deb.debian.org; `ARGOCD_CHAOS_DEBIAN_MIRROR` overrides it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from harness._build.images import steps
from harness._errors import BuildError

SUITE: Final = "trixie"
DEFAULT_MIRROR: Final = "http://deb.debian.org/debian"
MIRROR_ENV: Final = "ARGOCD_CHAOS_DEBIAN_MIRROR"
SOURCES: Final = Path("/etc/apt/sources.list.d/debian.sources")

NODE_PACKAGES: Final = (
    "systemd",
    "conntrack",
    "iptables",
    "nftables",
    "iproute2",
    "ethtool",
    "util-linux",
    "mount",
    "kmod",
    "libseccomp2",
    "pigz",
    "fuse-overlayfs",
    "e2fsprogs",
    "bash",
    "ca-certificates",
    "curl",
    "jq",
    "procps",
    "containerd",
    "runc",
    "containernetworking-plugins",
)
APPS_PACKAGES: Final = (
    "passwd",
    "git",
    "git-lfs",
    "tini",
    "gpg",
    "gpg-agent",
    "tzdata",
    "connect-proxy",
    "openssh-client",
    "kustomize",
    "ca-certificates",
    "redis-server",
    "busybox-static",
    "iptables",
    "nftables",
    "conntrack",
)


def mirror(sources: Path = SOURCES) -> str:
    env = os.environ.get(MIRROR_ENV)
    if env:
        return env
    try:
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:") and line.split()[1:]:
                uri = line.split()[1]
                if not uri.rstrip("/").endswith("-security"):
                    return uri
    except OSError:
        pass
    return DEFAULT_MIRROR


def mmdebstrap_argv(exe: str, packages: Sequence[str], out: Path, mirror_uri: str) -> list[str]:
    return [
        exe,
        "--variant=minbase",
        f"--include={','.join(packages)}",
        # documentation and translations are a third of the size and nobody reads them in a container
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--aptopt=Acquire::Retries=3",
        SUITE,
        str(out),
        mirror_uri,
    ]


def key(packages: Sequence[str], mirror_uri: str) -> str:
    text = "\n".join([SUITE, mirror_uri, *sorted(packages)])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def ensure(name: str, packages: Sequence[str], say: steps.Say) -> Path:
    """The rootfs tar of `name` with `packages`: cached per (suite, mirror, package set)."""
    exe = shutil.which("mmdebstrap")
    if exe is None:
        raise BuildError(
            "mmdebstrap is not installed: the local images' root file systems are made from Debian "
            "packages with it (apt-get install mmdebstrap)"
        )
    uri = mirror()
    entry = f"rootfs-{name}-{SUITE}-{key(packages, uri)}"

    def build(staging: Path) -> None:
        steps.run(
            mmdebstrap_argv(exe, packages, staging / "rootfs.tar", uri),
            f"mmdebstrap {name} root file system ({SUITE}, {len(packages)} packages, {uri})",
            say,
        )

    return steps.cached_entry(entry, lambda r: (r / "rootfs.tar").is_file(), build, say) / "rootfs.tar"
