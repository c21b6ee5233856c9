"""``lakestory story serve``: the story folder over HTTP on 127.0.0.1, with an index page.

Only files under the story root are served (the standard library handler refuses paths
that leave its directory); the index lists the stories newest first.
"""

from __future__ import annotations

import functools
import os
from html import escape
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lakestory.story.files import list_stories
from lakestory.story.html import CSS


def render_index(root: str) -> str:
    rows = []
    for s in list_stories(root):
        html = os.path.relpath(s.html_path, root).replace(os.sep, "/")
        started = s.started_at.strftime("%Y-%m-%d %H:%M:%S") if s.started_at else "?"
        rows.append(
            f'<tr><td><a href="/{escape(html)}">{escape(s.run_id)}</a></td>'
            f"<td>{escape(s.folder)}</td><td>{escape(str(s.status))}</td>"
            f"<td>{escape(started)}</td></tr>"
        )
    body = "".join(rows) or '<tr><td colspan="4">no stories yet</td></tr>'
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>lakestory '
        f"stories</title><style>{CSS}</style></head><body><header><h1>Stories</h1>"
        f"</header><main><table><thead><tr><th>run</th><th>folder</th><th>status</th>"
        f"<th>started</th></tr></thead><tbody>{body}</tbody></table></main></body></html>"
    )


class _Handler(SimpleHTTPRequestHandler):
    root = "."

    def do_GET(self) -> None:
        if self.path in ("/", "/index.html"):
            data = render_index(self.root).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:  # quiet: no line per request
        return


def make_server(root: str, port: int = 8000) -> ThreadingHTTPServer:
    """A server of ``root`` on 127.0.0.1:``port`` (0: any free port); call
    ``serve_forever()`` on it."""
    handler = type("StoryHandler", (_Handler,), {"root": root})
    return ThreadingHTTPServer(("127.0.0.1", port), functools.partial(handler, directory=root))
