"""The one place where the graph is composed: `serve run configs/serve.yaml` points here."""

from __future__ import annotations

from typing import Any

from ray import serve
from ray.serve import Application

from aivo.config import AppConfig, DeploymentOptions, parse_config
from deployments.clone_coordinator import CloneCoordinator
from deployments.inference import InferenceReplica
from deployments.ingress import Ingress
from deployments.preprocessor import CurriculumPreprocessor


def _deployment(cls: type, options: DeploymentOptions) -> Any:
    return serve.deployment(cls, name=cls.__name__, **options.serve_options())


def build_app(args: dict[str, Any] | AppConfig | None = None) -> Application:
    config = args if isinstance(args, AppConfig) else parse_config(args)
    options = config.deployments
    inference = _deployment(InferenceReplica, options.inference).bind(config)
    preprocessor = _deployment(CurriculumPreprocessor, options.preprocessor).bind(config)
    coordinator = _deployment(CloneCoordinator, options.clone_coordinator).bind(config)
    ingress = _deployment(serve.ingress()(Ingress), options.ingress)
    return ingress.bind(config, preprocessor, inference, coordinator)
