"""Local container images for kind on machines with no registry: `argocd-chaos images build`.

Everything comes from sources this project already reaches: Debian packages (mmdebstrap), the Go
module proxy, the module zips' own files, and the embedded build's binaries of the same release
(`harness._build.binaries`: kube-apiserver, -controller-manager, -scheduler, etcd, argocd).

* the kind node image `argocd-chaos/kind-node:<kubernetes>` (`node`), with every image
  `kubeadm config images list` names for that version preloaded;
* the Argo CD, redis and dex images under the names the release's install.yaml uses, and the hook
  image `busybox:1.36` (`apps`).

Slow parts (Go builds, root file systems) are cache entries under `cache_root()` (see `steps`);
the images themselves are cheap to assemble from them and live in the Docker engine. The entry
`kind-images-<release>-<kubernetes>/images.json` records what was assembled (tag -> image id);
it counts as cached only while the engine still holds every one of those ids.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import yaml

from harness._build import binaries, cache, render_tools, versions
from harness._build.images import gotools, node, rootfs, steps
from harness._build.images.docker import Docker
from harness._errors import BuildError
from harness._paths import cache_root

KIND_VERSION: Final = "v0.33.0"
CRICTL_VERSION: Final = "v1.37.0"
#: The hook image the translated hook commands run (`harness._cluster.kind.hook_commands`).
BUSYBOX_IMAGE: Final = "busybox:1.36"
NODE_REPOSITORY: Final = "argocd-chaos/kind-node"
STAMP: Final = "images.json"
CONTROL_PLANE: Final = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")

Say = Callable[[str], None]


@dataclass(frozen=True)
class LocalImages:
    """What `ensure_images` made: the node image, the images to load into the node, the kind binary."""

    argocd: str
    kubernetes: str
    node_image: str
    #: install.yaml's image names and the hook image, all in the Docker engine.
    app_images: tuple[str, ...]
    #: tag -> image id, of every image above and those preloaded into the node.
    ids: Mapping[str, str]
    kind: Path

    def to_json(self) -> str:
        return json.dumps(
            {
                "argocd": self.argocd,
                "kubernetes": self.kubernetes,
                "node_image": self.node_image,
                "app_images": list(self.app_images),
                "ids": dict(self.ids),
                "kind": str(self.kind),
            },
            indent=2,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> LocalImages:
        d = json.loads(text)
        return cls(
            argocd=d["argocd"],
            kubernetes=d["kubernetes"],
            node_image=d["node_image"],
            app_images=tuple(d["app_images"]),
            ids=dict(d["ids"]),
            kind=Path(d["kind"]),
        )


#: Bumped when what the images hold changes, so a stamp of older images is not taken for them
#: (2: helm and kustomize in the Argo CD image).
RECIPE = 2


def entry_name(argocd: str, kubernetes: str) -> str:
    return f"kind-images-{argocd}-{kubernetes}-r{RECIPE}"


def read_stamp(argocd: str, kubernetes: str) -> LocalImages | None:
    try:
        return LocalImages.from_json((cache_root() / entry_name(argocd, kubernetes) / STAMP).read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None


def present(images: LocalImages, docker: Docker) -> bool:
    """Whether the engine holds every image of the stamp, by id (a re-tagged name does not count)."""
    return images.kind.is_file() and all(docker.image_id(tag) == i for tag, i in images.ids.items())


def find_images(argocd_version: str | None, docker: Docker) -> LocalImages | None:
    """The local images of a release if built and still in the engine; no building, no network."""
    build = binaries.find_build(argocd_version)
    if build is None:
        return None
    found = read_stamp(build.versions.argocd, build.versions.kubernetes)
    return found if found and present(found, docker) else None


def kubeadm_images(kubeadm: Path, kubernetes: str, say: Say) -> list[str]:
    """What kubeadm of that version runs (`kubeadm config images list`), e.g. registry.k8s.io/etcd:3.7.0-0."""
    out = steps.run(
        [str(kubeadm), "config", "images", "list", f"--kubernetes-version={kubernetes}"],
        "kubeadm config images list",
        say,
        quiet=True,
    )
    return [ln.strip() for ln in out.splitlines() if ln.strip()]


def repository_name(image: str) -> str:
    """The last path element of an image's repository ("registry.k8s.io/coredns/coredns:v1" -> "coredns")."""
    return image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]


