from __future__ import annotations

import re
from html.parser import HTMLParser

from lakestory.runtime.records import RunResult
from lakestory.story.dag import layers, render_svg
from lakestory.story.html import highlight_sql, render_html
from lakestory.story.model import RunFacts, build_story


def page(run: RunResult) -> str:
    edges = [("bronze.raw", "silver.clean"), ("silver.clean", "gold.report")]
    return render_html(
        build_story(run, RunFacts(["bronze.raw", "silver.clean", "gold.report"], edges))
    )


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.external: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_script = tag == "script"
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith("#"):
                self.external.append(value)
            if name == "xmlns":
                continue

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


def test_data_sql_and_errors_cannot_inject_markup(run: RunResult) -> None:
    html = page(run)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html  # shown, escaped
    parser = Tags()
    parser.feed(html)
    assert len(parser.scripts) == 1 and "alert" not in parser.scripts[0]  # only our own


def test_the_page_is_self_contained(run: RunResult) -> None:
    html = page(run)
    parser = Tags()
    parser.feed(html)
    assert parser.external == []  # no CDN, font, script or image
    assert "@import" not in html and "url(http" not in html


def test_it_shows_what_each_node_did(run: RunResult) -> None:
    html = page(run)
    for key in ("bronze.raw", "silver.clean", "gold.report"):
        assert f'id="node-{key}"' in html and f'href="#node-{key}"' in html
    assert "lake:bronze/raw (version 4)" in html
    assert "boom" in html and "hint: fix" in html  # the failed node's error
    assert "silver.clean failed" in html  # why the report was skipped
    assert "not_null(id)" in html and "50.00%" in html
    assert re.search(r"<th>id</th><th>name</th>", html)  # the sample's columns


def test_dag_nodes_are_coloured_by_status(run: RunResult) -> None:
    svg = render_svg(["a", "b"], [("a", "b")], {"a": "success", "b": "failed"})
    assert svg.count("<rect") == 2 and "#2e7d32" in svg and "#c62828" in svg
    assert 'data-status="failed"' in svg


def test_layers_by_topological_depth() -> None:
    assert layers(["a", "b", "c", "d"], [("a", "b"), ("b", "c"), ("a", "c")]) == {
        "a": 0,
        "b": 1,
        "c": 2,
        "d": 0,
    }
    assert set(layers(["x", "y"], [("x", "y"), ("y", "x")])) == {"x", "y"}  # a cycle ends


def test_sql_highlighting_escapes_and_marks_keywords() -> None:
    out = highlight_sql("SELECT '<b>' AS x FROM df WHERE n > 1")
    assert '<span class="k">SELECT</span>' in out
    assert '<span class="str">&#x27;&lt;b&gt;&#x27;</span>' in out
    assert '&gt; <span class="num">1</span>' in out
