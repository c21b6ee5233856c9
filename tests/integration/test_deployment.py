"""The Dockerfile at the repository root, checked as text (no Docker engine runs here): a
pinned base image, a non-root user, a health check, `lakestory run` as the entry point and no
secrets baked in; and the package it installs, built as a wheel and installed with the same
extras into a fresh virtualenv, runs the bundled example the way the container would."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from lakestory.secrets.redactor import MASK, Redactor, is_secret_field

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


@dataclass
class Instruction:
    line: int
    name: str  # upper case
    args: str


def parse(text: str) -> list[Instruction]:
    """Dockerfile instructions with their line numbers: comments and blank lines dropped,
    ``\\`` continuations joined."""
    out: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):  # a comment inside a continuation
            continue
        if not pending:
            start = number
        pending.append(line[:-1].strip() if line.endswith("\\") else line)
        if not line.endswith("\\"):
            joined = " ".join(p for p in pending if p)
            name, _, args = joined.partition(" ")
            out.append(Instruction(start, name.upper(), args.strip()))
            pending = []
    return out


def _assignments(args: str) -> dict[str, str]:
    """``ENV A=1 B="2 3"`` or ``ENV A 1`` / ``ARG A=1`` as {name: value}."""
    words = shlex.split(args)
    if len(words) >= 2 and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(w.partition("=")[::2] for w in words)


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    """The build stages, each starting with its FROM (the global ARGs before the first FROM
    are left out)."""
    found: list[list[Instruction]] = []
    for ins in instructions:
        if ins.name == "FROM":
            found.append([ins])
        elif found:
            found[-1].append(ins)
    return found


def base_images(instructions: list[Instruction]) -> list[tuple[int, str]]:
    """Each FROM's image with the global ARG defaults substituted; stage names skipped."""
    defaults: dict[str, str] = {}
    for ins in instructions:
        if ins.name == "FROM":
            break
        if ins.name == "ARG":
            defaults.update(_assignments(ins.args))
    names: set[str] = set()
    images = []
    for ins in instructions:
        if ins.name != "FROM":
            continue
        words = [w for w in ins.args.split() if not w.startswith("--platform")]
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: defaults.get(m.group(1), m.group(0)), words[0])
        if len(words) >= 3 and words[1].upper() == "AS":
            names.add(words[2])
        if image not in names:
            images.append((ins.line, image))
    return images


def problems(text: str) -> list[str]:
    """What is wrong with a Dockerfile, by the rules of the issue; empty when nothing is."""
    instructions = parse(text)
    found = []
    for line, image in base_images(instructions):
        name, _, digest = image.partition("@")
        tag = name.rpartition(":")[2] if ":" in name.rpartition("/")[2] else ""
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            found.append(f"line {line}: base image {image} is not pinned by digest")
        if not re.match(r"\d+\.\d+\.\d+", tag) or "latest" in tag:
            found.append(f"line {line}: base image {image} has no exact version tag")
    final = stages(instructions)[-1] if stages(instructions) else []
    users = [(i, ins) for i, ins in enumerate(final) if ins.name == "USER"]
    installs = [i for i, ins in enumerate(final) if ins.name == "RUN"]
    if not users:
        found.append("the final stage sets no USER: it runs as root")
    else:
        i, last = users[-1]
        who = last.args.split(":")[0].strip()
        if who in ("root", "0"):
            found.append(f"line {last.line}: USER {last.args} is root")
        if installs and i < installs[-1]:
            found.append(f"line {last.line}: a RUN after USER {last.args} (install as root first)")
    health = [ins for ins in final if ins.name == "HEALTHCHECK"]
    if not health or "CMD" not in health[-1].args or "lakestory" not in health[-1].args:
        found.append("the final stage has no HEALTHCHECK running lakestory")
    entry = [ins for ins in final if ins.name == "ENTRYPOINT"]
    if not entry or json.loads(entry[-1].args)[:2] != ["lakestory", "run"]:
        found.append('the ENTRYPOINT is not ["lakestory", "run", ...]')
    for ins in instructions:
        if ins.name not in ("ENV", "ARG"):
            continue
        for key, value in _assignments(ins.args).items():
            if is_secret_field(key):
                found.append(f"line {ins.line}: {ins.name} {key} names a secret")
            elif value and MASK in Redactor().redact_text(f"{key}={value}"):
                found.append(f"line {ins.line}: {ins.name} {key} holds a secret-like value")
    return found


def test_the_dockerfile_follows_the_rules() -> None:
    assert problems(DOCKERFILE.read_text("utf-8")) == []


