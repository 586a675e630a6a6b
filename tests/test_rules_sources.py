"""``build-sources-disagree`` (LA113): the audit of a small repository whose Makefile, CI
workflow, compose file and bake file build its image, over the loopback index.

The image ``app`` is ``app.Dockerfile``: ``ARG PYTHON_VERSION`` / ``ARG BASE_IMAGE`` make its
base, stages ``build`` → ``runtime`` → ``dev`` (the last). Each test writes the build sources
it is about; the finding's place, related places and wording are asserted exactly enough to
fail when the rule blames the wrong source.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from lockaudit.audit import AuditResult, audit_workspace
from lockaudit.index.client import IndexClient
from lockaudit.rules.findings import Finding, Severity
from lockaudit.workspace.config import load_workspace
from tests.indexserver import (
    FileSpec,
    IndexServer,
    IndexSpec,
    MetadataMode,
    Project,
    Release,
    Scenario,
)
from tests.workspace_builder import image, settings, write_workspace

RULE = "build-sources-disagree"

DOCKERFILE = """\
ARG PYTHON_VERSION=3.12
ARG BASE_IMAGE=python:${PYTHON_VERSION}-slim
ARG APP_VERSION=dev

FROM ${BASE_IMAGE} AS build
RUN pip install six==1.16.0

FROM build AS runtime
COPY app.py /app/

FROM runtime AS dev
RUN pip install six==1.16.0
"""

MAKEFILE = """\
BASE_IMG ?= python:3.11-slim
REGISTRY ?= example

docker-build-app:
\tdocker build --build-arg BASE_IMAGE=${BASE_IMG} -t ${REGISTRY}/app:${TAG} -f app.Dockerfile .
"""


def _workflow(with_lines: str = "") -> str:
    return textwrap.dedent(
        """\
        name: publish
        on: push
        env:
          IMAGE_NAME: app
        jobs:
          push:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
              - name: Build and push
                uses: docker/build-push-action@v6
                with:
                  context: .
                  file: app.Dockerfile
                  push: true
        """
    ) + textwrap.indent(textwrap.dedent(with_lines), " " * 12)


@pytest.fixture
def server(index_server: Callable[[Scenario], IndexServer]) -> IndexServer:
    wheel = FileSpec("wheel", "py3-none-any", MetadataMode.ADVERTISED)
    return index_server(
        Scenario((IndexSpec("default", (Project("six", (Release("1.16.0", files=(wheel,)),)),)),))
    )


@pytest.fixture
def audit(
    tmp_path: Path, server: IndexServer, make_client: Callable[..., IndexClient]
) -> Iterator[Callable[[Mapping[str, str]], AuditResult]]:
    def run(files: Mapping[str, str]) -> AuditResult:
        config = settings(
            [image("app", "latest", base_image="python:3.12-slim", dockerfile="app.Dockerfile")],
            versions="",
            common="",
            registry="example",
        )
        root = write_workspace(
            tmp_path / "repo", config, files={"app.Dockerfile": DOCKERFILE, "app.py": "", **files}
        )
        workspace = load_workspace(root)
        return audit_workspace(workspace, make_client(server.index_url("default")))

    yield run


def _found(result: AuditResult) -> list[Finding]:
    return [f for f in result.findings if f.rule == RULE]


def test_a_base_image_passed_here_and_defaulted_there(
    audit: Callable[[Mapping[str, str]], AuditResult],
) -> None:
    result = audit({"Makefile": MAKEFILE, ".github/workflows/publish.yml": _workflow()})
    (finding,) = _found(result)
    assert finding.code == "LA113" and finding.severity is Severity.WARNING
    # at the default the workflow silently takes; the ARG it is made of and both sources related
    assert str(finding.location) == "app.Dockerfile:2"
    assert [str(r) for r in finding.related] == [
        "app.Dockerfile:1", "Makefile:5", ".github/workflows/publish.yml:11",
    ]
    assert finding.image == "app:latest"
    assert "app is built on python:3.11-slim by Makefile:5" in finding.message
    assert "default python:3.12-slim by .github/workflows/publish.yml:11" in finding.message
    assert finding.hint and "--build-arg BASE_IMAGE" in finding.hint


def test_sources_that_pass_the_same_base_agree(
    audit: Callable[[Mapping[str, str]], AuditResult],
) -> None:
    workflow = _workflow("build-args: |\n  BASE_IMAGE=python:3.11-slim\n  APP_VERSION=1.2\n")
    assert _found(audit({"Makefile": MAKEFILE, ".github/workflows/publish.yml": workflow})) == []


def test_an_argument_that_changes_no_base_is_no_disagreement(
    audit: Callable[[Mapping[str, str]], AuditResult],
) -> None:
    """APP_VERSION set by one source only: no FROM reads it."""
    makefile = MAKEFILE.replace("BASE_IMAGE=${BASE_IMG}", "APP_VERSION=2.0")
    assert _found(audit({"Makefile": makefile, ".github/workflows/publish.yml": _workflow()})) == []


def test_a_base_only_a_run_knows_is_not_compared(
    audit: Callable[[Mapping[str, str]], AuditResult],
) -> None:
    workflow = _workflow("build-args: BASE_IMAGE=${{ vars.BASE }}\n")
    assert _found(audit({"Makefile": MAKEFILE, ".github/workflows/publish.yml": workflow})) == []


def test_one_file_building_a_name_twice_is_not_compared_with_itself(
    audit: Callable[[Mapping[str, str]], AuditResult],
) -> None:
    makefile = MAKEFILE + (
        "\ndocker-build-app-default:\n"
        "\tdocker build -t ${REGISTRY}/app:${TAG} -f app.Dockerfile .\n"
    )
    assert _found(audit({"Makefile": makefile})) == []


COMPOSE = """\
services:
  api:
    image: example/app:latest
    build:
      context: .
      dockerfile: app.Dockerfile
      target: runtime
