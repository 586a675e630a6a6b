"""HTTP on the wire, through lockaudit's real client and the loopback index: chunked bodies,
gzip content coding, redirects (credentials kept on the same origin, dropped elsewhere) and
range requests. The loopback index is plain http, served by the same httpx stack as https."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from packaging.utils import canonicalize_name

from lockaudit.errors import IndexFetchError
from lockaudit.index.client import IndexClient
from lockaudit.index.types import CoreMetadata
from lockaudit.workspace.model import Target
from tests.indexserver import IndexServer, Scenario
from tests.indexserver.scenarios import pytorch_scenario

MakeClient = Callable[..., IndexClient]
CPU = Target()
NUMPY = canonicalize_name("numpy")
VERSIONS = ["2.0.0", "1.26.4", "1.24.3"]


def _versions(client: IndexClient) -> list[str]:
    return [str(c.version) for c in client.candidates(NUMPY, CPU)]


def test_chunked_answers_are_joined(test_index: IndexServer, make_client: MakeClient) -> None:
    test_index.chunked(True)
    client = make_client(test_index.index_url())
    assert _versions(client) == VERSIONS
    metadata = client.metadata(client.candidates(NUMPY, CPU)[0], CPU)
    assert isinstance(metadata, CoreMetadata) and str(metadata.version) == "2.0.0"
    assert test_index.codings["chunked"] >= 1


def test_gzip_answers_are_inflated_and_smaller_on_the_wire(
    index_server: Callable[[Scenario], IndexServer], make_client: MakeClient
) -> None:
    plain, coded = index_server(pytorch_scenario()), index_server(pytorch_scenario())
    coded.gzip(True)
    assert _versions(make_client(plain.index_url())) == VERSIONS
    client = make_client(coded.index_url(), cache_dir=None)
    assert _versions(client) == VERSIONS
    path = coded.page_path("default", "numpy")
    assert coded.codings["gzip"] >= 1
    assert 0 < coded.bytes_for(path) < plain.bytes_for(path)


def test_gzip_and_chunked_together(test_index: IndexServer, make_client: MakeClient) -> None:
    test_index.gzip(True)
    test_index.chunked(True)
    assert _versions(make_client(test_index.index_url())) == VERSIONS
    assert test_index.codings["gzip"] >= 1 and test_index.codings["chunked"] >= 1


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_on_the_same_origin_are_followed_with_credentials(
    test_index: IndexServer, make_client: MakeClient, status: int
) -> None:
    test_index.require_auth("default", "alice", "s3cret")
    path = test_index.page_path("default", "numpy")
    test_index.redirect(path, f"{path}?moved=1", times=2, status=status)
    url = test_index.index_url().replace("://", "://alice:s3cret@")
    assert _versions(make_client(url)) == VERSIONS
    assert test_index.requests[path] == 3  # two redirects, then the page


def test_credentials_never_follow_a_redirect_to_another_origin(
    index_server: Callable[[Scenario], IndexServer], make_client: MakeClient
) -> None:
    here, there = index_server(pytorch_scenario()), index_server(pytorch_scenario())
    for server in (here, there):
        server.require_auth("default", "alice", "s3cret")
    path = here.page_path("default", "numpy")
    here.redirect(path, there.base_url + path, times=-1)
    url = here.index_url().replace("://", "://alice:s3cret@")
    with pytest.raises(IndexFetchError) as caught:
        make_client(url).candidates(NUMPY, CPU)
    assert "HTTP 401" in caught.value.message  # the other origin got no credentials
    assert there.requests[path] == 1
    assert "s3cret" not in caught.value.url


def test_a_redirect_loop_ends_in_a_located_error(
    test_index: IndexServer, make_client: MakeClient
) -> None:
    path = test_index.page_path("default", "numpy")
    test_index.redirect(path, path, times=-1)
    with pytest.raises(IndexFetchError) as caught:
        make_client(test_index.index_url()).candidates(NUMPY, CPU)
    assert "TooManyRedirects" in caught.value.message
    assert caught.value.url == test_index.base_url + path


def test_range_requests_answer_the_asked_bytes(
    test_index: IndexServer, make_client: MakeClient
) -> None:
    client = make_client(test_index.index_url())
    file = client.candidates(NUMPY, CPU)[0].files[0]
    data = test_index.built("default", file.filename).data
    fetcher = client.fetcher
    for asked, span in (("bytes=0-9", data[:10]), ("bytes=-22", data[-22:])):
        response = fetcher.run(
            fetcher.get(file.url, what="a range", headers={"Range": asked}, expect=frozenset({206}))
        )
        assert response.status == 206 and response.body == span
        assert response.headers["content-range"].endswith(f"/{len(data)}")
    assert test_index.bytes_for(test_index.file_path("default", file.filename)) == 32