_GOOD = """\
ARG BASE=python:3.11.14-slim-bookworm@sha256:{digest}
FROM ${{BASE}} AS build
RUN pip wheel .
FROM ${{BASE}}
RUN pip install lakestory
USER 10001
HEALTHCHECK CMD lakestory validate || exit 1
ENTRYPOINT ["lakestory", "run"]
""".format(digest="a" * 64)


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (("FROM ${BASE}\n", "FROM python:latest\n"), "not pinned by digest"),
        (("FROM ${BASE}\n", "FROM python:3.11-slim\n"), "no exact version tag"),
        (("USER 10001\n", ""), "runs as root"),
        (("USER 10001\n", "USER root\n"), "is root"),
        (("USER 10001\n", "USER app\nRUN pip install x\n"), "a RUN after USER"),
        (("HEALTHCHECK CMD lakestory validate || exit 1\n", ""), "no HEALTHCHECK"),
        (('ENTRYPOINT ["lakestory", "run"]\n', 'ENTRYPOINT ["python"]\n'), "ENTRYPOINT"),
        (("USER 10001\n", "ENV DB_PASSWORD=hunter22\nUSER 10001\n"), "names a secret"),
        (("USER 10001\n", "ARG GITHUB=ghp_" + "x" * 36 + "\nUSER 10001\n"), "secret-like"),
        (("USER 10001\n", "ENV AZURE_STORAGE_KEY hunter22\nUSER 10001\n"), "names a secret"),
    ],
)
def test_the_rules_catch_what_they_are_for(change: tuple[str, str], complaint: str) -> None:
    assert problems(_GOOD) == [] and change[0] in _GOOD
    bad = _GOOD.replace(*change, 1)
    assert any(complaint in p for p in problems(bad)), problems(bad)


def test_only_the_sources_reach_the_build_context() -> None:
    """`.dockerignore` lets through what the image builds from, never a .env or a venv."""
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*"  # everything is excluded, then the sources let back in
    assert {"!pyproject.toml", "!README.md", "!src/"} <= set(rules)
    copied = [i.args for i in parse(DOCKERFILE.read_text("utf-8")) if i.name == "COPY"]
    for args in copied:
        if "--from=" in args:
            continue
        for source in args.split()[:-1]:
            assert f"!{source.rstrip('/')}" in {r.rstrip("/") for r in rules}, source


def _dockerfile_settings() -> tuple[str, dict[str, str], list[str], list[str]]:
    """The extras the image installs, its ENV, and its ENTRYPOINT and CMD."""
    instructions = parse(DOCKERFILE.read_text("utf-8"))
    final = stages(instructions)[-1]
    extras = next(
        _assignments(i.args)["LAKESTORY_EXTRAS"]
        for i in final
        if i.name == "ARG" and "LAKESTORY_EXTRAS" in i.args
    )
    env: dict[str, str] = {}
    for i in final:
        if i.name == "ENV":
            env.update(_assignments(i.args))
    entry = json.loads(next(i.args for i in final if i.name == "ENTRYPOINT"))
    cmd = json.loads(next(i.args for i in final if i.name == "CMD"))
    return extras, env, entry, cmd


@pytest.mark.slow
def test_the_installed_wheel_runs_the_example(tmp_path: Path) -> None:
    """Build the wheel, install it with the image's extras into a new virtualenv, and run the
    example as the container does: in the project's folder, with the image's ENV, the
    ENTRYPOINT and CMD; the health check's command succeeds too."""
    extras, image_env, entry, cmd = _dockerfile_settings()
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = dist.glob("lakestory-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python, lakestory = venv / "bin" / "python", venv / "bin" / "lakestory"
    # A real install of every dependency, at the versions this environment already has (no
    # resolver backtracking; pip's cache serves the wheels): about 2 minutes, not 6.
    pins = tmp_path / "constraints.txt"
    pins.write_text(
        "".join(
            f"{d.metadata['Name']}=={d.version}\n"
            for d in importlib.metadata.distributions()
            if d.metadata["Name"] and d.metadata["Name"].lower() != "lakestory"
        ),
        encoding="utf-8",
    )
    pip = [str(python), "-m", "pip", "install", "-q", "--no-compile", "-c", str(pins)]
    installed = subprocess.run(
        [*pip, f"{wheel}[{extras}]"],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]

    env = {
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path),
        **image_env,
    }
    init = subprocess.run([str(lakestory), "init", "project"], cwd=tmp_path, env=env, timeout=120)
    assert init.returncode == 0
    project = tmp_path / "project"  # mounted at WORKDIR /project in the container
    run = subprocess.run(
        [str(venv / "bin" / entry[0]), *entry[1:], *cmd],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    events = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    assert any(e.get("event") == "run_finished" for e in events), run.stderr[-2000:]
    last = subprocess.run(
        [str(lakestory), "story", "last"], cwd=project, env=env, capture_output=True, text=True
    )
    story = Path(last.stdout.strip())
    assert last.returncode == 0 and story.is_file() and story.stat().st_size > 0, last
    health = next(i.args for i in parse(DOCKERFILE.read_text("utf-8")) if i.name == "HEALTHCHECK")
    check = health.split("CMD", 1)[1].strip()
    probe = subprocess.run(["sh", "-c", check], cwd=project, env=env, timeout=120)
    assert probe.returncode == 0
    missing = subprocess.run(
        ["sh", "-c", check], cwd=tmp_path, env=env, capture_output=True, timeout=120
    )
    assert missing.returncode == 1  # no project mounted: unhealthy (Docker wants 1)
