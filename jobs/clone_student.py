"""Clone students' LoRA adapters on a Ray cluster: train, evaluate on held-out data, publish.

    RAY_AUTH_MODE=token ray job submit --working-dir . -- python jobs/clone_student.py \\
        --student-id s-123 --dataset s3://bucket/datasets/s-123.jsonl \\
        [--student-id s-456 --dataset ./s-456.jsonl ...] --config configs/serve.gpu.yaml \\
        [--adapter-root s3://bucket/adapters] [--s3-endpoint-url http://minio:9000] \\
        [--steps 60] [--batch-size 8] [--learning-rate 1e-3] [--seed 0]

The CloneCoordinator passes `--job-config` instead: the running application's config (model
chain, storage, training), whole, so a clone trains on the model the replicas serve. It names
no student: each dataset it stored has its owner's id beside it, which the job reads.

Prints one JSON line per student: {"event": "clone_result", "student" (a pseudonym), "status"
(published | not_published | failed), "version", "reason", "error_code", "metrics",
"durations_s"}. Exits 1 when a clone failed, 2 when the command itself is wrong.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import ray
from pydantic import ValidationError

from aivo.config import ConfigError
from aivo.error_tracking import init_error_tracking
from aivo.errors import AivoError, validation_problems
from aivo.security.pseudonyms import key_pseudonyms
from aivo.training.job import (
    clone_job_config,
    clone_requests,
    failed,
    run_clone_job,
    stored_owner,
)
from aivo.training.results import summary_line
from aivo.training.settings import CloneJobConfig


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    cli.add_argument(
        "--student-id",
        action="append",
        help="Repeat per student; omit for datasets the service stored (it keeps their owner).",
    )
    cli.add_argument(
        "--dataset", action="append", required=True, help="s3://bucket/key or a path, per student."
    )
    given = cli.add_mutually_exclusive_group()
    given.add_argument(
        "--config",
        help="The Serve config of the application being served (its model chain, storage and "
        "training); no default, so a clone never trains against another config's model.",
    )
    given.add_argument("--job-config", help="The whole job config as JSON; no overrides apply.")
    cli.add_argument("--adapter-root", help="Overrides storage.adapter_root.")
    cli.add_argument("--s3-endpoint-url", help="Overrides storage.s3_endpoint_url (MinIO, tests).")
    cli.add_argument("--steps", type=int, help="Optimizer steps per student.")
    cli.add_argument("--batch-size", type=int, help="Examples per micro-batch.")
    cli.add_argument("--learning-rate", type=float, help="AdamW learning rate.")
    cli.add_argument("--seed", type=int, help="Seed of split, shuffling, init and dropout.")
    return cli


def training_overrides(args: argparse.Namespace) -> dict[str, Any]:
    given = {
        "steps": args.steps,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "seed": args.seed,
    }
    return {key: value for key, value in given.items() if value is not None}


def job_config(args: argparse.Namespace) -> CloneJobConfig:
    if args.job_config is None and args.config is None:
        raise ConfigError("give --config (the Serve config being served) or --job-config")
    if args.job_config is None:
        return clone_job_config(
            args.config,
            adapter_root=args.adapter_root,
            s3_endpoint_url=args.s3_endpoint_url,
            training=training_overrides(args),
        )
    if args.adapter_root or args.s3_endpoint_url or training_overrides(args):
        raise ConfigError("--job-config is whole: give no overrides with it")
    return CloneJobConfig.model_validate_json(args.job_config)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        init_error_tracking("clone_job")
        config = job_config(args)
        key_pseudonyms(config.pseudonym_key)
        student_ids = args.student_id or [stored_owner(d, config.storage) for d in args.dataset]
        requests = clone_requests(student_ids, args.dataset)
    except (AivoError, ConfigError, OSError, ValidationError) as error:
        print(f"clone_student: {one_line(error)}", file=sys.stderr)
        return 2
    ray.init()  # inside a Ray job: the job's cluster; run by hand: a local one
    summaries = run_clone_job(config, requests)
    for summary in summaries:
        # one write per line: Ray's log forwarding prints from another thread, and print()
        # writes the text and its newline separately, so a forwarded line could split a summary
        sys.stdout.write(summary_line(summary) + "\n")
        sys.stdout.flush()
    failures = failed(summaries)
    if failures:
        reasons = "; ".join(f"{s['error_code']}: {s['reason']}" for s in failures)
        print(
            f"clone_student: {len(failures)} of {len(summaries)} clones failed: {reasons}",
            file=sys.stderr,
        )
        return 1
    return 0


def one_line(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return validation_problems(error.errors())
    return str(error).splitlines()[0] if str(error) else type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
