"""Continuous batching across LoRA adapters at the library level (no HTTP), in one run.

    python -m bench.batching [--max-tokens 32] [--students 1000] [--requests N] [--lru 32]
        [--device auto] [--dtype auto] [--quantization none] [--result-name batching]
        [--per-run 32] [--questions 16]

Figures, in the dtype `dtype: auto` picks (fp32 on this Intel Xeon: `python -m bench.cpu_dtype`)
unless --dtype says otherwise, the same on both sides of every ratio; the batcher runs with the
gathered multi-LoRA forward (the served path) and with PEFT's, measured in turns:
- 16 concurrent requests over 8 adapters: the batcher against one request at a time with PEFT
  `set_adapter` + `generate` (what a plain PEFT service does), and against PEFT's `generate`
  with static batches of 16 (each row its adapter; a batch ends with its longest row);
- mixed-adapter batches against base-model-only batches of the same size;
- continuous against window-only batching when max_tokens varies from 1/2 to 8 times
  --max-tokens, with time to first token at 16 concurrent clients (gathered only);
- many students round-robin through an adapter LRU smaller than their number (adapters loaded
  from a local AdapterStore on disk; --requests of them, all students by default, each a miss
  while --requests > --lru) against 8 students, and against 16 resident students (as
  many distinct adapters per batch as the many-student run, so the loading cost shows alone);
- shared-prefix KV reuse on against off (gathered forward), on the preprocessor's own tutor
  prompts over 8 adapters: time to first token at 16 concurrent clients, and tokens/s when every
  prompt is distinct from its first token (a 0 % hit rate: the cache's bare cost).
  `--only-prefix` runs this part alone.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from peft import LoraConfig

from aivo.adapters import LocalAdapterStore
from aivo.config import BUNDLED_MODEL, CurriculumConfig, EngineConfig
from aivo.curriculum.pipeline import CurriculumPipeline
from aivo.engine.batching import ContinuousBatcher
from aivo.engine.gathered_lora import gather_adapters
from aivo.engine.loader import LoadedModel, load_model
from aivo.engine.lora import BASE_ADAPTER, PLACEHOLDER_ADAPTER, read_adapter, wrap_for_adapters
from aivo.engine.prefix_cache import PrefixCache
from aivo.engine.residency import AdapterResidency
from aivo.engine.sampling import SamplingParams
from aivo.engine.streaming import RequestStream
from aivo.schemas import GenerateRequest
from bench.loadgen import percentile, write_result

CLIENTS = 16
SCIENCE = {"subject": "science", "learning_style": "visual", "accommodations": ["dyslexia"]}
ADAPTERS = 8
KINDS = ("gathered", "peft")  # the LoRA forward under the batcher: the served one, PEFT's
# Questions the model answers: none is on a key idea's topic (those are answered from vetted
# text, with no model), so every HTTP bench that sends them measures the serving path.
QUESTIONS = [
    "Why do cats purr?",
    "How do owls see in the dark?",
    "What do spiders eat?",
    "Why do bridges have cables?",
    "How do kites fly?",
    "Why are sharks good swimmers?",
    "How do trains stay on their tracks?",
    "What makes popcorn pop?",
    "Why do onions make us cry?",
    "How does a submarine dive?",
    "Why do cats have whiskers?",
    "What is a comet?",
    "How do bats find their way at night?",
    "Why do zebras have stripes?",
    "How do airplanes stay in the air?",
    "Why do some birds sing in the morning?",
]


@dataclass
class Job:
    prompt: list[int]
    max_tokens: int
    adapter: str | None  # an adapter name, or a student id when served through residency


@dataclass
class Run:
    tokens: int
    wall_s: float
    ttft_s: list[float]
    cpu_stall: float | None  # share of the run some task waited for a CPU (Linux PSI)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall_s

    def figures(self) -> dict[str, Any]:
        ttft_ms = [t * 1000 for t in self.ttft_s]
        return {
            "completion_tokens": self.tokens,
            "wall_s": round(self.wall_s, 2),
            "tokens_per_s": round(self.tokens_per_s, 1),
            "ttft_p50_ms": round(percentile(ttft_ms, 50), 1),
            "ttft_p99_ms": round(percentile(ttft_ms, 99), 1),
            "cpu_stall": None if self.cpu_stall is None else round(self.cpu_stall, 2),
        }


def cpu_stall_us() -> int | None:
    """Microseconds some task has waited for a CPU since boot: other load on a shared machine."""
    try:
        with open("/proc/pressure/cpu", encoding="ascii") as f:
            return int(f.readline().rsplit("total=", 1)[1])
    except (OSError, IndexError, ValueError):
        return None


Serve = Callable[[Job], Awaitable[tuple[float, int]]]
J = TypeVar("J")


async def run_clients(
    label: str,
    jobs: list[J],
    serve: Callable[[J], Awaitable[tuple[float, int]]],
    clients: int = CLIENTS,
) -> Run:
    """`clients` concurrent clients, each sending its next job as soon as the previous ends;
    `serve(job)` answers its time to first token and its completion tokens."""
    queue = list(reversed(jobs))
    ttft: list[float] = []
    tokens = 0

    async def client() -> None:
        nonlocal tokens
        while queue:
            first_token_s, completion_tokens = await serve(queue.pop())
            ttft.append(first_token_s)
            tokens += completion_tokens

    started, stall = time.perf_counter(), cpu_stall_us()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall_s, stall_end = time.perf_counter() - started, cpu_stall_us()
    share = None if stall is None or stall_end is None else (stall_end - stall) / 1e6 / wall_s
    run = Run(tokens, wall_s, ttft, share)
    print(f"{label:>28}: {run.figures()}", file=sys.stderr, flush=True)
    return run


async def timed(stream: RequestStream, started: float) -> tuple[float, int]:
    first = None
    async for _ in stream:
        first = first or time.perf_counter() - started
    completion = await stream.result()
    return first or time.perf_counter() - started, completion.completion_tokens


def batcher_serve(batcher: ContinuousBatcher) -> Serve:
    """Adapters loaded by name, never replaced: the name identifies the weights."""

    async def serve(job: Job) -> tuple[float, int]:
        started = time.perf_counter()
        params = SamplingParams(job.max_tokens)
        return await timed(batcher.submit(job.prompt, params, job.adapter, job.adapter), started)

    return serve


def residency_serve(batcher: ContinuousBatcher, residency: AdapterResidency) -> Serve:
    async def serve(job: Job) -> tuple[float, int]:
        started = time.perf_counter()
        async with residency.use(job.adapter or "") as choice:
            stream = batcher.submit(job.prompt, SamplingParams(job.max_tokens), choice.adapter_name)
            return await timed(stream, started)

    return serve


def peft_generate_serve(loaded: LoadedModel, worker: ThreadPoolExecutor) -> Serve:
    """One request at a time on one thread: set_adapter, then generate."""
    model = loaded.model

    def generate(job: Job) -> int:
        model.set_adapter(job.adapter)
        ids = torch.tensor([job.prompt], device=loaded.device)
        with torch.inference_mode():
            output = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=job.max_tokens,
                do_sample=False,
                pad_token_id=loaded.tokenizer.eos_token_id,
            )
        return int(output.shape[1] - ids.shape[1])

    async def serve(job: Job) -> tuple[float, int]:
        started = time.perf_counter()
        tokens = await asyncio.get_running_loop().run_in_executor(worker, generate, job)
        return time.perf_counter() - started, tokens  # no streaming: the first token comes last

    return serve


def static_batch_generate(loaded: LoadedModel, jobs: list[Job]) -> Run:
    """PEFT's `generate` on static batches of CLIENTS left-padded prompts, each row with its own
    adapter (PEFT's mixed batch); no streaming: a row's first token comes with its batch's end."""
    pad = loaded.tokenizer.eos_token_id
    tokens, ttft = 0, []
    started, stall = time.perf_counter(), cpu_stall_us()
    for first in range(0, len(jobs), CLIENTS):
        batch = jobs[first : first + CLIENTS]
        width = max(len(j.prompt) for j in batch)
        ids = torch.tensor([[pad] * (width - len(j.prompt)) + j.prompt for j in batch])
        mask = torch.tensor([[0] * (width - len(j.prompt)) + [1] * len(j.prompt) for j in batch])
        with torch.inference_mode():
            output = loaded.model.generate(
                input_ids=ids.to(loaded.device),
                attention_mask=mask.to(loaded.device),
                max_new_tokens=max(j.max_tokens for j in batch),
                do_sample=False,
                pad_token_id=pad,
                adapter_names=[j.adapter or BASE_ADAPTER for j in batch],
            )
        for row in output[:, width:].tolist():
            ends = [i for i, token in enumerate(row) if token in loaded.eos_token_ids]
            tokens += ends[0] + 1 if ends else len(row)
        ttft += [time.perf_counter() - started] * len(batch)
    wall_s, stall_end = time.perf_counter() - started, cpu_stall_us()
    share = None if stall is None or stall_end is None else (stall_end - stall) / 1e6 / wall_s
    run = Run(tokens, wall_s, ttft, share)
    print(f"{'peft generate, static batch':>28}: {run.figures()}", file=sys.stderr, flush=True)
    return run


def add_adapters(loaded: LoadedModel, folder: Path) -> list[str]:
    """ADAPTERS random LoRA adapters loaded in PEFT's model and saved under `folder`/<name>."""
    names = [f"bench{i}" for i in range(ADAPTERS)]
    for seed, name in enumerate(names):
        torch.manual_seed(seed)
        config = LoraConfig(r=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
        loaded.model.add_adapter(name, config)
        loaded.model.save_pretrained(folder, selected_adapters=[name])
    loaded.model.eval()
    return names


def load_both(config: EngineConfig, folder: Path) -> tuple[dict[str, LoadedModel], list[str]]:
    """The model twice, one per LoRA forward, with the same ADAPTERS adapters loaded in each."""
    peft = wrap_for_adapters(load_model(config.models[0], config))
    names = add_adapters(peft, folder)
    peft.model.set_adapter(PLACEHOLDER_ADAPTER)
    gathered = gather_adapters(load_model(config.models[0], config))
    for name in names:
        gathered.model.load_slot(name, read_adapter(folder / name))
    return {"gathered": gathered, "peft": peft}, names


def ratio(a: Run, b: Run) -> float:
    return round(a.tokens_per_s / b.tokens_per_s, 2)


def tutor_prompts(loaded: LoadedModel, count: int, distinct: bool) -> list[list[int]]:
    """The preprocessor's prompts for `count` grade 5 science questions; `distinct`: each starts
    with its own words, so no two share a prefix block."""
    pipeline = CurriculumPipeline(CurriculumConfig())
    prompts = []
    for i in range(count):
        body = {"prompt": f"{QUESTIONS[i % len(QUESTIONS)]} (question {i})", "grade_level": "5"}
        messages = pipeline.prepare(GenerateRequest.model_validate(body | SCIENCE)).messages
        if distinct:
            messages[0] = {"role": "system", "content": f"Session {i}. {messages[0]['content']}"}
        prompts.append(loaded.chat_prompt_ids(messages))
    return prompts


def shared_prefix(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))


async def prefix_reuse(
    loaded: LoadedModel, names: list[str], max_tokens: int, requests: int
) -> dict[str, Any]:
    """Prefix reuse on against off, each on its own batcher over the same model, in turns."""
    config = EngineConfig()
    blocks, max_bytes = config.prefix_block_tokens, config.prefix_cache_bytes
    cache = PrefixCache(loaded.name, block_tokens=blocks, max_bytes=max_bytes)
    on = ContinuousBatcher(loaded, max_batch_size=CLIENTS, batch_wait_ms=5, prefix_cache=cache)
    off = ContinuousBatcher(loaded, max_batch_size=CLIENTS, batch_wait_ms=5)
    result: dict[str, Any] = {}
    try:
        for label, distinct in [("shared", False), ("distinct", True)]:
            # the first ADAPTERS prompts warm each side (a serving replica's cache is warm)
            prompts = tutor_prompts(loaded, ADAPTERS + requests, distinct)
            jobs = [Job(p, max_tokens, names[i % ADAPTERS]) for i, p in enumerate(prompts)]
            warm, jobs, prompts = jobs[:ADAPTERS], jobs[ADAPTERS:], prompts[ADAPTERS:]
            await run_clients("warm-up", warm, batcher_serve(off))
            reuse_off = await run_clients(f"{label}: prefix reuse off", jobs, batcher_serve(off))
            await run_clients("warm-up", warm, batcher_serve(on))
            hits_before = cache.stats.hit_tokens
            reuse_on = await run_clients(f"{label}: prefix reuse on", jobs, batcher_serve(on))
            result[label] = {
                "prompt_tokens_mean": round(sum(map(len, prompts)) / len(prompts), 1),
                "shared_prefix_tokens": min(shared_prefix(prompts[0], p) for p in prompts[1:]),
                "off": reuse_off.figures(),
                "on": reuse_on.figures(),
                "hit_tokens_share": round(
                    (cache.stats.hit_tokens - hits_before) / sum(map(len, prompts)), 3
                ),
                "ttft_p50_off_over_on": round(
                    percentile(reuse_off.ttft_s, 50) / percentile(reuse_on.ttft_s, 50), 2
                ),
                "tokens_per_s_on_over_off": round(
                    reuse_on.tokens_per_s / reuse_off.tokens_per_s, 3
                ),
            }
        result["cache"] = vars(cache.stats) | {"block_tokens": blocks, "max_bytes": max_bytes}
    finally:
        on.close()
        off.close()
    return result


async def main(
    config: EngineConfig,
    max_tokens: int,
    students: int,
    requests: int,
    lru: int,
    work: Path,
    only_prefix: bool,
    per_run: int,
    questions: int,
) -> dict[str, Any]:
    """Every figure (or only prefix reuse's); adapters and the store go under `work`; the
    batcher, PEFT and mixed runs ask the first `questions` of QUESTIONS."""
    logging.getLogger("aivo.engine.residency").setLevel(logging.WARNING)  # one line per load
    if config.device in ("auto", "cpu"):
        torch.set_num_threads(config.torch_threads or os.cpu_count() or 1)
    models, names = load_both(config, work / "adapters")
    peft = models["peft"]
    prompts = [
        peft.chat_prompt_ids([{"role": "user", "content": q}]) for q in QUESTIONS[:questions]
    ]
    if only_prefix:
        figures = await prefix_reuse(models["gathered"], names, max_tokens, per_run)
        return {"dtype": str(peft.dtype), "max_tokens": max_tokens, "prefix_reuse": figures}
    batchers = {
        kind: ContinuousBatcher(loaded, max_batch_size=CLIENTS, batch_wait_ms=5)
        for kind, loaded in models.items()
    }
    serves = {kind: batcher_serve(batcher) for kind, batcher in batchers.items()}
    mixed = [Job(p, max_tokens, names[i % ADAPTERS]) for i, p in enumerate(prompts)]
    base = [Job(p, max_tokens, None) for p in prompts]
    for kind in KINDS:
        await run_clients(f"{kind} warm-up", mixed[:4], serves[kind])
    spec = config.models[0]
    result: dict[str, Any] = {
        "device": str(peft.device),
        "dtype": str(peft.dtype),
        "quantization": spec.quantization,
        "max_tokens": max_tokens,
        "load_average": os.getloadavg(),
    }

    with ThreadPoolExecutor(max_workers=1) as worker:
        one_at_a_time = await run_clients(
            "peft set_adapter+generate", mixed, peft_generate_serve(peft, worker)
        )
    peft.model.set_adapter(PLACEHOLDER_ADAPTER)
    static = static_batch_generate(peft, mixed)
    batched = {
        kind: await run_clients(f"{kind}, 8 adapters", mixed, serves[kind]) for kind in KINDS
    }
    result["batcher_vs_peft_generate"] = {
        **{kind: run.figures() for kind, run in batched.items()},
        "peft_set_adapter_generate": one_at_a_time.figures(),
        "peft_generate_static_batch": static.figures(),
        **{f"{kind}_speedup": ratio(batched[kind], one_at_a_time) for kind in KINDS},
        **{f"{kind}_over_static_batch": ratio(batched[kind], static) for kind in KINDS},
    }

    base_runs, mixed_runs = {}, {}
    for kind in KINDS:
        base_runs[kind] = await run_clients(f"{kind}, base only", base, serves[kind])
        mixed_runs[kind] = await run_clients(f"{kind}, 8 adapters", mixed, serves[kind])
    result["mixed_vs_base_only"] = {
        kind: {
            "mixed_8_adapters": mixed_runs[kind].figures(),
            "base_only": base_runs[kind].figures(),
            "ratio": ratio(mixed_runs[kind], base_runs[kind]),
        }
        for kind in KINDS
    }
    result["mixed_vs_base_only"]["target"] = 0.9

    # before the residency part below takes the named adapters out of the model
    result["prefix_reuse"] = await prefix_reuse(models["gathered"], names, max_tokens, per_run)

    lengths = [max(1, max_tokens * k // 2) for k in (1, 2, 4, 8, 16)]
    varied = [
        Job(prompts[i % len(prompts)], lengths[i % len(lengths)], names[i % ADAPTERS])
        for i in range(per_run)
    ]
    continuous = await run_clients("continuous", varied, serves["gathered"])
    window = ContinuousBatcher(
        models["gathered"], max_batch_size=CLIENTS, batch_wait_ms=5, join_running=False
    )
    window_only = await run_clients("window-only", varied, batcher_serve(window))
    window.close()
    result["continuous_vs_window_only"] = {
        "max_tokens": lengths,
        "continuous": continuous.figures(),
        "window_only": window_only.figures(),
        "ratio": ratio(continuous, window_only),
    }

    store = LocalAdapterStore(work / "store")
    for i in range(students):
        store.publish(f"student{i:03d}", work / "adapters" / names[i % ADAPTERS])
    residencies = {}
    for kind, batcher in batchers.items():  # from here on, only the residency loads adapters
        model = batcher.model
        await batcher.run_between_steps(lambda m=model: m.delete_slots(names))  # type: ignore[misc]
        residencies[kind] = AdapterResidency(store, batcher, work / kind, max_adapters=lru)
    through_lru = {kind: residency_serve(batchers[kind], r) for kind, r in residencies.items()}
    warm = [Job(prompts[0], 4, f"student{i:03d}") for i in range(CLIENTS)]

    def round_robin(count: int, requests: int, first: int = 0) -> list[Job]:
        return [
            Job(prompts[i % len(prompts)], max_tokens, f"student{(first + i) % count:03d}")
            for i in range(requests)
        ]

    result["many_students_vs_8"] = {
        "students": students,
        "requests": requests,
        "lru_max_adapters": lru,
        "target": 0.8,
    }
    for kind in KINDS:
        serve = through_lru[kind]
        await run_clients(f"{kind} residency warm-up", warm, serve)
        eight = await run_clients(f"{kind}, 8 students", round_robin(ADAPTERS, per_run), serve)
        sixteen = await run_clients(
            f"{kind}, 16 students, resident", round_robin(CLIENTS, per_run), serve
        )
        many = await run_clients(
            # from the first student no earlier run has used: every request is a miss
            f"{kind}, {students} students",
            round_robin(students, requests, CLIENTS),
            serve,
        )
        result["many_students_vs_8"][kind] = {
            "eight_students": eight.figures(),
            # a control: as many distinct adapters per batch as the many-student run, none loaded
            "sixteen_resident_students": sixteen.figures(),
            "many_students": many.figures(),
            "ratio": ratio(many, eight),
            "ratio_to_sixteen_resident": ratio(many, sixteen),
        }
        await residencies[kind].wait_idle()
    for batcher in batchers.values():
        batcher.close()
    return result


def engine_config(device: str, dtype: str, quantization: str) -> EngineConfig:
    spec = {"name": BUNDLED_MODEL, "dtype": dtype, "quantization": quantization}
    return EngineConfig.model_validate({"models": [spec], "device": device})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--requests", type=int, help="of the many students (default: all)")
    parser.add_argument("--lru", type=int, default=32, help="adapters kept resident")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--quantization", default="none", choices=["none", "nf4"])
    parser.add_argument("--result-name", default="batching", help="bench/results/<name>.json")
    parser.add_argument("--only-prefix", action="store_true", help="only prefix reuse on/off")
    parser.add_argument(
        "--per-run",
        type=int,
        default=2 * CLIENTS,
        help="requests in each prefix, continuous and 8/16-student run (default: 2 per client)",
    )
    parser.add_argument(
        "--questions",
        type=int,
        choices=range(1, len(QUESTIONS) + 1),
        default=len(QUESTIONS),
        metavar=f"1..{len(QUESTIONS)}",
        help="of QUESTIONS, asked in the batcher, PEFT and mixed runs (default: all)",
    )
    args = parser.parse_args()
    config = engine_config(args.device, args.dtype, args.quantization)
    with tempfile.TemporaryDirectory(prefix="aivo-bench-") as work:
        requests = args.requests or args.students
        result = asyncio.run(
            main(
                config,
                args.max_tokens,
                args.students,
                requests,
                args.lru,
                Path(work),
                args.only_prefix,
                args.per_run,
                args.questions,
            )
        )
    write_result(args.result_name, result)
