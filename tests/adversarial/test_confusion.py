"""Dependency confusion against two loopback indexes on two origins.

The workspace's own server serves the default index and the routed PyTorch-style indexes; a
second server, another origin, is an extra index (``[[tool.lockaudit.indexes]]`` without
``packages``) that offers ``torch 99.0`` (higher than any routed build) and ``rich``, which the
default index lists too. A routed package is never looked up there, let alone taken; the lock
records the index each package came from; ``audit`` names every index a locked name is on.
A third origin serves a byte-identical copy of the default index's ``rich``: indexes that agree
are a mirror, an info, never a warning.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.corpus.harness import Cli, cli_env, reliability_scenario
from tests.indexserver import IndexServer, scenario_from_dict
from tests.indexserver.scenario import IndexSpec, Scenario
from tests.test_compile import _releases


@pytest.fixture(scope="module")
def extra() -> Iterator[IndexServer]:
    projects = {"torch": _releases("99.0"), "rich": _releases("14.1.0", "99.0")}
    with IndexServer(scenario_from_dict({"indexes": {"extra": {"projects": projects}}})) as s:
        yield s


@pytest.fixture(scope="module")
def confused(
    compiled: Path,
    tmp_path_factory: pytest.TempPathFactory,
    server: IndexServer,
    extra: IndexServer,
) -> Path:
    """The compiled workspace with the extra index added, compiled again from a cold cache."""
    root = tmp_path_factory.mktemp("confused") / "ws"
    shutil.copytree(compiled, root)
    config = root / "pyproject.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + f'\n[[tool.lockaudit.indexes]]\nname = "extra"\nurl = "{extra.index_url("extra")}"\n',
        encoding="utf-8",
    )
    extra.reset_counters()
    ran = Cli(root, cli_env(server, root.parent / "cache")).run("compile", "--all")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return root


def _entry(root: Path, slug: str, name: str) -> str:
    text = (root / "locks" / f"{slug}.txt").read_text(encoding="utf-8")
    return text.split(f"\n{name}==", 1)[1].split("\n\n", 1)[0]


def test_routed_package_is_never_looked_up_on_the_extra_index(
    confused: Path, server: IndexServer, extra: IndexServer
) -> None:
    for slug, local in (("base-ml-cuda", "cu121"), ("asr-cuda", "cu121"), ("asr-cpu", "cpu")):
        entry = _entry(confused, slug, "torch")
        assert entry.startswith(f"2.1.0+{local} "), entry
        assert f"# index: {server.index_url('pytorch-' + local)}" in entry, entry
    assert extra.requests[extra.page_path("extra", "torch")] == 0
    assert extra.requests[extra.page_path("extra", "rich")] >= 1  # the extra index was asked


def test_lock_records_the_index_an_unrouted_package_came_from(
    confused: Path, extra: IndexServer
) -> None:
    """rich 14.1.0 (the constraints' pin) is on both; pip's index (written ``default`` in
    locks, which never name the user's own index) is listed first and wins the release."""
    entry = _entry(confused, "base-cpu", "rich")
    assert "\n    # index: default\n" in entry, entry
    assert extra.base_url not in entry


def test_audit_names_every_index_a_locked_name_is_on(
    confused: Path, server: IndexServer, extra: IndexServer
) -> None:
    ran = Cli(confused, cli_env(server, confused.parent / "cache")).run(
        "audit", "--format", "json", "--select", "index-confusion", "--show-info"
    )
    assert "Traceback" not in ran.stderr
    findings = json.loads(ran.stdout)["findings"]
    by = {(f["image"], f["package"]): f for f in findings}
    rich = by[("base:cpu", "rich")]
    assert rich["code"] == "LA222" and rich["severity"] == "warning", rich
    assert rich["message"] == (
        f"rich is listed on 2 indexes ({server.index_url('default')}, {extra.index_url('extra')})"
        f" and routed to none: pip takes the highest version from any of them "
        f"({extra.index_url('extra')} offers rich 99.0, which {server.index_url('default')} does "
        f"not); the lock has rich 14.1.0 from {server.index_url('default')}"
    )
    torch = by[("base-ml:cuda", "torch")]
    assert torch["severity"] == "info", torch
    assert torch["message"] == (
        f"torch is routed to {server.index_url('pytorch-cu121')} for cuda images; "
        f"{server.index_url('default')}, {extra.index_url('extra')} also list it: the lock "
        f"takes torch 2.1.0+cu121 from {server.index_url('pytorch-cu121')} only"
    )
    # a name only one index lists is no finding
    assert ("base:cpu", "numpy") not in by and ("base:cpu", "tqdm") not in by
    assert ran.returncode in (0, 1), ran.stderr  # whether a warning fails is `fail-on`'s


@pytest.fixture(scope="module")
def copy() -> Iterator[IndexServer]:
    """Another origin serving the default index's ``rich``, release for release, byte for byte."""
    rich = reliability_scenario().index("default").project("rich")
    assert rich is not None
    with IndexServer(Scenario((IndexSpec("copy", (rich,)),))) as s:
        yield s


def _with_index(compiled: Path, dest: Path, name: str, url: str) -> Path:
    root = dest / "ws"
    shutil.copytree(compiled, root)
    config = root / "pyproject.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + f'\n[[tool.lockaudit.indexes]]\nname = "{name}"\nurl = "{url}"\n',
        encoding="utf-8",
    )
    return root


def test_an_index_that_copies_another_is_an_info_not_a_warning(
    compiled: Path, tmp_path: Path, server: IndexServer, copy: IndexServer
) -> None:
    """pip's configuration often adds a local copy of the default index: every name it lists
    was a warning, which buried a real audit; a copy that agrees is hidden unless asked for."""
    root = _with_index(compiled, tmp_path, "copy", copy.index_url("copy"))
    cli = Cli(root, cli_env(server, tmp_path / "cache"))
    ran = cli.run("audit", "--format", "json", "--select", "index-confusion", "--show-info")
    assert "Traceback" not in ran.stderr, ran.stderr
    by = {(f["image"], f["package"]): f for f in json.loads(ran.stdout)["findings"]}
    rich = by[("base:cpu", "rich")]
    assert rich["severity"] == "info", rich
    assert "they serve the same files" in rich["message"], rich
    shown = cli.run("audit", "--select", "index-confusion")
    assert "LA222" not in shown.stdout.split("\nby rule")[0], shown.stdout
