"""What of a streamed answer may be sent now: the rest is held back until no check could still
find it part of something the learner must not see.

Text is released only at whitespace, and only text followed by HOLD_CHARS characters and
LEAK_WORDS words: an unsafe phrase (at most PHRASE_CHARS long across words) or a read-back
(LEAK_WORDS words, or a marker of MARKER_CHARS) that the next chunks complete lies wholly in the
held text. So the output check reads only the held text: O(window + chunk) per chunk, never the
whole answer again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aivo.safety.leaks import LEAK_WORDS, MARKER_CHARS
from aivo.safety.output import PHRASE_CHARS, OutputVerdict, check_output

HOLD_CHARS = max(PHRASE_CHARS, MARKER_CHARS)
_SPACE = re.compile(r"\s+")


@dataclass
class Holdback:
    held: str = ""
    verdict: OutputVerdict | None = None  # set once the held text is unsafe; it stays so
    scanned: int = 0  # characters the output check has read: the cost the window bounds

    def feed(self, chunk: str) -> str:
        """The text that may be sent now: empty while it is held, and once it is unsafe."""
        if self.verdict is not None:
            return ""
        self.held += chunk
        self.scanned += len(self.held)
        verdict = check_output(self.held)
        if verdict.flagged:
            self.verdict = verdict
            return ""
        cut = _release_point(self.held)
        released, self.held = self.held[:cut], self.held[cut:]
        return released

    def close(self) -> str:
        """The held rest, once the stream has ended (nothing if it was unsafe)."""
        rest, self.held = ("" if self.verdict else self.held), ""
        return rest


def _release_point(held: str) -> int:
    """The start of the last whitespace run with HOLD_CHARS characters and LEAK_WORDS words
    after it (0: none yet)."""
    starts = [m.start() for m in _SPACE.finditer(held)]
    for start in reversed(starts[: max(0, len(starts) - LEAK_WORDS + 1)]):
        if len(held) - start >= HOLD_CHARS:
            return start
    return 0
