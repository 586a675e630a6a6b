"""Images built through a Makefile's pattern rule from a CI job (``make build/<image>
DIRECTORY=<dir>``), with the FROM line a CI step writes into a Dockerfile that has none
(``sed -i '1i FROM …'``), its parent pulled under a name only the run knows in part. Each test
builds a small synthetic repository in a temporary folder."""

from __future__ import annotations

from pathlib import Path

from lockaudit.parsing.dockerfile import parse_dockerfile_text
from lockaudit.rules import run_checks
from lockaudit.workspace.config import load_workspace
from lockaudit.workspace.discover import Discovery, discover_workspace
from lockaudit.workspace.discover._facts import UNKNOWN, partial
from lockaudit.workspace.discover._make import automatic, find_rule


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def _lines(text: str) -> list[tuple[int, str]]:
    return list(enumerate(text.splitlines(), start=1))


MAKEFILE = """\
REGISTRY := example.org/team
TAG := $(shell git rev-parse --short HEAD)

pull/%: GITHUB_OUTPUT ?= .out
pull/%:
\tNAME=$$(echo "$(REGISTRY)" | sed 's:/*$$:/:') && \\
\tdocker pull $${NAME}$(notdir $@):$(TAG) && \\
\techo "pulled=$${NAME}$(notdir $@):$(TAG)" >> $(GITHUB_OUTPUT)

build/%: OUT ?= .out
build/%: DIRECTORY ?=
build/%: ## build one image folder
\tNAME=$$(echo "$(REGISTRY)" | sed 's:/*$$:/:') && \\
\tdocker build --rm -t $${NAME}$(notdir $@):$(TAG) ./stacks/$(DIRECTORY)

build/special:
\tdocker build -t example.org/team/special:1 ./stacks/special
"""

# the job a caller runs once per image: pull the parent (make's `?=` keeps the CI's
# GITHUB_OUTPUT), write its FROM, build through make
BUILD_ONE = """\
on:
  workflow_call:
    inputs:
      image: {type: string, required: true}
      folder: {type: string, required: true}
      parent: {type: string, required: false}
      upstream: {type: string, required: false}
jobs:
  one:
    runs-on: ubuntu-latest
    steps:
      - id: fetch
        run: make pull/${{ inputs.parent }}
      - run: |
          if [ -z "${{ inputs.upstream }}" ]; then
            echo "PARENT=${{ steps.fetch.outputs.pulled }}" >> $GITHUB_ENV
          else
            echo "PARENT=${{ inputs.upstream }}" >> $GITHUB_ENV
          fi
      - run: >-
          sed -i '1i FROM ${{ env.PARENT }} AS ${{ inputs.image }}'
          stacks/${{ inputs.folder }}/Dockerfile
      - run: make build/${{ inputs.image }} DIRECTORY=${{ inputs.folder }} OUT=$GITHUB_OUTPUT
"""

ALL = """\
on: push
jobs:
  core:
    uses: ./.github/workflows/one.yml
    with: {image: core, folder: core, upstream: "python:3.12-slim"}
  lab:
    needs: [core]
    uses: ./.github/workflows/one.yml
    with: {image: lab, folder: tools, parent: core}
  lab-gpu:
    needs: [core]
    uses: ./.github/workflows/one.yml
    with: {image: lab-gpu, folder: gpu, parent: core}
  lab-gpu-tools:
    needs: [lab-gpu]
    uses: ./.github/workflows/one.yml
    with: {image: lab-gpu-tools, folder: tools, parent: lab-gpu}
"""

REPO = {
    "Makefile": MAKEFILE,
    ".github/workflows/one.yml": BUILD_ONE,
    ".github/workflows/all.yml": ALL,
    # no FROM in any of them: the CI writes it
    "stacks/core/Dockerfile": "USER root\nRUN pip install --no-cache-dir requests==2.32.3\n",
    "stacks/gpu/Dockerfile": "ENV CUDA_HOME=/usr/local/cuda\nRUN echo gpu\n",
    "stacks/tools/Dockerfile": "RUN pip install --no-cache-dir rich==13.9.4\n",
}


