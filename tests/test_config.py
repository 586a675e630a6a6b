"""Loading [tool.lockaudit]: the model it builds, and errors that name pyproject.toml:line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lockaudit.errors import InputError, WorkspaceError
from lockaudit.workspace.config import load_workspace
from lockaudit.workspace.model import Variant

CONFIG = """\
[project]
name = "demo"

[tool.lockaudit]
registry = "acme"
image-prefix = "app-"

[tool.lockaudit.target]
python = "3.11.9"
glibc = "2.35"
cuda = "12.1"

[[tool.lockaudit.constraints]]
file = "constraints/cuda.txt"
variant = "cuda"

[[tool.lockaudit.constraints]]
file = "constraints/all.txt"

[[tool.lockaudit.indexes]]
name = "pytorch-cu121"
url = "http://127.0.0.1:9/cu121"
variant = "cuda"
packages = ["Torch", "torchaudio"]

[[tool.lockaudit.images]]
name = "asr"
tag = "cuda"
dockerfile = "docker/asr/Dockerfile"
parent = "base-ml:cuda"
requirements = ["docker/asr/requirements.txt"]
[tool.lockaudit.images.fallback]
parent = "base:cpu"

[[tool.lockaudit.images]]
name = "base-ml"
tag = "cuda"
dockerfile = "docker/base-ml/Dockerfile"
parent = "base:cuda"
requirements = ["docker/base-ml/requirements.txt"]

[[tool.lockaudit.images]]
name = "base"
tag = "cuda"
dockerfile = "docker/base-cuda/Dockerfile"
base-image = "nvidia/cuda:12.1.1-runtime-ubuntu22.04"
requirements = ["requirements-common.txt"]

[[tool.lockaudit.images]]
name = "base"
tag = "cpu"
dockerfile = "docker/base/Dockerfile"
base-image = "python:3.11-slim"
requirements = ["requirements-common.txt"]
target = { glibc = "2.36" }
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


def test_images_come_in_build_order_with_their_targets(tmp_path: Path) -> None:
    ws = load_workspace(write(tmp_path, CONFIG))
    keys = [image.key for image in ws.images]
    assert keys.index("base:cuda") < keys.index("base-ml:cuda") < keys.index("asr:cuda")
    assert keys.index("base:cpu") < keys.index("asr:cpu")
    assert ws.image("asr:cuda").target.variant is Variant.CUDA
    assert ws.image("asr:cuda").target.cuda == "12.1"
    assert ws.image("base:cpu").target.glibc == "2.36"
    assert ws.image("base:cpu").target.cuda is None
    assert ws.image("asr:cuda").target.python == "3.11.9"


def test_children_run_on_their_parents_interpreter_and_libc(tmp_path: Path) -> None:
    ws = load_workspace(write(tmp_path, CONFIG.replace('glibc = "2.35"', 'glibc = "2.31"', 1)))
    # base:cpu sets glibc 2.36 itself; the CPU fallback built on it inherits that, not the default.
    assert ws.image("base:cpu").target.glibc == "2.36"
    assert ws.image("asr:cpu").target.glibc == "2.36"
    assert ws.image("asr:cpu").target.variant is Variant.CPU
    assert ws.image("asr:cuda").target.glibc == "2.31"


def test_fallback_installs_what_its_twin_inherited_from_the_lost_layers(tmp_path: Path) -> None:
    ws = load_workspace(write(tmp_path, CONFIG))
    fallback = ws.image("asr:cpu")
    assert fallback.variant_of == "asr:cuda"
    assert fallback.parent == "base:cpu"
    assert fallback.dockerfile == "docker/asr/Dockerfile"
    # base-ml's requirements come back; the common file is still provided by base:cpu.
    assert fallback.requirements == (
        "docker/base-ml/requirements.txt",
        "docker/asr/requirements.txt",
    )


def test_routing_and_constraints_are_per_variant(tmp_path: Path) -> None:
    ws = load_workspace(write(tmp_path, CONFIG))
    assert set(ws.routes(Variant.CUDA)) == {"torch", "torchaudio"}
    assert ws.routes(Variant.CPU) == {}
    assert ws.constraint_files(Variant.CUDA) == ("constraints/cuda.txt", "constraints/all.txt")
    assert ws.constraint_files(Variant.CPU) == ("constraints/all.txt",)
    assert ws.is_heavy("nvidia-cudnn-cu12") and ws.is_heavy("Torch") and not ws.is_heavy("numpy")


@pytest.mark.parametrize(
    ("bad", "good", "line", "message"),
    [
        ('registry = "acme"', "registry = 3", 5, "`registry` must be a string"),
        ('image-prefix = "app-"', 'image-prefx = "app-"', 6, "unknown key 'image-prefx'"),
        ('python = "3.11.9"', 'python = "3.11"', 9, "full version"),
        (
            'variant = "cuda"\n\n[[tool.lockaudit.constraints]]',
            'variant = "gpu"\n\n[[tool.lockaudit.constraints]]',
            15,
            "variant must be",
        ),
    ],
    ids=["wrong-type", "unknown-key", "short-python", "bad-variant"],
)
def test_bad_config_names_the_line(
    tmp_path: Path, bad: str, good: str, line: int, message: str
) -> None:
    assert bad in CONFIG
    write(tmp_path, CONFIG.replace(bad, good, 1))
    with pytest.raises(InputError) as info:
        load_workspace(tmp_path)
    assert str(info.value).startswith(f"pyproject.toml:{line}: ")
    assert message in str(info.value)


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    write(tmp_path, "[tool.lockaudit]\nregistry = \n")
    with pytest.raises(InputError, match=r"^pyproject.toml:2: invalid TOML"):
        load_workspace(tmp_path)


def test_missing_section_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_workspace(tmp_path)
    write(tmp_path, "[project]\nname='x'\n")
    with pytest.raises(InputError, match=r"no \[tool.lockaudit\] section"):
        load_workspace(tmp_path)


def test_unknown_parent_names_the_from_line(tmp_path: Path) -> None:
    write(tmp_path, CONFIG.replace('parent = "base:cuda"', 'parent = "base:gpu"'))
    dockerfile = tmp_path / "docker/base-ml/Dockerfile"
    dockerfile.parent.mkdir(parents=True)
    dockerfile.write_text("ARG REGISTRY=acme\nFROM ${REGISTRY}/app-base:gpu\nRUN true\n")
    with pytest.raises(WorkspaceError) as info:
        load_workspace(tmp_path)
    assert str(info.value).startswith("docker/base-ml/Dockerfile:2: image base-ml:cuda")
    assert "base:gpu" in str(info.value)


def test_from_cycle_is_reported(tmp_path: Path) -> None:
    text = CONFIG.replace(
        'base-image = "nvidia/cuda:12.1.1-runtime-ubuntu22.04"', 'parent = "asr:cuda"'
    )
    write(tmp_path, text)
    with pytest.raises(WorkspaceError, match=r"FROM cycle: .*asr:cuda"):
        load_workspace(tmp_path)


def test_duplicate_image(tmp_path: Path) -> None:
    text = (
        CONFIG + '\n[[tool.lockaudit.images]]\nname = "base"\ntag = "cpu"\n'
        'dockerfile = "x"\nbase-image = "y"\n'
    )
    write(tmp_path, text)
    with pytest.raises(InputError, match="declared twice"):
        load_workspace(tmp_path)
