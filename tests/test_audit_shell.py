"""The audit's shell rules over a real workspace and the loopback index (``test_audit_replay``'s).

Each stage Dockerfile is ``FROM base-ml:cuda`` plus the RUN lines of the test, on top of
``base:cuda`` (pip's numpy 1.26.4) and ``base-ml:cuda`` (torch and torchaudio 2.1.0+cu121);
``sdist-only`` has no wheel and the base images no compiler. Findings are compared exactly:
rule, severity, location, image and package.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lockaudit.audit import AUDIT_RULES, AuditResult
from lockaudit.audit.shellrules import apt_python_name, conda_name
from lockaudit.errors import Location
from lockaudit.rules.findings import Finding
from tests import test_audit_replay

# The replay tests' workspace, index and audit runner, shared as fixtures.
server = test_audit_replay.server
run_audit = test_audit_replay.run_audit

Audit = Callable[..., AuditResult]
SHELL_RULES = (
    "install-failure-hidden",
    "replaced-by-later-install",
    "uninstalls-parent-package",
    "conda-and-pip",
    "apt-python-package",
)


def _found(result: AuditResult, *rules: str) -> list[tuple[str, str, str, str | None, str | None]]:
    return sorted(
        (f.rule, f.severity.value, str(f.location), f.image, f.package)
        for f in result.findings
        if f.rule in rules
    )


def _one(result: AuditResult, rule: str) -> Finding:
    (finding,) = [f for f in result.findings if f.rule == rule]
    return finding


def test_shell_rules_are_registered_with_documentation() -> None:
    registered = {rule.id: rule for rule in AUDIT_RULES}
    for name in SHELL_RULES:
        assert name in registered and registered[name].description
    from lockaudit.audit import shellrules

    for name in SHELL_RULES:
        assert name in (shellrules.__doc__ or "")  # each has its bad/good example there


# -- install-failure-hidden, and the needs-build false positive it replaces ---------------------


def test_only_binary_with_echo_fallback_fails_hidden_not_needs_build(run_audit: Audit) -> None:
    result = run_audit(
        {"asr": 'RUN pip install --only-binary :all: sdist-only==0.5 || echo "no wheel"\n'}
    )
    relevant = ("install-failure-hidden", "needs-build", "install-conflict")
    assert _found(result, *relevant) == [
        ("install-failure-hidden", "error", "docker/asr/Dockerfile:2", "asr:cuda", "sdist-only"),
    ]
    finding = _one(result, "install-failure-hidden")
    assert "this install fails in asr:cuda" in finding.message
    assert "`echo` runs which always succeeds" in finding.message
    assert finding.hint and "drop the `|| echo ...`" in finding.hint
    assert result.replay("asr:cuda").package("sdist-only") is None  # pip installed nothing


def test_only_binary_without_fallback_is_a_conflict(run_audit: Audit) -> None:
    result = run_audit({"asr": "RUN pip install --only-binary=sdist-only sdist-only==0.5\n"})
    relevant = ("install-failure-hidden", "needs-build", "install-conflict")
    assert [r for r, *_ in _found(result, *relevant)] == ["install-conflict"]


def test_without_only_binary_the_sdist_still_needs_a_build(run_audit: Audit) -> None:
    result = run_audit({"asr": "RUN pip install sdist-only==0.5 || true\n"})
    relevant = ("install-failure-hidden", "needs-build")
    assert _found(result, *relevant) == [
        ("install-failure-hidden", "warning", "docker/asr/Dockerfile:2", "asr:cuda", "sdist-only"),
        ("needs-build", "warning", "docker/asr/Dockerfile:2", "asr:cuda", "sdist-only"),
    ]


@pytest.mark.parametrize(
    ("run", "fragment"),
    [
        pytest.param(
            "RUN pip install requests==2.32.3 2>&1 | tee /tmp/pip.log\n",
            "a pipeline's status is its last command's (`tee`)",
            id="pipe",
        ),
        pytest.param(
            "RUN pip install requests==2.32.3; rm -rf /root/.cache\n",
            "is followed by `;` and `rm`",
            id="semicolon",
        ),
        pytest.param(
            "RUN set -e; pip install requests==2.32.3 && echo ok; rm -rf /tmp/x\n",
            "`set -e` does not apply inside an `&&` list",
            id="set-e-and-list",
        ),
    ],
)
def test_hidden_failures_are_warnings(run_audit: Audit, run: str, fragment: str) -> None:
    result = run_audit({"asr": run})
    assert _found(result, "install-failure-hidden") == [
        ("install-failure-hidden", "warning", "docker/asr/Dockerfile:2", "asr:cuda", "requests"),
    ]
    assert fragment in _one(result, "install-failure-hidden").message


@pytest.mark.parametrize(
    "run",
    [
        "RUN pip install requests==2.32.3 && rm -rf /root/.cache\n",
        "RUN set -e; pip install requests==2.32.3; rm -rf /root/.cache\n",
        'RUN pip install requests==2.32.3 || (echo "pip failed"; exit 1)\n',
        "RUN <<EOF\nset -e\npip install requests==2.32.3\nrm -rf /root/.cache\nEOF\n",
    ],
)
def test_failures_that_fail_the_build_are_not_reported(run_audit: Audit, run: str) -> None:
    assert _found(run_audit({"asr": run}), "install-failure-hidden") == []


def test_fallback_install_runs_only_when_the_first_fails(run_audit: Audit) -> None:
    result = run_audit(
        {
            "asr": "RUN pip install requests==9.9 || pip install requests==2.31.0\n",
            "tmdb": "RUN pip install requests==2.32.3 || pip install requests==2.31.0\n",
        }
    )
    assert _found(result, "install-failure-hidden", "install-conflict") == []
    asr, tmdb = result.replay("asr:cuda"), result.replay("tmdb:cuda")
    asr_requests, tmdb_requests = asr.package("requests"), tmdb.package("requests")
    assert asr_requests is not None and str(asr_requests.version) == "2.31.0"
    assert tmdb_requests is not None and str(tmdb_requests.version) == "2.32.3"
    assert len(tmdb.layers) == 1  # the fallback never ran


# -- replaced-by-later-install --------------------------------------------------------------------


def test_later_install_in_the_same_run_replaces_a_pin(run_audit: Audit) -> None:
    result = run_audit(
        {"asr": "RUN pip install requests==2.31.0 && \\\n    pip install -U requests\n"}
    )
    assert _found(result, "replaced-by-later-install") == [
        ("replaced-by-later-install", "warning", "docker/asr/Dockerfile:3", "asr:cuda", "requests"),
    ]
    finding = _one(result, "replaced-by-later-install")
    assert "replaces requests 2.31.0, installed by docker/asr/Dockerfile:2" in finding.message
    assert "with 2.32.3" in finding.message and "in the same RUN" in finding.message
    assert not [s for s in result.savings if s.finding == finding]  # nothing stored twice


def test_later_run_replacing_a_pin_stores_it_twice(run_audit: Audit) -> None:
    result = run_audit(
        {"asr": "RUN pip install requests==2.31.0\nRUN pip install requests==2.32.3\n"}
    )
    finding = _one(result, "replaced-by-later-install")
    assert (str(finding.location), finding.package) == ("docker/asr/Dockerfile:3", "requests")
    assert "in another RUN" in finding.message
    (saving,) = [s for s in result.savings if s.finding == finding]
    assert saving.bytes > 0
    assert _found(result, "reinstalls-parent-package") == []  # said once, by this rule


# -- uninstalls-parent-package ---------------------------------------------------------------------


def test_uninstalling_a_parent_package_keeps_its_bytes_and_breaks_dependents(
    run_audit: Audit,
) -> None:
    result = run_audit({"asr": "RUN pip uninstall -y torch\n"})
    assert _found(result, "uninstalls-parent-package", "broken-environment") == [
        ("broken-environment", "error", "docker/base-ml/Dockerfile:4", "asr:cuda", "torchaudio"),
        ("uninstalls-parent-package", "warning", "docker/asr/Dockerfile:2", "asr:cuda", "torch"),
    ]
    finding = _one(result, "uninstalls-parent-package")
    assert "installed by base-ml:cuda" in finding.message
    assert "torchaudio require it" in finding.message
    (saving,) = [s for s in result.savings if s.finding == finding]
    assert saving.bytes > 2 * 1024 * 1024  # torch's wheel
    assert result.replay("asr:cuda").package("torch") is None


def test_install_and_uninstall_in_one_run_is_fine(run_audit: Audit) -> None:
    result = run_audit({"asr": "RUN pip install requests==2.32.3 && pip uninstall -y requests\n"})
    assert _found(result, "uninstalls-parent-package") == []
    assert result.replay("asr:cuda").package("requests") is None


# -- other installers ----------------------------------------------------------------------------


def test_conda_and_pip_installing_one_package(run_audit: Audit) -> None:
    result = run_audit(
        {
            "asr": "RUN conda install -y -c conda-forge conda-forge::requests ffmpeg && \\\n"
            "    pip install requests==2.32.3\n"
        }
    )
    assert _found(result, "conda-and-pip") == [
        ("conda-and-pip", "warning", "docker/asr/Dockerfile:2", "asr:cuda", "requests"),
    ]
    assert (
        "pip installs requests 2.32.3 (docker/asr/Dockerfile:3"
        in _one(result, "conda-and-pip").message
    )


def test_apt_python_package_shadowing_pips(run_audit: Audit) -> None:
    result = run_audit(
        {"asr": "RUN apt-get update && apt-get install -y python3-numpy python3-yaml ffmpeg\n"}
    )
    assert _found(result, "apt-python-package") == [
        ("apt-python-package", "warning", "docker/asr/Dockerfile:2", "asr:cuda", "numpy"),
    ]
    finding = _one(result, "apt-python-package")
    assert "pip installs numpy 1.26.4 (docker/base-cuda/Dockerfile:2, base:cuda)" in finding.message
    assert "two copies" in finding.message


def test_package_names_of_other_installers() -> None:
    assert conda_name("conda-forge::numpy=1.26") == "numpy"
    assert conda_name("pytorch") == "torch"
    assert conda_name("python=3.11") is None
    assert apt_python_name("python3-yaml") == "pyyaml"
    assert apt_python_name("python3-numpy:amd64") == "numpy"
    assert apt_python_name("python3.11-venv") is None
    assert apt_python_name("libpython3-dev") is None


def test_unquoted_less_than_means_the_install_never_runs(run_audit: Audit) -> None:
    result = run_audit({"asr": "RUN pip install requests<2.32\n"})
    assert result.replay("asr:cuda").layers == ()
    assert result.replay("asr:cuda").package("requests") is None


def test_only_the_branch_the_shell_takes_is_replayed(run_audit: Audit) -> None:
    run = (
        "ARG FLAVOUR=new\n"
        'RUN if [ "$FLAVOUR" = old ]; then pip install requests==2.31.0; \\\n'
        "    else pip install requests==2.32.3; fi\n"
    )
    result = run_audit({"asr": run})
    assert _found(result, *SHELL_RULES) == []
    requests = result.replay("asr:cuda").package("requests")
    assert requests is not None and str(requests.version) == "2.32.3"
    assert len(result.replay("asr:cuda").layers) == 1


def test_with_a_compiler_only_a_hash_pinned_sdist_is_reported(
    run_audit: Audit, tmp_path: Path
) -> None:
    """A compiler builds the sdist; under --require-hashes the build still runs the package's
    code with build dependencies no hash checks: said at the requirement line."""
    requirements = tmp_path / "ws/docker/asr/requirements.txt"
    requirements.parent.mkdir(parents=True)
    requirements.write_text(f"sdist-only==0.5 \\\n    --hash=sha256:{'0' * 64}\n")
    compiler = "RUN apt-get update && apt-get install -y build-essential\n"
    hashed = run_audit({"asr": compiler + "COPY docker/asr/requirements.txt /r.txt\n"
                                "RUN pip install --require-hashes -r /r.txt\n"})
    (finding,) = [f for f in hashed.findings if f.rule == "needs-build"]
    assert finding.location == Location("docker/asr/requirements.txt", 1)
    assert "checked by no hash" in finding.message and finding.package == "sdist-only"
    plain = run_audit({"asr": compiler + "RUN pip install sdist-only==0.5\n"})
    assert not [f for f in plain.findings if f.rule == "needs-build"]