def _found(tmp_path: Path) -> Discovery:
    _write(tmp_path, REPO)
    return discover_workspace(tmp_path)


def test_a_pattern_rule_run_by_ci_builds_one_image_per_goal_named_by_its_stem(
    tmp_path: Path,
) -> None:
    found = _found(tmp_path)
    by_name = {image.name: image for image in found.images}
    assert set(by_name) == {"core", "lab", "lab-gpu", "lab-gpu-tools"}
    # one folder, two images: the goal names each, the folder is the build context
    assert by_name["lab"].dockerfile == by_name["lab-gpu-tools"].dockerfile == (
        "stacks/tools/Dockerfile"
    )
    assert by_name["lab"].context == "stacks/tools"
    assert by_name["lab-gpu"].context == "stacks/gpu"


def test_a_from_line_written_by_sed_is_the_dockerfiles_from(tmp_path: Path) -> None:
    found = _found(tmp_path)
    core = next(image for image in found.images if image.name == "core")
    assert core.base_image == "python:3.12-slim"
    assert core.parent is None
    assert core.edge.startswith(".github/workflows/one.yml:")
    # none of the FROM-less files is left out as unreadable
    assert not [p for p in found.problems if "cannot read this Dockerfile" in p]


def test_a_parent_pulled_under_a_partly_known_name_is_the_image_tagged_the_same_way(
    tmp_path: Path,
) -> None:
    found = _found(tmp_path)
    keys = {image.name: image.key for image in found.images}
    parents = {image.name: image.parent for image in found.images}
    assert parents["lab"] == keys["core"]
    assert parents["lab-gpu"] == keys["core"]
    assert parents["lab-gpu-tools"] == keys["lab-gpu"]
    # nothing of what only the run knows is pasted into a name or a base
    assert all(UNKNOWN not in (image.base_image or "") for image in found.images)


def test_the_rule_a_goal_runs_explicit_first_then_the_pattern(tmp_path: Path) -> None:
    lines = _lines(MAKEFILE)
    special = find_rule(lines, "build/special")
    assert special is not None and special.stem is None
    assert "special:1" in special.recipe[0][1]
    rule = find_rule(lines, "build/lab")
    assert rule is not None and rule.stem == "lab"
    assert [text for _, text in rule.specific] == ["OUT ?= .out", "DIRECTORY ?="]
    assert [text for _, text in find_rule(lines, "pull/x").specific] == [  # type: ignore[union-attr]
        "GITHUB_OUTPUT ?= .out"
    ]
    assert automatic("-t $(notdir $@):$* $$@", rule) == "-t lab:lab $$@"
    assert find_rule(lines, "push/lab") is None
    assert find_rule(lines, "build/") is None  # a pattern's stem is never empty


def test_a_value_known_in_part_keeps_its_static_rest_and_is_never_static() -> None:
    assert partial(f"{UNKNOWN}{UNKNOWN}core:{UNKNOWN}") == f"{UNKNOWN}core:{UNKNOWN}"
    assert partial("core:1") == "core:1"
    assert partial(f"$(date){UNKNOWN}x") == UNKNOWN  # an expansion left in it: unknown
    assert partial(UNKNOWN) == UNKNOWN


# one build line, configured by callers: each generated script (and a CI job) exports its own
# base and versions, then runs the shared script
CONFIGURED_REPO = {
    "docker/build.sh": "docker build \\\n    --build-arg BASE=${BASE} \\\n"
    "    --build-arg PY=${PY} \\\n    -t acme/torch:${TAG} \\\n    -f docker/Dockerfile .\n",
    "docker/Dockerfile": "ARG BASE\nFROM ${BASE}\nARG PY\nRUN echo ${PY}\n",
    "cells/cpu_py311.sh": "#!/bin/sh\nexport BASE=ubuntu:22.04\nexport PY=3.11.9\n"
    "export TAG=cpu-py3.11\n./docker/build.sh\n",
    "cells/cuda_py312.sh": "#!/bin/sh\nexport BASE=nvidia/cuda:12.4.1-devel-ubuntu22.04\n"
    "export PY=3.12.4\nexport TAG=cuda-py3.12\n./docker/build.sh\n",
    ".github/workflows/cuda.yml": """\
on: push
env:
  BASE: nvidia/cuda:12.4.1-devel-ubuntu22.04
  PY: 3.12.4
  TAG: cuda-py3.12
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: docker/build.sh
""",
}


