"""Run stories: one self-contained HTML page and one JSON document per run.

    bus.subscribe(StoryObserver(StorySettings.for_project(loaded), dag, catalog))

On ``RunFinished`` the observer writes ``<root>/<pipeline>/<YYYY-MM-DD>/<run_id>.json`` and
``.html`` (see :mod:`lakestory.story.files`), then applies retention. See docs/story.md.
"""

from __future__ import annotations

from lakestory.story.files import StoryFile, list_stories, story_root
from lakestory.story.model import SCHEMA_VERSION, build_story
from lakestory.story.observer import StoryObserver, StorySettings

__all__ = [
    "SCHEMA_VERSION",
    "StoryFile",
    "StoryObserver",
    "StorySettings",
    "build_story",
    "list_stories",
    "story_root",
]
