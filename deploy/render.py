"""Serve configs derived from the ones in `configs/`, so a derived copy never drifts by hand.

    python -m deploy.render container configs/serve.yaml --output configs/serve.container.yaml
    python -m deploy.render rayservice [--check]

`container`: the config with Serve's proxy bound to every interface (the image's command).
`rayservice`: writes `configs/serve.gpu.yaml`, verbatim, as the `serveConfigV2` of
`deploy/kuberay/rayservice.yaml`; `--check` exits 1 instead when the two differ.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
GPU_CONFIG = ROOT / "configs" / "serve.gpu.yaml"
RAYSERVICE = ROOT / "deploy" / "kuberay" / "rayservice.yaml"
SERVE_CONFIG_KEY = "serveConfigV2: |"


def container_config(serve_yaml: str) -> str:
    document = yaml.safe_load(serve_yaml)
    document.setdefault("http_options", {})["host"] = "0.0.0.0"
    header = "# Rendered by `python -m deploy.render container`: do not edit.\n"
    return header + yaml.safe_dump(document, sort_keys=False)


def embed_serve_config(manifest: str, serve_yaml: str) -> str:
    """The manifest with the block under `serveConfigV2: |` replaced by `serve_yaml`."""
    lines = manifest.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.strip() == SERVE_CONFIG_KEY]
    if len(starts) != 1:
        raise ValueError(f"expected one `{SERVE_CONFIG_KEY}` line, found {len(starts)}")
    start = starts[0]
    indent = " " * (len(lines[start]) - len(lines[start].lstrip()) + 2)
    end = start + 1
    # The block lasts while lines are blank or indented deeper than its key.
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith(indent)):
        end += 1
    block = [indent + line if line.strip() else "\n" for line in serve_yaml.splitlines(True)]
    return "".join([*lines[: start + 1], *block, *lines[end:]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.render", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    container = commands.add_parser("container", help="serve.yaml bound to 0.0.0.0")
    container.add_argument("config", type=Path)
    container.add_argument("--output", type=Path, required=True)
    rayservice = commands.add_parser("rayservice", help="embed serve.gpu.yaml in the RayService")
    rayservice.add_argument("--check", action="store_true", help="only compare; exit 1 if stale")
    args = parser.parse_args(argv)
    if args.command == "container":
        args.output.write_text(container_config(args.config.read_text()))
        return 0
    current = RAYSERVICE.read_text()
    rendered = embed_serve_config(current, GPU_CONFIG.read_text())
    if rendered == current:
        return 0
    if args.check:
        print(f"{RAYSERVICE} is stale: run python -m deploy.render rayservice", file=sys.stderr)
        return 1
    RAYSERVICE.write_text(rendered)
    return 0


if __name__ == "__main__":
    sys.exit(main())
