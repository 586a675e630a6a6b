"""Tuning ``lockaudit audit``: select/ignore, ``[tool.lockaudit.audit]``, hidden infos, and the
false positives of heavy-install and CUDA rules. Workspaces and the loopback index are those of
``tests/test_audit_replay.py``; the command runs in-process through typer's runner.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from lockaudit.cli import app
from lockaudit.rules import run_checks
from lockaudit.workspace.config import load_workspace
from tests.corpus.harness import cli_env
from tests.indexserver import IndexServer, Project, Release, Scenario
from tests.test_audit_replay import NEWER_TORCH, _scenario, _workspace

TOOLS_OLD = "pip==23.0 setuptools==68.0.0 wheel==0.41.0 requests==2.31.0"
TOOLS_NEW = "pip==24.0 setuptools==69.0.0 wheel==0.42.0 requests==2.32.3"


def _tuning_scenario() -> Scenario:
    base = _scenario()
    default = base.index("default")
    extra = (
        Project("pip", (Release("23.0"), Release("24.0"))),
        Project("setuptools", (Release("68.0.0"), Release("69.0.0"))),
        Project("wheel", (Release("0.41.0"), Release("0.42.0"))),
        Project("nvidia-ml-py", (Release("12.535.133"),)),
        Project("pynvml-user", (Release("1.0", ("nvidia-ml-py",)),)),
    )
    indexes = tuple(
        replace(i, projects=(*i.projects, *extra)) if i is default else i for i in base.indexes
    )
    return Scenario(indexes)


@pytest.fixture
def server(index_server: Callable[[Scenario], IndexServer]) -> IndexServer:
    return index_server(_tuning_scenario())


@pytest.fixture
def audit_cli(
    tmp_path: Path, server: IndexServer, hermetic_pip: None
) -> Callable[..., tuple[Path, Callable[..., Result]]]:
    """``audit_cli(stages, audit_table)`` writes the workspace; returns it and a runner."""

    def make(
        stages: Mapping[str, str], audit_table: str = "", root: Path | None = None
    ) -> tuple[Path, Callable[..., Result]]:
        root = root or _workspace(tmp_path / "ws", server, stages)
        if audit_table:
            config = root / "pyproject.toml"
            config.write_text(config.read_text() + textwrap.dedent(audit_table))
        env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("PIP_")}
        env.update(cli_env(server, tmp_path / "cache"))

        def run(*args: str) -> Result:
            return CliRunner().invoke(app, ["audit", "--workspace", str(root), *args], env=env)

        return root, run

    return make


def _rules(result: Result) -> set[str]:
    return {f["rule"] for f in json.loads(result.stdout)["findings"]}


def test_select_and_ignore_change_findings_and_exit_code(audit_cli: Callable[..., tuple]) -> None:
    _, run = audit_cli(NEWER_TORCH)
    everything = run("-f", "json")
    assert everything.exit_code == 1, everything.output
    rules = _rules(everything)
    assert {"reinstalls-parent-package", "broken-environment", "cuda-mismatch"} <= rules
    selected = run("-f", "json", "--select", "broken-environment,cuda")
    assert _rules(selected) == {"broken-environment"} | {r for r in rules if r.startswith("cuda")}
    errors = {
        f["rule"] for f in json.loads(everything.stdout)["findings"] if f["severity"] == "error"
    }
    # ignoring every rule with an error (repeated and comma-separated) leaves a passing audit
    ignore = sorted(errors)
    quiet = run("-f", "json", "--ignore", ignore[0], "--ignore", ",".join(ignore[1:]))
    assert _rules(quiet) == rules - errors
    assert quiet.exit_code == 0, quiet.output
    typo = run("--select", "no-such-rule")
    assert typo.exit_code == 2 and "no-such-rule" in typo.output


def test_config_severity_override_and_fail_on_change_exit_code(
    audit_cli: Callable[..., tuple],
) -> None:
    _, failing = audit_cli(NEWER_TORCH)
    errors = sorted(
        {
            f["rule"]
            for f in json.loads(failing("-f", "json").stdout)["findings"]
            if f["severity"] == "error"
        }
    )
    overrides = ", ".join(f'{rule} = "warning"' for rule in errors)
    table = f"[tool.lockaudit.audit]\nseverity = {{{overrides}}}\n"
    _, relaxed = audit_cli(NEWER_TORCH, table)
    result = relaxed("-f", "json")
    assert result.exit_code == 0, result.output
    assert {f["severity"] for f in json.loads(result.stdout)["findings"]} <= {"warning", "info"}
    # the same findings fail again once warnings fail the gate
    _, strict = audit_cli(NEWER_TORCH, table + 'fail-on = "warning"\n')
    assert strict().exit_code == 1


def test_config_fail_on_info_fails_on_hoist_candidates(audit_cli: Callable[..., tuple]) -> None:
    siblings = {
        "asr": "RUN pip install requests==2.32.3\n",
        "tmdb": "RUN pip install requests==2.32.3\n",
    }
    _, lenient = audit_cli(siblings)
    assert lenient().exit_code == 0
    _, strict = audit_cli(siblings, '[tool.lockaudit.audit]\nfail-on = "info"\n')
    assert strict().exit_code == 1


@pytest.mark.parametrize(
    ("table", "line", "words"),
    [
        ('[tool.lockaudit.audit]\nfail-on = "critical"\n', 0, "fail-on"),
        ('[tool.lockaudit.audit]\n\nseverity = {hoist-candidate = "loud"}\n', 1, "loud"),
        (
            '[tool.lockaudit.audit]\nignore = [\n  "hoist-candidate",\n  "no-such-rule",\n]\n',
            2,
            "no-such-rule",
        ),
        ('[tool.lockaudit.audit]\nignore = "hoist-candidate"\n', 0, "list of strings"),
        ('[tool.lockaudit.audit]\nfail_on = "error"\n', 0, "unknown key"),
    ],
)
def test_bad_audit_config_is_exit_2_at_its_line(
    audit_cli: Callable[..., tuple], table: str, line: int, words: str
) -> None:
    root, run = audit_cli({"asr": "RUN pip install requests==2.32.3\n"}, table)
    lines = (root / "pyproject.toml").read_text().splitlines()
    header = lines.index("[tool.lockaudit.audit]") + 1
    expected = header + 1 + line
    result = run()
    assert result.exit_code == 2, result.output
    assert f"pyproject.toml:{expected}" in result.output and words in result.output
    assert "Traceback" not in result.output


def test_infos_are_hidden_in_text_unless_show_info(audit_cli: Callable[..., tuple]) -> None:
    _, run = audit_cli(
        {"asr": "RUN pip install requests==2.32.3\n", "tmdb": "RUN pip install requests==2.32.3\n"}
    )
    hidden = run()
    assert hidden.exit_code == 0, hidden.output
    assert not any(line.lstrip().startswith("info ") for line in hidden.stdout.splitlines())
    summary = next(line for line in hidden.stdout.splitlines() if line.startswith("by rule:"))
    every = json.loads(run("-f", "json").stdout)["findings"]
    hoists = sum(f["rule"] == "hoist-candidate" for f in every)
    infos = sum(f["severity"] == "info" for f in every)
    assert hoists >= 1
    assert f"hoist-candidate {hoists}" in summary and f"{infos} infos hidden" in summary
    shown = run("--show-info")
    assert any(
        line.lstrip().startswith("info ") and "hoist-candidate" in line
        for line in shown.stdout.splitlines()
    )
    assert "hidden" not in shown.stdout
    # JSON keeps every finding, infos included
    assert "hoist-candidate" in _rules(run("-f", "json"))


def test_pip_setuptools_wheel_are_never_duplicate_heavy_installs(
    audit_cli: Callable[..., tuple], tmp_path: Path, server: IndexServer
) -> None:
    root = _workspace(
        tmp_path / "ws",
        server,
        {"asr": f"RUN pip install {TOOLS_NEW}\n", "tmdb": f"RUN pip install {TOOLS_OLD}\n"},
    )
    base = root / "docker/base-ml/Dockerfile"
    base.write_text(base.read_text() + f"RUN pip install {TOOLS_OLD}\n")
    config = root / "pyproject.toml"
    # even a workspace that calls them heavy
    config.write_text(
        config.read_text().replace(
            "[tool.lockaudit]\n",
            '[tool.lockaudit]\nheavy = ["torch", "pip", "setuptools", "wheel", "requests"]\n',
        )
    )
    _, run = audit_cli({}, root=root)
    result = run("-f", "json")
    reinstalled = {
        f["package"]
        for f in json.loads(result.stdout)["findings"]
        if f["rule"] == "reinstalls-parent-package"
    }
    assert reinstalled == {"requests"}  # the control: a real package is still reported
    workspace = load_workspace(root)
    duplicates = {f.package for f in run_checks(workspace) if f.rule == "duplicate-heavy-install"}
    assert duplicates == {"requests"}


def test_nvidia_ml_py_is_no_cuda_runtime(
    audit_cli: Callable[..., tuple], tmp_path: Path, server: IndexServer
) -> None:
    root = tmp_path / "cpu"
    (root / "docker").mkdir(parents=True)
    (root / "docker/Dockerfile").write_text(
        "FROM python:3.11-slim\n"
        "RUN pip install pynvml-user==1.0\n"
        "RUN pip install nvidia-cuda-runtime-cu12==12.4.99\n"
    )
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [tool.lockaudit]
            [tool.lockaudit.target]
            python = "3.11.7"
            [[tool.lockaudit.images]]
            name = "base"
            tag = "cpu"
            variant = "cpu"
            dockerfile = "docker/Dockerfile"
            base-image = "python:3.11-slim"
            """
        )
    )
    _, run = audit_cli({}, root=root)
    result = run("-f", "json")
    cuda = [f for f in json.loads(result.stdout)["findings"] if f["rule"] == "cuda-in-cpu-image"]
    assert [f["location"] for f in cuda] == ["docker/Dockerfile:3"], result.stdout
    assert "nvidia-ml-py" not in cuda[0]["message"]
    assert "nvidia-cuda-runtime-cu12" in cuda[0]["message"]


