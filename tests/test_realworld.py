"""Real repositories: ``lockaudit init``'s proposal against the image graph written by hand.

One test per corpus repository (``tests/realworld/<owner>__<name>/expected.toml``). Those that
discovery does not get right yet are listed in ``KNOWN_WRONG`` with what differs: they are
strict xfails, so a repository that discovery starts getting right fails until it is taken off
the list. The trimmed files themselves are not in the repository (README of the corpus); without
them the comparisons are skipped, and the checks of the corpus's own data still run.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from lockaudit.workspace.discover import discover_workspace
from tests.realworld.compare import (
    HERE,
    compare,
    corpus_repos,
    data_root,
    expected_fields,
    load_expected,
    render,
    verify_files,
)

# repository -> what discovery gets wrong today (shrinks as discovery improves)
KNOWN_WRONG: dict[str, str] = {
    "StatCan__aaw-kubeflow-containers": (
        "Python 3.12 of quay.io/jupyter/datascience-notebook:2025-02-18 not inferred (the "
        "default 3.11 is proposed)"
    ),
    "aiidateam__aiida-core": (
        "Python 3.10.13 (bake variable from build.json, micromamba) not inferred"
    ),
    "cnstark__pytorch-docker": (
        "named 'ubuntu' (folder) not 'pytorch' (-t cnstark/pytorch), since the CentOS "
        "Dockerfile nothing builds is proposed as an image tagged pytorch too; the Python built "
        "from Python-${PYTHON_VERSION}.tgz not inferred"
    ),
    "huggingface__text-generation-inference": (
        "the trtllm ci-runtime stage not paired; accelerators (rocm, xpu, neuron, hpu) are not "
        "variants lockaudit knows; the Gaudi Python and pyproject"
    ),
    "mem0ai__mem0": (
        "names get the prefix 'mem0-api-' (mem0-api-mem0, mem0-api-mem0-dashboard); the "
        "package's own pyproject (pip install -e .) not counted as installed"
    ),
    "onyx-dot-app__onyx": (
        "the dev stage (CI --target dev) and the sandbox image not found; names with the "
        "'onyx-' prefix where the repository names them without"
    ),
    "open-telemetry__opentelemetry-demo": (
        "the cypress test image named 'demo'; telemetry-docs given the requirement file of a "
        "build stage; the react-native APK build (--output) proposed as an image"
    ),
    "pytorch__serve": (
        "the ci image (build_image.sh -bt ci -t pytorch/torchserve:ci, called by a workflow) "
        "not found; requirement files followed through no script; Dockerfile.cpp, which no "
        "build line reaches, proposed as an image"
    ),
    "rapidsai__docker": (
        "the notebooks stage not found, names from folders; matrix values of the CI (notset "
        "defaults) not applied to the bases; Python and CUDA versions not inferred"
    ),
}

REPOS = corpus_repos()


def _param(repo: str) -> object:
    reason = KNOWN_WRONG.get(repo)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(repo, marks=marks, id=repo)


@pytest.mark.parametrize("repo", [_param(r) for r in REPOS])
def test_init_finds_the_true_graph(repo: str) -> None:
    expected = load_expected(repo)
    tree = data_root() / repo
    if not tree.is_dir():
        pytest.skip(f"the trimmed files of {repo} are not at {tree} (tests/realworld/README.md)")
    wrong_files = verify_files(expected, tree)
    assert not wrong_files, "\n".join(wrong_files)
    comparison = compare(expected, discover_workspace(tree), tree)
    assert not comparison.differences, render(comparison)


def test_known_wrong_names_corpus_repositories() -> None:
    assert set(KNOWN_WRONG) <= set(REPOS), set(KNOWN_WRONG) - set(REPOS)


@pytest.mark.parametrize("repo", REPOS)
def test_expected_graph_is_complete_and_consistent(repo: str) -> None:
    """The hand-written graph accounts for every trimmed Dockerfile (an image or excluded, not
    both), names each image once, points parents at images it declares, and says where its
    repository and licence come from."""
    expected = load_expected(repo)
    meta = expected.meta
    assert meta["url"].startswith("https://github.com/"), meta
    assert len(meta["commit"]) == 40 and meta["license"], meta
    tagged = [(image["name"], _hashable(image.get("tag", ""))) for image in expected.images]
    assert len(tagged) == len(set(tagged)), f"{repo}: an image name and tag declared twice"
    imaged = {image["dockerfile"] for image in expected.images}
    excluded = {e["dockerfile"] for e in expected.excluded}
    assert not imaged & excluded, f"{repo}: both an image and excluded: {imaged & excluded}"
    for entry in expected.excluded:
        assert entry.get("reason"), f"{repo}: {entry['dockerfile']} excluded without a reason"
    missing = sorted(set(expected.dockerfiles()) - imaged - excluded)
    assert not missing, f"{repo}: Dockerfiles neither an image nor excluded: {missing}"
    trimmed = {path for _, path in expected.files}
    for image in expected.images:
        fields = expected_fields(image)
        assert image["dockerfile"] in trimmed, image["dockerfile"]
        assert bool(fields["parent"]) != bool(fields["base"]), (
            f"{repo}: {fields['name']} needs exactly one of parent and base"
        )
        if fields["parent"]:
            refs = {f"{n}:{t}" if t else n for n, t in tagged}
            assert fields["parent"] in refs, f"{repo}: unknown parent {fields['parent']}"
        for requirement in fields["requirements"]:
            assert requirement in trimmed, f"{repo}: {requirement} is not among the trimmed files"
        if fields["python"]:
            assert fields["python_version"], f"{repo}: {fields['name']} has no python_version"
        variants = fields["variant"] if isinstance(fields["variant"], list) else [fields["variant"]]
        assert set(variants) <= {"cpu", "cuda", "rocm", "xpu", "neuron", "hpu"}, variants
        assert bool(fields["cuda"]) == ("cuda" in variants), fields["name"]
        assert image.get("from"), f"{repo}: {fields['name']} does not say where its FROM comes from"
    for finding in (*expected.findings, *expected.non_defects):
        assert finding.get("where") and finding.get("summary") and finding.get("verified"), finding


def _hashable(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def test_readme_lists_every_repository() -> None:
    readme = (HERE / "README.md").read_text(encoding="utf-8")
    for repo in REPOS:
        meta = tomllib.loads((HERE / repo / "expected.toml").read_text(encoding="utf-8"))["repo"]
        assert meta["url"] in readme and meta["commit"] in readme, f"{repo} missing from README"


def test_corpus_data_is_out_of_the_repository() -> None:
    """The trimmed files are third-party build recipes: only hashes of them are committed."""
    for repo in REPOS:
        for _, path in load_expected(repo).files:
            assert not (HERE / repo / path).exists() or path in ("expected.toml", "files.sha256"), (
                f"{repo}/{path} is committed; keep the trimmed copies out of the repository"
            )


def test_comparison_catches_a_wrong_parent(tmp_path: Path) -> None:
    """The comparison itself can fail: a tree whose FROM line names another base differs."""
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text("FROM python:3.12-slim\n", encoding="utf-8")
    (tmp_path / "expected.toml").write_text(
        '[repo]\nurl = "https://github.com/x/y"\ncommit = "' + "0" * 40 + '"\nlicense = "MIT"\n'
        '[[images]]\nname = "app"\ndockerfile = "app/Dockerfile"\ncontext = "app"\n'
        'base = "python:3.11-slim"\nfrom = "app/Dockerfile:1"\npython_version = "3.11"\n',
        encoding="utf-8",
    )
    from tests.realworld import compare as module

    data = tomllib.loads((tmp_path / "expected.toml").read_text(encoding="utf-8"))
    expected = module.Expected("x__y", data["repo"], tuple(data["images"]), (), (), (),
                               (("0", "app/Dockerfile"),))
    differences = module.compare(expected, discover_workspace(tmp_path), tmp_path).differences
    assert any("base: expected 'python:3.11-slim'" in d for d in differences), differences
    assert any("python_version" in d for d in differences), differences
