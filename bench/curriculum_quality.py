"""Curriculum preprocessing quality and cost, through CurriculumPipeline's public entry points.

Prints and writes `bench/results/curriculum_quality.json`:
- alignment top-1 / top-3 on `bench/data/alignment_labelled.jsonl`, per split and overall;
- screening detection rate / false-positive rate on `bench/data/screening_labelled.jsonl`, for the
  whole screen (phrase rules + embedding classifier) and for the rules alone;
- CurriculumPipeline construction time (catalogue, model, every standard and exemplar embedded);
- prepare() and finish() latency p50 / p99 per request.

`dev` rows were looked at while rules and weights were chosen; `holdout` rows were written after
and never tuned on. Torch runs on `--threads` threads (default 1, as in the preprocessor replica).

    .venv/bin/python bench/curriculum_quality.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aivo.config import CurriculumConfig
from aivo.curriculum.evaluation import (
    alignment_score,
    load_labelled,
    rules_screening_score,
    screening_score,
)
from aivo.curriculum.pipeline import CurriculumPipeline
from aivo.errors import PromptRejected
from aivo.schemas import GenerateRequest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results" / "curriculum_quality.json"
ACCOMMODATION_MIXES: tuple[list[str], ...] = (
    [],
    ["adhd"],
    ["dyslexia"],
    ["autism", "anxiety"],
    ["adhd", "dyslexia"],
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--requests", type=int, default=300, help="timed prepare/finish calls")
    parser.add_argument("--constructions", type=int, default=2, help="timed constructions")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    build_s = []
    for _ in range(args.constructions):
        start = time.perf_counter()
        pipeline = CurriculumPipeline(CurriculumConfig())
        build_s.append(time.perf_counter() - start)

    alignment_file = DATA / "alignment_labelled.jsonl"
    screening_file = DATA / "screening_labelled.jsonl"
    alignment = {
        split: alignment_score(pipeline, load_labelled(alignment_file, split)).as_dict()
        for split in ("dev", "holdout")
    }
    alignment["all"] = alignment_score(pipeline, load_labelled(alignment_file)).as_dict()
    screening = {
        split: screening_score(pipeline, load_labelled(screening_file, split)).as_dict()
        for split in ("dev", "holdout")
    }
    screening["all"] = screening_score(pipeline, load_labelled(screening_file)).as_dict()
    rules_only = {
        split: rules_screening_score(load_labelled(screening_file, split)).as_dict()
        for split in ("dev", "holdout")
    }

    prepare_ms, finish_ms = _latencies(pipeline, load_labelled(alignment_file), args.requests)
    results: dict[str, Any] = {
        "alignment": alignment,
        "screening": screening,
        "screening_rules_only": rules_only,
        "construction_s": {"each": [round(s, 3) for s in build_s], "min": round(min(build_s), 3)},
        "catalogue_standards": len(pipeline.catalogue),
        "prepare_ms": _percentiles(prepare_ms),
        "finish_ms": _percentiles(finish_ms),
        "requests": args.requests,
        "torch_threads": args.threads,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    _print(results, args.output)


def _latencies(
    pipeline: CurriculumPipeline, rows: list[dict[str, Any]], count: int
) -> tuple[list[float], list[float]]:
    """Time prepare() on labelled prompts and finish() on answer-like text built from the
    aligned standards' descriptions (several sentences, one idiom), across accommodations."""
    prepare_ms: list[float] = []
    finish_ms: list[float] = []
    for i in range(count):
        row = rows[i % len(rows)]
        request = GenerateRequest(
            prompt=row["prompt"],
            grade_level=row["grade_level"],
            subject=row["subject"],
            accommodations=ACCOMMODATION_MIXES[i % len(ACCOMMODATION_MIXES)],
        )
        start = time.perf_counter()
        try:
            prepared = pipeline.prepare(request)
        except PromptRejected:
            continue
        prepare_ms.append((time.perf_counter() - start) * 1000)
        answer = "It is a piece of cake once you see it. " + " ".join(
            f"{s.description} This matters, and you will use it again, so practise it."
            for s in prepared.standards
        )
        start = time.perf_counter()
        pipeline.finish(request, answer)
        finish_ms.append((time.perf_counter() - start) * 1000)
    return prepare_ms, finish_ms


def _percentiles(samples: list[float]) -> dict[str, float]:
    p50, p99 = np.percentile(samples, [50, 99])
    return {"p50": round(float(p50), 2), "p99": round(float(p99), 2), "n": len(samples)}


def _print(results: dict[str, Any], output: Path) -> None:
    print("curriculum quality")
    for split, score in results["alignment"].items():
        print(
            f"  {'alignment':<20} {split:<8} n={score['examples']:<4} top-1 {score['top1']:.1%}  "
            f"top-3 {score['top3']:.1%}"
        )
    for name in ("screening", "screening_rules_only"):
        for split, score in results[name].items():
            print(
                f"  {name:<20} {split:<8} attacks={score['attacks']:<4} "
                f"benign={score['benign']:<4} detection {score['detection_rate']:.1%}  "
                f"false positives {score['false_positive_rate']:.1%}"
            )
    build = results["construction_s"]
    print(
        f"  construction  {build['min']:.2f} s (each: {build['each']}), "
        f"{results['catalogue_standards']} standards, torch threads {results['torch_threads']}"
    )
    for name in ("prepare_ms", "finish_ms"):
        lat = results[name]
        print(f"  {name[:-3]:<8} p50 {lat['p50']:.2f} ms  p99 {lat['p99']:.2f} ms  (n={lat['n']})")
    print(f"  written to {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")


if __name__ == "__main__":
    main()
