"""``lockaudit audit`` over a loopback index: replayed pip steps, findings, sizes, renderers.

The workspace is written per test (``_workspace``): ``base:cuda`` (numpy) → ``base-ml:cuda``
(torch and torchaudio 2.1.0+cu121 from a PyTorch-style index, by ``--index-url``) → stages.
Scenario indexes are built here; see ``tests/indexserver`` for the format.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from lockaudit.audit import AuditResult, audit_workspace, format_tree, hierarchy_svg, to_sarif
from lockaudit.audit.rules import AUDIT_RULES
from lockaudit.errors import Location
from lockaudit.index.client import IndexClient
from lockaudit.index.factory import build_index_client
from lockaudit.index.pipconf import PipConfig
from lockaudit.index.transport import RetryPolicy
from lockaudit.index.vulns import JsonApiVulnerabilityService
from lockaudit.rules.findings import Finding
from lockaudit.workspace.config import load_workspace
from tests.indexserver import (
    FileSpec,
    IndexServer,
    IndexSpec,
    MetadataMode,
    Project,
    Release,
    Scenario,
    Vuln,
)

LINUX = "cp311-cp311-linux_x86_64"
MANYLINUX = "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"
TORCH_PADDING = 2 * 1024 * 1024


def _wheel(tags: str = "py3-none-any", **kw: object) -> FileSpec:
    return FileSpec("wheel", tags, MetadataMode.ADVERTISED, **kw)  # type: ignore[arg-type]


def _project(
    name: str, *releases: Release, vulns: tuple[tuple[str, tuple[Vuln, ...]], ...] = ()
) -> Project:
    return Project(name, releases, vulns)


def _scenario() -> Scenario:
    default = IndexSpec(
        "default",
        (
            _project(
                "numpy",
                Release("1.24.3", files=(_wheel(MANYLINUX),)),
                Release("1.26.4", files=(_wheel(MANYLINUX),)),
                vulns=(("1.24.3", (Vuln("PYSEC-0000-1", "test", (), ("1.26.0",)),)),),
            ),
            _project("filelock", Release("3.13.1")),
            # The public-index torch: newer, no local label, CUDA 12.4 runtime pins.
            _project(
                "torch",
                Release(
                    "2.2.0",
                    ("filelock", "nvidia-cuda-runtime-cu12==12.4.99"),
                    files=(_wheel(MANYLINUX, padding=512 * 1024),),
                ),
            ),
            _project("nvidia-cuda-runtime-cu12", Release("12.4.99", files=(_wheel(MANYLINUX),))),
            _project("needs-new-torch", Release("1.0", ("torch>=2.2",))),
            _project("requests", Release("2.31.0"), Release("2.32.3")),
            _project("old-yanked", Release("1.0", files=(_wheel(yanked="broken build"),))),
            _project("sdist-only", Release("0.5", files=(FileSpec("sdist"),))),
            # A torchaudio that declares no torch requirement at all.
            _project("torchaudio", Release("2.3.0")),
            # CUDA 12 builds: cuDNN 8 up to 4.4, cuDNN 9 from 4.5 (test_audit_base.py)
            _project(
                "ctranslate2",
                Release("4.4.0", files=(_wheel(MANYLINUX),)),
                Release("4.5.0", files=(_wheel(MANYLINUX),)),
            ),
        ),
    )
    cu121 = IndexSpec(
        "pytorch-cu121",
        (
            _project(
                "torch",
                Release(
                    "2.1.0+cu121",
                    ("filelock",),
                    files=(_wheel(LINUX, padding=TORCH_PADDING),),
                ),
            ),
            _project(
                "torchaudio", Release("2.1.0+cu121", ("torch==2.1.0",), files=(_wheel(LINUX),))
            ),
            # The PyTorch indexes carry torch's pure-Python dependencies too.
            _project("filelock", Release("3.13.1")),
        ),
    )
    return Scenario((default, cu121))


def _workspace(root: Path, server: IndexServer, stages: Mapping[str, str]) -> Path:
    """Write the workspace: the two bases and one Dockerfile per stage (``name: RUN lines``)."""
    cu121 = server.index_url("pytorch-cu121")
    files = {
        "docker/base-cuda/Dockerfile": """\
            FROM nvidia/cuda:12.1.1-runtime-ubuntu22.04
            RUN pip install numpy==1.26.4
            """,
        "docker/base-ml/Dockerfile": f"""\
            FROM base:cuda
            RUN pip install --no-cache-dir \\
                torch==2.1.0 \\
                torchaudio==2.1.0 \\
                --index-url {cu121}
            """,
    }
    images = [
        (
            "base",
            "docker/base-cuda/Dockerfile",
            'base-image = "nvidia/cuda:12.1.1-runtime-ubuntu22.04"',
        ),
        ("base-ml", "docker/base-ml/Dockerfile", 'parent = "base:cuda"'),
    ]
    for name, body in stages.items():
        files[f"docker/{name}/Dockerfile"] = "FROM base-ml:cuda\n" + textwrap.dedent(body)
        images.append((name, f"docker/{name}/Dockerfile", 'parent = "base-ml:cuda"'))
    config = [
        "[tool.lockaudit]",
        'versions = "versions.txt"',
        "[tool.lockaudit.target]",
        'python = "3.11.7"',
        'cuda = "12.1"',
    ]
    for name, dockerfile, link in images:
        config += [
            "[[tool.lockaudit.images]]",
            f'name = "{name}"',
            'tag = "cuda"',
            f'dockerfile = "{dockerfile}"',
            link,
        ]
    config += [
        "[[tool.lockaudit.indexes]]",
        'name = "pytorch-cu121"',
        f'url = "{cu121}"',
        'packages = ["torch", "torchaudio"]',
    ]
    files["pyproject.toml"] = "\n".join(config) + "\n"
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(textwrap.dedent(text))
    return root


@pytest.fixture
def server(index_server: Callable[[Scenario], IndexServer]) -> IndexServer:
    return index_server(_scenario())


@pytest.fixture
def run_audit(
    tmp_path: Path,
    server: IndexServer,
    hermetic_pip: None,
    cache_dir: Path,
    fast_retry: RetryPolicy,
) -> Iterator[Callable[..., AuditResult]]:
    """Audit a workspace of ``stages``; the default index is the scenario's ``default``."""
    clients: list[IndexClient] = []

    def run(stages: Mapping[str, str], *, vulns: bool = False) -> AuditResult:
        workspace = load_workspace(_workspace(tmp_path / "ws", server, stages))
        default = server.index_url("default")
        client = build_index_client(
            workspace,
            cache_dir=cache_dir,
            pip_config=PipConfig(index_url=default),
            retry=fast_retry,
        )
        clients.append(client)
        service = JsonApiVulnerabilityService(client, default) if vulns else None
        return audit_workspace(workspace, client, vulns=service)

    yield run
    for client in clients:
        client.close()


