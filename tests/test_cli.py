"""The command line's own surface: ``--version``, shell completion, ``init --print``, help texts.

Run as users run it, in a child process (``python -m lockaudit``), except the check over every
help text, which reads the click command tree typer builds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import typer
from rich.text import Text

from lockaudit.cli import app
from lockaudit.workspace.discover import discover_workspace

PIPELINE = Path(__file__).parent / "data" / "discover" / "pipeline"


def lockaudit(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "lockaudit", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=False,
        timeout=60,
    )


def test_version_prints_the_installed_version() -> None:
    done = lockaudit("--version")
    expected = f"lockaudit {version('lockaudit')}\n"
    assert (done.returncode, done.stdout, done.stderr) == (0, expected, "")


def test_version_imports_no_heavy_module() -> None:
    probe = (
        "import sys\n"
        "from lockaudit.cli import app\n"
        "try:\n    app(['--version'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('rich', 'httpx', 'lockaudit.index', 'lockaudit.resolve', 'lockaudit.rules')\n"
        # the registry, its catalogue and the finding types are light (no rule, no parser)
        "light = {'lockaudit.rules', 'lockaudit.rules.catalog', 'lockaudit.rules.findings'}\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy) and m not in light))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "[]"


def test_shell_completion_script_is_offered() -> None:
    done = lockaudit("--show-completion", "bash")
    assert done.returncode == 0
    assert "_lockaudit_completion" in done.stdout and "complete " in done.stdout


def test_init_print_writes_only_valid_toml_to_stdout(tmp_path: Path) -> None:
    root = tmp_path / "pipeline"
    shutil.copytree(PIPELINE, root)
    done = lockaudit("init", "--print", str(root))

    assert done.returncode == 0, done.stderr
    printed = tomllib.loads(done.stdout)
    assert "lockaudit" in printed["tool"]
    assert printed == tomllib.loads(discover_workspace(root).config_toml)
    assert printed["tool"]["lockaudit"]["registry"] == "rajiup"
    assert "diarization:cuda <- base-ml:cuda" in done.stderr  # the summary, off stdout
    assert not (root / "pyproject.toml").exists()


def test_init_help_shows_the_table_name() -> None:
    done = lockaudit("init", "--help")
    assert done.returncode == 0
    assert "Replace an existing [tool.lockaudit] table." in done.stdout


def test_no_help_text_loses_words_to_rich_markup() -> None:
    """Typer renders help as rich markup: an unescaped ``[word]`` would vanish from the screen."""
    root = typer.main.get_command(app)
    assert isinstance(root, typer.core.TyperGroup)
    texts = [root.help or ""]
    for command in root.commands.values():
        texts.append(command.help or "")
        texts.extend(getattr(param, "help", None) or "" for param in command.params)
    for text in filter(None, texts):
        assert Text.from_markup(text).plain == text.replace("\\[", "["), text


def test_an_error_under_format_json_is_a_json_document(tmp_path: Path) -> None:
    """A machine reading stdout learns why there is no result: kind, path and line apart."""
    (tmp_path / "pyproject.toml").write_text("[tool.lockaudit]\nlocks = 3\n")
    for command in ("check", "graph", "audit"):
        done = lockaudit(command, "--format", "json", "--workspace", str(tmp_path))
        assert done.returncode == 2, (command, done.stderr)
        document = json.loads(done.stdout)
        assert document["schema_version"] == 1
        error = document["error"]
        assert (error["kind"], error["path"], error["line"]) == ("input", "pyproject.toml", 2)
        assert "must be a string" in error["message"]
        assert "pyproject.toml:2" in done.stderr  # the human line still goes to stderr


def test_an_error_in_text_mode_leaves_stdout_empty(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.lockaudit]\nlocks = 3\n")
    done = lockaudit("check", "--workspace", str(tmp_path))
    assert (done.returncode, done.stdout) == (2, "")
    assert "pyproject.toml:2: `locks` must be a string" in done.stderr


def test_check_format_github_prints_one_workflow_command_per_finding(tmp_path: Path) -> None:
    """The runner's syntax: ::error file=…,line=…,title=…::message, escaped where it must be."""
    from lockaudit.errors import Location
    from lockaudit.output.github import workflow_commands
    from lockaudit.rules.findings import Finding, Severity

    finding = Finding(
        "lock-stale",
        Severity.ERROR,
        "50% stale\nsecond line",
        Location("locks/a,b.txt", 7),
        hint="run compile",
    )
    assert workflow_commands([finding]) == (
        "::error file=locks/a%2Cb.txt,line=7,title=LA202 lock-stale::"
        "50%25 stale%0Asecond line%0Ahint: run compile\n"
    )
    info = Finding("hoist-candidate", Severity.INFO, "m", Location("versions.txt"))
    assert info.code.startswith("LA")  # the registry's code leads the title
    expected = f"::notice file=versions.txt,title={info.code} hoist-candidate::m\n"
    assert workflow_commands([info]) == expected


