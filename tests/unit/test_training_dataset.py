"""Dataset parsing: both example formats, the profile, and bad lines named by their number."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import pytest

from aivo.config import StorageConfig
from aivo.curriculum.prompting import neutralise
from aivo.training.dataset import parse_dataset, system_message
from aivo.training.errors import DatasetError, DatasetNotFound
from aivo.training.sources import read_dataset
from support.datasets import student_dataset

SECRET = "Maya-lives-at-12-Elm"  # stands for student text that no error message may echo


def jsonl(*lines: object) -> bytes:
    return "".join(
        (line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines
    ).encode()


def test_prompt_response_pairs_get_the_profile_system_message_and_clean_questions() -> None:
    data = jsonl(
        {"profile": {"grade": 3, "interests": ["dinosaurs"], "accommodations": ["Dyslexia"]}},
        {"prompt": "What is 2 + 3?", "response": "2 + 3 = 5."},
    )
    dataset = parse_dataset(data)
    (example,) = dataset.examples
    assert example.line == 2
    system, user, assistant = example.messages
    assert system["role"] == "system"
    assert "grade 3 student" in system["content"]
    assert "dinosaurs" in system["content"]
    assert "Use short sentences, common words and bullet lists." in system["content"]
    assert user == {"role": "user", "content": neutralise("What is 2 + 3?")}
    assert user["content"] == "What is 2 + 3?"  # as the serving prompt presents a question
    assert assistant == {"role": "assistant", "content": "2 + 3 = 5."}
    assert dataset.sha256 == hashlib.sha256(data).hexdigest()
    assert dataset.profile is not None and dataset.profile.grade == "3"


def test_chat_examples_keep_their_own_system_message_and_every_turn() -> None:
    chat = {
        "messages": [
            {"role": "system", "content": "You are a tutor."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "What is 4 x 2?"},
            {"role": "assistant", "content": "4 x 2 = 8."},
        ]
    }
    (example,) = parse_dataset(jsonl(chat)).examples
    assert [m["role"] for m in example.messages] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert example.messages[0]["content"] == "You are a tutor."
    assert example.messages[3]["content"] == neutralise("What is 4 x 2?")


def test_an_example_profile_wins_over_the_dataset_profile() -> None:
    data = jsonl(
        {"prompt": "Q1", "response": "A1", "profile": {"grade": "K"}},
        {"profile": {"grade": "7"}},
        {"prompt": "Q2", "response": "A2"},
    )
    first, second = parse_dataset(data).examples
    assert "kindergarten student" in first.messages[0]["content"]
    assert "grade 7 student" in second.messages[0]["content"]


def test_without_a_profile_the_system_message_is_generic() -> None:
    (example,) = parse_dataset(jsonl({"prompt": "Q", "response": "A"})).examples
    assert (
        example.messages[0]["content"] == system_message(None) == "You are AIVO, a patient tutor."
    )


def test_blank_lines_are_skipped_and_line_numbers_stay_true() -> None:
    data = (
        b"\n"
        + jsonl({"prompt": "Q", "response": "A"})
        + b"   \n"
        + jsonl({"prompt": "Q2", "response": "A2"})
    )
    assert [e.line for e in parse_dataset(data).examples] == [2, 4]


def test_the_fixture_dataset_parses_in_both_formats() -> None:
    pairs = parse_dataset(student_dataset(16))
    chat = parse_dataset(student_dataset(16, chat=True))
    assert len(pairs.examples) == len(chat.examples) == 16
    assert [e.messages for e in pairs.examples] == [e.messages for e in chat.examples]


@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        ('{"prompt": "' + SECRET + '"', "not valid JSON"),
        (json.dumps([SECRET]), "not a JSON object"),
        (json.dumps({"prompt": SECRET}), "response: Field required"),
        (json.dumps({"prompt": SECRET, "response": ""}), "response: String should have at least 1"),
        (json.dumps({"prompt": "q", "response": "a", "grade": SECRET}), "grade: Extra inputs"),
        (json.dumps({"text": SECRET}), "expected `messages`"),
        (
            json.dumps({"messages": [{"role": "user", "content": SECRET}]}),
            "messages: List should have at least 2 items",
        ),
        (
            json.dumps(
                {
                    "messages": [
                        {"role": "assistant", "content": "a"},
                        {"role": "user", "content": SECRET},
                    ]
                }
            ),
            "must end with an assistant turn",
        ),
        (
            json.dumps(
                {
                    "messages": [
                        {"role": SECRET, "content": "q"},
                        {"role": "assistant", "content": "a"},
                    ]
                }
            ),
            "messages.0.role: Input should be",
        ),
        (json.dumps({"profile": {"grade": "13"}}), 'grade must be "K"'),
        (json.dumps({"profile": {"grade": "4", "accommodations": [SECRET]}}), "accommodations.0"),
        (json.dumps({"profile": {"grade": "4"}}), "a second profile line"),
    ],
)
def test_a_bad_line_fails_with_its_number_and_without_its_text(
    bad_line: str, expected: str
) -> None:
    data = jsonl({"profile": {"grade": "4"}}, {"prompt": "Q", "response": "A"}, bad_line)
    with pytest.raises(DatasetError) as caught:
        parse_dataset(data)
    assert caught.value.line == 3
    assert caught.value.message.startswith("line 3: ")
    assert expected in caught.value.message
    assert SECRET not in caught.value.message


def test_a_line_that_is_not_utf8_is_named() -> None:
    data = jsonl({"prompt": "Q", "response": "A"}) + b'{"prompt": "\xff"}\n'
    with pytest.raises(DatasetError, match=r"^line 2: not UTF-8"):
        parse_dataset(data)


def test_a_dataset_without_examples_fails() -> None:
    with pytest.raises(DatasetError, match="no examples") as caught:
        parse_dataset(jsonl({"profile": {"grade": "2"}}))
    assert caught.value.line is None


def test_dataset_errors_keep_their_line_across_processes() -> None:
    error = pickle.loads(pickle.dumps(DatasetError("not valid JSON", 7)))
    assert (error.line, error.message, error.code) == (
        7,
        "line 7: not valid JSON",
        "invalid_dataset",
    )


def test_local_datasets_are_read_by_path_or_file_uri(tmp_path: Path) -> None:
    path = tmp_path / "student.jsonl"
    path.write_bytes(student_dataset(4))
    storage = StorageConfig(adapter_root=str(tmp_path / "adapters"))
    assert (
        read_dataset(str(path), storage)
        == read_dataset(path.as_uri(), storage)
        == path.read_bytes()
    )


@pytest.mark.parametrize("uri", ["missing.jsonl", "file:///nowhere/missing.jsonl", "ftp://host/x"])
def test_a_dataset_that_is_not_there_is_not_found(tmp_path: Path, uri: str) -> None:
    with pytest.raises(DatasetNotFound):
        read_dataset(str(tmp_path / uri) if "/" not in uri else uri, StorageConfig())
