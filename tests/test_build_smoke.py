"""The smoke step's findings (``import-fails``): each failure at the line that asked for it.

The workspace is the engine tests' Python chain, compiled against the loopback index; the
smoke results are written by hand (what the script prints for a failed import), so no engine
is needed. The engine test of the same path is in ``test_build_engine.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lockaudit.builder.smoke import SmokeFailure, SmokeResult, smoke_findings
from lockaudit.errors import Location
from lockaudit.workspace.config import load_workspace
from lockaudit.workspace.model import Workspace
from tests.engine.workspaces import compiled_python_chain, pipeline_scenario
from tests.indexserver import IndexServer

ASR = "whisperx==3.1.1\naligner==1.0\n"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("smoke")
    with IndexServer(pipeline_scenario()) as server:
        files = {"docker/asr/requirements.txt": ASR}
        return compiled_python_chain(root, server, prefix="lat-smoke-", files=files)


def _no_module(module: str, distribution: str, missing: str) -> SmokeFailure:
    return SmokeFailure(module, distribution, f"ModuleNotFoundError: No module named '{missing}'")


def test_an_undeclared_import_is_found_at_the_images_requirement_line(
    compiled: Workspace,
) -> None:
    image = compiled.image("asr:cuda")
    result = SmokeResult("asr:cuda", failures=(_no_module("aligner", "aligner", "undeclared_mod"),))
    (finding,) = smoke_findings(compiled, image, result)
    assert finding.code == "LA601" and finding.rule == "import-fails"
    assert finding.location == Location("docker/asr/requirements.txt", 2)
    assert finding.image == "asr:cuda" and finding.package == "aligner"
    assert "imports undeclared_mod, which no distribution in the image provides" in finding.message
    assert finding.hint is not None and "undeclared_mod" in finding.hint


def test_a_dependency_that_fails_is_found_at_its_layer_lock_entry_with_who_pulled_it_in(
    compiled: Workspace,
) -> None:
    image = compiled.image("asr:cuda")
    failure = SmokeFailure("numpy", "numpy", "ImportError: libopenblas.so.0: cannot open file")
    (finding,) = smoke_findings(compiled, image, SmokeResult("asr:cuda", failures=(failure,)))
    layer = compiled.path("locks/asr-cuda.layer.txt").read_text().splitlines()
    assert finding.location.path == "locks/asr-cuda.layer.txt"
    assert layer[finding.location.line - 1].startswith("numpy==1.26.4")
    assert "pulled in by whisperx" in finding.message
    assert "libopenblas.so.0" in finding.message


def test_a_distribution_the_layer_lock_names_but_the_image_lacks_is_a_finding(
    compiled: Workspace,
) -> None:
    image = compiled.image("asr:cpu")
    (finding,) = smoke_findings(compiled, image, SmokeResult("asr:cpu", missing=("whisperx",)))
    assert finding.location.path == "locks/asr-cpu.layer.txt" and finding.location.line > 0
    assert "not installed in asr:cpu" in finding.message


def test_a_clean_smoke_run_has_no_findings(compiled: Workspace) -> None:
    result = SmokeResult("asr:cuda", imported=("whisperx", "aligner"))
    assert smoke_findings(compiled, compiled.image("asr:cuda"), result) == ()


def test_without_locks_the_finding_falls_back_to_the_dockerfile(
    compiled: Workspace, tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(compiled.root, copy)
    shutil.rmtree(copy / "locks")
    workspace = load_workspace(copy)
    image = workspace.image("asr:cuda")
    result = SmokeResult("asr:cuda", failures=(_no_module("aligner", "aligner", "x"),))
    (finding,) = smoke_findings(workspace, image, result)
    assert finding.location == Location(image.dockerfile)
