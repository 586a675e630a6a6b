"""Small workspaces for the build tests, written to a temporary directory.

``busybox_chain``: images on ``local/busybox-base:1`` whose RUN steps only write files, so a
real engine builds the whole family in seconds and nothing needs an index::

    base:cuda -> mid:cuda -> stage:cuda      (stage:cpu: the CPU fallback, built on base:cpu)
    base:cpu            \\-> other:cuda

``python_chain``: the pipeline in small on ``local/python-base:3.11``, whose Dockerfiles follow
the embedded contract (``REGISTRY``/``PARENT_IMAGE``/``LAYER_LOCK``) and ``pip install`` their
layer lock from the loopback test index. Images that share a Dockerfile with another image set
``LAYER_LOCK`` (and the fallback ``PARENT_IMAGE``) in their build-args: ``lockaudit build``
would pass the same values, but ``check`` reads only the configured ones::

    base:cuda -> base-ml:cuda (torch +cu121) -> asr:cuda
    base:cpu  -> asr:cpu (the fallback: torch +cpu and the stage package)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from lockaudit.workspace.config import load_workspace
from lockaudit.workspace.model import Workspace
from tests.indexserver import IndexServer, Scenario, scenario_from_dict
from tests.workspace_builder import Table, image, index, settings, write_workspace

BUSYBOX = "local/busybox-base:1"
LINUX = "cp311-cp311-linux_x86_64"


def _busybox_tool(prefix: str) -> Table:
    fallback = {"tag": "cpu", "parent": "base:cpu", "build-args": {"TORCH_INDEX": "cpu"}}
    return settings(
        [
            image("base", "cuda", base_image=BUSYBOX, dockerfile="docker/base/Dockerfile"),
            image("base", "cpu", base_image=BUSYBOX, dockerfile="docker/base/Dockerfile"),
            image("mid", "cuda", parent="base:cuda"),
            image("stage", "cuda", parent="mid:cuda", fallback=fallback),
            image("other", "cuda", parent="base:cuda"),
        ],
        registry="local",
        image_prefix=prefix,
    )


def _child_dockerfile(parent: str, step: str) -> str:
    return (
        "ARG REGISTRY=local\n"
        f"ARG PARENT_IMAGE={parent}\n"
        "FROM ${REGISTRY}/${PARENT_IMAGE}\n"
        "ARG LAYER_LOCK\n"
        "ARG TORCH_INDEX=cu121\n"
        f"RUN {step}\n"
    )


BUSYBOX_FILES = {
    "docker/base/Dockerfile": (
        'FROM local/busybox-base:1\nARG LAYER_LOCK\nRUN echo "$LAYER_LOCK" > /layers\n'
    ),
    "docker/mid/Dockerfile": _child_dockerfile("base:cuda", 'echo "$LAYER_LOCK" >> /layers'),
    "docker/stage/Dockerfile": _child_dockerfile(
        "mid:cuda", 'echo "$LAYER_LOCK" >> /layers && echo "$TORCH_INDEX" > /torch-index'
    ),
    "docker/other/Dockerfile": _child_dockerfile("base:cuda", "echo other >> /layers"),
}


def busybox_chain(root: Path, prefix: str = "lat-") -> Workspace:
    return load_workspace(write_workspace(root, _busybox_tool(prefix), BUSYBOX_FILES))


PYTHON_BASE = "local/python-base:3.11"


def _python_tool(prefix: str, cu121: str, cpu: str) -> Table:
    common = ["requirements-common.txt"]
    fallback = {
        "tag": "cpu",
        "parent": "base:cpu",
        "build-args": {
            "PARENT_IMAGE": f"{prefix}base:cpu",
            "LAYER_LOCK": "locks/asr-cpu.layer.txt",
        },
    }
    cuda_lock = {"LAYER_LOCK": "locks/base-cuda.layer.txt"}
    base = "docker/base/Dockerfile"
    return settings(
        [
            image(
                "base",
                "cuda",
                base_image=PYTHON_BASE,
                dockerfile=base,
                requirements=common,
                build_args=cuda_lock,
            ),
            image("base", "cpu", base_image=PYTHON_BASE, dockerfile=base, requirements=common),
            image(
                "base-ml",
                "cuda",
                parent="base:cuda",
                requirements=["docker/base-ml/requirements.txt"],
            ),
            image(
                "asr",
                "cuda",
                parent="base-ml:cuda",
                requirements=["docker/asr/requirements.txt"],
                fallback=fallback,
            ),
        ],
        target={"python": "3.11.2", "glibc": "2.36", "cuda": "12.1"},
        indexes=[
            index("pytorch-cu121", cu121, variant="cuda", packages=["torch"]),
            index("pytorch-cpu", cpu, variant="cpu", packages=["torch"]),
        ],
        registry="local",
        image_prefix=prefix,
        common="requirements-common.txt",
    )


def _python_dockerfile(parent: str | None, slug: str) -> str:
    head = (
        "FROM local/python-base:3.11\n"
        if parent is None
        else f"ARG REGISTRY=local\nARG PARENT_IMAGE={parent}\n"
        "FROM ${REGISTRY}/${PARENT_IMAGE}\n"
    )
    return head + (
        f"ARG LAYER_LOCK=locks/{slug}.layer.txt\n"
        "ARG PIP_INDEX_URL\n"
        "COPY ${LAYER_LOCK} /tmp/layer.txt\n"
        "RUN pip install --no-cache-dir --no-deps --require-hashes -r /tmp/layer.txt\n"
    )


def _python_files(prefix: str) -> dict[str, str]:
    return {
        "requirements-common.txt": "filelock==3.12.0\nrich\n",
        "docker/base-ml/requirements.txt": "torch==2.1.0\n",
        "docker/asr/requirements.txt": "whisperx==3.1.1\n",
        "docker/base/Dockerfile": _python_dockerfile(None, "base-cpu"),
        "docker/base-ml/Dockerfile": _python_dockerfile(f"{prefix}base:cuda", "base-ml-cuda"),
        "docker/asr/Dockerfile": _python_dockerfile(f"{prefix}base-ml:cuda", "asr-cuda"),
    }


def python_chain(
    root: Path, *, prefix: str, cu121: str, cpu: str, files: Mapping[str, str] | None = None
) -> Workspace:
    """The Python chain, its images named ``<prefix><name>``; ``files`` replaces some of its
    files (path -> text)."""
    tool = _python_tool(prefix, cu121, cpu)
    written = {**_python_files(prefix), **(files or {})}
    return load_workspace(write_workspace(root, tool, written))


def _torch(local: str, padding: int) -> dict[str, object]:
    release = {
        "version": f"2.1.0+{local}",
        "requires_dist": ["filelock"],
        "files": [{"tags": LINUX, "padding": padding}],
    }
    return {"releases": [release]}


def pipeline_scenario() -> Scenario:
    """The loopback index the Python chain installs from. ``aligner`` imports a module that
    nothing declares (for the smoke step's ``import-fails``)."""

    def pure(version: str, *requires: str) -> dict[str, object]:
        return {"releases": [{"version": version, "requires_dist": list(requires)}]}

    return scenario_from_dict(
        {
            "indexes": {
                "default": {
                    "projects": {
                        "torch": pure("9.9.9"),  # the dependency-confusion trap
                        "filelock": pure("3.12.0"),
                        "rich": pure("14.1.0"),
                        "numpy": pure("1.26.4"),
                        "whisperx": pure("3.1.1", "torch>=2.0", "numpy"),
                        "aligner": {
                            "releases": [{"version": "1.0", "imports": ["undeclared_mod"]}]
                        },
                    }
                },
                "pytorch-cu121": {"projects": {"torch": _torch("cu121", 200_000)}},
                "pytorch-cpu": {"projects": {"torch": _torch("cpu", 1000)}},
            }
        }
    )


def compiled_python_chain(
    root: Path, server: IndexServer, *, prefix: str, files: Mapping[str, str] | None = None
) -> Workspace:
    """The Python chain with its locks compiled against ``server`` (the loopback index of
    :func:`pipeline_scenario`), loaded again so the locks are read from disk."""
    from lockaudit.compile import CompileOptions, compile_workspace
    from lockaudit.index.factory import build_index_client
    from lockaudit.index.pipconf import PipConfig

    workspace = python_chain(
        root,
        prefix=prefix,
        cu121=server.index_url("pytorch-cu121"),
        cpu=server.index_url("pytorch-cpu"),
        files=files,
    )
    config = PipConfig(index_url=server.index_url("default"))
    client = build_index_client(workspace, cache_dir=root / ".cache", pip_config=config)
    try:
        compiled = compile_workspace(workspace, client, CompileOptions())
    finally:
        client.close()
    assert compiled.ok, [r.reason for r in compiled.results]
    return load_workspace(root)
