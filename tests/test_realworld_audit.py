"""Audit precision on real repositories: every hand-verified defect of the corpus is reported,
and no known non-defect is reported at warning or error (``tests/realworld/precision.py``).

Behind ``-m network``: the replay reads the public index's metadata, the way the corpus's
findings were verified (tests/realworld/README.md), and a recorded copy of that metadata would
commit other projects' METADATA files and the index's file URLs. The rules each of these
findings needs are tested hermetically beside them (test_audit_*.py, test_rules_*.py).

Repositories that still miss an expected finding (or report a non-defect) are strict xfails in
``KNOWN_MISSES``, with what is missed: one that starts passing fails until it is taken off.
"""

from __future__ import annotations

import pytest

from tests.realworld.compare import corpus_repos, data_root, load_expected, verify_files
from tests.realworld.precision import RULE_CODES, measure_precision, render_precision

# repository -> what the audit misses today (shrinks as rules are added)
KNOWN_MISSES: dict[str, str] = {
    "StatCan__aaw-kubeflow-containers": (
        "the Dockerfiles have no FROM (the CI inserts one with sed): nothing of them is parsed"
    ),
    "huggingface__text-generation-inference": (
        "uv sync of server/uv.lock is not replayed: the torch it replaces and its CUDA 12.8 "
        "wheels on the 12.4 base are not seen"
    ),
}

REPOS = corpus_repos()


def _param(repo: str) -> object:
    reason = KNOWN_MISSES.get(repo)
    marks = [pytest.mark.network]
    if reason:
        marks.append(pytest.mark.xfail(strict=True, reason=reason))
    return pytest.param(repo, marks=marks, id=repo)


@pytest.mark.parametrize("repo", [_param(r) for r in REPOS])
def test_audit_reports_the_verified_defects(repo: str) -> None:
    expected = load_expected(repo)
    tree = data_root() / repo
    if not tree.is_dir():
        pytest.skip(f"the trimmed files of {repo} are not at {tree} (tests/realworld/README.md)")
    assert not verify_files(expected, tree)
    result = measure_precision(repo)
    assert result.error is None, result.error
    assert not result.missed and not result.false_positives, render_precision(result)


def test_every_rule_class_maps_to_registry_codes() -> None:
    """Each class expected.toml uses is in the one mapping, and each code it names exists."""
    from lockaudit.rules import rule_specs

    codes = {spec.code for spec in rule_specs()}
    for repo in REPOS:
        for entry in load_expected(repo).findings:
            assert entry["rule"] in RULE_CODES, f"{repo}: unmapped rule class {entry['rule']}"
    for name, mapped in RULE_CODES.items():
        assert set(mapped) <= codes, f"{name}: {set(mapped) - codes} is no registry code"


def test_known_misses_name_corpus_repositories() -> None:
    assert set(KNOWN_MISSES) <= set(REPOS), set(KNOWN_MISSES) - set(REPOS)
