"""``lockaudit migrate`` end to end: a never-locked repository becomes a locked workspace.

The repository (``tests/migrate_repo.py``) is discovered, planned, compiled against the
loopback index and checked. Bytes outside the rewritten install commands are compared with
difflib, independently of the planner's own edit list.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockaudit.index.factory import build_index_client
from lockaudit.index.pipconf import PipConfig
from lockaudit.migrate import (
    MigrationPlan,
    MigrationResult,
    NoteKind,
    apply_migration,
    plan_migration,
)
from lockaudit.rules import run_checks
from lockaudit.rules.findings import Severity
from lockaudit.workspace.config import load_workspace, parse_config
from lockaudit.workspace.model import Workspace
from tests.indexserver import IndexServer
from tests.migrate_repo import API, ML, make_repo, scenario

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "as-published"


@pytest.fixture(scope="module")
def server() -> Iterator[IndexServer]:
    with IndexServer(scenario()) as running:
        yield running


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".cache" not in p.parts
    }


def _apply(plan: MigrationPlan, server: IndexServer, cache: Path) -> MigrationResult:
    config = PipConfig(index_url=server.index_url("default"))
    return apply_migration(
        plan, lambda ws: build_index_client(ws, cache_dir=cache, pip_config=config)
    )


def load_workspace_text(root: Path, config: str) -> Workspace:
    return parse_config(tomllib.loads(config)["tool"]["lockaudit"], root=root)


def _changed_lines(old: str, new: str) -> tuple[list[str], list[str]]:
    """(old lines removed or replaced, new lines added), by difflib."""
    removed: list[str] = []
    added: list[str] = []
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b).get_opcodes():
        if tag != "equal":
            removed += a[i1:i2]
            added += b[j1:j2]
    return removed, added


# -- the plan (no index needed) --------------------------------------------------------------------


def test_plan_writes_nothing_and_proposes_every_file(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    before = _snapshot(root)
    plan = plan_migration(root)
    assert _snapshot(root) == before
    assert plan.discovered
    assert {c.path for c in plan.changes} == {
        "pyproject.toml",
        "versions.txt",
        "docker/base/Dockerfile",
        "docker/ml/Dockerfile",
        "docker/ml/requirements.in",
        "docker/api/Dockerfile",
        "docker/api/requirements.in",
    }


def test_only_install_lines_change_in_a_mixed_run(tmp_path: Path) -> None:
    plan = plan_migration(make_repo(tmp_path))
    change = plan.change("docker/ml/Dockerfile")
    assert change.old == ML
    removed, added = _changed_lines(ML, change.new)
    assert removed == [
        '    && pip install --no-cache-dir "numpy==1.26.4" tqdm \\\n',
        "RUN pip install -r /tmp/requirements.txt\n",
    ]
    assert added == [
        "COPY locks/ml-cpu.layer.txt /tmp/lockaudit/layer.txt\n",
        "    && pip install --no-cache-dir --no-deps --require-hashes -r "
        "/tmp/lockaudit/layer.txt \\\n",
    ]
    # apt-get before and the cleanup after stay in the same RUN, in order
    assert "RUN apt-get update && apt-get install -y --no-install-recommends libsndfile1 \\\n" \
        "    && pip install" in change.new
    assert "    && rm -rf /var/lib/apt/lists/*\n" in change.new


def test_commands_around_a_removed_install_are_kept(tmp_path: Path) -> None:
    plan = plan_migration(make_repo(tmp_path))
    new = plan.change("docker/api/Dockerfile").new
    removed, added = _changed_lines(API, new)
    assert removed == [
        "RUN pip install numpy==1.26.4 'requests>=2.30'\n",
        "RUN pip install filelock && echo done\n",
    ]
    assert added == [
        "COPY locks/api-cpu.layer.txt /tmp/lockaudit/layer.txt\n",
        "RUN pip install --no-deps --require-hashes -r /tmp/lockaudit/layer.txt\n",
        "RUN echo done\n",
    ]
    assert "RUN pip install --upgrade pip\n" in new  # the installer itself is not locked
    assert "# filelock comes last on purpose\n" in new


def test_in_files_keep_the_origin_of_every_requirement(tmp_path: Path) -> None:
    plan = plan_migration(make_repo(tmp_path))
    ml = plan.change("docker/ml/requirements.in").new.splitlines()
    assert "numpy==1.26.4  # from docker/ml/Dockerfile:5" in ml
    assert "tqdm  # from docker/ml/Dockerfile:5" in ml
    assert "colorama==0.4.6  # from docker/ml/requirements.txt:2" in ml
    api = plan.change("docker/api/requirements.in").new.splitlines()
    assert "requests>=2.30  # from docker/api/Dockerfile:3" in api
    assert not any(line.startswith("pip") for line in api)


def test_agreeing_pins_are_hoisted_and_disagreeing_ones_listed(tmp_path: Path) -> None:
    plan = plan_migration(make_repo(tmp_path))
    assert plan.change("versions.txt").new.splitlines()[-1] == "numpy==1.26.4"
    assert [n.kind for n in plan.notes] == [NoteKind.HOISTED]

    other = make_repo(tmp_path / "b", {"docker/api/Dockerfile": API.replace("1.26.4", "1.24.3")})
    plan = plan_migration(other)
    assert "versions.txt" not in {c.path for c in plan.changes}
    (note,) = [n for n in plan.notes if n.kind is NoteKind.DISAGREEMENT]
    assert "1.26.4 at docker/ml/Dockerfile:5" in note.message
    assert "1.24.3 at docker/api/Dockerfile:3" in note.message
    assert "numpy==1.24.3  # from" in plan.change("docker/api/requirements.in").new


def test_unlockable_requirements_stay_where_they_are(tmp_path: Path) -> None:
    api = API.replace(
        "RUN pip install numpy==1.26.4 'requests>=2.30'\n",
        "RUN pip install numpy==1.26.4 'requests>=2.30' "
        "'tool @ git+https://example.invalid/tool.git'\n",
    )
    plan = plan_migration(make_repo(tmp_path, {"docker/api/Dockerfile": api}))
    new = plan.change("docker/api/Dockerfile").new
    assert (
        "RUN pip install --no-deps --require-hashes -r /tmp/lockaudit/layer.txt && "
        "pip install 'tool @ git+https://example.invalid/tool.git'\n"
    ) in new
    (note,) = [n for n in plan.notes if n.kind is NoteKind.UNLOCKABLE]
    assert str(note.location) == "docker/api/Dockerfile:3"
    assert "without a commit" in note.message
    assert "tool" not in plan.change("docker/api/requirements.in").new


def test_fallbacks_take_their_layer_lock_from_a_build_arg(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLE, root)
    plan = plan_migration(root)
    asr = plan.change("docker/asr/Dockerfile")
    _, added = _changed_lines(asr.old or "", asr.new)
    assert added[:2] == [
        "ARG LAYER_LOCK=locks/asr-cuda.layer.txt\n",
        "COPY ${LAYER_LOCK} /tmp/lockaudit/layer.txt\n",
    ]
    config = plan.change("pyproject.toml").new
    assert 'build-args = {LAYER_LOCK = "locks/asr-cpu.layer.txt"}' in config
    assert 'requirements = ["docker/asr/requirements.in"]' in config
    # comments of the configuration survive the edit
    assert "# The write-up derives the CPU fallbacks by rewriting the FROM line" in config
    assert "whisperx==3.7.2  # from docker/asr/Dockerfile:9" in plan.change(
        "docker/asr/requirements.in"
    ).new


# -- applying it against the loopback index ----------------------------------------------------


def test_write_compiles_and_the_result_passes_check(
    tmp_path: Path, server: IndexServer, hermetic_pip: None
) -> None:
    root = make_repo(tmp_path / "repo")
    plan = plan_migration(root)
    result = _apply(plan, server, tmp_path / "cache")
    assert result.ok
    for change in plan.changes:
        assert (root / change.path).read_text(encoding="utf-8") == change.new
    for slug in ("base-cpu", "ml-cpu", "api-cpu"):
        assert (root / f"locks/{slug}.layer.txt").is_file()
    layer = (root / "locks/ml-cpu.layer.txt").read_text()
    assert "numpy==1.26.4" in layer and "tqdm==4.67.0" in layer and "colorama==0.4.6" in layer
    assert "rich==" not in layer  # in the parent's layer, not repeated
    errors = [f for f in run_checks(load_workspace(root)) if f.severity is Severity.ERROR]
    assert errors == []
    assert plan_migration(root).changes == ()  # a second run has nothing to do


def test_an_image_that_does_not_resolve_is_left_out_and_the_rest_written(
    tmp_path: Path, server: IndexServer, hermetic_pip: None
) -> None:
    # Partial on purpose (it was all or nothing): base and ml are migrated, api is named.
    api = API.replace("filelock", "no-such-package")
    root = make_repo(tmp_path / "repo", {"docker/api/Dockerfile": api})
    result = _apply(plan_migration(root), server, tmp_path / "cache")
    assert not result.ok
    assert result.left_out == ("api:cpu",)
    assert (root / "docker/api/Dockerfile").read_text(encoding="utf-8") == api  # as it was
    assert "locks/base-cpu.layer.txt" in (root / "docker/base/Dockerfile").read_text()
    assert "locks/ml-cpu.layer.txt" in (root / "docker/ml/Dockerfile").read_text()
    assert (root / "locks/ml-cpu.layer.txt").is_file()
    assert not (root / "locks/api-cpu.layer.txt").exists()
    assert not (root / "docker/api/requirements.in").exists()
    [note] = [n for n in result.plan.notes if n.kind is NoteKind.NOT_MIGRATED]
    assert note.location.path == "docker/api/Dockerfile"
    assert "api:cpu is not migrated" in note.message
    # The reason points at the Dockerfile line (the .in file it was planned into is not written).
    assert "docker/api/Dockerfile:5 requires no-such-package" in note.message
    errors = [f for f in run_checks(load_workspace(root)) if f.severity is Severity.ERROR]
    assert errors and {f.image for f in errors} == {"api:cpu"}
    # Fixed, the next run migrates what is left, and check passes.
    (root / "docker/api/Dockerfile").write_text(API, encoding="utf-8")
    again = _apply(plan_migration(root), server, tmp_path / "cache")
    assert again.ok and "docker/api/Dockerfile" in again.written
    assert [f for f in run_checks(load_workspace(root)) if f.severity is Severity.ERROR] == []


def test_an_image_that_only_upgrades_pip_gets_an_empty_layer_and_passes_check(
    tmp_path: Path, server: IndexServer, hermetic_pip: None
) -> None:
    # The loopback index serves no pip: locking the installer upgrade would fail the image;
    # lockaudit does not lock the installer (the lock rules do not ask for it either).
    tools = "FROM example/app-base:cpu\nRUN pip install --upgrade pip setuptools wheel\n"
    root = make_repo(tmp_path / "repo", {"docker/tools/Dockerfile": tools})
    plan = plan_migration(root)
    assert "tools:cpu" in plan.images
    result = _apply(plan, server, tmp_path / "cache")
    assert result.ok, result.left_out
    assert (root / "docker/tools/Dockerfile").read_text(encoding="utf-8") == tools
    layer = (root / "locks/tools-cpu.layer.txt").read_text(encoding="utf-8")
    assert "==" not in layer
    errors = [f for f in run_checks(load_workspace(root)) if f.severity is Severity.ERROR]
    assert errors == []


def test_an_image_built_on_one_that_does_not_resolve_is_left_out_too(
    tmp_path: Path, server: IndexServer, hermetic_pip: None
) -> None:
    ml = ML.replace("tqdm", "no-such-package")
    api = API.replace("FROM example/app-base:cpu", "FROM example/app-ml:cpu")
    root = make_repo(tmp_path / "repo", {"docker/ml/Dockerfile": ml, "docker/api/Dockerfile": api})
    result = _apply(plan_migration(root), server, tmp_path / "cache")
    assert sorted(result.left_out) == ["api:cpu", "ml:cpu"]
    skipped = result.compiled.result("api:cpu")
    assert skipped.reason is not None and "ml:cpu" in skipped.reason
    assert (root / "docker/ml/Dockerfile").read_text(encoding="utf-8") == ml
    assert (root / "docker/api/Dockerfile").read_text(encoding="utf-8") == api
    assert (root / "locks/base-cpu.layer.txt").is_file()


def test_when_no_image_resolves_nothing_is_written(
    tmp_path: Path, server: IndexServer, hermetic_pip: None
) -> None:
    root = make_repo(tmp_path / "repo", {"requirements-common.txt": "no-such-package==1.0\n"})
    before = _snapshot(root)
    result = _apply(plan_migration(root), server, tmp_path / "cache")
    assert not result.ok
    assert sorted(result.left_out) == ["api:cpu", "base:cpu", "ml:cpu"]
    assert result.written == ()
    assert _snapshot(root) == before


def test_cli_shows_a_diff_and_writes_only_with_write(
    tmp_path: Path, server: IndexServer, hermetic_pip: None
) -> None:
    root = make_repo(tmp_path / "repo")
    before = _snapshot(root)
    env = {
        **os.environ,
        "PIP_INDEX_URL": server.index_url("default"),
        "LOCKAUDIT_CACHE_DIR": str(tmp_path / "cache"),
        "NO_COLOR": "1",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "lockaudit", *args],
            capture_output=True, text=True, env=env, cwd=root, check=False, timeout=120,
        )

    shown = run("migrate")
    assert shown.returncode == 0, shown.stderr
    assert "+++ b/docker/ml/Dockerfile" in shown.stdout
    assert "+COPY locks/ml-cpu.layer.txt /tmp/lockaudit/layer.txt" in shown.stdout
    assert _snapshot(root) == before
    written = run("migrate", "--write")
    assert written.returncode == 0, written.stderr
    assert "wrote locks/ml-cpu.layer.txt" in written.stderr
    checked = run("check")
    assert checked.returncode == 0, checked.stdout
    assert "0 errors" in checked.stdout


def test_cli_names_the_images_it_left_out_and_exits_non_zero(
    tmp_path: Path, server: IndexServer, hermetic_pip: None
) -> None:
    api = API.replace("filelock", "no-such-package")
    root = make_repo(tmp_path / "repo", {"docker/api/Dockerfile": api})
    env = {
        **os.environ,
        "PIP_INDEX_URL": server.index_url("default"),
        "LOCKAUDIT_CACHE_DIR": str(tmp_path / "cache"),
        "NO_COLOR": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "lockaudit", "migrate", "--write"],
        capture_output=True, text=True, env=env, cwd=root, check=False, timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "not migrated: api:cpu" in done.stderr
    assert "wrote locks/ml-cpu.layer.txt" in done.stderr
    assert "docker/api/Dockerfile:1: not-migrated: api:cpu is not migrated" in done.stdout


def test_bad_input_is_named_and_nothing_is_written(tmp_path: Path, hermetic_pip: None) -> None:
    root = make_repo(tmp_path)
    config = plan_migration(root).change("pyproject.toml").new
    (root / "pyproject.toml").write_text(config, encoding="utf-8")
    ml = ML.replace('"numpy==1.26.4"', '"numpy==1.26.4')  # unterminated quote
    (root / "docker/ml/Dockerfile").write_text(ml, encoding="utf-8")
    before = _snapshot(root)
    done = subprocess.run(
        [sys.executable, "-m", "lockaudit", "migrate", "--write", str(root)],
        capture_output=True, text=True, check=False, timeout=60,
        env={**os.environ, "NO_COLOR": "1", "PIP_INDEX_URL": "http://127.0.0.1:9/simple"},
    )
    assert done.returncode == 2
    assert "docker/ml/Dockerfile:" in done.stderr and "Traceback" not in done.stderr
    assert _snapshot(root) == before


def test_build_stages_keep_their_installs(tmp_path: Path) -> None:
    api = (
        "FROM python:3.11.14-slim-bookworm AS build\n"
        "RUN pip install build==1.2.2 && python -m build --wheel --outdir /dist /src\n"
        "FROM example/app-base:cpu\n"
        "COPY --from=build /dist /dist\n"
        "RUN pip install numpy==1.26.4\n"
    )
    plan = plan_migration(make_repo(tmp_path, {"docker/api/Dockerfile": api}))
    change = plan.change("docker/api/Dockerfile")
    removed, _ = _changed_lines(api, change.new)
    assert removed == ["RUN pip install numpy==1.26.4\n"]
    (note,) = [n for n in plan.notes if n.kind is NoteKind.NOT_REWRITTEN]
    assert str(note.location) == "docker/api/Dockerfile:2" and "build stage" in note.message
    assert "build" not in plan.change("docker/api/requirements.in").new.split("# from")[0]


def test_an_extra_index_of_an_install_becomes_a_workspace_index(tmp_path: Path) -> None:
    api = API.replace(
        "RUN pip install filelock && echo done\n",
        "RUN pip install --extra-index-url https://wheels.example.invalid/simple filelock "
        "&& echo done\n",
    )
    plan = plan_migration(make_repo(tmp_path, {"docker/api/Dockerfile": api}))
    config = plan.change("pyproject.toml").new
    assert 'url = "https://wheels.example.invalid/simple"' in config
    workspace = load_workspace_text(tmp_path, config)
    assert [i.url for i in workspace.indexes] == ["https://wheels.example.invalid/simple"]
    assert workspace.indexes[0].packages == ()  # an extra index: every package may come from it



def test_a_local_project_is_installed_without_deps_and_its_dependencies_locked(
    tmp_path: Path, server: IndexServer, hermetic_pip: None
) -> None:
    api = API + "COPY docker/api/proj /src\nRUN pip install -e '/src[fast]'\n"
    project = (
        '[project]\nname = "api"\nversion = "1"\ndependencies = ["idna>=3"]\n'
        '[project.optional-dependencies]\nfast = ["colorama==0.4.6", "api[other]"]\n'
    )
    root = make_repo(
        tmp_path / "repo",
        {"docker/api/Dockerfile": api, "docker/api/proj/pyproject.toml": project},
    )
    plan = plan_migration(root)
    new = plan.change("docker/api/Dockerfile").new
    assert new.endswith("RUN pip install --no-deps -e '/src[fast]'\n")
    text = plan.change("docker/api/requirements.in").new
    origin = "# from docker/api/proj/pyproject.toml [project] dependencies of /src[fast]"
    assert f"idna>=3  {origin}" in text and f"colorama==0.4.6  {origin}" in text
    assert "api[other]" not in text  # the project naming itself is not a dependency
    assert not [n for n in plan.notes if n.kind is NoteKind.UNLOCKABLE]
    assert _apply(plan, server, tmp_path / "cache").ok  # type: ignore[attr-defined]
    errors = [f for f in run_checks(load_workspace(root)) if f.severity is Severity.ERROR]
    assert errors == []
    assert "colorama==0.4.6" in (root / "locks/api-cpu.layer.txt").read_text()


def test_a_context_without_the_locks_folder_gets_its_own(
    tmp_path: Path, server: IndexServer, hermetic_pip: None
) -> None:
    """`docker build docker/api`: the lock must be COPY-able from that folder, so the image's
    locks go to `docker/api/locks/` (its `locks` key) and the Dockerfile copies them from there."""
    build = (EXAMPLE.parent / "unlocked/build.sh").read_text(encoding="utf-8").replace(
        "-f docker/api/Dockerfile .", "-f docker/api/Dockerfile docker/api"
    )
    api = API.replace("COPY docker/api/main.py /app/", "COPY main.py /app/")
    root = make_repo(tmp_path / "repo", {"build.sh": build, "docker/api/Dockerfile": api})
    plan = plan_migration(root)
    new = plan.change("docker/api/Dockerfile").new
    assert "COPY locks/api-cpu.layer.txt /tmp/lockaudit/layer.txt\n" in new
    assert 'locks = "docker/api/locks"' in plan.change("pyproject.toml").new
    (note,) = [n for n in plan.notes if n.kind is NoteKind.LOCKS_IN_CONTEXT]
    assert "docker/api/locks/" in note.message
    assert not [n for n in plan.notes if n.kind is NoteKind.NOT_REWRITTEN]
    assert _apply(plan, server, tmp_path / "cache").ok  # type: ignore[attr-defined]
    assert "filelock==" in (root / "docker/api/locks/api-cpu.layer.txt").read_text()
    assert not (root / "locks/api-cpu.layer.txt").exists()
    assert (root / "locks/base-cpu.txt").is_file()  # the parent's lock stays where it was
    errors = [f for f in run_checks(load_workspace(root)) if f.severity is Severity.ERROR]
    assert errors == []
    assert plan_migration(root).changes == ()
