"""Ingress: the HTTP front of the graph, a thin wrapper that serves the tutor service's API with
Serve's handles to the preprocessor, the inference replicas and the clone coordinator."""

from __future__ import annotations

from fastapi import FastAPI
from ray.serve.context import _get_global_client
from ray.serve.handle import DeploymentHandle

from aivo.adapters import AdapterStore
from aivo.api.app import create_api
from aivo.cache import ResponseCache
from aivo.config import AppConfig
from aivo.error_tracking import init_error_tracking
from aivo.observability import FALLBACK_ANSWERS, UPSTREAM_RETRIES
from aivo.security.keys import KeyRing, load_keyring
from aivo.security.pseudonyms import key_pseudonyms
from aivo.service import TutorService
from deployments.handles import CloneCoordinatorHandle, InferenceHandle, PreprocessorHandle


class Ingress:
    def __init__(
        self,
        config: AppConfig,
        preprocessor: DeploymentHandle,
        inference: DeploymentHandle,
        coordinator: DeploymentHandle,
        *,
        cache: ResponseCache | None = None,
        store: AdapterStore | None = None,
        keys: KeyRing | None = None,
    ) -> None:
        init_error_tracking("ingress")
        key_pseudonyms(config.security.pseudonym_key)
        # rare events' series exist at 0 from the start: rate() then sees their first increment
        FALLBACK_ANSWERS.inc(0)
        for handle in (preprocessor, inference):
            UPSTREAM_RETRIES.labels(deployment=handle.deployment_name).inc(0)
        self.config = config
        self.service = TutorService(
            config,
            preprocessor=PreprocessorHandle(preprocessor),
            inference=InferenceHandle(inference),
            clones=CloneCoordinatorHandle(coordinator),
            cache=cache,
            adapters=store,
        )
        self.keys = keys if keys is not None else load_keyring(config.security, _serve_host())

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_api(self.service, self.config.security, self.keys)


def _serve_host() -> str:
    """The address Serve's HTTP proxies listen on (a development key needs loopback)."""
    # Serve offers no public API for its own HTTP options; the controller's client holds them.
    client = _get_global_client()  # raises when no controller runs
    return str(client.http_config.host) if client is not None else ""
