"""A row's answer text as tokens arrive: what may be streamed now, and whether the answer has
ended at a stop string or in a loop. Text is held back while it could still become a stop string
or while it repeats earlier text (a loop in the making), so nothing streamed is taken back."""

from __future__ import annotations

from aivo.engine.detokenize import IncrementalDecoder

# Loop thresholds, from greedy 200-token answers of the bundled model: its loops (a poem, a
# story) repeat a line of 9-20 tokens back to back, and none of its sound answers set this off:
# a tail of one unit (up to 64 tokens, a short paragraph) written 3 times, 24+ tokens in all.
MAX_LOOP_UNIT = 64
MIN_LOOP_TOKENS = 24
SENTENCE_ENDS = ".!?\n"


class LoopDetector:
    """Tracks, for each unit length p, how many latest tokens equal the token p before them."""

    def __init__(self) -> None:
        self.tokens: list[int] = []
        self._runs = [0] * (MAX_LOOP_UNIT + 1)

    def add(self, token: int) -> tuple[int, int] | None:
        """(start, unit) of the periodic tail once it is a loop, else None."""
        tokens = self.tokens
        tokens.append(token)
        n = len(tokens)
        for unit in range(1, min(MAX_LOOP_UNIT, n - 1) + 1):
            self._runs[unit] = self._runs[unit] + 1 if tokens[-1] == tokens[-1 - unit] else 0
            run = self._runs[unit]
            if run >= 2 * unit and run + unit >= MIN_LOOP_TOKENS:
                return n - run - unit, unit
        return None

    @property
    def repeating(self) -> int:
        """How many latest tokens repeat earlier ones: they may still become a loop."""
        return max(self._runs)


def stop_at(text: str, stops: tuple[str, ...], start: int) -> int | None:
    """Where the first stop string in text[start:] begins; None if there is none."""
    found = [i for stop in stops if (i := text.find(stop, start)) >= 0]
    return min(found) if found else None


def partial_stop(text: str, stops: tuple[str, ...]) -> int:
    """How many trailing characters of `text` could still grow into a stop string."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest


class AnswerText:
    def __init__(self, decoder: IncrementalDecoder, stops: tuple[str, ...]) -> None:
        self._decoder = decoder
        self._stops = stops
        self._loops = LoopDetector()
        self._ends = [0]  # the text's length after each token
        self._sent = 0  # characters streamed
        self._cut: int | None = None  # where the answer's text ends, once it has ended
        self.ended = False  # a stop string or a loop ended the answer
        self.loop_stopped = False

    @property
    def text(self) -> str:
        return self._decoder.text[: self._cut]

    def push(self, token: int) -> str:
        """Take the next generated token; returns the text that may be streamed now."""
        self._decoder.push(token)
        text = self._decoder.text
        self._ends.append(len(text))
        stop = stop_at(text, self._stops, self._sent)
        if stop is not None:
            return self._end_at(stop)
        loop = self._loops.add(token)
        if loop is not None:
            self.loop_stopped = True
            return self._end_at(self._loop_cut(*loop))
        # the latest token too: a loop that began the answer differs there ("The" vs " The")
        held = self._ends[len(self._ends) - 2 - self._loops.repeating]
        return self._release(min(len(text) - partial_stop(text, self._stops), held))

    def finish(self) -> str:
        """The rest of the text, at the end of the answer."""
        if self._cut is None:
            self._decoder.flush()
            text = self._decoder.text
            stop = stop_at(text, self._stops, self._sent)
            self._cut = len(text) if stop is None else stop
        return self._release(self._cut)

    def _end_at(self, cut: int) -> str:
        self._cut, self.ended = cut, True
        return self._release(cut)

    def _release(self, end: int) -> str:
        chunk = self._decoder.text[self._sent : end]
        self._sent = max(self._sent, end)
        return chunk

    def _loop_cut(self, start: int, unit: int) -> int:
        """Where to trim a loop: at the sentence end nearest the end of the repeat's first copy
        (within a copy either way) that is not streamed yet, else after exactly one copy."""
        text, first_copy = self._decoder.text, start + unit
        cuts = sorted(range(start + 1, start + 2 * unit + 1), key=lambda c: abs(c - first_copy))
        for cut in cuts:
            end = self._ends[cut]
            if end >= self._sent and end and text[end - 1] in SENTENCE_ENDS:
                return end
        return self._ends[first_copy]
