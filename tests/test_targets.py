"""Per-image target inference (``lockaudit/workspace/targets.py``), alone and through
``graph --format json``; non-Python images (``python = false``) skipped by compile and the
lock rules."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lockaudit.cli import app
from lockaudit.compile import CompileOptions, compile_workspace
from lockaudit.errors import InputError
from lockaudit.parsing.dockerfile import parse_dockerfile_text
from lockaudit.rules import run_checks
from lockaudit.workspace.config import load_workspace
from lockaudit.workspace.discover import discover_workspace
from lockaudit.workspace.targets import TargetFacts, infer_target


def infer(text: str, inherited: TargetFacts | None = None) -> dict[str, str]:
    facts = infer_target(parse_dockerfile_text(text, "Dockerfile"), inherited=inherited)
    return {key: value["value"] for key, value in facts.as_json().items()}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "FROM python:3.11.14-slim-bookworm\n",
            {"python": "3.11.14", "distro": "debian bookworm", "glibc": "2.36"},
            id="python-full-tag",
        ),
        pytest.param("FROM python:3.12-slim\n", {"python": "3.12.0"}, id="python-minor-tag"),
        pytest.param(
            "FROM python:3.10-alpine3.19\n",
            {"python": "3.10.0", "distro": "alpine 3.19", "glibc": ""},
            id="python-alpine",
        ),
        pytest.param(
            "FROM nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04\n"
            "RUN apt-get update && apt-get install -y --no-install-recommends \\\n"
            "    python3 python3-pip\n",
            {"python": "3.10.12", "cuda": "12.1", "cudnn": "8", "distro": "ubuntu 22.04",
             "glibc": "2.35"},
            id="ubuntu-2204-default",
        ),
        pytest.param(
            "FROM nvidia/cuda:12.4.1-runtime-ubuntu22.04\n"
            "RUN add-apt-repository ppa:deadsnakes/ppa \\\n"
            " && apt-get install -y python3.11 python3.11-venv\n",
            {"python": "3.11.0", "cuda": "12.4", "distro": "ubuntu 22.04", "glibc": "2.35"},
            id="deadsnakes",
        ),
        pytest.param(
            "FROM ubuntu:24.04\nRUN apt-get install -y python3-pip\n",
            {"python": "3.12.3", "distro": "ubuntu 24.04", "glibc": "2.39"},
            id="ubuntu-2404",
        ),
        pytest.param(
            "FROM debian:bullseye-slim\nRUN apt-get install -y python3\n",
            {"python": "3.9.2", "distro": "debian bullseye", "glibc": "2.31"},
            id="debian-bullseye",
        ),
        pytest.param(
            "FROM pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime\n",
            {"python": "3.10.0", "cuda": "12.1", "cudnn": "8", "distro": "ubuntu 22.04",
             "glibc": "2.35"},
            id="pytorch",
        ),
        pytest.param(
            "FROM continuumio/miniconda3\nRUN conda create -y -n app python=3.9.18 numpy\n",
            {"python": "3.9.18"},
            id="conda",
        ),
        pytest.param(
            "FROM ubuntu:22.04\nRUN uv python install 3.13\n",
            {"python": "3.13.0", "distro": "ubuntu 22.04", "glibc": "2.35"},
            id="uv-python",
        ),
        pytest.param(
            "FROM docker.io/library/python:3.14.7-alpine3.24@sha256:" + "0" * 64 + "\n",
            {"python": "3.14.7", "distro": "alpine 3.24", "glibc": ""},
            id="python-with-registry-and-digest",
        ),
        pytest.param(
            "ARG PYTHON_VERSION=3.12\nFROM ubuntu:24.04\nARG PYTHON_VERSION\n"
            'RUN apt-get install -y "python${PYTHON_VERSION}" python3-pip\n',
            {"python": "3.12.3", "distro": "ubuntu 24.04", "glibc": "2.39"},  # noble's own
            id="apt-python-from-an-arg",
        ),
        pytest.param(
            "FROM mambaorg/micromamba:2.0\nARG PYTHON_VERSION=3.13\n"
            'RUN SPEC="python=${PYTHON_VERSION}" && micromamba install -y "${SPEC}"\n',
            {"python": "3.13.0"},
            id="conda-python-through-a-variable",
        ),
        pytest.param(
            "FROM ubuntu:24.04 AS build\nRUN apt-get install -y python3 && python3 -m venv /venv"
            " && /venv/bin/pip install flask==3.0.0\n"
            "FROM ubuntu:24.04\nARG CUDA_VERSION=13.3.0\nCOPY --from=build /venv /venv\n",
            {"python": "3.12.3", "cuda": "13.3", "distro": "ubuntu 24.04", "glibc": "2.39"},
            id="venv-copied-from-a-builder-stage",
        ),
        pytest.param(
            "FROM python:3.12.4-slim-bookworm\n"
            "RUN pip install --index-url https://download.pytorch.org/whl/cu128 torch==2.7.0\n",
            {"python": "3.12.4", "cuda": "12.8", "distro": "debian bookworm", "glibc": "2.36"},
            id="cuda-from-the-pytorch-index",
        ),
        pytest.param(
            "FROM python:3.12.4-slim-bookworm\n"
            "RUN pip install --no-cache-dir 'tensorflow[and-cuda]'\n",
            {"python": "3.12.4", "cuda": "12", "distro": "debian bookworm", "glibc": "2.36"},
            id="cuda-major-from-cuda-wheels",
        ),
        pytest.param(
            "FROM python:3.12.4-slim-bookworm\n"
            "RUN pip install nvidia-cuda-runtime-cu12==12.6.77 cupy-cuda12x\n",
            {"python": "3.12.4", "cuda": "12.6", "distro": "debian bookworm", "glibc": "2.36"},
            id="cuda-from-a-pinned-runtime-wheel",
        ),
        pytest.param(
            "FROM ubuntu:22.04\nRUN apt-get install -y python3 python3-venv\n"
            "RUN uv venv --python 3.12 /opt/venv && uv pip install numpy\n",
            {"python": "3.12.0", "distro": "ubuntu 22.04", "glibc": "2.35"},
            id="uv-venv-over-the-distribution-python",
        ),
    ],
)
def test_python_cuda_and_glibc_are_inferred(text: str, expected: dict[str, str]) -> None:
    assert infer(text) == {**expected, "python-image": "true"}


def test_every_fact_says_why() -> None:
    facts = infer_target(
        parse_dockerfile_text(
            "FROM nvidia/cuda:12.1.1-runtime-ubuntu22.04\nRUN apt-get install -y python3\n",
            "docker/base/Dockerfile",
        )
    )
    reasons = {key: value["reason"] for key, value in facts.as_json().items()}
    assert reasons["python"] == "docker/base/Dockerfile:2: installs the python3 of ubuntu 22.04 " \
        "(3.10.12)"
    assert reasons["cuda"] == "FROM nvidia/cuda:12.1.1-runtime-ubuntu22.04: the tag names CUDA"
    assert reasons["glibc"] == "glibc of Ubuntu 22.04"


@pytest.mark.parametrize(
    "text",
    [
        "FROM node:20-alpine\nRUN npm ci\n",
        "FROM nginx:1.25\nCOPY site /usr/share/nginx/html\n",
        "FROM golang:1.22 AS build\nRUN go build ./...\nFROM gcr.io/distroless/static\n"
        "COPY --from=build /app /app\n",
        "FROM python:3.11 AS assets\nRUN pip install mkdocs && mkdocs build\n"
        "FROM nginx:1.25\nCOPY --from=assets /site /usr/share/nginx/html\n",
    ],
    ids=["node", "nginx", "go-multistage", "python-only-in-a-builder-stage"],
)
def test_images_without_python_are_recognised(text: str) -> None:
    found = infer(text)
    assert found["python-image"] == "false"
    assert "python" not in found


def test_a_child_inherits_its_parents_facts_and_adds_its_own() -> None:
    parent = infer_target(parse_dockerfile_text("FROM node:20-bookworm\n", "a/Dockerfile"))
    assert not parent.python_image
    child = infer("FROM base\nRUN apt-get install -y python3 && pip install flask\n", parent)
    assert child == {
        "python": "3.11.2", "distro": "debian bookworm", "glibc": "2.36", "python-image": "true"
    }
    plain = infer("FROM base\nRUN echo hi\n", parent)
    assert plain["python-image"] == "false"


CONFIG = """\
[tool.lockaudit]
versions = ""
common = ""

