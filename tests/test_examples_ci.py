"""The CI examples (``examples/github-actions/``) and the committed ``reports/``.

The workflows are read as YAML and held to what ``docs/REPORT.md`` promises of them; the
reports folder must hold one month's report in its three files, of the current schema, with
no URL of any index in them (a repository never commits an index host).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "github-actions"
REPORTS = ROOT / "reports"
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _workflow(name: str) -> dict[Any, Any]:
    data = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _runs(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_monthly_workflow_runs_the_report_on_the_first_and_commits_reports() -> None:
    flow = _workflow("monthly-report.yml")
    triggers = flow[True]  # YAML 1.1 reads the key `on` as a boolean
    assert triggers["schedule"] == [{"cron": "0 6 1 * *"}]
    assert "workflow_dispatch" in triggers
    assert flow["permissions"] == {"contents": "write"}
    runs = _runs(flow["jobs"]["report"])
    assert any(run.startswith("lockaudit report") for run in runs)
    commit = next(run for run in runs if "git commit" in run or "commit -m" in run)
    assert "git add reports/" in commit and "git push" in commit
    assert "git diff --cached --quiet" in commit  # an unchanged report commits nothing


def test_relock_workflow_never_installs_code_from_the_pull_request() -> None:
    flow = _workflow("relock-bot-prs.yml")
    assert "pull_request_target" in flow[True]
    job = flow["jobs"]["relock"]
    assert "dependabot[bot]" in job["if"] and "renovate[bot]" in job["if"]
    runs = _runs(job)
    installs = [run for run in runs if "pip install" in run]
    assert installs == ["python -m pip install ./base"]
    relock = next(step for step in job["steps"] if "lockaudit compile" in step.get("run", ""))
    assert relock["working-directory"] == "pr"
    assert "lockaudit check" in relock["run"]


def test_bots_are_kept_out_of_the_locks() -> None:
    dependabot = yaml.safe_load((EXAMPLES / "dependabot.yml").read_text(encoding="utf-8"))
    pip = next(u for u in dependabot["updates"] if u["package-ecosystem"] == "pip")
    assert "locks/**" in pip["exclude-paths"]
    renovate = json.loads((EXAMPLES / "renovate.json").read_text(encoding="utf-8"))
    assert "locks/**" in renovate["ignorePaths"]


def _months() -> list[str]:
    if not REPORTS.is_dir():
        return []
    return sorted({p.stem for p in REPORTS.iterdir() if MONTH.match(p.stem)})


def test_reports_folder_holds_a_whole_monthly_report() -> None:
    months = _months()
    assert months, "reports/ holds no YYYY-MM report"
    for month in months:
        assert {p.name for p in REPORTS.glob(f"{month}.*")} == {
            f"{month}.md",
            f"{month}.json",
            f"{month}.html",
        }
        data = json.loads((REPORTS / f"{month}.json").read_text(encoding="utf-8"))
        assert data["schema"] == "lockaudit-report/1"
        assert data["date"].startswith(month)
        assert data["images"], "a report of no image"
        assert data.get("upgrades"), "the monthly report carries the what-if of its top upgrades"
        markdown = (REPORTS / f"{month}.md").read_text(encoding="utf-8")
        assert "## What-if for the top upgrades" in markdown
        assert "held back by" in markdown


def _index_hosts() -> set[str]:
    """Hosts of every index the workspace names: its config and the locks' provenance."""
    texts = [(ROOT / "pyproject.toml").read_text(encoding="utf-8")]
    texts += [p.read_text(encoding="utf-8") for p in (ROOT / "locks").glob("*.txt")]
    hosts = set()
    for text in texts:
        for url in re.findall(r"https?://[^\s\"'#]+", text):
            if urlsplit(url).hostname:
                hosts.add(urlsplit(url).hostname or "")
    return hosts


@pytest.mark.parametrize("suffix", ["md", "json", "html"])
def test_committed_reports_name_no_index(suffix: str) -> None:
    hosts = _index_hosts()
    for month in _months():
        text = (REPORTS / f"{month}.{suffix}").read_text(encoding="utf-8")
        urls = set(re.findall(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>)]+", text))
        assert urls <= {"http://www.w3.org/2000/svg"}, sorted(urls)[:5]
        named = sorted(host for host in hosts if host in text)
        assert not named, f"reports/{month}.{suffix} names index hosts"
