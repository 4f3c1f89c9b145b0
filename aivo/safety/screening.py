"""Input screening: prompt injection and jailbreak attempts are refused before any model sees them.

Rules are phrase patterns over the normalised prompt, grouped by the kind of attack, and they
are run again over every disguised reading of it (rot13, reversed, leetspeak, spaced letters,
base64/hex/%XX/binary payloads). Ordinary requests that share words with attacks ("ignore the
units", "pretend you are a tour guide") pass: a rule needs the attack's shape, such as an
override verb aimed at the tutor's instructions, or a persona defined by having no rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aivo.errors import PromptRejected
from aivo.observability import SCREENING_REJECTIONS
from aivo.safety.obfuscation import disguised_forms, normalise

OVERRIDE = "instruction_override"
EXTRACTION = "prompt_extraction"
ROLE = "role_override"
DELIMITER = "delimiter_injection"
ENCODED = "encoded_attack"
RESEMBLES_ATTACK = "resembles_attack"  # set by the semantic classifier, not by a rule

REASONS = {
    OVERRIDE: "it asks the tutor to ignore or replace its instructions",
    EXTRACTION: "it asks the tutor to reveal its hidden instructions",
    ROLE: "it asks the tutor to take on a role without its rules",
    DELIMITER: "it contains markers that pretend to start a new system or assistant message",
    ENCODED: "it hides instructions for the tutor in encoded or disguised text",
    RESEMBLES_ATTACK: "it reads like an attempt to change or uncover the tutor's instructions",
}

_TARGET = (
    r"(?:instructions?|rules?|guidelines?|directions?|prompts?|directives?|programming|"
    r"constraints?|restrictions?|filters?|polic(?:y|ies)|guardrails?|training|orders|"
    r"commands|safeguards?|moderation|limitations?|protocols?|ethics|morals)"
)
_POINTER = (
    r"(?:all|any|every|your|previous|prior|above|earlier|preceding|initial|original|"
    r"system|tutor|tutoring|these|those|its|old|current|existing|safety|content|usual)"
)
_VERB = (
    r"(?:ignore|disregard|forget|override|bypass|skip|abandon|discard|cancel|delete|"
    r"erase|disable|deactivate|turn off|switch off|stop following|don't follow|"
    r"do not follow|no longer follow|stop obeying|drop|ditch|scrap|throw out|"
    r"set aside|put aside|leave behind)"
)
_LIMITS = (
    r"(?:rules|restrictions|filters?|limits|limitations|guidelines|polic(?:y|ies)|"
    r"censorship|morals|ethics|safety|boundaries|guardrails)"
)
_AGENT = r"(?:ai|assistant|bot|chatbot|model|robot|version of (?:you|yourself)|persona)"
_SECRET = (
    r"(?:system|initial|original|hidden|secret|developer|starting|internal|"
    r"confidential|full|complete|exact|entire|real|first|pre-?)"
)
_SHOW_IMPERATIVE = (
    r"(?:reveal|show|print|repeat|tell|output|display|give|list|write|share|"
    r"leak|dump|copy|recite|read|summari[sz]e|append|paste|send|spell out)"
)
_SHOW = rf"(?:{_SHOW_IMPERATIVE}|what)"


RULES: dict[str, list[re.Pattern[str]]] = {
    OVERRIDE: [
        re.compile(
            rf"\b{_VERB}\s+(?:(?:of|the|my|this|all of)\s+)*{_POINTER}\b(?:\s+\w+){{0,3}}?"
            rf"\s+{_TARGET}\b"
        ),
        re.compile(
            rf"\b{_VERB}\s+(?:everything|all|what)\s+(?:you (?:were|have been|'ve been) "
            r"(?:told|given|taught)|(?:you|i) (?:said|told you) (?:before|earlier)|above)"
        ),
        re.compile(
            rf"(?:^|[.!?;:]\s*)(?:please\s+|now\s+|just\s+)?{_VERB}\s+(?:the\s+)?{_TARGET}\b"
        ),
        re.compile(rf"\b{_TARGET}\s+on hold\b"),
        re.compile(
            rf"\b(?:previous|prior|above|old|earlier|original|your)\s+{_TARGET}\s+"
            r"(?:were|was|are|is|have been|has been)\s+(?:just\s+)?(?:a test|fake|wrong|"
            r"cancell?ed|void|invalid|revoked|removed|no longer)"
        ),
        re.compile(
            r"\b(?:new|updated|real|actual|true)\s+(?:system\s+)?(?:instructions|rules|orders|"
            r"directives?)"
            r"\s*(?::|are\b|is\b)"
        ),
        re.compile(
            r"\byour\s+(?:new|real|actual|true)\s+(?:task|role|job|purpose|goal|instructions)"
            r"\s+(?:is|are)\b"
        ),
        re.compile(
            rf"\b(?:don't|do not|no longer|never)\s+(?:have to|need to)\s+(?:follow|obey)\s+"
            rf"(?:the|your|any)\s+{_TARGET}"
        ),
        re.compile(
            r"\byou\s+(?:will|must|shall|should)?\s*(?:never|not|no longer|don't|do not|won't|"
            r"will not|must not|cannot|can't|can not)\s+(?:refuse|decline|say no to)\b"
        ),
        re.compile(
            r"\b(?:developer|debug|god|admin|sudo|jailbreak|dan|unrestricted|unfiltered|evil|"
            r"maintenance)\s+mode\b"
        ),
        re.compile(
            rf"\b{_LIMITS}\s+(?:are\s+|is\s+|have been\s+|has been\s+|were\s+|was\s+)?(?:now\s+)?"
            r"(?:disabled|deactivated|removed|lifted|turned off|switched off|cancell?ed|off)\b"
        ),
        re.compile(r"(?:^|[.!?]\s*)system\s+override\b|\bsystem\s+override\s*:"),
        re.compile(
            r"\b(?:you (?:will|must|shall) )?(?:now )?do (?:anything|whatever|everything) i "
            r"(?:say|tell you|want|ask)\b|\bjust do what i say\b"
        ),
        re.compile(r"\byou\s+must\s+obey\s+(?:me|my)\b|\bi\s+(?:order|command)\s+you\s+to\b"),
        re.compile(
            r"\bi(?:'m| am)\s+your\s+(?:creator|developer|admin|administrator|owner|"
            r"programmer|maker|master)\b"
        ),
        re.compile(r"\b(?:ignora|olvida|omite)\b.{0,40}\binstrucciones\b"),
        re.compile(r"\b(?:ignore[rz]?|oublie[rz]?)\b.{0,40}\b(?:instructions|consignes|règles)\b"),
        re.compile(r"\b(?:ignoriere|vergiss)\b.{0,40}\b(?:anweisungen|regeln)\b"),
    ],
    EXTRACTION: [
        re.compile(
            rf"\b{_SHOW}\b.{{0,60}}\byour\s+(?:\w+\s+)?{_SECRET}\s*"
            r"(?:prompt|instructions|message|rules|configuration|config|guidelines|directives)"
        ),
        re.compile(
            rf"\b{_SHOW_IMPERATIVE}\b.{{0,60}}\b(?:the|this|these|my)\s+(?:\w+\s+)?(?:system|initial|"
            r"original|hidden|secret|developer|internal|confidential)\s*(?:prompt|instructions|"
            r"configuration|config|directives)"
        ),
        re.compile(
            rf"\b{_TARGET}\s+(?:that\s+)?(?:you\s+(?:were|have been|'ve been|got|are)\s+"
            r"(?:given|told|programmed|trained|following)|you\s+received|given to you)"
        ),
        re.compile(
            r"\bwhat\s+(?:rules|instructions|guidelines)\s+(?:were|are|have)\s+you\s+(?:been\s+)?"
            r"(?:given|programmed|told|trained|following)"
        ),
        re.compile(
            r"\b(?:repeat|print|output|show|copy|recite|paste|display|write out)\s+(?:\w+\s+){0,3}"
            r"(?:text|words|everything|content|message|lines?)\s+(?:above|before|prior)"
        ),
        re.compile(r"\brepeat\s+your\s+(?:system\s+)?(?:prompt|instructions|rules|message)"),
        re.compile(
            r"\b(?:instructions|prompt|directives|guidelines|system message)\s+(?:that\s+)?you\s+"
            r"(?:got|received|follow|have|use|were given|are following|started with)\b"
        ),
        re.compile(
            rf"\b{_TARGET}\b.{{0,60}}\b(?:word for word|verbatim|exactly as written)|"
            rf"\b(?:word for word|verbatim)\b.{{0,60}}\b{_TARGET}\b"
        ),
        re.compile(
            rf"\b{_SHOW}\b.{{0,60}}\b(?:developers?|creators?|programmers?|makers?)\s+"
            r"(?:wrote|gave you|told you|used|set up)\b|"
            r"\bto (?:configure|program|set up|prime) you\b"
        ),
        re.compile(
            r"\bwhat\s+(?:your\s+(?:developer|creator|programmer|maker)s?|they)\s+"
            r"(?:told|instructed|programmed)\s+you"
        ),
        re.compile(
            r"\bwhat\s+(?:is|are|was|were)\s+your\s+(?:system\s+)?(?:prompt|instructions|rules|"
            r"guidelines|directives|programming)\b"
        ),
    ],
    ROLE: [
        re.compile(
            rf"\b(?:{_AGENT}|you|who|that)\b[^.!?\n]{{0,50}}?\b(?:no|without(?:\s+any)?|free of|"
            rf"free from|zero|not bound by|unbound by|ignor(?:es|ing)\s+(?:its|all|your|any))\s+"
            rf"(?:\w+\s+)?{_LIMITS}\b"
        ),
        re.compile(
            r"\b(?:unfiltered|uncensored|unrestricted|jailbroken|unchained|unlocked|evil|rogue|"
            rf"rebel|amoral|unethical|unaligned)\s+(?:\w+\s+)?(?:{_AGENT}|mode|twin|pirate)\b"
        ),
        re.compile(
            r"\b(?:you are|you're|pretend (?:you are|to be)|act as|be)\s+(?:now\s+)?dan\b|"
            r"\bdo anything now\b"
        ),
        re.compile(
            r"\bstay in character\b.{0,60}\b(?:no matter what|never refuse|never break|even if)"
        ),
        re.compile(
            r"\b(?:you are|you're)\s+(?:now\s+)?(?:no longer|not)\s+(?:a|an|the)?\s*"
            r"(?:tutor|aivo|assistant|ai|bound|restricted)\b"
        ),
        re.compile(
            rf"\b{_TARGET}\s+(?:don't|do not|no longer|doesn't|does not|won't|will not)\s+"
            r"apply\b"
        ),
        re.compile(
            rf"\b(?:answer|respond|reply|talk|speak)\w*\b[^.!?\n]{{0,40}}\b(?:without|with no|"
            rf"with zero|free of)\s+(?:any\s+)?{_LIMITS}"
        ),
        re.compile(
            r"\b(?:do|try|run|start|enable|activate|use)\s+(?:a\s+|the\s+)?jailbreak\b|"
            r"\bjailbreak\s+(?:mode|prompt)\b|\bjailbr(?:oken|eaking)\s+(?:ai|assistant|bot|"
            r"model|version|mode|you)\b"
        ),
        re.compile(
            rf"\b(?:safety|content)\s+(?:training|{_LIMITS})\s+(?:was|were|is|are|has been|"
            r"have been)\s+(?:removed|disabled|deleted|turned off|switched off|lifted|gone)"
        ),
        re.compile(
            r"\b(?:pretend|role-?play|act as|act like|imagine|grandm(?:a|other))\b.{0,80}\b"
            r"(?:make|build|cook|create|synthesi[sz]e)\s+(?:\w+\s+){0,2}(?:explosives?|bombs?|"
            r"napalm|meth|weapons?|poison|guns?)\b"
        ),
    ],
    ENCODED: [
        re.compile(
            r"\b(?:decode|decrypt|translate|reverse|unscramble|read)\b[^.!?\n]{0,60}\b(?:and|then)"
            r"\s+(?:obey|follow|execute|do it|do what it says|do as it says|act on it|run it)"
        ),
        re.compile(r"\b(?:base64|rot13|hex|decode|backwards|cipher)\b.{0,80}\bdo what it says\b"),
    ],
}
# Chat-template control tokens (<|im_start|>, [INST], <<SYS>>): flagged here, stripped from the
# question by the prompt builder.
CONTROL_TOKEN = re.compile(r"<\|[^|<>]{0,40}\|>|\[/?INST\]|<</?SYS>>", re.I)
DELIMITERS = [
    CONTROL_TOKEN,
    re.compile(r"\[(?:system|assistant|admin|developer)\]", re.I),
    re.compile(
        r"</?\s*(?:system|assistant|user|student_question|instructions?|im_start|im_end)"
        r"\s*>",
        re.I,
    ),
    re.compile(r"^\s*#{2,}\s*(?:system|instructions?|response|assistant|user)\b", re.I | re.M),
    re.compile(
        r"^\s*(?:system|assistant|developer|admin)(?:\s+(?:message|prompt|override))?"
        r"\s*:",
        re.I | re.M,
    ),
    re.compile(r"```\s*(?:system|instructions?)\b", re.I),
    re.compile(
        r"\bend of (?:the )?(?:student(?:'s)?|user(?:'s)?) "
        r"(?:question|input|message|prompt)",
        re.I,
    ),
]


@dataclass(frozen=True)
class ScreeningVerdict:
    category: str | None  # None: the prompt may go to the model

    @property
    def rejected(self) -> bool:
        return self.category is not None

    @property
    def reason(self) -> str:
        return REASONS[self.category] if self.category else ""


def neutralise(text: str) -> str:
    """`text` without chat control tokens, however they are nested: what a model is given."""
    previous = None
    while previous != text:
        previous = text
        text = CONTROL_TOKEN.sub("", text)
    return text.strip()


def screen_prompt(text: str) -> ScreeningVerdict:
    """The kind of attack the prompt is, if any; never echoes or logs the prompt. The rules
    read the neutralised text, the one a model would be given ("ig<||>nore" is "ignore")."""
    if any(p.search(text) for p in DELIMITERS):
        return ScreeningVerdict(DELIMITER)
    text = neutralise(text)
    category = _match(normalise(text))
    if category is not None:
        return ScreeningVerdict(category)
    for form in disguised_forms(text):
        if _match(form) is not None or any(p.search(form) for p in DELIMITERS):
            return ScreeningVerdict(ENCODED)
    return ScreeningVerdict(None)


def check_prompt(text: str) -> None:
    """Raise PromptRejected (400, `prompt_rejected`) if a rule matches."""
    verdict = screen_prompt(text)
    if verdict.rejected:
        raise rejection(verdict)


def rejection(verdict: ScreeningVerdict) -> PromptRejected:
    """The error for a rejected prompt: says why in general terms, never quotes the prompt.
    Every rejection is made here, so here it is counted by category."""
    SCREENING_REJECTIONS.labels(reason=verdict.category).inc()
    return PromptRejected(
        f"The question was not sent to the tutor because {verdict.reason}. "
        "Please ask your homework question in your own words."
    )


def _match(text: str) -> str | None:
    for category, patterns in RULES.items():
        if any(p.search(text) for p in patterns):
            return category
    return None