def test_check_format_github_on_a_broken_workspace(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.lockaudit]\nlocks = 3\n")
    done = lockaudit("check", "--format", "github", "--workspace", str(tmp_path))
    assert done.returncode == 2
    assert done.stdout.startswith("::error file=pyproject.toml,line=2::`locks` must be a string")


def test_check_format_github_on_this_repository_is_silent() -> None:
    done = lockaudit("check", "--format", "github", cwd=Path(__file__).resolve().parents[1])
    assert (done.returncode, done.stdout) == (0, "")


def _check_with_imports(cwd: Path, cache: Path) -> tuple[subprocess.CompletedProcess[str], str]:
    env = {**os.environ, "LOCKAUDIT_CACHE_DIR": str(cache), "NO_COLOR": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "lockaudit", "check"],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    imported = " ".join(line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines())
    return done, imported


def test_a_clean_cached_check_answers_without_loading_the_cli(tmp_path: Path) -> None:
    """The hook's case: a plain `check` never loads the CLI when clean; the first run computes
    the answer (the rules run), the second is answered from the cache (they do not)."""
    root = Path(__file__).resolve().parents[1]
    first, imported = _check_with_imports(root, tmp_path / "cache")
    assert (first.returncode, first.stdout) == (0, "no findings\n")
    assert "lockaudit.rules.runner" in imported.split()  # the first run builds the answer
    assert "typer" not in imported.split() and "rich" not in imported.split()
    second, imported = _check_with_imports(root, tmp_path / "cache")
    assert (second.returncode, second.stdout) == (0, "no findings\n")
    assert "lockaudit.rules.runner" not in imported.split()
    assert "typer" not in imported.split() and "rich" not in imported.split()


def test_a_check_with_findings_prints_them_as_the_cli_does_without_loading_it(
    tmp_path: Path,
) -> None:
    """Findings take the short way too (a 200-image workspace's hundreds of warnings made the
    hook load typer and rich on every commit): the same text and exit code (1: an error) as
    the CLI's ``check`` (``--no-cache`` goes through it), computed or from the cache."""
    (tmp_path / "pyproject.toml").write_text(
        '[tool.lockaudit]\n\n[[tool.lockaudit.images]]\nname = "app"\ntag = "cpu"\n'
        'dockerfile = "Dockerfile"\nbase-image = "python:3.11-slim"\n'
        'requirements = ["requirements.txt"]\n'
    )
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\nRUN pip install rich\n")
    (tmp_path / "requirements.txt").write_text("rich==14.1.0\n")
    runs = [_check_with_imports(tmp_path, tmp_path / ".cache") for _ in range(2)]
    assert runs[0][0].returncode == runs[1][0].returncode == 1
    assert runs[0][0].stdout == runs[1][0].stdout and "lock-missing" in runs[1][0].stdout
    for _, imported in runs:
        assert "typer" not in imported.split() and "rich" not in imported.split()
    assert "lockaudit.rules.runner" not in runs[1][1].split()  # the second from the cache
    through_cli = lockaudit("check", "--no-cache", cwd=tmp_path)
    assert (through_cli.returncode, through_cli.stdout) == (1, runs[1][0].stdout)
