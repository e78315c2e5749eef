"""The kind node image, assembled from the Debian node root file system and kind's own base files.

What `kind create cluster --image` needs from a node image is read from the `sigs.k8s.io/kind`
module (`images/base/`, `pkg/cluster/internal/`); the module zip ships `images/base/files` (the
entrypoint, systemd units, containerd config), which are copied in with the modes kind's
Dockerfile gives them. Changes to kind's files, each for a reason found on a machine with no
registry:

* containerd's `sandbox_image` is the pause tag kubeadm asks for (the one preloaded);
* `restrict_oom_score_adj = true` where the kernel withholds CAP_SYS_RESOURCE: then no container
  may lower its oom_score_adj, and the -997 the kubelet gives critical pods fails the container;
* no kindnetd (its source is a nested module no proxy serves): a static CNI config for one node
  (ptp, host-local 10.244.0.0/24 inside kind's default pod subnet, portmap), and
  `/kind/manifests/default-cni.yaml` a ConfigMap that says so; kind applies it only when the
  config keeps the default CNI;
* `/kind/manifests/default-storage.yaml` only the `standard` StorageClass (local-path-provisioner
  is not served in a current version either; Argo CD uses no volumes that need it).

The images the control plane runs are imported into the node's containerd (namespace k8s.io,
pinned, not unpacked) before the image is committed, as kind's own `kind build node-image` does, so
kubeadm and the kubelet find them without pulling.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from harness._build.images import engine
from harness._build.images.docker import Docker
from harness._errors import BuildError
from harness._wait import Expectation, Outcome, expect

FILES: Final = Path(__file__).resolve().parent / "files"
POD_SUBNET: Final = "10.244.0.0/24"
CNI_CONFLIST: Final = "10-argocd-chaos-ptp.conflist"
PRELOAD_TIMEOUT: Final = 120.0
#: The label containerd's CRI plugin reads as "pinned" (kind's node image builder sets it too).
PINNED: Final = "io.cri-containerd.pinned=pinned"


def cni_conflist(subnet: str = POD_SUBNET) -> dict[str, object]:
    return {
        "cniVersion": "0.4.0",
        "name": "argocd-chaos-static",
        "plugins": [
            {
                "type": "ptp",
                "ipMasq": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": "/run/cni-ipam-state",
                    "ranges": [[{"subnet": subnet}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
                "mtu": 1500,
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


DEFAULT_CNI: Final = """\
# argocd-chaos local node image: pods get addresses from the static CNI config
# /etc/cni/net.d/10-argocd-chaos-ptp.conflist (one node only); kindnetd is not in this image.
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-chaos-static-cni
  namespace: kube-system
data:
  conflist: /etc/cni/net.d/10-argocd-chaos-ptp.conflist
