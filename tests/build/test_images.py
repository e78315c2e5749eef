"""The local images' parts that need no engine: kind's files, configs, rootfs, image lists, the cache."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness._build import images
from harness._build.images import node, rootfs, steps
from harness._errors import BuildError

KIND_CONTAINERD = """\
version = 2
[plugins."io.containerd.grpc.v1.cri"]
  # use fixed sandbox image
  sandbox_image = "registry.k8s.io/pause:3.10"
  tolerate_missing_hugepages_controller = true
  restrict_oom_score_adj = false
"""


def test_containerd_config_takes_the_pause_tag_and_the_oom_setting() -> None:
    out = node.containerd_config(KIND_CONTAINERD, "registry.k8s.io/pause:3.10.2", restrict_oom=True)
    assert '  sandbox_image = "registry.k8s.io/pause:3.10.2"' in out.splitlines()
    assert "  restrict_oom_score_adj = true" in out.splitlines()
    assert "tolerate_missing_hugepages_controller = true" in out
    kept = node.containerd_config(KIND_CONTAINERD, "p:1", restrict_oom=False)
    assert "  restrict_oom_score_adj = false" in kept.splitlines()


def test_containerd_config_of_another_layout_is_an_error() -> None:
    with pytest.raises(BuildError, match="no restrict_oom_score_adj"):
        node.containerd_config('sandbox_image = "x"\n', "p:1", restrict_oom=True)


def test_static_cni_is_one_node_ptp_with_portmap() -> None:
    conf = node.cni_conflist()
    ptp, portmap = conf["plugins"]  # type: ignore[misc]
    assert ptp["type"] == "ptp"
    assert ptp["ipMasq"] is True
    assert ptp["ipam"]["ranges"] == [[{"subnet": "10.244.0.0/24"}]]
    assert portmap == {"type": "portmap", "capabilities": {"portMappings": True}}


def _kind_module(tmp: Path) -> Path:
    files = tmp / "kind" / "images" / "base" / "files"
    for rel in (
        "usr/local/bin/entrypoint",
        "kind/bin/mount-product-files.sh",
        "etc/crictl.yaml",
        "etc/systemd/system/kubelet.service",
    ):
        (files / rel).parent.mkdir(parents=True, exist_ok=True)
        (files / rel).write_text(f"# {rel}\n")
    (files / "etc/containerd").mkdir(parents=True)
    (files / "etc/containerd/config.toml").write_text(KIND_CONTAINERD)
    return tmp / "kind"


def test_node_context_has_kinds_files_with_kinds_modes_and_the_node_binaries(tmp_path: Path) -> None:
    bins = tmp_path / "bin"
    bins.mkdir()
    for b in ("kubelet", "kubeadm", "kubectl", "crictl"):
        (bins / b).write_text("ELF")
        (bins / b).chmod(0o755)
    ctx = node.stage_context(
        tmp_path / "ctx",
        kind_dir=_kind_module(tmp_path),
        node_bin=bins,
        crictl=bins / "crictl",
        kubernetes="v1.37.0",
        pause_image="registry.k8s.io/pause:3.10.2",
        restrict_oom=True,
    )
    f = ctx / "files"

    def mode(rel: str) -> int:
        return stat.S_IMODE((f / rel).stat().st_mode)

    assert mode("usr/local/bin/entrypoint") == 0o755
    assert mode("kind/bin/mount-product-files.sh") == 0o755
    assert mode("etc/crictl.yaml") == 0o644
    assert mode("usr/bin/kubelet") == 0o755
    assert mode("usr/local/bin/crictl") == 0o755
    assert (f / "kind/version").read_text() == "v1.37.0\n"
    assert "restrict_oom_score_adj = true" in (f / "etc/containerd/config.toml").read_text()
    conflist = json.loads((f / "etc/cni/net.d" / node.CNI_CONFLIST).read_text())
    assert conflist == node.cni_conflist()
    storage = yaml.safe_load((f / "kind/manifests/default-storage.yaml").read_text())
    assert storage["kind"] == "StorageClass"
    assert storage["metadata"]["name"] == "standard"
    assert yaml.safe_load((f / "kind/manifests/default-cni.yaml").read_text())["kind"] == "ConfigMap"
    assert (ctx / "Dockerfile").read_text() == (node.FILES / "node.Dockerfile").read_text()


def test_mirror_is_the_machines_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(rootfs.MIRROR_ENV, raising=False)
    sources = tmp_path / "debian.sources"
    sources.write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\n\nURIs: http://mirror.example/debian\n"
    )
    assert rootfs.mirror(sources) == "http://mirror.example/debian"
    assert rootfs.mirror(tmp_path / "missing") == rootfs.DEFAULT_MIRROR
    monkeypatch.setenv(rootfs.MIRROR_ENV, "http://other/debian")
    assert rootfs.mirror(sources) == "http://other/debian"


def test_mmdebstrap_command_and_cache_key(tmp_path: Path) -> None:
    argv = rootfs.mmdebstrap_argv(
        "/usr/bin/mmdebstrap", ["git", "tini"], tmp_path / "r.tar", "http://m/debian"
    )
    assert argv[:3] == ["/usr/bin/mmdebstrap", "--variant=minbase", "--include=git,tini"]
    assert argv[-3:] == ["trixie", str(tmp_path / "r.tar"), "http://m/debian"]
    assert rootfs.key(["git", "tini"], "http://m") == rootfs.key(["tini", "git"], "http://m")
    assert rootfs.key(["git"], "http://m") != rootfs.key(["git", "tini"], "http://m")


def test_image_names() -> None:
    assert images.repository_name("registry.k8s.io/coredns/coredns:v1.14.6") == "coredns"
    assert images.repository_name("quay.io/argoproj/argocd:v3.6.1") == "argocd"
    assert images.tag_of("registry.k8s.io/etcd:3.7.0-0") == "3.7.0-0"
    with pytest.raises(BuildError, match="has no tag"):
        images.tag_of("busybox")


def test_manifest_images_lists_containers_and_init_containers_once(tmp_path: Path) -> None:
    def workload(*images_: str, init: str | None = None) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "containers": [{"name": f"c{i}", "image": im} for i, im in enumerate(images_)]
        }
        if init:
            spec["initContainers"] = [{"name": "init", "image": init}]
        return {"kind": "Deployment", "spec": {"template": {"spec": spec}}}

    docs = [
        {"kind": "ConfigMap", "data": {"a": "b"}},
        workload("quay.io/argoproj/argocd:v3.6.1"),
        workload("ghcr.io/dexidp/dex:v2.46.0", init="quay.io/argoproj/argocd:v3.6.1"),
        workload("redis:8", init="quay.io/argoproj/argocd:v3.6.1"),
    ]
    path = tmp_path / "install.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    assert images.manifest_images(path) == [
        "quay.io/argoproj/argocd:v3.6.1",
        "ghcr.io/dexidp/dex:v2.46.0",
        "redis:8",
    ]


def test_local_images_stamp_round_trips(tmp_path: Path) -> None:
    made = images.LocalImages(
        "v3.6.1", "v1.37.0", "n:1", ("a:1", "b:2"), {"n:1": "sha256:1"}, tmp_path / "kind"
    )
    assert images.LocalImages.from_json(made.to_json()) == made


class FakeDocker:
    def __init__(self, ids: dict[str, str]) -> None:
        self.ids = ids

    def image_id(self, ref: str) -> str | None:
        return self.ids.get(ref)


def test_stamp_counts_only_while_the_engine_holds_the_same_ids(tmp_path: Path) -> None:
    kind = tmp_path / "kind"
    kind.write_text("")
    made = images.LocalImages(
        "v3.6.1", "v1.37.0", "n:1", ("a:1",), {"n:1": "sha256:1", "a:1": "sha256:2"}, kind
    )
    assert images.present(made, FakeDocker({"n:1": "sha256:1", "a:1": "sha256:2"}))  # type: ignore[arg-type]
    assert not images.present(made, FakeDocker({"n:1": "sha256:1", "a:1": "sha256:9"}))  # type: ignore[arg-type]
    assert not images.present(made, FakeDocker({"n:1": "sha256:1"}))  # type: ignore[arg-type]


def test_cached_entry_builds_once_and_checks_completeness(chaos_dirs: Any) -> None:
    built: list[Path] = []

    def build(staging: Path) -> None:
        built.append(staging)
        (staging / "bin" / "tool").write_text("#!/bin/sh\n")
        (staging / "bin" / "tool").chmod(0o755)

    def complete(root: Path) -> bool:
        return steps.executables(root, ["tool"])

    said: list[str] = []
    root = steps.cached_entry("tool-v1", complete, build, said.append)
    assert (root / "bin" / "tool").is_file()
    assert len(built) == 1
    assert steps.cached_entry("tool-v1", complete, build, said.append) == root
    assert len(built) == 1
    assert said[-1] == "images: cached tool-v1"
    with pytest.raises(BuildError, match="finished without all its files"):
        steps.cached_entry("tool-v2", complete, lambda staging: None, said.append)
    assert not (root.parent / "tool-v2").exists()


def test_failed_step_quotes_the_command_and_its_last_lines() -> None:
    with pytest.raises(BuildError, match=r"(?s)mmdebstrap x failed: `sh -c .*` exited 3.*boom"):
        steps.run(["sh", "-c", "echo boom >&2; exit 3"], "mmdebstrap x", lambda m: None)