[[tool.lockaudit.images]]
name = "web"
tag = "cpu"
dockerfile = "web/Dockerfile"
base-image = "node:20"
python = false

[[tool.lockaudit.images]]
name = "api"
tag = "cpu"
dockerfile = "api/Dockerfile"
parent = "web:cpu"
requirements = ["api/requirements.txt"]
"""


def _mixed(root: Path) -> Path:
    for folder in ("web", "api"):
        (root / folder).mkdir(parents=True)
    (root / "pyproject.toml").write_text(CONFIG)
    (root / "web/Dockerfile").write_text("FROM node:20\nRUN npm ci\n")
    (root / "api/Dockerfile").write_text(
        "ARG PARENT=web:cpu\nFROM ${PARENT}\nRUN apt-get install -y python3 python3-pip\n"
        "COPY api/requirements.txt /r.txt\nRUN pip install -r /r.txt\n"
    )
    (root / "api/requirements.txt").write_text("six==1.16.0\n")
    return root


def test_a_non_python_image_is_never_asked_for_a_lock(tmp_path: Path) -> None:
    workspace = load_workspace(_mixed(tmp_path / "ws"))
    assert [i.python for i in workspace.images] == [False, True]
    found = run_checks(workspace)
    missing = sorted(str(f.location) for f in found if f.rule == "lock-missing")
    assert missing == ["locks/api-cpu.layer.txt", "locks/api-cpu.txt"]  # none for web:cpu


def test_compile_refuses_to_lock_a_non_python_image(tmp_path: Path) -> None:
    workspace = load_workspace(_mixed(tmp_path / "ws"))
    with pytest.raises(InputError, match=r"web:cpu is not a Python image"):
        compile_workspace(workspace, None, CompileOptions(images=("web:cpu",)))  # type: ignore[arg-type]


def test_python_must_be_a_boolean(tmp_path: Path) -> None:
    root = _mixed(tmp_path / "ws")
    (root / "pyproject.toml").write_text(CONFIG.replace("python = false", 'python = "no"'))
    with pytest.raises(InputError, match=r"pyproject.toml:10: `python` must be true or false"):
        load_workspace(root)


def test_graph_json_lists_python_and_the_inferred_target_with_reasons(tmp_path: Path) -> None:
    root = _mixed(tmp_path / "ws")
    result = CliRunner().invoke(app, ["graph", "--workspace", str(root), "--format", "json"])
    assert result.exit_code == 0, result.output
    images = {f"{i['name']}:{i['tag']}": i for i in json.loads(result.stdout)["images"]}
    web, api = images["web:cpu"], images["api:cpu"]
    assert (web["python"], api["python"]) == (False, True)
    assert web["inferred"]["python-image"] == {
        "value": "false",
        "reason": "FROM node:20 brings no Python and the Dockerfile installs no Python packages",
    }
    assert api["inferred"]["python-image"]["value"] == "true"
    assert api["inferred"]["python-image"]["reason"].startswith("api/Dockerfile:3: installs")
    assert api["target"]["python"] == "3.11.7"  # configured (the default): what compile uses


def test_init_marks_non_python_images_and_writes_what_it_left_out(tmp_path: Path) -> None:
    """init on a repository mixing a Node front end, a Python API, test data and a Dockerfile
    it cannot read: the gate's coverage rules then fail only on the undecided one."""
    root = tmp_path / "repo"
    files = {
        "web/dockerfile": "FROM node:20\nRUN npm ci\n",
        "api/Dockerfile": "FROM python:3.12.4-slim-bookworm\nRUN pip install flask==3.0.0\n",
        "tests/data/case/Dockerfile": "FROM scratch\n",
        "broken/Dockerfile": 'FROM python:3.11\nRUN echo "never closed\n',
    }
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    env = {"LOCKAUDIT_CACHE_DIR": str(tmp_path / "cache")}
    result = CliRunner().invoke(app, ["init", str(root)], env=env)
    assert result.exit_code == 1, result.output  # written, with something left to decide
    assert "wrote [tool.lockaudit]" in result.output
    text = (root / "pyproject.toml").read_text()
    config = tomllib.loads(text)["tool"]["lockaudit"]
    by_key = {f"{i['name']}:{i['tag']}": i for i in config["images"]}
    assert by_key["web:cpu"]["python"] is False
    assert "python" not in by_key["api:cpu"]
    assert config["target"]["python"] == "3.12.4"
    assert "# not a Python image: FROM node:20 brings no Python" in text
    reason = "tests/data/: data or copies, not images (init skips it)"
    assert config["exclude"] == [{"path": "tests/data/**", "reason": reason}]
    assert '# path = "broken/Dockerfile"' in text  # undecided: commented, with the reason
    assert "unterminated double quote" in text

    rules = ["dockerfile-not-covered", "exclude-stale", "dockerfile-unreadable"]
    args = ["check", "--workspace", str(root), "--format", "json"]
    args += [w for r in rules for w in ("--select", r)]
    checked = CliRunner().invoke(app, args, env=env)
    assert checked.exit_code == 1
    found = json.loads(checked.stdout)["findings"]
    assert [(f["rule"], f["location"]) for f in found] == [
        ("dockerfile-not-covered", "broken/Dockerfile:1")
    ]
    for commented in ("[[tool.lockaudit.exclude]]\n", 'path = "broken', 'reason = "undecided'):
        text = text.replace(f"# {commented}", commented)
    (root / "pyproject.toml").write_text(text)
    assert CliRunner().invoke(app, args, env=env).exit_code == 0