def test_a_script_sees_what_its_caller_exports_and_its_configurations_are_one_image(
    tmp_path: Path,
) -> None:
    _write(tmp_path, CONFIGURED_REPO)
    found = discover_workspace(tmp_path)
    assert len(found.images) == 1  # not one per caller, nor one for the unconfigured reading
    image = found.images[0]
    assert image.dockerfile == "docker/Dockerfile"
    assert image.name == "torch"
    # the base a caller exported, never the unexported one, never ${BASE} left unresolved
    assert image.base_image in {"ubuntu:22.04", "nvidia/cuda:12.4.1-devel-ubuntu22.04"}
    assert image.edge.startswith("docker/build.sh:")
    assert not [p for p in found.problems if "ARG BASE" in p]


def test_a_variable_the_caller_does_not_export_never_reaches_the_script(tmp_path: Path) -> None:
    files = {k: v for k, v in CONFIGURED_REPO.items() if k.startswith("docker/")}
    files["cells/unexported.sh"] = (
        "#!/bin/sh\nBASE=debian:12\nexport PY=3.10.14\nexport TAG=debian\n./docker/build.sh\n"
    )
    _write(tmp_path, files)
    found = discover_workspace(tmp_path)
    assert [image.base_image for image in found.images] == ["${BASE}"]
    assert [p for p in found.problems if "ARG BASE" in p]


def test_migrate_leaves_a_dockerfile_whose_from_the_ci_writes_as_it_is(tmp_path: Path) -> None:
    from lockaudit.migrate import plan_migration
    from lockaudit.migrate._model import NoteKind

    _write(tmp_path, REPO)
    plan = plan_migration(tmp_path)  # discovery's proposal: read as the CI makes the files
    assert not [c for c in plan.dockerfiles if c.path.startswith("stacks/")]
    left = {n.location.path for n in plan.notes if n.kind is NoteKind.NOT_MIGRATED}
    assert left == {"stacks/core/Dockerfile", "stacks/gpu/Dockerfile", "stacks/tools/Dockerfile"}


def test_a_build_arg_known_in_part_names_the_parent_tagged_the_same_way(tmp_path: Path) -> None:
    _write(tmp_path, {
        "Makefile": "TAG ?= $(shell git describe --tags)\n\n"
        "core:\n\tdocker build -f images/core/Dockerfile -t acme/core:$(TAG)-base .\n\n"
        "app: core\n\tdocker build -f images/app/Dockerfile "
        "--build-arg BASE=acme/core:$(TAG)-base -t acme/app:$(TAG) .\n",
        "images/core/Dockerfile": "FROM python:3.12-slim\nRUN pip install rich==13.9.4\n",
        # the default is another image than the one the Makefile passes
        "images/app/Dockerfile": "ARG BASE=python:3.11-slim\nFROM ${BASE}\n"
        "RUN pip install click==8.1.7\n",
    })
    found = discover_workspace(tmp_path)
    by_file = {image.dockerfile: image for image in found.images}
    app, core = by_file["images/app/Dockerfile"], by_file["images/core/Dockerfile"]
    assert app.parent == core.key
    assert app.base_image is None
    assert app.edge.startswith("Makefile:7")


