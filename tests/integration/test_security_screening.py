"""Screening reads what the model would be given, over HTTP on the real graph: an attack split
by chat control tokens is refused before any model sees it, in every field a learner writes."""

from __future__ import annotations

import pytest

from support.security_graph import SecurityGraph
from tests.unit.test_security_screening import OBFUSCATED

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("attack", OBFUSCATED)
def test_an_obfuscated_attack_never_reaches_the_model(
    security_graph: SecurityGraph, attack: str
) -> None:
    base = {"grade_level": "3", "subject": "math", "max_tokens": 8}
    with security_graph.client("screening") as client:
        for fields in (
            {"prompt": attack},
            {"prompt": "What is 2 + 2?", "history": [{"role": "student", "text": attack}]},
        ):
            r = client.post("/v1/generate", json={**base, **fields})
            assert r.status_code == 400, r.text
            assert r.json()["error"]["code"] == "prompt_rejected"
            chat = {
                "model": "aivo-tutor",
                "messages": [{"role": "user", "content": fields.get("prompt")}],
                "max_tokens": 8,
                "aivo": {"grade_level": "3", "subject": "math"},
            }
            if fields["prompt"] == attack:
                r = client.post("/v1/chat/completions", json=chat)
                assert r.status_code == 400, r.text
