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

from pathlib import Path

from lockaudit.workspace.config import load_workspace
from lockaudit.workspace.model import Workspace

BUSYBOX_PYPROJECT = """\
[tool.lockaudit]
registry = "local"
image-prefix = "{prefix}"

[[tool.lockaudit.images]]
name = "base"
tag = "cuda"
dockerfile = "docker/base/Dockerfile"
base-image = "local/busybox-base:1"

[[tool.lockaudit.images]]
name = "base"
tag = "cpu"
dockerfile = "docker/base/Dockerfile"
base-image = "local/busybox-base:1"

[[tool.lockaudit.images]]
name = "mid"
tag = "cuda"
dockerfile = "docker/mid/Dockerfile"
parent = "base:cuda"

[[tool.lockaudit.images]]
name = "stage"
tag = "cuda"
dockerfile = "docker/stage/Dockerfile"
parent = "mid:cuda"
[tool.lockaudit.images.fallback]
tag = "cpu"
parent = "base:cpu"
build-args = {{ TORCH_INDEX = "cpu" }}

[[tool.lockaudit.images]]
name = "other"
tag = "cuda"
dockerfile = "docker/other/Dockerfile"
parent = "base:cuda"
"""


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


def write_files(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def busybox_chain(root: Path, prefix: str = "lat-") -> Workspace:
    write_files(root, {"pyproject.toml": BUSYBOX_PYPROJECT.format(prefix=prefix), **BUSYBOX_FILES})
    return load_workspace(root)


PYTHON_PYPROJECT = """\
[tool.lockaudit]
registry = "local"
image-prefix = "{prefix}"
common = "requirements-common.txt"

[tool.lockaudit.target]
python = "3.11.2"
glibc = "2.36"
cuda = "12.1"

[[tool.lockaudit.indexes]]
name = "pytorch-cu121"
url = "{cu121}"
variant = "cuda"
packages = ["torch"]

[[tool.lockaudit.indexes]]
name = "pytorch-cpu"
url = "{cpu}"
variant = "cpu"
packages = ["torch"]

[[tool.lockaudit.images]]
name = "base"
tag = "cuda"
dockerfile = "docker/base/Dockerfile"
base-image = "local/python-base:3.11"
requirements = ["requirements-common.txt"]
build-args = {{ LAYER_LOCK = "locks/base-cuda.layer.txt" }}

[[tool.lockaudit.images]]
name = "base"
tag = "cpu"
dockerfile = "docker/base/Dockerfile"
base-image = "local/python-base:3.11"
requirements = ["requirements-common.txt"]

[[tool.lockaudit.images]]
name = "base-ml"
tag = "cuda"
dockerfile = "docker/base-ml/Dockerfile"
parent = "base:cuda"
requirements = ["docker/base-ml/requirements.txt"]

[[tool.lockaudit.images]]
name = "asr"
tag = "cuda"
dockerfile = "docker/asr/Dockerfile"
parent = "base-ml:cuda"
requirements = ["docker/asr/requirements.txt"]
[tool.lockaudit.images.fallback]
tag = "cpu"
parent = "base:cpu"
build-args = {{ PARENT_IMAGE = "{prefix}base:cpu", LAYER_LOCK = "locks/asr-cpu.layer.txt" }}
"""


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


PYTHON_FILES = {
    "requirements-common.txt": "filelock==3.12.0\nrich\n",
    "docker/base-ml/requirements.txt": "torch==2.1.0\n",
    "docker/asr/requirements.txt": "whisperx==3.1.1\n",
    "docker/base/Dockerfile": _python_dockerfile(None, "base-cpu"),
    "docker/base-ml/Dockerfile": _python_dockerfile("lat-base:cuda", "base-ml-cuda"),
    "docker/asr/Dockerfile": _python_dockerfile("lat-base-ml:cuda", "asr-cuda"),
}


def python_chain(root: Path, *, prefix: str, cu121: str, cpu: str) -> Workspace:
    text = PYTHON_PYPROJECT.format(prefix=prefix, cu121=cu121, cpu=cpu)
    write_files(root, {"pyproject.toml": text, **PYTHON_FILES})
    return load_workspace(root)
