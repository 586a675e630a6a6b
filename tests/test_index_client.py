"""The index client against the loopback test index: candidates, metadata, cache, routing."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from lockaudit.errors import OfflineMissError
from lockaudit.index.client import IndexClient, IndexSource, Routing
from lockaudit.index.factory import build_index_client
from lockaudit.index.pipconf import PipConfig
from lockaudit.index.types import Candidate, CoreMetadata, NeedsBuild
from lockaudit.index.vulns import JsonApiVulnerabilityService
from lockaudit.workspace.model import PackageIndex, Target, Variant, Workspace
from tests.indexserver import (
    FileSpec,
    IndexServer,
    IndexSpec,
    MetadataMode,
    Project,
    Release,
    Scenario,
    many_packages_scenario,
    sdist_marker_name,
)
from tests.indexserver.scenarios import MANYLINUX, NVIDIA_PINS

CUDA = Target(variant=Variant.CUDA, cuda="12.1")
CPU = Target()
MakeClient = Callable[..., IndexClient]
n = canonicalize_name


def _versions(candidates: object) -> list[str]:
    assert isinstance(candidates, list | tuple)
    return [str(c.version) for c in candidates]


def test_candidates_newest_first_with_local_versions(
    test_index: IndexServer, make_client: MakeClient
) -> None:
    client = make_client(test_index.index_url("pytorch-cu121"))
    torch = client.candidates(n("torch"), CUDA)
    assert _versions(torch) == ["2.1.0+cu121"]
    assert torch[0].version.local == "cu121"
    assert torch[0].files[0].filename == "torch-2.1.0+cu121-cp311-cp311-linux_x86_64.whl"
    assert torch[0].index == test_index.index_url("pytorch-cu121")

    numpy = make_client(test_index.index_url()).candidates(n("numpy"), CUDA)
    assert _versions(numpy) == ["2.0.0", "1.26.4", "1.24.3"]
    # A wheel fits, so the sdist is dropped; the file facts come from PEP 691.
    assert all(c.has_wheel and len(c.files) == 1 for c in numpy)
    file = numpy[0].files[0]
    assert file.size is not None and file.size > 0
    assert file.upload_time == "2023-10-04T12:00:00.000000Z"
    assert file.sha256 == test_index.built("default", file.filename).sha256


def test_requires_python_uses_the_full_target_version(
    test_index: IndexServer, make_client: MakeClient
) -> None:
    client = make_client(test_index.index_url())
    assert _versions(client.candidates(n("new-python-only"), Target(python="3.11.7"))) == [
        "2.0",
        "1.0",
    ]
    assert _versions(client.candidates(n("new-python-only"), Target(python="3.11.0"))) == ["1.0"]


def test_wheel_tags_are_the_targets_not_the_hosts(
    index_server: Callable[[Scenario], IndexServer], make_client: MakeClient
) -> None:
    tags = {
        "1": MANYLINUX,
        "2": "cp311-cp311-manylinux_2_36_x86_64",  # newer glibc than the target's
        "3": "cp311-cp311-manylinux_2_17_aarch64",
        "4": "cp310-cp310-linux_x86_64",
        "5": "cp38-abi3-manylinux_2_28_x86_64",
        "6": "cp311-cp311-macosx_11_0_arm64",
    }
    releases = tuple(Release(v, files=(FileSpec(tags=t),)) for v, t in tags.items())
    server = index_server(Scenario((IndexSpec("default", (Project("p", releases),)),)))
    client = make_client(server.index_url())
    assert _versions(client.candidates(n("p"), Target(glibc="2.35"))) == ["5", "1"]
    arm = Target(arch="aarch64", glibc="2.35")
    assert _versions(client.candidates(n("p"), arm)) == ["3"]


def test_yanked_files_are_kept_and_marked(test_index: IndexServer, make_client: MakeClient) -> None:
    client = make_client(test_index.index_url())
    transformers = {str(c.version): c for c in client.candidates(n("transformers"), CPU)}
    assert transformers["4.57.0"].yanked == "broken release"
    assert transformers["4.57.1"].yanked is None


def test_unknown_project_is_no_candidates(test_index: IndexServer, make_client: MakeClient) -> None:
    client = make_client(test_index.index_url())
    assert client.candidates(n("does-not-exist"), CPU) == []
    assert test_index.requests[test_index.page_path("default", "does-not-exist")] == 1


@pytest.mark.parametrize("json_pages", [True, False], ids=["pep691-json", "pep503-html"])
def test_both_page_formats_give_the_same_candidates(
    test_index: IndexServer, make_client: MakeClient, json_pages: bool, tmp_path: Path
) -> None:
    test_index.json(json_pages)
    client = make_client(
        test_index.index_url(), test_index.index_url("pytorch-cu121"), cache_dir=tmp_path / "c"
    )
    torch = client.candidates(n("torch"), CUDA)
    assert _versions(torch) == ["9.9.9", "2.1.0+cu121"]
    transformers = client.candidates(n("transformers"), CPU)
    assert transformers[1].yanked == "broken release"
    audio = make_client(test_index.index_url("pytorch-cu121")).candidates(n("torchaudio"), CUDA)
    name = audio[0].files[0].filename
    built = test_index.built("pytorch-cu121", name)
    assert audio[0].files[0].metadata_sha256 == built.metadata_sha256
    assert audio[0].files[0].sha256 == built.sha256
    metadata = client.metadata(audio[0], CUDA)
    assert isinstance(metadata, CoreMetadata)
    assert [str(r) for r in metadata.requires_dist] == ["torch==2.1.0"]


def _one_project(mode: MetadataMode, padding: int = 0) -> Scenario:
    release = Release(
        "1.0",
        ("numpy>=1.24", 'rich; extra == "cli"'),
        ">=3.9",
        extras=("cli",),
        files=(FileSpec(tags=MANYLINUX, metadata=mode, padding=padding),),
    )
    return Scenario((IndexSpec("default", (Project("big", (release,)),)),))


def test_three_metadata_modes_agree_and_ranges_are_cheap(
    index_server: Callable[[Scenario], IndexServer], make_client: MakeClient, tmp_path: Path
) -> None:
    padding = 4 * 1024 * 1024
    results = {}
    for mode in MetadataMode:
        server = index_server(_one_project(mode, padding))
        client = make_client(server.index_url(), cache_dir=tmp_path / mode.value)
        candidate = client.candidates(n("big"), CPU)[0]
        results[mode] = client.metadata(candidate, CPU)
        file_path = server.file_path("default", candidate.files[0].filename)
        wheel_size = len(server.built("default", candidate.files[0].filename).data)
        if mode is MetadataMode.ABSENT:
            assert server.requests[file_path + ".metadata"] == 1  # tried anyway, 404
            assert 0 < server.bytes_for(file_path) < wheel_size // 20
        else:
            assert server.requests[file_path] == 0  # the wheel itself was never read
    first = results[MetadataMode.ADVERTISED]
    assert isinstance(first, CoreMetadata)
    assert [str(r) for r in first.requires_dist] == ["numpy>=1.24", 'rich; extra == "cli"']
    assert first.provides_extra == ("cli",)
    assert str(first.requires_python) == ">=3.9"
    assert all(result == first for result in results.values())


def test_ranges_refused_falls_back_to_a_verified_download(
    index_server: Callable[[Scenario], IndexServer], make_client: MakeClient
) -> None:
    server = index_server(_one_project(MetadataMode.ABSENT, 256 * 1024))
    server.ranges(False)
    client = make_client(server.index_url())
    candidate = client.candidates(n("big"), CPU)[0]
    metadata = client.metadata(candidate, CPU)
    assert isinstance(metadata, CoreMetadata) and metadata.version == Version("1.0")
    path = server.file_path("default", candidate.files[0].filename)
    assert server.bytes_for(path) == candidate.files[0].size


def test_top_level_from_the_wheel(test_index: IndexServer, make_client: MakeClient) -> None:
    client = make_client(test_index.index_url("pytorch-cu121"))
    torch = client.candidates(n("torch"), CUDA)[0]
    assert client.top_level(torch, CUDA) == ("torch",)


def test_sdists_static_or_needs_build_and_never_run(
    test_index: IndexServer,
    make_client: MakeClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    client = make_client(test_index.index_url())
    results = {}
    for name in ("static-sdist", "dynamic-sdist", "legacy-sdist"):
        (candidate,) = client.candidates(n(name), CPU)
        assert not candidate.has_wheel
        results[name] = client.metadata(candidate, CPU)
    static = results["static-sdist"]
    assert isinstance(static, CoreMetadata)
    assert [str(r) for r in static.requires_dist] == ["numpy>=1.24"]
    dynamic, legacy = results["dynamic-sdist"], results["legacy-sdist"]
    assert isinstance(dynamic, NeedsBuild) and "dynamic" in dynamic.reason
    assert isinstance(legacy, NeedsBuild) and "2.1 < 2.2" in legacy.reason
    assert not any(p.name.startswith("SETUP_PY_RAN") for p in tmp_path.rglob("*"))
    assert not Path(sdist_marker_name("dynamic-sdist", "1.0")).exists()


def test_many_packages_concurrently_then_from_cache_with_zero_requests(
    index_server: Callable[[Scenario], IndexServer], make_client: MakeClient
) -> None:
    server = index_server(many_packages_scenario(300))
    names = [n(f"pkg-{i:03d}") for i in range(300)]

    hops: list[int] = []

    def run() -> dict[str, CoreMetadata | NeedsBuild]:
        client = make_client(server.index_url())
        loop_run = client.fetcher.run

        def counted(coro: Any) -> Any:
            hops.append(1)
            return loop_run(coro)

        client.fetcher.run = counted  # type: ignore[method-assign]
        client.prefetch(names, CPU)
        candidates = [client.candidates(name, CPU)[0] for name in names]
        client.prefetch(candidates, CPU)
        return {c.name: client.metadata(c, CPU) for c in candidates}

    cold = run()
    assert len(cold) == 300
    pkg7 = cold["pkg-007"]
    assert isinstance(pkg7, CoreMetadata) and [str(r) for r in pkg7.requires_dist] == [
        "pkg-008>=1.0"
    ]
    assert server.requests[server.page_path("default", "pkg-007")] == 1  # no duplicates
    assert server.total_requests() >= 600
    server.reset_counters()
    hops.clear()
    warm = run()
    assert warm == cold
    assert server.total_requests() == 0
    assert not hops  # answered from the cache on this thread: no hand-off to the I/O loop


def test_offline_after_a_warm_run_and_cold_miss(
    test_index: IndexServer, make_client: MakeClient, tmp_path: Path
) -> None:
    warm = make_client(test_index.index_url())
    numpy = warm.candidates(n("numpy"), CPU)
    expected = warm.metadata(numpy[0], CPU)
    test_index.reset_counters()
    offline = make_client(test_index.index_url(), offline=True)
    assert _versions(offline.candidates(n("numpy"), CPU)) == _versions(numpy)
    assert offline.metadata(numpy[0], CPU) == expected
    assert test_index.total_requests() == 0

    cold = make_client(test_index.index_url(), offline=True, cache_dir=tmp_path / "cold")
    with pytest.raises(OfflineMissError) as caught:
        cold.candidates(n("numpy"), CPU)
    assert "numpy" in str(caught.value)
    assert caught.value.url.endswith("/default/simple/numpy/")
    assert test_index.total_requests() == 0


def test_page_freshness_refresh_and_revalidation(
    test_index: IndexServer, make_client: MakeClient
) -> None:
    test_index.change_page("default", "numpy")
    test_index.validators(True)
    page = test_index.page_path("default", "numpy")
    first = make_client(test_index.index_url()).candidates(n("numpy"), CPU)
    assert _versions(first) == ["1.26.4", "1.24.3"]  # the page before the release appeared
    fresh = make_client(test_index.index_url()).candidates(n("numpy"), CPU)
    assert _versions(fresh) == _versions(first) and test_index.requests[page] == 1
    refreshed = make_client(test_index.index_url(), refresh=True).candidates(n("numpy"), CPU)
    assert _versions(refreshed) == ["2.0.0", "1.26.4", "1.24.3"]
    assert test_index.requests[page] == 2
    # Stale: revalidated with the ETag, answered 304 (no body), and the cache is kept.
    stale = make_client(test_index.index_url(), page_ttl=0).candidates(n("numpy"), CPU)
    assert _versions(stale) == ["2.0.0", "1.26.4", "1.24.3"]
    assert test_index.requests[page] == 3


def _workspace(server: IndexServer) -> Workspace:
    return Workspace(
        root=Path("."),
        images=(),
        indexes=(
            PackageIndex(
                "pytorch-cu121",
                server.index_url("pytorch-cu121"),
                (n("torch"), n("torchaudio"), n("triton")),
                Variant.CUDA,
            ),
            PackageIndex(
                "pytorch-cpu",
                server.index_url("pytorch-cpu"),
                (n("torch"), n("torchaudio")),
                Variant.CPU,
            ),
        ),
    )


def test_dependency_confusion_routed_torch_never_comes_from_default(
    test_index: IndexServer, hermetic_pip: None, cache_dir: Path
) -> None:
    config = PipConfig(index_url=test_index.index_url())
    with build_index_client(_workspace(test_index), cache_dir=cache_dir, pip_config=config) as c:
        cuda_torch = c.candidates(n("torch"), CUDA)
        cpu_torch = c.candidates(n("torch"), CPU)
        numpy = c.candidates(n("numpy"), CUDA)
    assert _versions(cuda_torch) == ["2.1.0+cu121"]
    assert _versions(cpu_torch) == ["2.1.0+cpu"]
    assert all(c.index == test_index.index_url("pytorch-cu121") for c in cuda_torch)
    assert "9.9.9" not in _versions(cuda_torch) + _versions(cpu_torch)
    assert test_index.requests[test_index.page_path("default", "torch")] == 0
    assert numpy and numpy[0].index == test_index.index_url("default")


def test_torch_cuda_requires_pinned_nvidia_wheels(
    test_index: IndexServer, make_client: MakeClient
) -> None:
    client = make_client(test_index.index_url("pytorch-cu121"))
    torch = client.candidates(n("torch"), CUDA)[0]
    metadata = client.metadata(torch, CUDA)
    assert isinstance(metadata, CoreMetadata)
    pins = {r.name: str(r.specifier) for r in metadata.requires_dist if r.name.startswith("nvidia")}
    assert pins == {name: f"=={version}" for name, version in NVIDIA_PINS.items()}
    assert any(str(r).startswith("triton==2.1.0") for r in metadata.requires_dist)


def test_release_files_lists_every_platform(
    index_server: Callable[[Scenario], IndexServer], make_client: MakeClient
) -> None:
    files = (
        FileSpec(tags=MANYLINUX),
        FileSpec(tags="cp311-cp311-macosx_11_0_arm64"),
        FileSpec(kind="sdist"),
    )
    project = Project("multi", (Release("1.0", files=files),))
    server = index_server(Scenario((IndexSpec("default", (project,)),)))
    client = make_client(server.index_url())
    assert len(client.candidates(n("multi"), CPU)[0].files) == 1
    assert len(client.release_files(n("multi"), Version("1.0"), CPU)) == 3


def test_vulnerabilities_from_the_json_api(
    test_index: IndexServer, make_client: MakeClient
) -> None:
    client = make_client(test_index.index_url())
    service = JsonApiVulnerabilityService(client, test_index.index_url())
    pins = [
        (n("numpy"), Version("1.24.3")),
        (n("numpy"), Version("1.26.4")),
        (n("nope"), Version("1.0")),
    ]
    found = service.query(pins)
    (vuln,) = found[pins[0]]
    assert vuln.id == "PYSEC-0000-1" and vuln.aliases == ("CVE-0000-1",)
    assert vuln.fixed_in == (Version("1.26.0"),)
    assert found[pins[1]] == () and found[pins[2]] == ()


def test_find_links_sources_merge_by_version(
    test_index: IndexServer, make_client: MakeClient, tmp_path: Path
) -> None:
    links = tmp_path / "wheels"
    links.mkdir()
    built = test_index.built(
        "default", "numpy-1.24.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    )
    (links / built.filename).write_bytes(built.data)
    routing = Routing((IndexSource(str(links), "find-links"),))
    client = make_client(routing)
    (candidate,) = client.candidates(n("numpy"), CPU)
    assert candidate.files[0].sha256 == built.sha256
    assert candidate.files[0].url.startswith("file:")
    metadata = client.metadata(candidate, CPU)
    assert isinstance(metadata, CoreMetadata) and metadata.version == Version("1.24.3")
    assert test_index.total_requests() == 0
    assert os.listdir(links) == [built.filename]


def test_candidate_metadata_is_shared_between_callers(
    test_index: IndexServer, make_client: MakeClient
) -> None:
    client = make_client(test_index.index_url())
    numpy = client.candidates(n("numpy"), CPU)
    client.prefetch([*numpy, *numpy], CPU)
    again = [client.metadata(c, CPU) for c in numpy]
    assert [m.version for m in again] == [c.version for c in numpy]
    for c in numpy:
        meta_path = test_index.file_path("default", c.files[0].filename) + ".metadata"
        assert test_index.requests[meta_path] == 1
    assert isinstance(numpy[0], Candidate)