def test_an_echo_piped_into_sed_is_evaluated_and_nothing_else_is() -> None:
    from lockaudit.errors import Location
    from lockaudit.workspace.discover._pipes import echo_sed

    def run(body: str, **env: str) -> str | None:
        return echo_sed(body, Location("Makefile", 1), env)

    assert run('echo "${V}" | sed -E \'s/\\+/-/g\'', V="1.2+cpu+x") == "1.2-cpu-x"
    assert run("echo ${V} | sed 's/+/-/'", V="1.2+cpu+x") == "1.2-cpu+x"  # BRE: + is literal
    assert run("echo ${V} | sed 's/\\(.*\\)-rc.*/\\1/' | sed 's/^/v/'", V="2.0-rc1") == "v2.0"
    assert run("echo ${V} | sed 's:/*$:/:'", V="reg.example/team") == "reg.example/team/"
    assert run("echo ${V} | sed 's/a/b/'") is None  # V only a run knows
    assert run("git describe | sed 's/a/b/'") is None  # another command
    assert run("echo x | sed -n 's/x/y/p'") is None  # a sed option not read
    assert run("echo x | sed 's/x/\\U&/'") is None  # GNU case conversion: not translated


def test_make_tags_from_if_strip_and_a_tidied_version_are_static(tmp_path: Path) -> None:
    _write(tmp_path, {
        "Makefile": "VERSION ?= 1.4+local\nREGISTRY ?=\nREPO ?= acme\nWITH_PY ?=\n"
        "TAG ?= $(shell echo \"$(VERSION)\" | sed -E 's/\\+/-/g')\n"
        "PREFIX := $(if $(REGISTRY),$(strip $(REGISTRY))/$(REPO),$(REPO))\n"
        "SUFFIX := $(if $(WITH_PY),-py,)\n\n"
        "core:\n\tdocker build -f images/core/Dockerfile -t $(PREFIX)/core:$(TAG)$(SUFFIX) .\n",
        "images/core/Dockerfile": "FROM python:3.12-slim\nRUN pip install rich==13.9.4\n",
    })
    found = discover_workspace(tmp_path)
    assert [image.key for image in found.images] == ["core:1.4-local"]


def test_check_reads_a_dockerfile_whose_from_the_build_writes_as_the_build_does(
    tmp_path: Path,
) -> None:
    found = _found(tmp_path)
    assert all(image.from_inserted for image in found.images)
    assert found.config_toml.count("from-inserted = true") == len(found.images)
    (tmp_path / "pyproject.toml").write_text(found.config_toml)
    workspace = load_workspace(tmp_path)
    findings = run_checks(workspace)
    # every image is checked: none is unreadable for want of a FROM on disk
    assert not [f for f in findings if f.rule == "dockerfile-unreadable"]
    # the written FROM is the declared parent, so the graph rule agrees
    assert not [f for f in findings if f.rule == "from-mismatch"]
    # the file's own lines keep their numbers: an unpinned install on line 2 is found there
    core = tmp_path / "stacks/core/Dockerfile"
    core.write_text(core.read_text().replace("requests==2.32.3", "requests"))
    unpinned = {
        (f.location.path, f.location.line)
        for f in run_checks(load_workspace(tmp_path))
        if f.rule == "unpinned-install"
    }
    assert unpinned == {("stacks/core/Dockerfile", 2)}


def test_without_the_key_a_from_less_dockerfile_is_unreadable_at_its_first_line(
    tmp_path: Path,
) -> None:
    found = _found(tmp_path)
    (tmp_path / "pyproject.toml").write_text(found.config_toml.replace("from-inserted = true", ""))
    unreadable = [
        f for f in run_checks(load_workspace(tmp_path)) if f.rule == "dockerfile-unreadable"
    ]
    assert {f.location.path for f in unreadable} >= {"stacks/core/Dockerfile"}


def test_a_written_first_line_is_line_one_and_the_files_lines_keep_their_numbers() -> None:
    text = "USER root\nRUN pip install x==1\n"
    parsed = parse_dockerfile_text(text, "Dockerfile", first_line="FROM python:3.12-slim")
    assert parsed.final.from_line.image == "python:3.12-slim"
    assert parsed.final.from_line.location.line == 1
    lines = [(i.keyword, i.location.line) for i in parsed.final.instructions]
    assert lines == [("FROM", 1), ("USER", 1), ("RUN", 2)]
