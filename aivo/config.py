"""Every setting of the application, as strict pydantic models.

`AppConfig` is the `args` block of a Serve config file (`configs/*.yaml`); `build_app` validates
it once at start-up, so an unknown key or a bad value fails before anything is deployed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, cast

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aivo.errors import validation_problems
from aivo.schemas import MAX_PROMPT_CHARS, MAX_TOKENS

BUNDLED_MODEL = "bundled:smollm2-135m-instruct"
DEFAULT_CACHE_DIR = Path(os.path.expanduser("~/.cache/aivo"))
# Pins what `dtype: auto` means on this machine (a node pool's CPU kind; the test suite per dtype).
DTYPE_ENV = "AIVO_DTYPE"
Dtype = Literal["auto", "float32", "bfloat16", "float16"]
# Redis connection secrets come only from the environment (KubeRay passes them from a Secret).
REDIS_URL_ENV = "AIVO_REDIS_URL"
REDIS_USERNAME_ENV = "AIVO_REDIS_USERNAME"
REDIS_PASSWORD_ENV = "AIVO_REDIS_PASSWORD"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _absolute(path: Path | None) -> Path | None:
    # Resolved where the config is parsed (the driver), so replicas agree whatever their cwd.
    return None if path is None else path.expanduser().absolute()


class ModelSpec(Strict):
    name: str = Field(
        description="Hugging Face id, local folder, or `bundled:smollm2-135m-instruct`.",
        min_length=1,
    )
    quantization: Literal["none", "nf4"] = Field(
        "none", description="`nf4` loads the weights in 4 bits with bitsandbytes."
    )
    dtype: Dtype = Field(
        "auto",
        validate_default=True,
        description="`auto`: bf16 on CUDA, and on CPUs where it is native and measured faster, "
        f"else fp32; the environment variable {DTYPE_ENV} pins what `auto` means.",
    )

    @field_validator("dtype")
    @classmethod
    def _pinned_auto(cls, dtype: Dtype) -> Dtype:
        pinned = os.environ.get(DTYPE_ENV, "auto")
        if dtype != "auto" or pinned == "auto":
            return dtype
        if pinned not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"{DTYPE_ENV}={pinned!r}: use auto, float32, bfloat16 or float16")
        return cast(Dtype, pinned)


class SecretSource(Strict):
    """Where a secret comes from: an environment variable, or a development file."""

    env: str = Field(description="Environment variable holding the secret (32+ characters).")
    file: Path | None = Field(
        None,
        description="Development on one machine only: with the variable unset, the secret is "
        "kept in this file (created with mode 0600 on first use, with a warning).",
    )

    _file_absolute = field_validator("file")(_absolute)


class EngineConfig(Strict):
    models: list[ModelSpec] = Field(
        default_factory=lambda: [ModelSpec(name=BUNDLED_MODEL)],
        min_length=1,
        description="The fallback chain: the first model that loads serves; the rest stand by.",
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        "auto", description="`auto`: CUDA, else MPS, else CPU."
    )
    torch_threads: int | None = Field(
        None, ge=1, description="torch intra-op threads; default: every core of the node."
    )
    cache_dir: Path = Field(
        DEFAULT_CACHE_DIR,
        description="Where converted models (the bundled GGUF as safetensors) are kept.",
    )
    max_batch_size: int = Field(16, ge=1, le=256, description="Rows in one forward pass.")
    batch_wait_ms: float = Field(
        5.0, ge=0, le=1000, description="How long a batch waits to fill before it runs."
    )
    max_queued_requests: int = Field(
        128, ge=1, description="Requests waiting past this answer 503 with Retry-After."
    )
    max_adapters: int = Field(
        32, ge=1, description="Student adapters resident per replica (an LRU bounded by count)."
    )
    max_adapter_bytes: int = Field(
        512 * 2**20, ge=1, description="Bytes of resident adapter weights per replica."
    )
    prefix_cache: bool = Field(
        True,
        description="Reuse the KV state of prompt prefixes computed earlier under the same model "
        "and adapter version: a request prefills only what follows its longest cached prefix.",
    )
    prefix_cache_bytes: int = Field(
        256 * 2**20, ge=1, description="Bytes of prefix KV kept per model (least recently used go)."
    )
    prefix_block_tokens: int = Field(
        16, ge=1, le=1024, description="Tokens per cached prefix block: prefixes match by block."
    )
    weight_first_matmul: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Multiply a decoding step's few rows weight-first on CPU, (W x^T)^T: `auto` "
        "where a probe of the model's own layers at load measures it faster (see "
        "aivo/engine/weight_first.py).",
    )
    request_timeout_s: float = Field(30.0, gt=0, description="Per-request generation timeout.")
    breaker_failures: int = Field(
        3, ge=1, description="Consecutive failed generations that open a model's circuit."
    )
    breaker_reset_s: float = Field(
        30.0, gt=0, description="How long an open circuit waits before one request retries it."
    )

    repetition_penalty: float = Field(
        1.15,
        ge=1.0,
        le=2.0,
        description="CTRL/HF repetition penalty on the tokens an answer already generated "
        "(1: off); every request gets it. 1.15 ended the bundled model's measured loops.",
    )
    no_repeat_ngram_size: int = Field(
        0,
        ge=0,
        le=64,
        description="Ban a token that would repeat an n-gram of this size the answer already "
        "generated (0: off); every request gets it. Off by default: a math answer restates "
        "'7 x 8 = 56' (7 tokens), and 8+ token repeats are the loop detector's.",
    )

    _cache_dir_absolute = field_validator("cache_dir")(_absolute)


class CacheConfig(Strict):
    redis_url: str | None = Field(
        None,
        description=f"redis://host:port/db, or rediss:// for TLS; ${REDIS_URL_ENV} wins when "
        f"set. Credentials come from ${REDIS_USERNAME_ENV} and ${REDIS_PASSWORD_ENV}. Neither "
        "set: the in-process cache (embedded default).",
    )
    tls_ca_file: Path | None = Field(
        None, description="rediss://: the CA bundle that signed Redis's certificate."
    )
    tls_cert_file: Path | None = Field(
        None, description="rediss://: this client's certificate, when Redis asks for one."
    )
    tls_key_file: Path | None = Field(None, description="rediss://: the key of tls_cert_file.")
    mac_key: SecretSource = Field(
        default_factory=lambda: SecretSource(env="AIVO_CACHE_MAC_KEY"),
        description="The secret that signs every answer cached in Redis: an entry without a "
        "valid MAC (planted by whoever can write to Redis) is never served.",
    )

    _tls_absolute = field_validator("tls_ca_file", "tls_cert_file", "tls_key_file")(_absolute)
    ttl_s: int = Field(86_400, ge=1, description="Time to live of a cached answer.")
    max_entries: int = Field(10_000, ge=1, description="Bound of the in-process cache.")
    hot_entries: int = Field(
        0, ge=0, description="Size of an in-process tier in front of Redis (0: none)."
    )
    cache_sampled: bool = Field(
        False, description="Also cache answers of requests with temperature > 0."
    )
    connect_timeout_s: float = Field(0.25, gt=0, description="Redis connect timeout.")
    socket_timeout_s: float = Field(0.25, gt=0, description="Redis per-command timeout.")
    breaker_failures: int = Field(
        3, ge=1, description="Consecutive Redis failures that open the circuit."
    )
    breaker_reset_s: float = Field(
        5.0, gt=0, description="How long an open circuit waits before it probes Redis again."
    )


class StorageConfig(Strict):
    adapter_root: str = Field(
        "var/adapters",
        validate_default=True,  # a default folder too is resolved where the config is parsed
        description="`s3://bucket/prefix` or a local folder for student adapters.",
    )
    s3_endpoint_url: str | None = Field(None, description="S3 endpoint, e.g. a MinIO server.")
    s3_region: str | None = Field(None, description="S3 region name.")
    dataset_root: str = Field(
        "var/datasets",
        validate_default=True,
        description="`s3://bucket/prefix` or a local folder for training data sent with clones.",
    )
    dataset_retention_days: float = Field(
        30, gt=0, description="Stored training data older than this is removed."
    )

    @field_validator("adapter_root", "dataset_root")
    @classmethod
    def _local_root_absolute(cls, root: str) -> str:
        return root if "://" in root else str(_absolute(Path(root)))


class CurriculumConfig(Strict):
    max_standards: int = Field(3, ge=0, le=10, description="Standards returned per answer.")
    min_score: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Standards scoring below this are not returned (off-topic prompts score "
        "under about 0.13, correct matches above about 0.3).",
    )
    torch_threads: int = Field(
        1, ge=1, description="torch threads of the embedding model; one prompt is a small pass."
    )


class TutoringConfig(Strict):
    checks: bool = Field(
        True,
        description="The math checker with its corrections, the answer audit, the leak check, "
        "repetition controls and plain-language rewriting. Off only to measure what they do "
        "(bench/tutor_quality.py).",
    )
    key_ideas: bool = Field(
        True,
        description="Answer a question on a vetted key idea's topic with its text "
        "(aivo/curriculum/data/key_ideas.jsonl), not the model's; off, the model answers (for "
        "a model in the chain that explains well). Needs `checks`.",
    )


class SecurityConfig(Strict):
    api_keys_env: str = Field(
        "AIVO_API_KEYS", description="Environment variable holding the key entries (JSON list)."
    )
    api_keys_file: Path | None = Field(
        None, description="Secrets file with the key entries (JSON list of salted hashes)."
    )
    dev_key_file: Path | None = Field(
        None,
        description="With no keys configured: keep a development key (all scopes, tenant `dev`) "
        "in this file (mode 0600). Only for a service bound to loopback; never printed.",
    )
    metrics_require_key: bool = Field(
        False, description="Protect /metrics with a metrics:read key."
    )
    requests_per_minute: int = Field(
        600, ge=1, description="Requests one tenant's keys may send a minute."
    )
    max_concurrent_streams: int = Field(
        8, ge=1, description="Streams one tenant may hold open at once (per ingress replica)."
    )
    tokens_per_minute: int = Field(
        100_000, ge=1, description="Completion tokens one tenant may have generated a minute."
    )
    max_body_bytes: int = Field(65_536, ge=1024, description="Larger request bodies answer 413.")
    body_read_timeout_s: float = Field(
        10.0, gt=0, description="A request body not received within this time answers 408."
    )
    max_prompt_chars: int = Field(
        MAX_PROMPT_CHARS,
        ge=1,
        le=MAX_PROMPT_CHARS,
        description=f"Hard cap on a prompt's length (the contract's is {MAX_PROMPT_CHARS}).",
    )
    max_tokens: int = Field(
        MAX_TOKENS,
        ge=1,
        le=MAX_TOKENS,
        description=f"Hard cap on max_tokens (the contract's is {MAX_TOKENS}).",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed to call the API from a browser."
    )
    pseudonym_key: SecretSource = Field(
        default_factory=lambda: SecretSource(env="AIVO_PSEUDONYM_KEY"),
        description="The secret of the keyed pseudonyms (HMAC-SHA256) that stand for student "
        "ids wherever an id would leave a request: logs, metric labels, routing, jobs, cache "
        "keys. Every process of a deployment must share it.",
    )

    _paths_absolute = field_validator("api_keys_file", "dev_key_file")(_absolute)


class DeploymentOptions(Strict):
    """The Serve options of one deployment (a subset of `serve.deployment`'s)."""

    num_replicas: int | Literal["auto"] | None = Field(
        None, description="Fixed replica count, or `auto`; unset when autoscaling_config is set."
    )
    num_cpus: float = Field(1.0, ge=0, description="CPUs reserved per replica.")
    num_gpus: float = Field(0.0, ge=0, description="GPUs reserved per replica.")
    max_ongoing_requests: int = Field(64, ge=1, description="Requests a replica takes at once.")
    autoscaling_config: dict[str, Any] | None = Field(
        None, description="Serve's autoscaling_config, passed through as it is."
    )
    health_check_period_s: float = Field(10.0, gt=0, description="Serve health-check period.")
    graceful_shutdown_wait_loop_s: float = Field(
        0.5,
        gt=0,
        description="How often a stopping replica checks that its requests have finished "
        "(Serve's default, 2 s, is also the least a stop takes).",
    )

    def serve_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "ray_actor_options": {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus},
            "max_ongoing_requests": self.max_ongoing_requests,
            "health_check_period_s": self.health_check_period_s,
            "graceful_shutdown_wait_loop_s": self.graceful_shutdown_wait_loop_s,
        }
        if self.autoscaling_config is not None:
            options["autoscaling_config"] = self.autoscaling_config
        elif self.num_replicas is not None:
            options["num_replicas"] = self.num_replicas
        return options


