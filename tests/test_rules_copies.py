"""``requirements-copy-drift`` (LA215): a requirement file that says it copies another one and
no longer lists the same requirements, reported at the comment that says so; quiet when the
copy matches, when it names its differences, and when nothing claims to be a copy."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from lockaudit.rules.copies import copy_claim
from lockaudit.rules.findings import Finding, Severity
from lockaudit.rules.runner import run_checks
from lockaudit.workspace.config import load_workspace
from tests.workspace_builder import image, settings, write_workspace

ORIGINAL = """\
scipy~=1.11
seaborn~=0.11.0
mpi4py~=3.1
# aligned with the api image
pymysql~=1.0
"""

HEADER = """\
# This is a hard copy of docker/app/requirements.txt
# minus the mpi4py dependency, which the base image cannot build
"""


def _check(tmp_path: Path, copy: str, files: Mapping[str, str] = {}) -> list[Finding]:
    config = settings(
        [
            image("app", "cpu", base_image="python:3.11-slim",
                  requirements=["docker/app/requirements.txt"]),
            image("base", "cpu", base_image="python:3.11-slim",
                  requirements=["docker/base/app-requirements.txt"]),
        ],
        versions="",
        common="",
    )
    root = write_workspace(tmp_path / "ws", config, files={
        "docker/app/Dockerfile": "FROM python:3.11-slim\n",
        "docker/base/Dockerfile": "FROM python:3.11-slim\n",
        "docker/app/requirements.txt": ORIGINAL,
        "docker/base/app-requirements.txt": copy,
        **files,
    })
    return list(run_checks(load_workspace(root), select=["requirements-copy-drift"]))


def test_a_copy_that_lost_a_package_is_reported_at_its_claim(tmp_path: Path) -> None:
    (finding,) = _check(tmp_path, HEADER + "scipy~=1.11\nseaborn~=0.11.0\n")
    assert (finding.code, finding.severity) == ("LA215", Severity.WARNING)
    assert str(finding.location) == "docker/base/app-requirements.txt:1"
    assert finding.image == "base:cpu"
    assert "it lacks pymysql~=1.0" in finding.message
    assert "mpi4py" not in finding.message  # the header says it is left out on purpose
    assert [str(r) for r in finding.related] == ["docker/app/requirements.txt:5"]
    assert finding.hint and "install docker/app/requirements.txt with -r" in finding.hint


def test_added_and_repinned_packages_are_drift_too(tmp_path: Path) -> None:
    copy = HEADER + "scipy~=1.12\nseaborn~=0.11.0\npymysql~=1.0\nrich==13.7.0\n"
    (finding,) = _check(tmp_path, copy)
    assert "it adds rich==13.7.0" in finding.message
    assert "scipy~=1.12 here is scipy~=1.11 there" in finding.message
    assert [str(r) for r in finding.related] == [
        "docker/base/app-requirements.txt:6",  # rich
        "docker/base/app-requirements.txt:3",  # scipy, here
        "docker/app/requirements.txt:1",  # scipy, there
    ]


def test_a_faithful_copy_in_another_order_is_quiet(tmp_path: Path) -> None:
    copy = HEADER + "# the api's version\npymysql~=1.0\nseaborn~=0.11.0\nscipy~=1.11\n"
    assert _check(tmp_path, copy) == []


def test_files_that_do_not_claim_to_be_copies_may_differ(tmp_path: Path) -> None:
    assert _check(tmp_path, "# the base image's own set\nscipy~=1.11\n") == []


def test_a_claim_naming_a_file_beside_the_copy(tmp_path: Path) -> None:
    copy = "# keep in sync with shared.txt\nscipy~=1.11\n"
    (finding,) = _check(tmp_path, copy, {"docker/base/shared.txt": "scipy~=1.11\nnumpy<2\n"})
    assert "copy of docker/base/shared.txt" in finding.message
    assert "it lacks numpy<2" in finding.message


def test_a_claim_naming_no_file_of_the_workspace_is_not_judged(tmp_path: Path) -> None:
    assert _check(tmp_path, "# a copy of upstream/requirements.txt\nscipy~=1.11\n") == []


def test_the_claim_is_the_first_comment_that_names_a_requirement_file() -> None:
    claim = copy_claim("a.txt", "numpy==1.26.4  # same as b/requirements.in\n# copy of c.txt\n")
    assert claim is not None
    assert (str(claim.location), claim.original) == ("a.txt:1", "b/requirements.in")
    assert copy_claim("a.txt", "# pinned for the api\nnumpy==1.26.4\n") is None
    assert copy_claim("a.txt", "# a copy of a.txt\n") is None  # itself
