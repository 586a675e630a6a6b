"""Per-image facts in ``lockaudit init``: the CUDA/CPU variant decided from what an image is
(its base, the CUDA toolkit or wheels it installs) before what it is called, the CUDA version
written into the image's target with its reason, and ``graph --format json`` showing it."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from typer.testing import CliRunner

from lockaudit.cli import app
from lockaudit.workspace.config import load_workspace
from lockaudit.workspace.discover import Discovery, FoundImage, discover_workspace, write_config
from lockaudit.workspace.model import Variant


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def _by_file(found: Discovery) -> dict[str, FoundImage]:
    return {image.dockerfile: image for image in found.images}


def _configured(found: Discovery) -> dict[str, dict[str, object]]:
    config = tomllib.loads(found.config_toml)["tool"]["lockaudit"]
    return {image["dockerfile"]: image for image in config["images"]}


FAMILY = {
    # a CPU base and three children that say nothing about CUDA in their names: one installs
    # the CUDA toolkit from NVIDIA's apt repository, one torch from the cu128 wheel index, one
    # a compiled requirement file that pins the CUDA runtime wheel
    "base/Dockerfile": "FROM python:3.12.4-slim-bookworm\n",
    "server/Dockerfile": "FROM ubuntu:24.04 AS toolkit\nENV CUDA_VERSION=13.3.0\n"
    "RUN apt-get install -y cuda-cudart-13-3 python3 python3-pip\n"
    "FROM toolkit AS prod\nRUN pip install flask==3.0.0\n",
    "notebook/Dockerfile": "ARG BASE=acme/base:latest\nFROM ${BASE}\n"
    "RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cu128 "
    "torch==2.7.0\n",
    "model/Dockerfile": "FROM acme/base:latest\nCOPY requirements.txt /r.txt\n"
    "RUN pip install -r /r.txt\n",
    "model/requirements.txt": "torch==2.9.1\n"
    "nvidia-cublas-cu12==12.8.4.1 ; platform_machine == 'x86_64'\n"
    "nvidia-cuda-runtime-cu12==12.8.90 ; platform_machine == 'x86_64'\n",
    # a lock for every platform lists CUDA wheels of markers the image may never match
    "tool/Dockerfile": "FROM acme/base:latest\nCOPY uv.lock pyproject.toml /app/\n"
    "RUN uv sync --frozen\n",
    "tool/pyproject.toml": "[project]\nname = 'tool'\nversion = '1'\n",
    "tool/uv.lock": "[[package]]\nname = \"nvidia-cuda-runtime-cu12\"\nversion = \"12.8.90\"\n",
    "build.sh": "docker build -t acme/base:latest base\n"
    "docker build -t acme/server:latest server\n"
    "docker build -t acme/notebook:latest notebook\n"
    "docker build -t acme/model:latest model\n"
    "docker build -t acme/tool:latest tool\n",
}


def test_the_variant_comes_from_cuda_facts_before_the_name_and_the_parent(
    tmp_path: Path,
) -> None:
    _write(tmp_path, FAMILY)
    found = discover_workspace(tmp_path)
    images = _by_file(found)
    assert images["base/Dockerfile"].variant is Variant.CPU
    assert images["notebook/Dockerfile"].parent == images["base/Dockerfile"].key
    # the CPU parent and names without `cuda`/`gpu` used to make all of these CPU images
    assert {path: image.variant for path, image in images.items()} == {
        "base/Dockerfile": Variant.CPU,
        "server/Dockerfile": Variant.CUDA,
        "notebook/Dockerfile": Variant.CUDA,
        "model/Dockerfile": Variant.CUDA,
        "tool/Dockerfile": Variant.CPU,
    }
    assert "variant cuda: server/Dockerfile:2: CUDA_VERSION=13.3.0" in images[
        "server/Dockerfile"].evidence
    assert any(
        e.startswith("variant cuda: notebook/Dockerfile:3: installs from the PyTorch index of "
                     "CUDA 12.8") for e in images["notebook/Dockerfile"].evidence
    )


def test_each_cuda_image_gets_its_cuda_version_with_the_reason(tmp_path: Path) -> None:
    _write(tmp_path, FAMILY)
    found = discover_workspace(tmp_path)
    assert ("# cuda 12.8: model/requirements.txt:3: pins nvidia-cuda-runtime-cu12==12.8.90, "
            "the CUDA 12.8 runtime") in found.config_toml
    assert _configured(found)["notebook/Dockerfile"]["target"]["cuda"] == "12.8"  # type: ignore[index]
    write_config(tmp_path, found)
    loaded = {image.dockerfile: image for image in load_workspace(tmp_path).images}
    assert {path: image.target.cuda for path, image in loaded.items()} == {
        "base/Dockerfile": None,
        "server/Dockerfile": "13.3",  # the workspace's CUDA: the first CUDA base image's
        "notebook/Dockerfile": "12.8",
        "model/Dockerfile": "12.8",  # the pinned runtime says the minor, cublas only the major
        "tool/Dockerfile": None,
    }
    assert loaded["notebook/Dockerfile"].target.variant is Variant.CUDA
    assert loaded["tool/Dockerfile"].target.cuda is None


def test_graph_json_shows_the_cuda_fact_and_its_reason(tmp_path: Path) -> None:
    _write(tmp_path, FAMILY)
    write_config(tmp_path, discover_workspace(tmp_path))
    result = CliRunner().invoke(app, ["graph", "--workspace", str(tmp_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    images = {i["dockerfile"]: i for i in json.loads(result.stdout)["images"]}
    assert images["model/Dockerfile"]["inferred"]["cuda"] == {
        "value": "12.8",
        "reason": "model/requirements.txt:3: pins nvidia-cuda-runtime-cu12==12.8.90, the CUDA "
        "12.8 runtime",
    }
    assert images["server/Dockerfile"]["inferred"]["cuda"] == {
        "value": "13.3", "reason": "server/Dockerfile:2: CUDA_VERSION=13.3.0",
    }
    assert "cuda" not in images["tool/Dockerfile"]["inferred"]


def test_a_folder_named_image_without_a_tag_is_tagged_after_its_facts(tmp_path: Path) -> None:
    _write(tmp_path, {
        "server/Dockerfile": "FROM ubuntu:24.04\nARG CUDA_VERSION=12.6.3\n"
        "RUN apt-get install -y python3-pip\n",
        "web/Dockerfile": "FROM python:3.12-slim\n",
    })
    images = _by_file(discover_workspace(tmp_path))
    assert (images["server/Dockerfile"].tag, images["server/Dockerfile"].variant) == (
        "cuda", Variant.CUDA)
    assert (images["web/Dockerfile"].tag, images["web/Dockerfile"].variant) == (
        "cpu", Variant.CPU)


# -- names: never a cut fragment --------------------------------------------------------------


def test_variants_side_by_side_keep_the_repository_name_and_its_tags(tmp_path: Path) -> None:
    """Hardware variants kept beside the main Dockerfile and pushed to one repository, told
    apart by a tag suffix: one image name, the tags as pushed; no prefix cut out of the name
    because a file's suffix (``neuron``) also ends a tag."""
    _write(tmp_path, {
        "Dockerfile": "FROM nvidia/cuda:12.4.0-base-ubuntu22.04\nRUN pip install flask\n",
        "Dockerfile.neuron": "FROM ubuntu:22.04\nRUN pip install flask\n",
        "Dockerfile_amd": "FROM rocm/dev-ubuntu-22.04:6.3.1-complete\nRUN pip install flask\n",
        "build.sh": "docker build -t ghcr.io/acme/text-gen-server:latest -f Dockerfile .\n"
        "docker build -t ghcr.io/acme/text-gen-server:latest-neuron -f Dockerfile.neuron .\n"
        "docker build -t ghcr.io/acme/text-gen-server:latest-rocm -f Dockerfile_amd .\n",
    })
    found = discover_workspace(tmp_path)
    assert sorted(image.key for image in found.images) == [
        "text-gen-server:latest", "text-gen-server:latest-neuron", "text-gen-server:latest-rocm",
    ]
    assert tomllib.loads(found.config_toml)["tool"]["lockaudit"]["image-prefix"] == ""
    write_config(tmp_path, found)
    assert len(load_workspace(tmp_path).images) == 3


