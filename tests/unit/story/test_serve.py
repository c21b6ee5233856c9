from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from lakestory.story.serve import make_server


def test_the_index_links_each_story_and_only_the_root_is_served(
    tmp_path: Path, make: Callable[..., str]
) -> None:
    root = tmp_path / "stories"
    make(root, "r<1>", 1)
    (tmp_path / "secret.txt").write_text("outside")
    server = make_server(str(root), 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        index = urllib.request.urlopen(base + "/").read().decode()
        assert "r&lt;1&gt;" in index and 'href="/p/2026-03-09/r&lt;1&gt;.html"' in index
        page = urllib.request.urlopen(base + "/p/2026-03-09/r%3C1%3E.html").read()
        assert page == b"<html></html>"
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(base + "/../secret.txt")
    finally:
        server.shutdown()
        server.server_close()