def _only(result: AuditResult, rule: str) -> list[Finding]:
    return [f for f in result.findings if f.rule == rule]


ROOT = Path(__file__).resolve().parents[1]
NEWER_TORCH = {"asr": "RUN pip install \\\n    numpy==1.26.4 \\\n    needs-new-torch==1.0\n"}


def test_stage_that_needs_a_newer_torch_replaces_the_parents_torch(
    run_audit: Callable[..., AuditResult], server: IndexServer
) -> None:
    result = run_audit(NEWER_TORCH)
    (replaced,) = _only(result, "reinstalls-parent-package")
    # the line that caused it: needs-new-torch, on the fourth physical line of the stage file
    assert replaced.location == Location("docker/asr/Dockerfile", 4)
    assert replaced.image == "asr:cuda" and replaced.package == "torch"
    assert "torch 2.1.0+cu121 (from base-ml:cuda) with 2.2.0" in replaced.message
    assert "required by needs-new-torch" in replaced.message
    torch_file = next(n for n in server.filenames("pytorch-cu121", "torch"))
    size = len(server.built("pytorch-cu121", torch_file).data)
    assert size > TORCH_PADDING
    saving = next(s for s in result.savings if s.finding == replaced)
    assert saving.bytes == size
    assert result.sizes.image("asr:cuda").duplicated == size
    assert result.sizes.duplicated == size
    layer = result.replay("asr:cuda").layers[0]
    assert [r.before.version.public for r in layer.replaced] == ["2.1.0"]
    assert layer.kept == ("filelock", "numpy")  # satisfied already: not reinstalled


