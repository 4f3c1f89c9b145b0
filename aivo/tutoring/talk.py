"""Tutoring talk around a problem: requests, feelings and who is asking, removed before reading.

Only words that never carry the problem are removed (a request for a hint, "I keep getting it
wrong", "I'm a 4th grade teacher"); a number that is not one of these stays, so a question with
an unrelated number is still refused.
"""

from __future__ import annotations

import re

_TYPOS = (
    (r"\bwaht\b|\bwhta\b", "what"),
    (r"\bpre?c[ae]nt\b|\bpercnet\b|\bpersent\b", "percent"),
    (r"\bperimi?ter\b|\bperimeter\b|\bperimetre\b", "perimeter"),
    (r"\bhypoth?en[a-z]*\b", "hypotenuse"),
)
_HINT = r"(?:hint|clue|nudge)s?"  # not "tip": a tip is money in a percent problem
_REQUESTS = (
    # "can you give me a hint for", "can I get a hint on", "give me a hint for", "hint please:"
    r"\b(?:(?:can|could|would|will) (?:you|i|we) (?:please )?|i )?"
    r"(?:give|get|have|send|show|need|want)"
    rf"(?: me| us| him| her)? (?:just |only )?(?:a |one |another |some )?(?:little |small )?{_HINT}"
    r"(?: (?:for|on|with|about))?(?: please)?\s*[:?,.!]?",
    rf"\b(?:just |only )?(?:a |one )?{_HINT}(?: (?:for|on|with|about))?(?: please)?\s*[:?,.!]?",
    r"\b(?:and )?(?:i'?m |i am |is |are )?(?:so |really |still )?(?:stuck|confused|lost)"
    r" (?:on|with)(?: this(?: problem| question)?)?\s*:?",
    r"\b(?:could|can|would) you (?:please )?help me with this(?: one| problem| question)?\s*:?",
    r"\bmy teacher (?:asked|gave|told) (?:us|me)(?: this)?\s*:",
    r"\bplease\b|\bpl[sz]\b|\bthanks?(?: you)?\b",
)
# A clause about how the learner feels; it ends at the sentence's end or the next colon.
_FEELING = re.compile(
    r",?\s*\bi (?:keep|always|still|often|never) (?:get|getting|mess|messing|forget|confuse|mix)"
    r"[^.?!:]*"
)
# Who is asking: a grade, or an age stated as one.
_ASKER = (
    r"\b(?:in )?(?:the )?\d{1,2}(?:st|nd|rd|th)[ -]grade(?:rs?)?\b",
    r"\b(?:in )?grade \d{1,2}\b",
    r"\b(?:i'?m|i am|(?:my )?(?:son|daughter|kid|child|student)(?:'s| is)|(?:he|she)(?:'s| is))"
    r" \d{1,2} years? old\b",
    r"\b(?:my |a )\d{1,2}[ -]year[ -]old\b",
)
# Sentences that hold no problem: a request or a feeling, with no number and no math words.
_TALK_SENTENCE = re.compile(
    r"\b(?:hint|help|stuck|confus|explain|walk|through it|mess|wrong|understand|thanks?|please|"
    r"step by step|don'?t get|makes? sense)"
)
_MATH_WORDS = re.compile(
    r"\bhow (?:many|much|long|far|high|tall)\b|\bwhat is\b|\barea\b|\bperimeter\b|\bvolume\b|"
    r"\bpercent|\bslope\b|\bhypotenuse\b|\bleg\b|\bsolve\b|\bsum\b|\bproduct\b|\bdifference\b|"
    r"\bquotient\b|\badd|\bsubtract|\bmultipl|\bdivid|\beach\b|\bleft\b|\btotal\b|\bin all\b|"
    r"\bfind\b|\bprice\b|\bcost|\bpay\b|\bsav(?:e|ing)\b|\boff\b|\bdiagonal\b"
)
_BELIEF = re.compile(r"^(?:but )?i (?:thought|think|believed?|was told|heard)\b[^+*/=^×÷]*$")


def without_talk(question: str) -> str:
    """The question lower-cased, with common typos fixed and the talk around the problem removed."""
    text = question.lower().replace("’", "'")
    for pattern, fixed in _TYPOS:
        text = re.sub(pattern, fixed, text)
    text = re.sub(r"\b(this|that|which|the next|the last|another) one\b", r"\1", text)
    for pattern in _ASKER:
        text = re.sub(pattern, " ", text)
    text = _FEELING.sub("", text)
    sentences = [s for s in re.split(r"(?<=[.?!])\s+", text) if not _is_talk(s)]
    text = " ".join(sentences)
    for pattern in _REQUESTS:
        text = re.sub(pattern, " ", text)
    return re.sub(r"\s+", " ", text).strip(" ,")


def _is_talk(sentence: str) -> bool:
    if _BELIEF.search(sentence.strip()):
        return True  # "I thought percents had to be under 100": the learner's belief, not the task
    has_number = re.search(r"\d", sentence)
    return (
        not has_number
        and bool(_TALK_SENTENCE.search(sentence))
        and not _MATH_WORDS.search(sentence)
    )