def tag_of(image: str) -> str:
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    if ":" not in last:
        raise BuildError(f"image {image!r} has no tag; the local images are built per tag")
    return last.split(":", 1)[1]


def manifest_images(install_yaml: Path) -> list[str]:
    """Every image the containers and init containers of the install manifest's workloads run, in order."""
    seen: list[str] = []
    for doc in yaml.load_all(install_yaml.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        spec = ((((doc or {}).get("spec") or {}).get("template") or {}).get("spec")) or {}
        for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            if c.get("image") and c["image"] not in seen:
                seen.append(str(c["image"]))
    return seen


def ensure_images(argocd_version: str | None = None, *, docker: Docker, say: Say) -> LocalImages:
    """Build (or find) every local image of a release; raises BuildError naming the failed step.

    Needs the release's embedded build (`argocd-chaos build`, run first if missing) and a Docker
    engine that can start privileged containers (`engine.started_engine`).
    """
    t0 = time.monotonic()
    build = binaries.ensure_build(argocd_version, out=say)
    argocd, kubernetes = build.versions.argocd, build.versions.kubernetes
    cached = read_stamp(argocd, kubernetes)
    if cached and present(cached, docker):
        say(f"images: cached: {cached.node_image} and {', '.join(cached.app_images)}")
        return cached
    with cache.entry_lock(entry_name(argocd, kubernetes), say):
        cached = read_stamp(argocd, kubernetes)
        if cached and present(cached, docker):
            return cached
        made = _Assembly(build, docker, say).run()
        root = cache_root() / entry_name(argocd, kubernetes)
        staging = cache.fresh_staging(root.name)
        (staging / STAMP).write_text(made.to_json())
        cache.install_entry(staging, root)
    say(
        f"images: done in {steps.fmt(time.monotonic() - t0)}: {made.node_image}, {', '.join(made.app_images)}"
    )
    return made


class _Assembly:
    def __init__(self, build: binaries.Build, docker: Docker, say: Say) -> None:
        self.build, self.docker, self.say = build, docker, say
        self.toolchain = build.versions.toolchain
        self.kubernetes = build.versions.kubernetes
        self.ids: dict[str, str] = {}
        self.tmp = Path(tempfile.mkdtemp(prefix="argocd-chaos-images-"))

    def run(self) -> LocalImages:
        try:
            return self._run()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _context(self, dockerfile: str, files: Mapping[str, Path]) -> Path:
        ctx = Path(tempfile.mkdtemp(dir=self.tmp))
        shutil.copyfile(node.FILES / dockerfile, ctx / "Dockerfile")
        for name, src in files.items():
            dst = ctx / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
            dst.chmod(0o755)
        return ctx

    def _image(
        self, tag: str, dockerfile: str, files: Mapping[str, Path], args: Mapping[str, str] | None = None
    ) -> str:
        self.ids[tag] = self.docker.build(self._context(dockerfile, files), tag, args)
        return tag

    def _base(self, name: str, packages: tuple[str, ...]) -> str:
        tar = rootfs.ensure(name, packages, self.say)
        tag = f"argocd-chaos/{name}-rootfs:{tar.parent.name.rsplit('-', 1)[-1]}"
        if self.docker.image_id(tag) is None:
            self.docker.import_tar(tar, tag)
        return tag

    def _run(self) -> LocalImages:
        say, b = self.say, self.build
        kind = gotools.kind(KIND_VERSION, self.toolchain, say)
        crictl = gotools.crictl(CRICTL_VERSION, self.toolchain, say)
        node_bin = gotools.node_binaries(b, say)
        wanted = kubeadm_images(node_bin / "kubeadm", self.kubernetes, say)
        apps = self._base("apps", rootfs.APPS_PACKAGES)
        preload: list[str] = []
        pause_image = ""
        for image in wanted:
            repo, tag = repository_name(image), tag_of(image)
            if repo in CONTROL_PLANE:
                self._image(image, "binary.Dockerfile", {repo: b.binary(repo)}, {"BINARY": repo})
            elif repo == "etcd":
                if tag.split("-", 1)[0] != b.versions.etcd.removeprefix("v"):
                    raise BuildError(
                        f"kubeadm {self.kubernetes} runs etcd {tag}, but the embedded build has etcd "
                        f"{b.versions.etcd}; the node image would run a different etcd than kubeadm expects"
                    )
                self._image(image, "binary.Dockerfile", {"etcd": b.binary("etcd")}, {"BINARY": "etcd"})
            elif repo == "kube-proxy":
                self._image(
                    image, "kube-proxy.Dockerfile", {"kube-proxy": node_bin / "kube-proxy"}, {"BASE": apps}
                )
            elif repo == "coredns":
                self._image(
                    image, "coredns.Dockerfile", {"coredns": gotools.coredns(tag, self.toolchain, say)}
                )
            elif repo == "pause":
                self._image(
                    image,
                    "pause.Dockerfile",
                    {"pause": gotools.pause(self.kubernetes, tag, self.toolchain, say)},
                )
                pause_image = image
            else:
                raise BuildError(
                    f"kubeadm {self.kubernetes} wants {image}, which the local images cannot build"
                )
            preload.append(image)
        if not pause_image:
            raise BuildError(f"kubeadm {self.kubernetes} lists no pause image: {wanted}")
        node_tag = self._node(kind, node_bin, crictl, pause_image, preload)
        app_images = self._apps(apps)
        return LocalImages(
            b.versions.argocd, self.kubernetes, node_tag, tuple(app_images), dict(self.ids), kind
        )

    def _node(self, kind: Path, node_bin: Path, crictl: Path, pause_image: str, preload: list[str]) -> str:
        base = self._base("node", rootfs.NODE_PACKAGES)
        kind_dir = gotools.module_dir(gotools.KIND_MODULE, KIND_VERSION, self.toolchain)
        ctx = node.stage_context(
            Path(tempfile.mkdtemp(dir=self.tmp)),
            kind_dir=kind_dir,
            node_bin=node_bin,
            crictl=crictl,
            kubernetes=self.kubernetes,
            pause_image=pause_image,
            restrict_oom=node.restrict_oom_score_adj(),
        )
        staged = f"{NODE_REPOSITORY}-staged:{self.kubernetes}"
        self.docker.build(ctx, staged, {"BASE": base})
        tag = f"{NODE_REPOSITORY}:{self.kubernetes}"
        self.ids[tag] = node.preload(self.docker, staged, tag, preload)
        return tag

    def _apps(self, apps: str) -> list[str]:
        b = self.build
        made: list[str] = []
        busybox = self._image(BUSYBOX_IMAGE, "busybox.Dockerfile", {}, {"BASE": apps})
        made.append(busybox)
        argo_module = gotools.module_dir(
            versions.argocd_module(b.versions.argocd), b.versions.argocd, self.toolchain
        )
        for image in manifest_images(b.install_yaml):
            repo = repository_name(image)
            if repo == "argocd":
                files = {f"bin/{s}": b.binary(s) for s in binaries.ARGOCD_SCRIPTS}
                files["bin/argocd"] = b.binary("argocd")
                files["bin/entrypoint.sh"] = argo_module / "entrypoint.sh"
                # The repo-server renders charts and kustomizations with the helm and kustomize its
                # release ships (hack/tool-versions.sh), as the embedded cluster does.
                for tool_bin in render_tools.ensure_render_tools(b, out=self.say).tool_dirs:
                    for tool in render_tools.TOOLS:
                        if (tool_bin / tool).is_file():
                            files[f"bin/{tool}"] = tool_bin / tool
                self._image(image, "argocd.Dockerfile", files, {"BASE": apps})
            elif repo == "redis":
                self._image(image, "redis.Dockerfile", {}, {"BASE": apps})
            elif repo == "dex":
                self._image(image, "dex.Dockerfile", {"dex": node.FILES / "dex"}, {"BASE": busybox})
            else:
                raise BuildError(
                    f"the Argo CD {b.versions.argocd} manifest uses {image}, "
                    "which the local images cannot build"
                )
            made.append(image)
        return made