def test_replaced_torch_breaks_torchaudio_and_mixes_cuda(
    run_audit: Callable[..., AuditResult],
) -> None:
    result = run_audit(NEWER_TORCH)
    (broken,) = _only(result, "broken-environment")
    assert broken.package == "torchaudio" and broken.image == "asr:cuda"
    assert "requires torch==2.1.0, but torch 2.2.0 is installed" in broken.message
    (cuda,) = _only(result, "cuda-mismatch")
    assert "CUDA 12.4" in cuda.message and "CUDA 12.1" in cuda.message
    assert result.failed


def test_clean_stage_has_no_findings_and_sizes_add_up(
    run_audit: Callable[..., AuditResult], tmp_path: Path
) -> None:
    result = run_audit({"asr": "RUN pip install requests==2.32.3\n"})
    assert [f.rule for f in result.findings if f.severity != "info"] == []
    assert not result.failed
    base_ml = result.sizes.image("base-ml:cuda")
    asr = result.sizes.image("asr:cuda")
    assert base_ml.own > TORCH_PADDING
    assert asr.total == base_ml.total + asr.own
    assert result.sizes.duplicated == 0
    workspace = load_workspace(tmp_path / "ws")
    tree = format_tree(workspace, result.sizes)
    assert tree.splitlines()[2].startswith("    └── asr:cuda (")
    svg = hierarchy_svg(workspace, result.sizes)
    assert svg.startswith("<svg") and svg.count("<rect") == 3 and "asr:cuda" in svg


def test_siblings_installing_the_same_release_are_hoist_candidates(
    run_audit: Callable[..., AuditResult],
) -> None:
    result = run_audit(
        {
            "asr": "RUN pip install requests==2.32.3\n",
            "diarization": "RUN pip install requests==2.32.3\n",
            "tmdb": "RUN pip install requests==2.31.0\n",
        }
    )
    (hoist,) = [
        f
        for f in _only(result, "hoist-candidate")
        if f.image == "base-ml:cuda" and "children" in f.message and f.package == "requests"
    ]
    assert "asr:cuda, diarization:cuda" in hoist.message
    (drift,) = _only(result, "version-drift")
    assert drift.package == "requests" and drift.image == "tmdb:cuda"
    assert "2.32.3 in asr:cuda, diarization:cuda; 2.31.0 in tmdb:cuda" in drift.message


def test_yanked_vulnerable_and_source_only_pins(run_audit: Callable[..., AuditResult]) -> None:
    result = run_audit(
        {"tmdb": "RUN pip install old-yanked==1.0 numpy==1.24.3 sdist-only==0.5\n"}, vulns=True
    )
    (yanked,) = _only(result, "yanked-pin")
    assert yanked.package == "old-yanked" and "broken build" in yanked.message
    (vulnerable,) = _only(result, "vulnerable-pin")
    assert "PYSEC-0000-1" in vulnerable.message and "first fixed in 1.26.0" in vulnerable.message
    assert vulnerable.location == Location("docker/tmdb/Dockerfile", 2)
    (source,) = _only(result, "needs-build")
    assert source.package == "sdist-only" and "no compiler" in source.message
    # numpy 1.24.3 replaced the base's 1.26.4: not heavy, so a warning
    (replaced,) = _only(result, "reinstalls-parent-package")
    assert replaced.package == "numpy" and replaced.severity == "warning"


def test_torchaudio_without_a_torch_requirement_is_a_family_mismatch(
    run_audit: Callable[..., AuditResult],
) -> None:
    result = run_audit({"asr": "RUN pip install --upgrade torchaudio\n"})
    (mismatch,) = _only(result, "torch-family-mismatch")
    assert "torchaudio 2.3.0 belongs with torch 2.3" in mismatch.message
    assert "declares no torch requirement" in mismatch.message
    assert mismatch.image == "asr:cuda"


