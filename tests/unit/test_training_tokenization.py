"""Label masking under the bundled model's real chat template, the held-out split, batching."""

from __future__ import annotations

from typing import Any

import pytest

from aivo.training.dataset import Example, parse_dataset
from aivo.training.errors import DatasetError
from aivo.training.tokenization import (
    IGNORE,
    EncodedExample,
    collate,
    encode_example,
    split_held_out,
)
from support.datasets import student_dataset

END = "<|im_end|>"


@pytest.fixture(scope="module")
def tokenizer(bundled_model: Any) -> Any:
    return bundled_model.tokenizer


def answer_text(tokenizer: Any, encoded: EncodedExample) -> str:
    return str(tokenizer.decode([t for t in encoded.labels if t != IGNORE]))


def test_only_the_answer_tokens_are_labelled(tokenizer: Any, bundled_model: Any) -> None:
    messages = [
        {"role": "system", "content": "You are AIVO, a patient tutor."},
        {"role": "user", "content": "What is 6 + 7?"},
        {"role": "assistant", "content": "6 + 7 = 13. Great work!"},
    ]
    encoded = encode_example(tokenizer, Example(1, messages), max_length=256)
    prompt = bundled_model.chat_prompt_ids(messages[:2])  # what the server feeds the model
    assert encoded.input_ids[: len(prompt)] == prompt
    assert encoded.labels[: len(prompt)] == [IGNORE] * len(prompt)
    assert encoded.labels[len(prompt) :] == encoded.input_ids[len(prompt) :]
    assert answer_text(tokenizer, encoded).startswith("6 + 7 = 13. Great work!" + END)
    assert encoded.answer_tokens == len(encoded.input_ids) - len(prompt)


def test_every_assistant_turn_is_labelled_and_every_user_turn_masked(tokenizer: Any) -> None:
    messages = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question"},
        {"role": "assistant", "content": "second answer"},
    ]
    encoded = encode_example(tokenizer, Example(1, messages), max_length=256)
    labelled = answer_text(tokenizer, encoded)
    assert "first answer" in labelled and "second answer" in labelled
    assert "question" not in labelled and "user" not in labelled and "S" not in labelled


def test_long_examples_are_cut_and_keep_their_prompt_mask(tokenizer: Any) -> None:
    (example, *_) = parse_dataset(student_dataset(1)).examples
    full = encode_example(tokenizer, example, max_length=1024)
    cut = encode_example(tokenizer, example, max_length=len(full.input_ids) - 5)
    assert cut.input_ids == full.input_ids[:-5]
    assert cut.labels == full.labels[:-5]
    assert 0 < cut.answer_tokens < full.answer_tokens


def test_a_prompt_that_fills_max_length_is_a_dataset_error_naming_the_line(tokenizer: Any) -> None:
    messages = [
        {"role": "system", "content": "word " * 40},
        {"role": "user", "content": "Q"},
        {"role": "assistant", "content": "A"},
    ]
    with pytest.raises(DatasetError, match=r"^line 9: no answer token fits in max_seq_length=16"):
        encode_example(tokenizer, Example(9, messages), max_length=16)


def test_the_held_out_split_is_seeded_disjoint_and_never_empty() -> None:
    examples = parse_dataset(student_dataset(16)).examples
    train, held = split_held_out(examples, 0.2, seed=3)
    assert (len(train), len(held)) == (13, 3)
    assert {e.line for e in train}.isdisjoint({e.line for e in held})
    assert split_held_out(examples, 0.2, seed=3) == (train, held)
    assert split_held_out(examples, 0.2, seed=4) != (train, held)
    assert [len(part) for part in split_held_out(examples[:2], 0.9, seed=0)] == [1, 1]
    with pytest.raises(DatasetError, match="at least 2 examples"):
        split_held_out(examples[:1], 0.2, seed=0)


def test_collate_pads_right_and_masks_padding_out_of_attention_and_loss() -> None:
    batch = [EncodedExample([5, 6, 7], [IGNORE, 6, 7]), EncodedExample([8], [IGNORE])]
    tensors = collate(batch, pad_id=0)
    assert tensors["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert tensors["labels"].tolist() == [[IGNORE, 6, 7], [IGNORE, IGNORE, IGNORE]]
    assert tensors["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
