"""Reading-level steering on one row's logits while the model writes, by that row's settings alone.

A small model writes long sentences of long words whatever its instructions say; rewriting after
generation can split a sentence only where it is safe and swap only words that mean the same.
Steering acts on the choice itself, as each token is picked:

- `plain_words` lowers each token that opens a hard word by that many logits per point of the
  word's difficulty (`word_difficulty`: 0 for the Dale-Chall words most fourth graders know,
  else its syllables past the first, at least 1);
- `sentence_words`: past that many words in the sentence being written, each further word
  raises the sentence-ending tokens and lowers the clause-joining ones (",", " and", " which",
  ...) by one logit, up to MAX_NUDGE, so the model ends its sentence where it would have joined
  another clause.

Both are soft: a word the model is sure of (the subject term a question asks about) still comes.
With a `reading_target`, steering is a feedback loop: at each sentence end the text written so far
is measured (Flesch-Kincaid), and steering stays on only while it reads above the target, so an
answer that is already plain is left to the model rather than pushed below its band.
Greedy output stays the same in any batch shape: the bias depends on the row's tokens only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import torch
from transformers import PreTrainedTokenizerBase

from aivo.curriculum.readability import flesch_kincaid_grade, word_difficulty
from aivo.engine.answer_text import AnswerText
from aivo.engine.sampling import SamplingParams

MAX_NUDGE = 4.0  # logits: ending a sentence is favoured, never forced
SENTENCE_ENDS = (".", "!", "?")
JOINERS = (
    *(",", ";", ":", " -", " \u2013"),
    *(" and", " but", " or", " so", " which", " where", " while", " that", " who", " when"),
    " because",
)


@dataclass(frozen=True)
class TokenShapes:
    """What each token of a vocabulary does to a sentence, as steering needs it."""

    difficulty: torch.Tensor  # [vocab] of the word a token opens (0: an easy word, or none)
    ends: torch.Tensor  # ids of the sentence-ending tokens
    joiners: torch.Tensor  # ids of the clause-joining tokens
    opens_word: tuple[bool, ...]
    breaks_sentence: tuple[bool, ...]  # the token holds a sentence end or a line break


@cache
def token_shapes(
    tokenizer: PreTrainedTokenizerBase, vocab_size: int, device: torch.device
) -> TokenShapes:
    """The shapes of a model's tokens (`vocab_size`: its logits' width), computed once."""
    texts = [str(tokenizer.decode([i])) for i in range(len(tokenizer))]
    texts += [""] * (vocab_size - len(texts))
    difficulty = torch.zeros(vocab_size)
    for i, text in enumerate(texts):
        if text.startswith(" ") and text[1:].isalpha():
            difficulty[i] = word_difficulty(text[1:])
    return TokenShapes(
        difficulty.to(device),
        torch.tensor([i for i, t in enumerate(texts) if t.strip() in SENTENCE_ENDS], device=device),
        torch.tensor([i for i, t in enumerate(texts) if t in JOINERS], device=device),
        tuple(t.startswith(" ") and any(c.isalpha() for c in t) for t in texts),
        tuple(any(c in t for c in ".!?\n") for t in texts),
    )


class Steering:
    """One row's steering: its settings and the words of the sentence it is writing."""

    def __init__(self, params: SamplingParams, tokenizer: PreTrainedTokenizerBase) -> None:
        self.params = params
        self._tokenizer = tokenizer
        self._shapes: TokenShapes | None = None
        self.words = 0  # in the sentence being written
        self.on = True  # what is written so far reads above the target (or there is none)

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        """The row's logits [vocab] (fp32), steered while it is on; the input is left as it was."""
        if self._shapes is None:  # on the model thread, at the row's first token
            self._shapes = token_shapes(self._tokenizer, logits.shape[-1], logits.device)
        shapes = self._shapes
        if not self.on:
            return logits
        logits = logits - self.params.plain_words * shapes.difficulty
        over = self.words - self.params.sentence_words
        if self.params.sentence_words and over > 0:
            nudge = min(MAX_NUDGE, float(over))
            logits[shapes.ends] += nudge
            logits[shapes.joiners] -= nudge
        return logits

    def add(self, token: int, written: AnswerText) -> None:
        """Count the row's next token into the sentence it is writing; at a sentence end,
        measure what is `written` so far against the target."""
        if self._shapes is None:  # never: a row picks a token before it adds one
            return
        if self._shapes.breaks_sentence[token]:
            self.words = 0
            if self.params.reading_target is not None:
                self.on = flesch_kincaid_grade(written.text) > self.params.reading_target
        elif self._shapes.opens_word[token]:
            self.words += 1