def test_no_deps_and_requirement_files_copied_in(
    run_audit: Callable[..., AuditResult], tmp_path: Path
) -> None:
    reqs = tmp_path / "ws" / "docker" / "asr" / "requirements.txt"
    reqs.parent.mkdir(parents=True)
    reqs.write_text("needs-new-torch==1.0\n")
    result = run_audit(
        {
            "asr": "COPY docker/asr/requirements.txt /tmp/r.txt\n"
            "RUN pip install --no-deps -r /tmp/r.txt\n"
        }
    )
    layer = result.replay("asr:cuda").layers[0]
    assert [i.name for i in layer.installed] == ["needs-new-torch"]
    assert layer.replaced == ()  # --no-deps: torch is not touched...
    (broken,) = _only(result, "broken-environment")  # ...so the environment is broken
    assert broken.location == Location("docker/asr/requirements.txt", 1)
    assert "needs-new-torch 1.0 (from asr:cuda) requires torch>=2.2" in broken.message


def test_unreachable_index_is_a_finding_and_the_rest_is_audited(
    run_audit: Callable[..., AuditResult],
) -> None:
    dead = "http://127.0.0.1:9/simple"
    result = run_audit(
        {
            "asr": f"RUN pip install requests==2.32.3 --index-url {dead}\n",
            "tmdb": "RUN pip install old-yanked==1.0\n",
        }
    )
    (unreachable,) = _only(result, "index-unreachable")
    assert unreachable.location == Location("docker/asr/Dockerfile", 2)
    assert dead in unreachable.message and "LOCKAUDIT_INDEX_MIRRORS" in (unreachable.hint or "")
    assert not result.replay("asr:cuda").complete
    assert result.replay("tmdb:cuda").complete
    assert _only(result, "yanked-pin")  # the other stage was still audited
    assert not result.sizes.image("asr:cuda").complete


def test_an_unreachable_steps_exact_pins_are_assumed_present_for_later_steps(
    run_audit: Callable[..., AuditResult],
) -> None:
    # The build installs requests 2.31.0 from an index we cannot see; the next step asks for
    # any requests, which pip finds satisfied: it must not be replayed as a fresh install.
    dead = "http://127.0.0.1:9/simple"
    result = run_audit(
        {"asr": f"RUN pip install requests==2.31.0 --index-url {dead}\nRUN pip install requests\n"}
    )
    first, second = result.replay("asr:cuda").layers
    assert first.unreachable is not None and first.installed == ()
    assert [(i.name, str(i.version)) for i in first.assumed] == [("requests", "2.31.0")]
    assert second.kept == ("requests",) and second.installed == () and second.replaced == ()
    assert str(result.replay("asr:cuda").package("requests").version) == "2.31.0"  # type: ignore[union-attr]
    assert not result.replay("asr:cuda").complete


def test_a_replaced_release_whose_index_could_not_be_read_has_no_size_to_claim(
    run_audit: Callable[..., AuditResult], server: IndexServer
) -> None:
    # base-ml's torch index fails: its torch==2.1.0 is taken as present, with no file read, and
    # the stage's needs-new-torch replaces it. How many bytes that duplicates is unknown, not 0.
    server.fail(urlsplit(server.index_url("pytorch-cu121")).path + "/torch/", -1)
    result = run_audit(NEWER_TORCH)
    (replaced,) = _only(result, "reinstalls-parent-package")
    assert "torch 2.1.0" in replaced.message and "0 B" not in replaced.message
    assert "how many is unknown" in replaced.message


def test_a_conflict_met_without_an_installed_names_index_is_unreachable_not_a_conflict(
    run_audit: Callable[..., AuditResult], server: IndexServer
) -> None:
    # torch 2.1.0+cu121 is installed; needs-new-torch wants torch>=2.2, which the default
    # index would offer, but its torch page fails: the replay cannot tell, so no conflict.
    server.fail("/default/simple/torch/", -1)
    result = run_audit({"asr": "RUN pip install needs-new-torch==1.0\n"})
    (layer,) = result.replay("asr:cuda").layers
    assert layer.conflicts == () and layer.unreachable is not None
    assert "/default/simple/torch/" in layer.unreachable.url
    assert [f.location for f in _only(result, "index-unreachable")] == [
        Location("docker/asr/Dockerfile", 2)
    ]
    errors = [f.rule for f in result.findings if f.severity == "error"]
    assert errors == ["index-unreachable"]