# -- Dockerfiles nothing builds -----------------------------------------------------------------


def test_a_dockerfile_no_build_source_names_is_left_undecided(tmp_path: Path) -> None:
    """Beside the built ones, a ``Dockerfile_<x>``/``<x>.Dockerfile`` that no build source
    builds or even names is no proposed image: a commented exclusion with the reason, so the
    gate fails on it until the user decides. One a script names through a pattern, one the
    built ones are FROM, and a plain ``Dockerfile`` (``docker build <folder>``) stay images."""
    _write(tmp_path, {
        "Dockerfile": "FROM python:3.12-slim\n",
        "Dockerfile_llamacpp": "FROM nvidia/cuda:12.8.0-runtime-ubuntu24.04\n",
        "python/custom_tokenizer.Dockerfile": "FROM python:3.12-slim\n",
        "python/sklearn.Dockerfile": "FROM acme/base:1\n",
        "python/base.Dockerfile": "FROM python:3.12-slim\n",
        "tools/protoc.Dockerfile": "FROM golang:1.22\n",
        "extra/Dockerfile": "FROM python:3.12-slim\n",
        "build.sh": "docker build -t acme/server:1 .\n"
        "docker build -t acme/sklearn:1 -f python/sklearn.Dockerfile python\n"
        'for tool in protoc; do docker build -t "$tool" -f "tools/${tool}.Dockerfile" .; done\n',
        ".github/workflows/ci.yml": "on: push\njobs:\n  b:\n    runs-on: x\n    steps:\n"
        "      - uses: docker/build-push-action@v6\n"
        "        with: {file: '${{ env.DOCKERFILE }}', tags: acme/x:1}\n",
    })
    found = discover_workspace(tmp_path)
    assert {image.dockerfile for image in found.images} == {
        "Dockerfile", "python/sklearn.Dockerfile", "python/base.Dockerfile",
        "tools/protoc.Dockerfile", "extra/Dockerfile",
    }
    for path in ("Dockerfile_llamacpp", "python/custom_tokenizer.Dockerfile"):
        assert f'# path = "{path}"' in found.config_toml  # commented: the user decides
    assert ('# reason = "undecided: no build file of the repository builds or names it (they '
            "build other Dockerfiles); declare it as an image if something builds it, or "
            'exclude it"') in found.config_toml
    write_config(tmp_path, found)
    assert {i.dockerfile for i in load_workspace(tmp_path).images} == {
        image.dockerfile for image in found.images}


def test_without_build_sources_every_dockerfile_is_still_proposed(tmp_path: Path) -> None:
    _write(tmp_path, {
        "Dockerfile": "FROM python:3.12-slim\n",
        "Dockerfile_llamacpp": "FROM python:3.12-slim\n",
    })
    found = discover_workspace(tmp_path)
    assert {image.dockerfile for image in found.images} == {"Dockerfile", "Dockerfile_llamacpp"}
