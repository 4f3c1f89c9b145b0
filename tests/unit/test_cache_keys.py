"""Cache keys: everything that changes the answer changes the key; nothing is in clear."""

from __future__ import annotations

from typing import Any

import pytest

from aivo.cache import cache_key, is_cacheable
from aivo.cache.keys import student_prefix, student_tag, tenant_prefix
from aivo.config import CacheConfig
from aivo.schemas import GenerateRequest
from aivo.tenancy import owned_id, split_owned_id

BASE: dict[str, Any] = {
    "prompt": "Why is the sky blue?",
    "grade_level": "4",
    "subject": "science",
    "learning_style": "visual",
    "accommodations": ["dyslexia"],
    "max_tokens": 128,
}


def key(
    request: dict[str, Any],
    model: str = "m",
    prompt_version: str = "p1",
    adapter: str | None = None,
    tenant: str = "school",
) -> str:
    return cache_key(
        GenerateRequest(**request),
        tenant=tenant,
        model=model,
        prompt_version=prompt_version,
        adapter=adapter,
    )


def test_same_request_same_key() -> None:
    assert key(BASE) == key(dict(BASE))


@pytest.mark.parametrize(
    "variant",
    [
        {"prompt": "  Why is the\tsky   blue?\n"},
        {"subject": "SCIENCE", "grade_level": " 4 "},
        {"stream": True},
        {"seed": 5, "top_p": 0.5},
    ],
    ids=["whitespace", "case-of-enums", "stream", "greedy-ignores-sampling"],
)
def test_what_does_not_change_the_answer_does_not_change_the_key(variant: dict[str, Any]) -> None:
    assert key({**BASE, **variant}) == key(BASE)


def test_accommodation_order_does_not_change_the_key() -> None:
    a = key({**BASE, "accommodations": ["adhd", "dyslexia"]})
    assert a == key({**BASE, "accommodations": ["dyslexia", "adhd"]})


@pytest.mark.parametrize(
    "variant",
    [
        {"prompt": "Why is the sky Blue?"},
        {"grade_level": "5"},
        {"subject": "math"},
        {"learning_style": "auditory"},
        {"learning_style": None},
        {"accommodations": []},
        {"max_tokens": 129},
        {"temperature": 0.7},
        {"student_id": "alice-42"},
        {"mode": "hint"},
        {"mode": "check", "student_answer": "12"},
        {"history": [{"role": "student", "text": "I got 12"}]},
        {"stop": "The end"},
        {"frequency_penalty": 0.5},
        {"presence_penalty": -0.5},
    ],
)
def test_each_request_field_changes_the_key(variant: dict[str, Any]) -> None:
    assert key({**BASE, **variant}) != key(BASE)


def test_one_stop_string_is_a_list_of_one() -> None:
    assert key({**BASE, "stop": "Bye"}) == key({**BASE, "stop": ["Bye"]})


def test_seed_and_top_p_change_a_sampled_answers_key() -> None:
    sampled = {**BASE, "temperature": 0.7}
    assert key({**sampled, "seed": 1}) != key({**sampled, "seed": 2}) != key(sampled)
    assert key({**sampled, "top_p": 0.5}) != key(sampled)


@pytest.mark.parametrize(
    "context",
    [
        {"model": "other"},
        {"prompt_version": "p2"},
        {"adapter": "3:" + "a" * 64},
        {"adapter": "1:" + "b" * 64},  # a re-created student's version 1: other weights
        {"tenant": "district"},
    ],
)
def test_model_prompt_version_adapter_and_tenant_change_the_key(context: dict[str, Any]) -> None:
    assert key(BASE, **context) != key(BASE)


def test_keys_are_scoped_by_a_student_pseudonym_and_hold_nothing_in_clear() -> None:
    alice = key({**BASE, "student_id": "alice-smith"}, adapter="1:" + "a" * 64)
    bob = key({**BASE, "student_id": "bob-jones"}, adapter="1:" + "a" * 64)
    anonymous = key(BASE)
    alice_tag = student_tag(owned_id("school", "alice-smith"))
    assert alice.startswith(student_prefix(owned_id("school", "alice-smith")))
    assert alice_tag not in bob and alice_tag not in anonymous
    # none of these words can occur by chance in hex digests: they hold letters past f
    for clear in ("sky", "blue", "why", "alice", "smith", "bob", "jones", "school"):
        assert not any(clear in k.lower() for k in (alice, bob, anonymous))


@pytest.mark.parametrize(
    ("temperature", "cache_sampled", "expected"),
    [(0.0, False, True), (0.7, False, False), (0.7, True, True), (0.0, True, True)],
)
def test_only_deterministic_requests_are_cacheable_unless_configured(
    temperature: float, cache_sampled: bool, expected: bool
) -> None:
    request = GenerateRequest(**{**BASE, "temperature": temperature})
    assert is_cacheable(request, CacheConfig(cache_sampled=cache_sampled)) is expected


def test_every_key_of_a_tenant_starts_with_its_prefix_and_no_other_tenants() -> None:
    keys = [key(BASE), key({**BASE, "student_id": "alice"}, adapter="1:" + "a" * 64)]
    assert all(k.startswith(tenant_prefix("school")) for k in keys)
    assert not any(k.startswith(tenant_prefix("district")) for k in keys)
    same_student_elsewhere = key({**BASE, "student_id": "alice"}, "m", "p1", "1:" + "a" * 64, "d")
    assert same_student_elsewhere not in keys


def test_an_owned_id_splits_one_way_and_an_id_of_no_tenant_keeps_its_name_out() -> None:
    assert split_owned_id(owned_id("school-a", "ann")) == ("school-a", "ann")
    assert split_owned_id("ann") == ("", "ann")  # a clone job's metadata never names it
