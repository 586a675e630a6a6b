"""A small repository that was never locked, and the loopback index that serves its packages.

Shared by the migrate and add-stage tests: three images (a base and two stages) whose
Dockerfiles install loose and pinned packages inline and from requirement files, mixed with
apt-get steps, comments and other instructions that a migration must leave byte for byte.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.indexserver import Scenario, scenario_from_dict

MANYLINUX = "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"


def _releases(*versions: str, requires: tuple[str, ...] = (), tags: str = "py3-none-any") -> Any:
    return {
        "releases": [
            {"version": v, "requires_dist": list(requires), "files": [{"tags": tags}]}
            for v in versions
        ]
    }


def scenario() -> Scenario:
    return scenario_from_dict(
        {
            "indexes": {
                "default": {
                    "projects": {
                        "numpy": _releases("1.24.3", "1.26.4", tags=MANYLINUX),
                        "rich": _releases("14.1.0", "14.2.0"),
                        "tqdm": _releases("4.66.0", "4.67.0"),
                        "colorama": _releases("0.4.6"),
                        "filelock": _releases("3.12.0", "3.13.1"),
                        "requests": _releases("2.32.5", requires=("idna>=3",)),
                        "idna": _releases("3.7", "3.10"),
                    }
                }
            }
        }
    )


BASE = """\
# syntax=docker/dockerfile:1
# base: the interpreter and what every stage shares.
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg \\
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements-common.txt /tmp/requirements-common.txt
RUN pip install --no-cache-dir -r /tmp/requirements-common.txt
"""

ML = """\
FROM example/app-base:cpu

# 1. System packages and the numeric stack in one layer
RUN apt-get update && apt-get install -y --no-install-recommends libsndfile1 \\
    && pip install --no-cache-dir "numpy==1.26.4" tqdm \\
    && rm -rf /var/lib/apt/lists/*

# 2. The stage's own requirements
COPY docker/ml/requirements.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt
ENV MODEL_DIR=/models
ARG WORKERS=2

# 3. Code last
COPY docker/ml/*.py /app/
ENTRYPOINT ["python", "/app/main.py"]
"""

API = """\
FROM example/app-base:cpu
RUN pip install --upgrade pip
RUN pip install numpy==1.26.4 'requests>=2.30'
# filelock comes last on purpose
RUN pip install filelock && echo done
COPY docker/api/main.py /app/
"""

FILES = {
    "requirements-common.txt": "rich==14.1.0\n",
    "docker/base/Dockerfile": BASE,
    "docker/ml/Dockerfile": ML,
    "docker/ml/requirements.txt": "# the model's helpers\ncolorama==0.4.6\n",
    "docker/ml/main.py": "print('ml')\n",
    "docker/api/Dockerfile": API,
    "docker/api/main.py": "print('api')\n",
    "build.sh": (
        "docker build -t example/app-base:cpu -f docker/base/Dockerfile .\n"
        "docker build -t example/app-ml:cpu -f docker/ml/Dockerfile .\n"
        "docker build -t example/app-api:cpu -f docker/api/Dockerfile .\n"
    ),
}


def make_repo(root: Path, files: dict[str, str] | None = None) -> Path:
    for path, text in {**FILES, **(files or {})}.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    return root
