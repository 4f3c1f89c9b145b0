"""Reading-level steering on against off in the batcher (no HTTP), on the same prompts, in one run.

    python -m bench.steering [--max-tokens 128] [--grades 2,5,8,11] [--dtype auto]

16 concurrent clients send the preprocessor's own prompts for 16 explanation questions at each
grade, greedy, first with steering off (`SamplingParams` as /v1/generate builds it) and then on
(`reading_steer(grade)`, what the tutor sets for an explanation), after a warm-up of each.
Figures: the wall time of the same requests, tokens/s and time to first token p50 (ratios on/off:
steered answers are shorter, so tokens/s also spreads each prefill over fewer tokens), and the
answers' reading level: how many of those with 50+ words of prose fall in their band, and the
mean distance of every answer's Flesch-Kincaid grade from its band. The answers are the model's
raw text (the answering loop and the plain-language rewrite after generation are left out).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from aivo.config import CurriculumConfig
from aivo.curriculum.pipeline import CurriculumPipeline
from aivo.curriculum.readability import reading_level, reading_steer
from aivo.engine.batching import ContinuousBatcher
from aivo.engine.gathered_lora import gather_adapters
from aivo.engine.loader import load_model
from aivo.engine.sampling import SamplingParams
from aivo.schemas import GenerateRequest
from bench.batching import QUESTIONS, Run, engine_config, run_clients, timed
from bench.loadgen import write_result

Job = tuple[list[int], int]  # prompt ids, the learner's grade


def band_figures(answers: list[tuple[str, int]]) -> dict[str, Any]:
    levels = [reading_level(text, grade) for text, grade in answers]
    measured = [level.within_band for level in levels if level.within_band is not None]
    distance = [
        max(0.0, level.flesch_kincaid_grade - level.target_band[1])
        + max(0.0, level.target_band[0] - max(level.flesch_kincaid_grade, 0.0))
        for level in levels
    ]
    return {
        "in_band": sum(measured),
        "measured": len(measured),
        "mean_distance_from_band": round(sum(distance) / len(distance), 2),
    }


async def measured(
    batcher: ContinuousBatcher, jobs: list[Job], steered: bool, max_tokens: int, label: str
) -> tuple[Run, list[tuple[str, int]]]:
    """`jobs` from 16 clients, steered or not; the run and each answer with its grade."""
    answers: list[tuple[str, int]] = []

    async def serve(job: Job) -> tuple[float, int]:
        prompt, grade = job
        params = SamplingParams(max_tokens)
        if steered:
            params = SamplingParams(max_tokens, **reading_steer(grade))
        started = time.perf_counter()
        stream = batcher.submit(prompt, params)
        first, tokens = await timed(stream, started)
        answers.append(((await stream.result()).text, grade))
        return first, tokens

    return await run_clients(f"steering {label}", jobs, serve), answers


async def main(args: argparse.Namespace) -> None:
    config = engine_config("auto", args.dtype, "none")
    loaded = gather_adapters(load_model(config.models[0], config))
    batcher = ContinuousBatcher(loaded, max_batch_size=16, batch_wait_ms=20)
    pipeline = CurriculumPipeline(CurriculumConfig())
    grades = [int(g) for g in args.grades.split(",")]
    jobs: list[Job] = []
    for grade in grades:
        for question in QUESTIONS:
            body = {"prompt": question, "grade_level": str(grade), "subject": "science"}
            messages = pipeline.prepare(GenerateRequest.model_validate(body)).messages
            jobs.append((loaded.chat_prompt_ids(messages), grade))
    result: dict[str, Any] = {"requests": len(jobs), "max_tokens": args.max_tokens}
    try:
        for steered in (False, True):
            label = "on" if steered else "off"
            await measured(batcher, jobs[:16], steered, args.max_tokens, f"warm-up {label}")
            run, answers = await measured(batcher, jobs, steered, args.max_tokens, label)
            result[label] = run.figures() | band_figures(answers)
    finally:
        batcher.close()
    on, off = result["on"], result["off"]
    result["wall_s_on_vs_off"] = round(on["wall_s"] / off["wall_s"], 3)
    result["tokens_per_s_on_vs_off"] = round(on["tokens_per_s"] / off["tokens_per_s"], 3)
    result["ttft_p50_on_vs_off"] = round(on["ttft_p50_ms"] / off["ttft_p50_ms"], 3)
    write_result(args.result_name, result)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--grades", default="2,5,8,11")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--result-name", default="steering", help="bench/results/<name>.json")
    asyncio.run(main(parser.parse_args()))