def test_matrix_conflict_explains_versions_txt(
    run_audit: Callable[..., AuditResult], tmp_path: Path
) -> None:
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "versions.txt").write_text(
        "CUDA_VERSION=12.1\nnumpy==1.26.4\ntorch==2.1.0+cu121\nneeds-new-torch==1.0\n"
    )
    result = run_audit({"asr": "RUN pip install requests==2.32.3\n"})
    (conflict,) = _only(result, "matrix-conflict")
    assert conflict.location.path == "versions.txt"
    assert conflict.location.line in (3, 4)
    assert "torch" in conflict.message and "needs-new-torch" in conflict.message


def test_sarif_and_json_outputs(run_audit: Callable[..., AuditResult]) -> None:
    result = run_audit(NEWER_TORCH)
    rules = [(r.id, r.severity, r.description) for r in AUDIT_RULES]
    log = to_sarif(result.findings, rules)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    replaced = next(r for r in run["results"] if r["ruleId"] == "reinstalls-parent-package")
    assert ids[replaced["ruleIndex"]] == "reinstalls-parent-package"
    assert replaced["level"] == "error"
    location = replaced["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "docker/asr/Dockerfile"
    assert location["region"]["startLine"] == 4
    data = json.loads(json.dumps(result.as_json()))
    assert {f["rule"] for f in data["findings"]} >= {"reinstalls-parent-package"}
    assert data["sizes"]["duplicated_bytes"] == result.sizes.duplicated > 0


def _sarif_schema() -> Path | None:
    """The OASIS standard's own schema, kept outside the repository (it is not ours to commit)."""
    named = os.environ.get("LOCKAUDIT_SARIF_SCHEMA")
    path = Path(named) if named else ROOT.parent / "shared" / "sarif" / "sarif-schema-2.1.0.json"
    return path if path.is_file() else None


def test_sarif_output_is_valid_sarif_2_1_0(run_audit: Callable[..., AuditResult]) -> None:
    """The standard's own schema is the oracle; a path with a space is a percent-encoded URI."""
    import jsonschema

    schema_file = _sarif_schema()
    if schema_file is None:
        pytest.skip(
            "the SARIF 2.1.0 schema is not beside the repository: put the standard's "
            "sarif-schema-2.1.0.json in ../shared/sarif/ or name it in LOCKAUDIT_SARIF_SCHEMA"
        )
    schema = json.loads(schema_file.read_text())
    result = run_audit(NEWER_TORCH)
    rules = [(r.id, r.severity, r.description) for r in AUDIT_RULES]
    odd = replace(result.findings[0], location=Location("docker/my stage/Dockerfile#1", 3))
    log = to_sarif([*result.findings, odd], rules)
    jsonschema.Draft4Validator(schema).validate(log)
    uris = [
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in log["runs"][0]["results"]
    ]
    assert "docker/my%20stage/Dockerfile%231" in uris
    broken = json.loads(json.dumps(log))
    broken["runs"][0]["results"][0]["level"] = "fatal"  # not a SARIF level: the oracle says so
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(broken)


@pytest.mark.parametrize(
    ("copied", "carried"),
    [
        ("/usr/local/lib/python3.11/site-packages", True),
        ("/opt/venv", True),
        ("/app/dist/tool.whl", False),  # only a file of the builder: its packages stay there
    ],
)
def test_a_copied_builder_environment_carries_its_packages_and_bytes(
    run_audit: Callable[..., AuditResult], copied: str, carried: bool
) -> None:
    body = (
        "RUN echo first stage\n"
        "FROM base-ml:cuda AS builder\n"
        "RUN pip install requests==2.32.3\n"
        "FROM base-ml:cuda\n"
        f"COPY --from=builder {copied} {copied}\n"
    )
    result = run_audit({"asr": body})
    own = {item.name: item for item in result.replay("asr:cuda").own}
    assert ("requests" in own) is carried, own
    if carried:
        assert own["requests"].location == Location("docker/asr/Dockerfile", 4)
        assert result.sizes.as_json()  # sized like any other layer's install
        layer_bytes = sum(layer.added_bytes for layer in result.replay("asr:cuda").layers)
        assert layer_bytes > 0