class CloneConfig(Strict):
    dashboard_address: str | None = Field(
        None, description="Ray dashboard for job submission; unset: this cluster's own."
    )
    max_examples: int = Field(5000, ge=1, description="Examples one clone request may send.")
    max_concurrent_jobs: int = Field(
        2, ge=1, description="Clone jobs running at once; more answer 429 with Retry-After."
    )
    stop_timeout_s: float = Field(
        120,
        gt=0,
        description="How long deleting a student waits for their running clone job to stop "
        "before answering 503 (a retry waits again).",
    )


class TrainingConfig(Strict):
    """A LoRA clone: the adapter's shape, the training run and the publish gate."""

    rank: int = Field(8, ge=1, le=256, description="LoRA rank r of every adapted layer.")
    alpha: int = Field(16, ge=1, description="LoRA alpha; the update is scaled by alpha/r.")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input in training.")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        min_length=1,
        description="Names of the base model's linear layers that get a LoRA adapter.",
    )
    steps: int = Field(
        60, ge=0, description="Optimizer steps; the training split is reshuffled each epoch."
    )
    learning_rate: float = Field(1e-3, ge=0, description="AdamW learning rate (constant).")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay of the LoRA weights.")
    batch_size: int = Field(8, ge=1, le=256, description="Examples per micro-batch.")
    gradient_accumulation: int = Field(
        1, ge=1, le=64, description="Micro-batches summed into one optimizer step."
    )
    max_grad_norm: float = Field(1.0, gt=0, description="Gradients are clipped to this norm.")
    max_seq_length: int = Field(
        256, ge=16, le=8192, description="Tokens kept per example; longer ones are cut at the end."
    )
    # fp32 by default: bf16 autocast trained 3x slower on the 2-core CPUs (a cast per op)
    compute_dtype: Literal["float32", "bfloat16"] = Field(
        "float32",
        description="Weights stay fp32; `bfloat16` runs the forward pass under CPU/CUDA autocast.",
    )
    seed: int = Field(0, ge=0, description="Seeds the split, the shuffling, LoRA init and dropout.")
    eval_fraction: float = Field(
        0.2, gt=0, lt=1, description="Share of examples held out to evaluate before and after."
    )
    min_improvement: float = Field(
        0.0,
        ge=0,
        description="Held-out loss (nats/token) must fall by more than this to publish.",
    )
    cpus_per_student: int = Field(
        1, ge=1, description="CPUs each student's cloner actor reserves and uses as torch threads."
    )
    log_every: int = Field(5, ge=1, description="Steps between progress log lines.")


