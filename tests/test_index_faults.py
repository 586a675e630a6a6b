"""Faults at the test index: each ends in a retry that succeeds or an IndexFetchError naming
the URL; a wrong metadata hash is never accepted."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from packaging.utils import canonicalize_name

from lockaudit.errors import IndexFetchError
from lockaudit.index.client import IndexClient
from lockaudit.index.types import CoreMetadata
from lockaudit.workspace.model import Target, Variant
from tests.indexserver import IndexServer

MakeClient = Callable[..., IndexClient]
CPU = Target()
CUDA = Target(variant=Variant.CUDA, cuda="12.1")
NUMPY = canonicalize_name("numpy")


def _fault(server: IndexServer, kind: str, path: str, times: int) -> None:
    match kind:
        case "500":
            server.fail(path, times, 500)
        case "503":
            server.fail(path, times, 503)
        case "429":
            server.fail(path, times, 429)
        case "reset":
            server.reset(path, times)
        case "truncate":
            server.truncate(path, times)


KINDS = ["500", "503", "429", "reset", "truncate"]


@pytest.mark.parametrize("kind", KINDS)
def test_page_fault_then_success(
    test_index: IndexServer, make_client: MakeClient, kind: str
) -> None:
    path = test_index.page_path("default", "numpy")
    _fault(test_index, kind, path, 2)
    client = make_client(test_index.index_url())  # fast_retry: 3 attempts
    assert [str(c.version) for c in client.candidates(NUMPY, CPU)] == ["2.0.0", "1.26.4", "1.24.3"]
    assert test_index.requests[path] == 3


@pytest.mark.parametrize("kind", KINDS)
def test_page_fault_forever_names_the_url(
    test_index: IndexServer, make_client: MakeClient, kind: str
) -> None:
    path = test_index.page_path("default", "numpy")
    _fault(test_index, kind, path, -1)
    client = make_client(test_index.index_url())
    with pytest.raises(IndexFetchError) as caught:
        client.candidates(NUMPY, CPU)
    assert caught.value.url == test_index.base_url + path
    assert "numpy" in caught.value.message and "3 attempts" in caught.value.message
    assert caught.value.hint
    assert test_index.requests[path] == 3


def test_slow_page_within_timeout_succeeds_beyond_it_fails(
    test_index: IndexServer, make_client: MakeClient, fast_retry: object
) -> None:
    path = test_index.page_path("default", "numpy")
    test_index.delay(path, 0.3)
    assert make_client(test_index.index_url()).candidates(NUMPY, CPU)
    from lockaudit.index.transport import RetryPolicy

    short = RetryPolicy(attempts=2, backoff=0.01, read_timeout=0.1)
    test_index.reset_counters()
    client = make_client(test_index.index_url(), retry=short, refresh=True)
    with pytest.raises(IndexFetchError) as caught:
        client.candidates(NUMPY, CPU)
    assert "timed out" in caught.value.message
    assert caught.value.url.endswith(path)
    assert test_index.requests[path] == 2


def test_metadata_file_fault_then_success(test_index: IndexServer, make_client: MakeClient) -> None:
    client = make_client(test_index.index_url("pytorch-cu121"))
    (audio,) = client.candidates(canonicalize_name("torchaudio"), CUDA)
    path = test_index.file_path("pytorch-cu121", audio.files[0].filename) + ".metadata"
    test_index.truncate(path, 1)
    metadata = client.metadata(audio, CUDA)
    assert isinstance(metadata, CoreMetadata)
    assert test_index.requests[path] == 2


def test_range_request_reset_then_success(test_index: IndexServer, make_client: MakeClient) -> None:
    client = make_client(test_index.index_url())
    candidate = client.candidates(NUMPY, CPU)[0]
    path = test_index.file_path("default", candidate.files[0].filename)
    test_index.reset(path, 1)
    assert isinstance(client.metadata(candidate, CPU), CoreMetadata)
    assert test_index.requests[path] == 2


@pytest.mark.parametrize("json_pages", [True, False], ids=["json", "html"])
def test_wrong_metadata_hash_is_never_accepted(
    test_index: IndexServer, make_client: MakeClient, json_pages: bool
) -> None:
    test_index.json(json_pages)
    filename = "torchaudio-2.1.0+cu121-cp311-cp311-linux_x86_64.whl"
    test_index.wrong_metadata_hash(filename)
    client = make_client(test_index.index_url("pytorch-cu121"))
    (audio,) = client.candidates(canonicalize_name("torchaudio"), CUDA)
    with pytest.raises(IndexFetchError) as caught:
        client.metadata(audio, CUDA)
    path = test_index.file_path("pytorch-cu121", filename) + ".metadata"
    assert caught.value.url == test_index.base_url + path
    assert "sha256" in caught.value.message
    assert test_index.requests[path] == 2  # retried once, then refused
    # Nothing wrong was cached: a later client with the right hash gets the metadata.
    test_index.clear_faults()
    fixed = make_client(test_index.index_url("pytorch-cu121"), refresh=True)
    (audio,) = fixed.candidates(canonicalize_name("torchaudio"), CUDA)
    assert isinstance(fixed.metadata(audio, CUDA), CoreMetadata)


def test_credentials_refused_is_an_error_with_a_hint(
    test_index: IndexServer, make_client: MakeClient
) -> None:
    test_index.require_auth("default", "user", "secret")
    with pytest.raises(IndexFetchError) as caught:
        make_client(test_index.index_url()).candidates(NUMPY, CPU)
    assert "401" in caught.value.message and "netrc" in (caught.value.hint or "")
    assert test_index.requests[test_index.page_path("default", "numpy")] == 1  # not retried