"""

BAKE = """\
target "app" {
  context = "."
  dockerfile = "app.Dockerfile"
  tags = ["example/app:latest"]
}
"""


def test_bake_building_the_last_stage_where_compose_builds_runtime(
    audit: Callable[[Mapping[str, str]], AuditResult],
) -> None:
    (finding,) = _found(audit({"compose.yaml": COMPOSE, "docker-bake.hcl": BAKE}))
    assert str(finding.location) == "docker-bake.hcl:1"  # the source without a target
    assert [str(r) for r in finding.related] == ["compose.yaml:2"]
    assert "from stage 'dev' of app.Dockerfile by docker-bake.hcl:1" in finding.message
    assert "no target, so the last stage" in finding.message
    assert "from runtime by compose.yaml:2" in finding.message


def test_the_same_target_everywhere_agrees(
    audit: Callable[[Mapping[str, str]], AuditResult],
) -> None:
    bake = BAKE.replace('  tags =', '  target = "runtime"\n  tags =')
    assert _found(audit({"compose.yaml": COMPOSE, "docker-bake.hcl": bake})) == []


def test_other_tags_are_variants_not_disagreements(
    audit: Callable[[Mapping[str, str]], AuditResult],
) -> None:
    bake = BAKE.replace("example/app:latest", "example/app:debug")
    assert _found(audit({"compose.yaml": COMPOSE, "docker-bake.hcl": bake})) == []


def test_one_reference_built_from_two_dockerfiles(
    audit: Callable[[Mapping[str, str]], AuditResult],
) -> None:
    bake = BAKE.replace('dockerfile = "app.Dockerfile"', 'dockerfile = "other.Dockerfile"')
    bake = bake.replace('  tags =', '  target = "runtime"\n  tags =')
    result = audit({
        "compose.yaml": COMPOSE,
        "docker-bake.hcl": bake,
        "other.Dockerfile": "FROM python:3.12-slim AS runtime\n",
    })
    (finding,) = _found(result)
    assert str(finding.location) == "docker-bake.hcl:1"
    assert "example/app:latest is built from other.Dockerfile by docker-bake.hcl:1" in (
        finding.message
    )
    assert "but from app.Dockerfile by compose.yaml:2" in finding.message
