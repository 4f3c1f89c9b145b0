"""Leak check: an answer must not read back the instructions the model was given.

Small models read their system prompt back when unsure. A leak is any run of LEAK_WORDS words of
an instruction in the answer, a chat-template or prompt-tag name, the request's canary (a code
placed in the instructions that a learner never sees) or any code of its shape, also a digit or
two shorter or longer (a miscopied canary is a read-back too), or a line that opens with a label
of the prompt's notes ("Standards:"). `LeakWatch` checks text as it streams, at a cost
proportional to each new chunk (it keeps only a short tail), so a stream can hold back a window
and never send a leak.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

LEAK_WORDS = 6  # a six-word run of an instruction is a read-back, not a coincidence
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_MARKERS = re.compile(
    r"<\|?\s*/?\s*(?:im_start|im_end|system|endoftext)\s*\|?>|student[_ ]question|"
    r"\bsystem (?:prompt|message)\b|\bmy (?:instructions|system prompt)\b",
    re.I,
)
MARKER_CHARS = 40  # the longest marker the pattern matches, so a tail this long finds any


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class LeakCheck:
    """What counts as a leak for one request: its instructions' word runs and its canary."""

    runs: frozenset[tuple[str, ...]]
    canary: str | None = None
    shapes: re.Pattern[str] | None = None  # codes shaped like the canary, lines opened by a label

    @classmethod
    def of(
        cls, instructions: Iterable[str], canary: str | None = None, labels: Iterable[str] = ()
    ) -> LeakCheck:
        runs: set[tuple[str, ...]] = set()
        for line in instructions:
            words = _words(line)
            runs.update(
                tuple(words[i : i + LEAK_WORDS]) for i in range(len(words) - LEAK_WORDS + 1)
            )
        shapes = [f"\n[ \t]*{re.escape(label)}" for label in labels]
        if canary:
            # miscopies drop or add a hex digit or two ("T45B2A" for "T45B2A7"); one digit at
            # least keeps words such as "TEABAG" out
            low, high = len(canary) - 3, len(canary) + 1
            code = f"{re.escape(canary[0])}(?=[0-9A-F]*[0-9])[0-9A-F]{{{low},{high}}}"
            shapes.append(f"(?<![A-Za-z0-9]){code}(?![A-Za-z0-9])")
        return cls(frozenset(runs), canary, re.compile("|".join(shapes)) if shapes else None)

    def leaks(self, text: str) -> bool:
        watch = LeakWatch(self)
        return watch.feed(text) or watch.close()

    def scrub(self, text: str) -> str:
        """`text` without the lines and sentences that leak."""
        kept = []
        for line in text.splitlines():
            parts = re.split(r"(?<=[.!?])\s+", line)
            clean = [p for p in parts if not self.leaks(p)]
            if clean or not line.strip():
                kept.append(" ".join(clean))
        return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


@dataclass
class LeakWatch:
    """Feeds streamed text through a LeakCheck; once it finds a leak it stays tripped."""

    check: LeakCheck
    tripped: bool = False
    _words: list[str] = field(default_factory=list)  # the last LEAK_WORDS - 1 complete words
    _partial: str = ""  # a word not yet ended
    _tail: str = "\n"  # the last MARKER_CHARS characters, for markers and the canary (the
    # text starts a line)

    def feed(self, chunk: str) -> bool:
        """Whether the text so far leaks; O(len(chunk))."""
        if self.tripped:
            return True
        window = self._tail + chunk
        self._tail = window[-max(MARKER_CHARS, len(self.check.canary or "")) :]
        canary, shapes = self.check.canary, self.check.shapes
        if (
            _MARKERS.search(window)
            or (canary and canary in window)
            or (shapes is not None and shapes.search(window))
        ):
            self.tripped = True
            return True
        text = self._partial + chunk
        ended = re.match(r"(.*[^a-z0-9'])", text, re.S | re.I)
        complete, self._partial = (ended.group(1), text[ended.end() :]) if ended else ("", text)
        self.tripped = self._runs(_words(complete))
        return self.tripped

    def close(self) -> bool:
        """Whether the text leaks, counting the last word (the stream has ended)."""
        if not self.tripped and self._partial:
            self.tripped = self._runs(_words(self._partial))
            self._partial = ""
        return self.tripped

    def _runs(self, new: list[str]) -> bool:
        words = self._words + new  # every run here ends in a new word: old ones are too few
        found = any(
            tuple(words[i : i + LEAK_WORDS]) in self.check.runs
            for i in range(len(words) - LEAK_WORDS + 1)
        )
        self._words = words[-(LEAK_WORDS - 1) :]
        return found