def test_codes_select_ignore_and_override_like_names(audit_cli: Callable[..., tuple]) -> None:
    _, run = audit_cli(NEWER_TORCH)
    every = json.loads(run("-f", "json").stdout)
    assert every["schema_version"] == 1
    codes = {f["rule"]: f["code"] for f in every["findings"]}
    assert codes["reinstalls-parent-package"] == "LA110"
    assert codes["broken-environment"] == "LA402"
    assert _rules(run("-f", "json", "--select", "LA402")) == {"broken-environment"}
    assert _rules(run("-f", "json", "--select", "la4")) == {
        r for r, code in codes.items() if code.startswith("LA4")
    }
    assert "broken-environment" not in _rules(run("-f", "json", "--ignore", "LA40"))
    typo = run("--select", "LA999")
    assert typo.exit_code == 2 and "LA999" in typo.output
    errors = sorted({f["code"] for f in every["findings"] if f["severity"] == "error"})
    overrides = ", ".join(f'{code} = "warning"' for code in errors)
    _, relaxed = audit_cli(NEWER_TORCH, f"[tool.lockaudit.audit]\nseverity = {{{overrides}}}\n")
    assert relaxed("-f", "json").exit_code == 0
    text = run().stdout
    summary = next(line for line in text.splitlines() if line.startswith("by rule:"))
    assert "LA110 reinstalls-parent-package " in summary


def test_an_inline_ignore_silences_an_audit_finding(audit_cli: Callable[..., tuple]) -> None:
    stage = "# lockaudit: ignore[LA110] torch is replaced on purpose here\n" + NEWER_TORCH["asr"]
    _, run = audit_cli({"asr": stage})
    data = json.loads(run("-f", "json").stdout)
    assert "reinstalls-parent-package" not in {f["rule"] for f in data["findings"]}
    assert [f["code"] for f in data["ignored_inline"]] == ["LA110"]
    assert data["ignored_inline"][0]["path"] == "docker/asr/Dockerfile"
    summary = next(line for line in run().stdout.splitlines() if line.startswith("by rule:"))
    assert summary.endswith("; ignored inline: LA110 1")
    # an ignore naming an audit rule that reports nothing there is unused (an info)
    stale_stage = "# lockaudit: ignore[LA501] stale\nRUN pip install requests==2.32.3\n"
    _, stale = audit_cli({"asr": stale_stage})
    unused = [f for f in json.loads(stale("-f", "json").stdout)["findings"] if f["code"] == "LA902"]
    assert [(f["path"], f["line"], f["severity"]) for f in unused] == [
        ("docker/asr/Dockerfile", 2, "info")
    ]
