"""Key ideas: how well questions find their vetted explanation, and what grounding does to answers.

    python -m bench.key_ideas [--answers 16]

1. Matching, on `bench/data/key_ideas_labelled.jsonl` (questions written apart from the
   library's own phrasings, on its topics and off them, each marked dev or holdout): per split,
   the share of on-topic questions that find their idea, of off-topic ones that find none, and
   of all given a wrong idea; then the same on dev over a grid of MIN_SCORE and MIN_MARGIN
   (how the shipped values were chosen).
2. Answers, in process on the bundled model through the answering loop as the service runs it
   (screened and prepared by the pipeline, steered to the reading band, finished): for
   `--answers` on-topic dev questions at grades 1-11, each answered grounded (the vetted text,
   the model not asked) and ungrounded (the model writes, up to 160 tokens, as before the
   library), in turns. Per side: p50 latency (and their ratio), answers in their
   reading band, and the first answers' text to read.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aivo.config import CurriculumConfig, parse_config
from aivo.curriculum import key_ideas
from aivo.curriculum.evaluation import key_idea_score, load_labelled
from aivo.curriculum.pipeline import CurriculumPipeline
from aivo.curriculum.prompting import Messages
from aivo.curriculum.readability import reading_level, reading_steer
from aivo.engine.sampling import request_params
from aivo.schemas import GenerateRequest
from aivo.service.answering import ReplicaItem, TutoredAnswer, answer
from bench.loadgen import write_result
from deployments.inference import InferenceReplica

LABELLED = Path(__file__).parent / "data" / "key_ideas_labelled.jsonl"
MAX_TOKENS = 160
SCORES = (0.65, 0.7, 0.75, 0.8, 0.85)
MARGINS = (0.0, 0.02, 0.04, 0.06)


def grid(pipeline: CurriculumPipeline, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The figures over a grid of bounds (the shipped ones restored after)."""
    shipped = key_ideas.MIN_SCORE, key_ideas.MIN_MARGIN
    points = []
    try:
        for score in SCORES:
            for margin in MARGINS:
                key_ideas.MIN_SCORE, key_ideas.MIN_MARGIN = score, margin
                figures = key_idea_score(pipeline.key_ideas, pipeline.embedder, rows)
                points.append({"min_score": score, "min_margin": margin, **figures.as_dict()})
    finally:
        key_ideas.MIN_SCORE, key_ideas.MIN_MARGIN = shipped
    return points


async def answers(
    pipeline: CurriculumPipeline, rows: list[dict[str, Any]], limit: int
) -> dict[str, Any]:
    """The first `limit` of `rows` that find an idea, answered both ways."""
    with tempfile.TemporaryDirectory() as folder:
        config = parse_config({"storage": {"adapter_root": folder}})
        inference = InferenceReplica(config)
        try:
            await inference.generate([{"role": "user", "content": "Hi"}], request_params_for(1))
            sides: dict[str, list[dict[str, Any]]] = {"grounded": [], "ungrounded": []}
            for i, row in enumerate(rows):
                request = GenerateRequest(
                    prompt=row["question"], grade_level=str(1 + i % 11), subject=row["subject"]
                )
                prepared = pipeline.prepare(request)
                if prepared.grounding is None:
                    continue
                if len(sides["grounded"]) >= limit:
                    break
                for side in ("grounded", "ungrounded") if i % 2 else ("ungrounded", "grounded"):
                    grounding = prepared.grounding if side == "grounded" else None
                    sides[side].append(await one(pipeline, inference, request, prepared, grounding))
        finally:
            inference.close()
    out: dict[str, Any] = {}
    for side, done in sides.items():
        band = [d["in_band"] for d in done if d["in_band"] is not None]
        out[side] = {
            "answers": len(done),
            "p50_latency_s": round(statistics.median(d["latency_s"] for d in done), 3),
            "in_reading_band": f"{sum(band)}/{len(band)}",
            "examples": [d["text"] for d in done[:3]],
        }
    out["p50_latency_ratio_grounded_vs_ungrounded"] = round(
        out["grounded"]["p50_latency_s"] / out["ungrounded"]["p50_latency_s"], 3
    )
    return out


def request_params_for(max_tokens: int) -> Any:
    request = GenerateRequest(prompt="x", grade_level="5", subject="science", max_tokens=max_tokens)
    return request_params(request, parse_config({}).engine)


async def one(
    pipeline: CurriculumPipeline,
    inference: InferenceReplica,
    request: GenerateRequest,
    prepared: Any,
    grounding: Any,
) -> dict[str, Any]:
    grade = int(request.grade_level)
    params = dataclasses.replace(request_params_for(MAX_TOKENS), **reading_steer(grade))

    async def generate(messages: Messages, max_tokens: int) -> AsyncIterator[ReplicaItem]:
        stream = inference.stream(messages, dataclasses.replace(params, max_tokens=max_tokens))
        try:
            async for item in stream:
                yield item
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    started = time.perf_counter()
    tutored = None
    async for item in answer(prepared.prompt, None, generate, MAX_TOKENS, grounding=grounding):
        if isinstance(item, TutoredAnswer):
            tutored = item
    assert tutored is not None
    finished = pipeline.finish(request, tutored.text)
    latency = time.perf_counter() - started
    level = reading_level(finished.text, grade)
    return {"latency_s": latency, "in_band": level.within_band, "text": finished.text}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=16)
    args = parser.parse_args()
    pipeline = CurriculumPipeline(CurriculumConfig())
    result: dict[str, Any] = {"ideas": len(pipeline.key_ideas.ideas)}
    for split in ("dev", "holdout"):
        rows = load_labelled(LABELLED, split)
        result[split] = key_idea_score(pipeline.key_ideas, pipeline.embedder, rows).as_dict()
        print(split, result[split])
    result["dev_grid"] = grid(pipeline, load_labelled(LABELLED, "dev"))
    for point in result["dev_grid"]:
        print("grid", point)
    on_topic = [r for r in load_labelled(LABELLED, "dev") if r["idea"]]
    result["answers"] = asyncio.run(answers(pipeline, on_topic, args.answers))
    print(json.dumps(result["answers"], indent=1))
    write_result("key_ideas", result)


if __name__ == "__main__":
    main()
