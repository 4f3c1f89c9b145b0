"""What a learner reads, with the tutoring checks on and off, through HTTP on the bundled model.

    python -m bench.tutor_quality [--items FILE] [--every 1] [--limit N] [--concurrency 8]
        [--max-tokens 160]

Two copies of the local graph run side by side on one local Ray cluster: `on` is the default
config; `off` is the same pipeline with `tutoring.checks: false` (no math checker, corrections,
answer audit, leak check or plain-language rewriting) and the batcher's repetition controls
neutral. Every item of `bench/data/tutor_quality.jsonl` (hand-written, labelled; `--items`:
another such file, e.g. `bench/data/computations_labelled.jsonl`) goes to both, in alternating
rounds of `concurrency` requests so that both meet the same machine load. The
answers are scored here against the labels, with the same rules for both sides:

- final answers correct: explain items whose text states the labelled answer as its final one;
- answers corrected: responses whose `verification.corrected` is true;
- hints revealing the answer: hint items whose text states the labelled answer anywhere;
- check-mode mistakes identified: wrong learner answers met with a "not right" reply and no
  affirmation; right ones confirmed likewise;
- unsolved computations stating unchecked numbers: unlabelled items that ask for a computation
  (`asks_computation`) whose answer states a number that is neither the question's nor the
  result of a true calculation on those (or a false calculation); answers of a key idea's vetted
  text (counted apart) are left out, as their numbers were checked when the text was written;
- system-prompt leaks: answers that read back an instruction of their prompt (6 words in a
  row), a tag or chat marker, or the request's canary;
- repetitive answers: a sentence of 4+ words said twice, or under 60 % distinct word 4-grams;
- in reading band: the answer's Flesch-Kincaid grade within its grade's band, over answers
  with enough prose to measure (`reading_level.within_band` null: too short, counted apart);
  the same over every answer whatever its length (the measure before that rule) is printed too;
- latency: p50 of each side and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import ray
import sympy
from ray import serve

from aivo.config import load_serve_config, parse_config
from aivo.curriculum.prompting import build_prompt
from aivo.curriculum.readability import reading_level
from aivo.safety.leaks import LeakCheck
from aivo.schemas import GenerateRequest, Subject, grade_number
from aivo.tutoring import answer_is_correct, mentions_answer
from aivo.tutoring.audit import asks_computation, audit_numbers, given_numbers
from aivo.tutoring.solution import Solution
from bench.graph_overhead import CONFIG
from bench.loadgen import RESULTS, bearer, percentile, write_result
from deployments.builder import build_app
from support.ports import free_port

ITEMS = Path(__file__).parent / "data" / "tutor_quality.jsonl"
SIDES = ("on", "off")
_NEGATIVE = re.compile(
    r"\b(?:not quite|not (?:yet )?(?:right|correct)|incorrect|wrong|try (?:it )?again|"
    r"look again|mistake|almost|close,? but)\b",
    re.I,
)
_AFFIRM = re.compile(r"^\W*(?:yes|correct|right|that's right|great|well done|good job)\b", re.I)


def load_items(path: Path, limit: int | None, every: int) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    items = [json.loads(line) for line in lines if line.strip()][::every]
    return items[:limit] if limit else items


def request_body(item: dict[str, Any], max_tokens: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt": item["prompt"],
        "grade_level": item["grade"],
        "subject": item["subject"],
        "mode": item.get("mode", "explain"),
        "max_tokens": max_tokens,
    }
    for field in ("student_answer", "learning_style", "accommodations"):
        if item.get(field) is not None:
            body[field] = item[field]
    return body


def labelled_solution(item: dict[str, Any]) -> Solution:
    """The item's label in the checker's terms, so its answer readers score the text (the
    checker's own reading of the question plays no part)."""
    answer = sympy.Rational(item["answer"])
    variable = item.get("variable")
    percent = item["kind"] == "percent_what"
    return Solution(
        kind="equation" if variable else "labelled",
        problem=item["prompt"],
        answer=answer,
        answer_text=f"{variable} = {item['answer']}" if variable else item["answer"],
        steps=(),
        unit="%" if percent else None,
    )


def leaks(item: dict[str, Any], text: str, max_tokens: int) -> bool:
    request = GenerateRequest.model_validate(request_body(item, max_tokens))
    prompt = build_prompt(request, request.prompt, [])
    return LeakCheck.of(prompt.instructions, prompt.canary, prompt.labels).leaks(text)


def repetitive(text: str) -> bool:
    sentences = [
        " ".join(s.lower().split()) for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()
    ]
    long_ones = [s for s in sentences if len(s.split()) >= 4]
    if len(long_ones) != len(set(long_ones)):
        return True
    words = re.findall(r"\w+", text.lower())
    grams = [tuple(words[i : i + 4]) for i in range(len(words) - 3)]
    return len(words) >= 20 and len(set(grams)) < 0.6 * len(grams)


def score(item: dict[str, Any], reply: dict[str, Any], max_tokens: int) -> dict[str, Any]:
    """One answer's scores; `reply` is the response body, or {"rejected": code}."""
    scored: dict[str, Any] = {"id": item["id"], "kind": item["kind"], "mode": item.get("mode")}
    if "text" not in reply:
        scored["rejected"] = reply.get("rejected", "error")
        return scored
    text = reply["text"]
    scored["latency_s"] = reply["latency_s"]
    scored["text"] = text
    scored["leak"] = leaks(item, text, max_tokens)
    scored["repetitive"] = repetitive(text)
    level = reading_level(text, grade_number(item["grade"]))
    scored["in_band"] = level.within_band  # None: too little prose to measure
    scored["too_short_to_measure"] = level.within_band is None
    low, high = level.target_band
    scored["in_band_any_length"] = low <= max(level.flesch_kincaid_grade, 0.0) <= high
    scored["corrected"] = bool((reply.get("verification") or {}).get("corrected"))
    scored["vetted"] = reply.get("key_idea") is not None  # a key idea's text, fact-checked
    asks = asks_computation(item["prompt"], Subject(item["subject"]))
    if "answer" not in item and asks and not scored["vetted"]:
        vouched = given_numbers(item["prompt"])
        scored["unchecked_number"] = audit_numbers(text, vouched) is not None
    if "answer" in item:
        solution = labelled_solution(item)
        mode = item.get("mode", "explain")
        if mode == "explain":
            scored["correct"] = answer_is_correct(text, solution) is True
        elif mode == "hint":
            scored["reveals"] = mentions_answer(text, solution)
        else:
            negative = bool(_NEGATIVE.search(text)) and not _AFFIRM.search(text)
            affirmed = bool(_AFFIRM.search(text)) and not _NEGATIVE.search(text)
            scored["judged_right"] = negative if not item["student_correct"] else affirmed
            scored["student_correct"] = item["student_correct"]
    return scored


def share(rows: list[dict[str, Any]], field: str, where: Any = None) -> dict[str, Any]:
    chosen = [r for r in rows if r.get(field) is not None and (where is None or where(r))]
    hits = sum(1 for r in chosen if r[field])
    return {
        "count": hits,
        "of": len(chosen),
        "share": round(hits / len(chosen), 4) if chosen else None,
    }


def _wrong_answer(row: dict[str, Any]) -> bool:
    return not row["student_correct"]


def _right_answer(row: dict[str, Any]) -> bool:
    return bool(row["student_correct"])


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    answered = [r for r in rows if "latency_s" in r]
    latencies = [r["latency_s"] for r in answered]
    return {
        "final_answers_correct": share(rows, "correct"),
        "answers_corrected": share(rows, "corrected"),
        "hints_revealing_answer": share(rows, "reveals"),
        "check_mistakes_identified": share(
            rows, "judged_right", lambda r: not r["student_correct"]
        ),
        "check_right_answers_confirmed": share(
            rows, "judged_right", lambda r: r["student_correct"]
        ),
        "unsolved_computations_stating_unchecked_numbers": share(rows, "unchecked_number"),
        "answered_with_vetted_key_idea_text": share(rows, "vetted"),
        "system_prompt_leaks": share(rows, "leak"),
        "repetitive_answers": share(rows, "repetitive"),
        "in_reading_band": share(rows, "in_band"),
        "reading_too_short_to_measure": share(rows, "too_short_to_measure"),
        "in_reading_band_any_length": share(rows, "in_band_any_length"),
        "rejected": sum(1 for r in rows if "rejected" in r),
        "p50_latency_s": round(percentile(latencies, 50), 3) if latencies else None,
        "mean_latency_s": round(statistics.fmean(latencies), 3) if latencies else None,
    }


async def ask(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    started = time.perf_counter()
    r = await client.post(path, json=body, headers=headers)
    if r.status_code != 200:
        code = r.json().get("error", {}).get("code", str(r.status_code))
        return {"rejected": f"{r.status_code} {code}"}
    return {**r.json(), "latency_s": time.perf_counter() - started}


async def run(
    url: str, headers: dict[str, dict[str, str]], items: list[dict[str, Any]], args: Any
) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        for start in range(0, len(items), args.concurrency):
            chunk = items[start : start + args.concurrency]
            for side in SIDES if (start // args.concurrency) % 2 == 0 else SIDES[::-1]:
                replies = await asyncio.gather(
                    *(
                        ask(
                            client,
                            f"/{side}/v1/generate",
                            request_body(item, args.max_tokens),
                            headers[side],
                        )
                        for item in chunk
                    )
                )
                for item, reply in zip(chunk, replies, strict=True):
                    rows[side].append(score(item, reply, args.max_tokens))
            print(f"{start + len(chunk)}/{len(items)} items", flush=True)
    return rows


def side_config(side: str, folder: Path) -> Any:
    args = load_serve_config(CONFIG).model_dump(mode="json")
    args["security"]["dev_key_file"] = str(folder / f"{side}-key")
    args["security"]["requests_per_minute"] = 10**6
    args["engine"]["request_timeout_s"] = 600
    args["storage"]["adapter_root"] = str(folder / "adapters")
    if side == "off":
        args["tutoring"] = {"checks": False}
        args["engine"]["repetition_penalty"] = 1.0  # the batcher's loop detector stays on
    return parse_config(args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=Path, default=ITEMS, help="a labelled JSONL file")
    parser.add_argument("--limit", type=int, default=None, help="first N items only")
    parser.add_argument("--every", type=int, default=1, help="every Nth item (a quick sample)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=160)
    args = parser.parse_args()
    items = load_items(args.items, args.limit, args.every)
    port = free_port()
    ray.init(include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            configs = {side: side_config(side, folder) for side in SIDES}
            for side, config in configs.items():
                serve.run(build_app(config), name=side, route_prefix=f"/{side}")
            headers = {side: bearer(folder / f"{side}-key") for side in SIDES}
            started = time.perf_counter()
            rows = asyncio.run(run(f"http://127.0.0.1:{port}", headers, items, args))
            wall = time.perf_counter() - started
    finally:
        serve.shutdown()
        ray.shutdown()
    results = {side: summary(rows[side]) for side in SIDES}
    on, off = results["on"]["p50_latency_s"], results["off"]["p50_latency_s"]
    name = "tutor_quality" if args.items == ITEMS else f"tutor_quality_{args.items.stem}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}_rows.json").write_text(json.dumps(rows, indent=1) + "\n")
    write_result(
        name,
        {
            "items": len(items),
            "concurrency": args.concurrency,
            "max_tokens": args.max_tokens,
            "wall_s": round(wall, 1),
            "on": results["on"],
            "off": results["off"],
            "p50_latency_ratio_on_vs_off": round(on / off, 3) if on and off else None,
            "items_file": str(args.items),
            "rows": str(RESULTS / f"{name}_rows.json"),
        },
    )


if __name__ == "__main__":
    main()