class DeploymentsConfig(Strict):
    ingress: DeploymentOptions = Field(
        default_factory=lambda: DeploymentOptions(num_cpus=0.25, max_ongoing_requests=256)
    )
    preprocessor: DeploymentOptions = Field(
        default_factory=lambda: DeploymentOptions(num_cpus=0.25, max_ongoing_requests=128)
    )
    clone_coordinator: DeploymentOptions = Field(
        default_factory=lambda: DeploymentOptions(num_cpus=0.1, max_ongoing_requests=32)
    )
    inference: DeploymentOptions = Field(
        default_factory=lambda: DeploymentOptions(num_cpus=1.0, max_ongoing_requests=128)
    )


class AppConfig(Strict):
    # Built per config, not at import: the defaults read the environment (AIVO_DTYPE).
    engine: EngineConfig = Field(default_factory=EngineConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    curriculum: CurriculumConfig = Field(default_factory=CurriculumConfig)
    tutoring: TutoringConfig = Field(default_factory=TutoringConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    clone: CloneConfig = Field(default_factory=CloneConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    deployments: DeploymentsConfig = Field(default_factory=DeploymentsConfig)

    @field_validator("engine")
    @classmethod
    def _unique_models(cls, engine: EngineConfig) -> EngineConfig:
        names = [m.name for m in engine.models]
        if len(set(names)) != len(names):
            raise ValueError("engine.models lists a model twice")
        return engine


class ConfigError(ValueError):
    """A configuration that cannot start: the message names each bad key."""


def parse_config(args: dict[str, Any] | None) -> AppConfig:
    try:
        return AppConfig.model_validate(args or {})
    except ValidationError as error:
        raise ConfigError(f"invalid AIVO config: {validation_problems(error.errors())}") from None


def load_serve_config(path: str | Path) -> AppConfig:
    """The `args` of the first application in a Serve config file."""
    with open(path, encoding="utf-8") as f:
        document = yaml.safe_load(f) or {}
    applications = document.get("applications") or []
    if not applications:
        raise ConfigError(f"{path}: no `applications` entry")
    return parse_config(applications[0].get("args"))