"""

DEFAULT_STORAGE: Final = """\
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
"""


def containerd_config(kind_config: str, pause_image: str, *, restrict_oom: bool) -> str:
    """The containerd config of kind with the sandbox image and, when needed, restrict_oom_score_adj."""
    out: list[str] = []
    seen = {"sandbox_image": False, "restrict_oom_score_adj": False}
    for line in kind_config.splitlines():
        key = line.strip().split("=", 1)[0].strip()
        if key == "sandbox_image":
            line = f'  sandbox_image = "{pause_image}"'
            seen[key] = True
        elif key == "restrict_oom_score_adj":
            line = f"  restrict_oom_score_adj = {'true' if restrict_oom else 'false'}"
            seen[key] = True
        out.append(line)
    missing = [k for k, v in seen.items() if not v]
    if missing:
        raise BuildError(f"kind's containerd config has no {', '.join(missing)}: has its layout changed?")
    return "\n".join(out) + "\n"


def _copy_tree(src: Path, dst: Path, mode_for: dict[str, int], default: int) -> None:
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        target = dst / rel
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            target.chmod(0o755)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        mode = next((m for prefix, m in mode_for.items() if rel.as_posix().startswith(prefix)), default)
        target.chmod(mode)


def stage_context(
    context: Path,
    *,
    kind_dir: Path,
    node_bin: Path,
    crictl: Path,
    kubernetes: str,
    pause_image: str,
    restrict_oom: bool,
) -> Path:
    """The docker build context of the node image (Dockerfile + `files/`, the tree put over `/`)."""
    files = context / "files"
    files.mkdir(parents=True)
    files.chmod(0o755)
    # kind's Dockerfile: scripts in usr/local/bin and kind/bin executable, everything else 0644
    _copy_tree(
        kind_dir / "images" / "base" / "files", files, {"usr/local/bin/": 0o755, "kind/bin/": 0o755}, 0o644
    )
    cfg = files / "etc" / "containerd" / "config.toml"
    cfg.write_text(containerd_config(cfg.read_text(), pause_image, restrict_oom=restrict_oom))
    (files / "kind" / "version").write_text(kubernetes + "\n")
    manifests = files / "kind" / "manifests"
    manifests.mkdir(parents=True, exist_ok=True)
    manifests.chmod(0o755)
    (manifests / "default-cni.yaml").write_text(DEFAULT_CNI)
    (manifests / "default-storage.yaml").write_text(DEFAULT_STORAGE)
    for d in ("etc/cni", "etc/cni/net.d", "usr", "usr/bin", "usr/local", "usr/local/bin"):
        (files / d).mkdir(parents=True, exist_ok=True)
        (files / d).chmod(0o755)
    (files / "etc" / "cni" / "net.d" / CNI_CONFLIST).write_text(json.dumps(cni_conflist(), indent=2) + "\n")
    for name in ("kubelet", "kubeadm", "kubectl"):
        shutil.copy2(node_bin / name, files / "usr" / "bin" / name)
    shutil.copy2(crictl, files / "usr" / "local" / "bin" / "crictl")
    shutil.copyfile(FILES / "node.Dockerfile", context / "Dockerfile")
    return context


def preload(docker: Docker, staged: str, tag: str, images: Sequence[str]) -> str:
    """Import `images` into the node's containerd and commit the result as `tag`; its image id.

    containerd runs in a privileged container of the staged image (its content store is plain
    files, so nothing is unpacked and no snapshotter is needed) and is stopped before the commit.
    """
    name = f"argocd-chaos-node-build-{uuid.uuid4().hex[:8]}"
    docker.run(
        [
            "run",
            "-d",
            "--privileged",
            "--name",
            name,
            "--tmpfs",
            "/run",
            "--tmpfs",
            "/tmp",
            "--entrypoint",
            "sleep",
            staged,
            "infinity",
        ],
        "start the node image build container",
    )
    try:
        docker.run(
            ["exec", "-d", name, "sh", "-c", "containerd >/tmp/containerd.log 2>&1"], "start containerd"
        )

        def answers() -> Outcome:
            p = docker.run(
                ["exec", name, "sh", "-c", "ctr version >/dev/null 2>&1 && echo up || true"], "ctr"
            )
            return (
                Outcome.met("containerd answers") if p == "up" else Outcome.pending("containerd not up yet")
            )

        expect(
            Expectation("containerd in the node build container answers `ctr version`", answers),
            timeout=PRELOAD_TIMEOUT,
        )
        for image in images:
            data = docker.save([image])
            docker.run(
                [
                    "exec",
                    "-i",
                    name,
                    "ctr",
                    "--namespace=k8s.io",
                    "images",
                    "import",
                    "--all-platforms",
                    "--no-unpack",
                    "--digests",
                    "-",
                ],
                f"preload {image} into the node's containerd",
                quiet=False,
                input=data,
            )
            # pinned: the kubelet's image garbage collection never removes it (there is no pulling it back)
            docker.run(
                ["exec", name, "ctr", "--namespace=k8s.io", "images", "label", image, PINNED],
                f"pin {image}",
            )
        listed = docker.run(
            ["exec", name, "ctr", "--namespace=k8s.io", "images", "list", "-q"], "list images"
        )
        missing = [
            i for i in images if not any(line.endswith(i.split("/", 1)[-1]) for line in listed.splitlines())
        ]
        if missing:
            raise BuildError(f"the node's containerd lacks {missing} after the import; it lists:\n{listed}")
        docker.run(
            [
                "exec",
                name,
                "sh",
                "-c",
                "pkill containerd; while pgrep containerd >/dev/null; do sleep 0.2; done",
            ],
            "stop containerd",
        )
        docker.run(
            [
                "commit",
                "--change",
                'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]',
                "--change",
                "CMD []",
                name,
                tag,
            ],
            f"docker commit {tag}",
            quiet=False,
        )
    finally:
        docker.remove_container(name)
    return docker.image_id(tag) or ""


def restrict_oom_score_adj() -> bool:
    return engine.lacks_sys_resource()
