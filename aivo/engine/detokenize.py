"""Incremental decoding: text as tokens arrive, never splitting a character across chunks."""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase

INCOMPLETE = "\ufffd"  # what decode gives for the leading bytes of an unfinished UTF-8 character


class IncrementalDecoder:
    """`push` a token id, get the text it completes ("" while a character is unfinished).

    Only the tokens since the previous chunk are decoded again (with one chunk of context for
    tokenizers that change a token's text by what precedes it), so a long answer costs O(n).
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._prefix = 0  # start of the context window
        self._read = 0  # end of what has been emitted
        self.text = ""

    def push(self, token_id: int) -> str:
        self._ids.append(token_id)
        return self._advance(final=False)

    def flush(self) -> str:
        """What is left at the end of the answer, unfinished characters included."""
        return self._advance(final=True)

    def _advance(self, *, final: bool) -> str:
        seen = self._decode(self._ids[self._prefix : self._read])
        current = self._decode(self._ids[self._prefix :])
        if len(current) <= len(seen) or (current.endswith(INCOMPLETE) and not final):
            return ""
        chunk = current[len(seen) :]
        self._prefix, self._read = self._read, len(self._ids)
        self.text += chunk
        return chunk

    def _decode(self, ids: list[int]) -> str:
        return str(self._tokenizer.decode(ids, skip_special_tokens=True))