def test_graph_text_says_which_images_are_not_locked(tmp_path: Path) -> None:
    root = _mixed(tmp_path / "ws")
    result = CliRunner().invoke(app, ["graph", "--workspace", str(root)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    web = next(line for line in lines if "web:cpu" in line)
    api = next(line for line in lines if "api:cpu" in line)
    assert "no Python: not locked" in web and "no Python" not in api


def test_init_writes_the_reason_a_child_changes_its_python(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    files = {
        "base/Dockerfile": "FROM ubuntu:22.04\nRUN apt-get install -y python3 python3-pip\n",
        "app/Dockerfile": "ARG BASE=base:cpu\nFROM ${BASE}\n"
        "RUN add-apt-repository ppa:deadsnakes/ppa && apt-get install -y python3.12\n",
    }
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    found = {image.dockerfile: image for image in discover_workspace(root).images}
    app_image = found["app/Dockerfile"]
    assert app_image.parent is not None  # built on the base image of the repository
    assert dict(app_image.target)["python"] == "3.12.0"
    assert any(note.startswith("python 3.12.0: app/Dockerfile:3: installs python3.12 from "
                               "deadsnakes") for note in app_image.notes), app_image.notes
    assert not any(note.startswith("glibc") for note in app_image.notes)  # inherited: not said
