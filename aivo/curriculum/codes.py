"""Standard codes: the formats of CCSS Mathematics, CCSS ELA/Literacy and NGSS, checked strictly.

A code parses into its framework, grade (or band) and domain, so a catalogue entry that says
otherwise, or a code that no framework could contain (`RF.7.2`, `3.RP.A.1`, `5-ETS1-1`),
is refused with a message that names it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aivo.schemas import grade_number

CCSS_MATH = "CCSS.Math"
CCSS_ELA = "CCSS.ELA-Literacy"
NGSS = "NGSS"


class InvalidStandardCode(ValueError):
    """A code that does not follow its framework's format."""


@dataclass(frozen=True)
class CodeInfo:
    framework: str
    grade: str  # "K", "1".."12", or a band such as "9-12", "6-8", "K-2"
    domain: str  # the domain's name, e.g. "Number and Operations—Fractions"
    subject: str  # the Subject value the code belongs to


MATH_DOMAINS = {
    "CC": "Counting and Cardinality",
    "OA": "Operations and Algebraic Thinking",
    "NBT": "Number and Operations in Base Ten",
    "NF": "Number and Operations—Fractions",
    "MD": "Measurement and Data",
    "G": "Geometry",
    "RP": "Ratios and Proportional Relationships",
    "NS": "The Number System",
    "EE": "Expressions and Equations",
    "F": "Functions",
    "SP": "Statistics and Probability",
}
MATH_GRADE_DOMAINS = {
    "K": {"CC", "OA", "NBT", "MD", "G"},
    "1": {"OA", "NBT", "MD", "G"},
    "2": {"OA", "NBT", "MD", "G"},
    "3": {"OA", "NBT", "NF", "MD", "G"},
    "4": {"OA", "NBT", "NF", "MD", "G"},
    "5": {"OA", "NBT", "NF", "MD", "G"},
    "6": {"RP", "NS", "EE", "G", "SP"},
    "7": {"RP", "NS", "EE", "G", "SP"},
    "8": {"NS", "EE", "F", "G", "SP"},
}
HS_MATH_DOMAINS = {
    "N": {
        "RN": "The Real Number System",
        "Q": "Quantities",
        "CN": "The Complex Number System",
        "VM": "Vector and Matrix Quantities",
    },
    "A": {
        "SSE": "Seeing Structure in Expressions",
        "APR": "Arithmetic with Polynomials and Rational Expressions",
        "CED": "Creating Equations",
        "REI": "Reasoning with Equations and Inequalities",
    },
    "F": {
        "IF": "Interpreting Functions",
        "BF": "Building Functions",
        "LE": "Linear, Quadratic, and Exponential Models",
        "TF": "Trigonometric Functions",
    },
    "G": {
        "CO": "Congruence",
        "SRT": "Similarity, Right Triangles, and Trigonometry",
        "C": "Circles",
        "GPE": "Expressing Geometric Properties with Equations",
        "GMD": "Geometric Measurement and Dimension",
        "MG": "Modeling with Geometry",
    },
    "S": {
        "ID": "Interpreting Categorical and Quantitative Data",
        "IC": "Making Inferences and Justifying Conclusions",
        "CP": "Conditional Probability and the Rules of Probability",
        "MD": "Using Probability to Make Decisions",
    },
}
# strand: (name, highest standard number, grades it exists in)
ELA_STRANDS = {
    "RL": ("Reading: Literature", 10, None),
    "RI": ("Reading: Informational Text", 10, None),
    "RF": ("Reading: Foundational Skills", 4, {"K", "1", "2", "3", "4", "5"}),
    "W": ("Writing", 10, None),
    "SL": ("Speaking and Listening", 6, None),
    "L": ("Language", 6, None),
    "RH": ("Reading: History/Social Studies", 10, {"6-8", "9-10", "11-12"}),
    "RST": ("Reading: Science and Technical Subjects", 10, {"6-8", "9-10", "11-12"}),
    "WHST": (
        "Writing: History/Social Studies, Science and Technical Subjects",
        10,
        {"6-8", "9-10", "11-12"},
    ),
}
ELA_SUBJECTS = {"RH": "social_studies", "RST": "science"}
NGSS_DOMAINS = {
    "PS1": "Matter and Its Interactions",
    "PS2": "Motion and Stability: Forces and Interactions",
    "PS3": "Energy",
    "PS4": "Waves and Their Applications",
    "LS1": "From Molecules to Organisms: Structures and Processes",
    "LS2": "Ecosystems: Interactions, Energy, and Dynamics",
    "LS3": "Heredity: Inheritance and Variation of Traits",
    "LS4": "Biological Evolution: Unity and Diversity",
    "ESS1": "Earth's Place in the Universe",
    "ESS2": "Earth's Systems",
    "ESS3": "Earth and Human Activity",
    "ETS1": "Engineering Design",
}
NGSS_BANDS = {"MS": "6-8", "HS": "9-12"}

_MATH_K8 = re.compile(r"(K|[1-8])\.([A-Z]{1,3})\.[A-D]\.([1-9][0-9]?)[a-e]?")
_MATH_HS = re.compile(r"HS([NAFGS])\.([A-Z]{1,3})\.[A-D]\.([1-9][0-9]?)[a-e]?")
_ELA = re.compile(r"([A-Z]{1,4})\.(K|[1-8]|6-8|9-10|11-12)\.([1-9][0-9]?)[a-f]?")
_NGSS = re.compile(r"(K-2|3-5|K|[1-5]|MS|HS)-([A-Z]{2,3}[1-4])-([1-9][0-9]?)")


def parse_code(code: str) -> CodeInfo:
    """The framework, grade and domain a code denotes; InvalidStandardCode if it has none."""
    for parse in (_parse_math, _parse_ela, _parse_ngss):
        info = parse(code)
        if info is not None:
            return info
    raise InvalidStandardCode(f"standard code {code!r} matches no framework's format")


def grade_range(grade: str) -> tuple[int, int]:
    """ "K" -> (0, 0), "5" -> (5, 5), "9-12" -> (9, 12), "K-2" -> (0, 2)."""
    low, _, high = grade.partition("-")
    return grade_number(low), grade_number(high or low)


def _invalid(code: str, why: str) -> InvalidStandardCode:
    return InvalidStandardCode(f"standard code {code!r} is malformed: {why}")


def _parse_math(code: str) -> CodeInfo | None:
    if match := _MATH_K8.fullmatch(code):
        grade, domain = match.group(1), match.group(2)
        if domain not in MATH_GRADE_DOMAINS[grade]:
            raise _invalid(code, f"grade {grade} mathematics has no domain {domain}")
        return CodeInfo(CCSS_MATH, grade, MATH_DOMAINS[domain], "math")
    if match := _MATH_HS.fullmatch(code):
        category, domain = match.group(1), match.group(2)
        if domain not in HS_MATH_DOMAINS[category]:
            raise _invalid(code, f"high-school category {category} has no domain {domain}")
        return CodeInfo(CCSS_MATH, "9-12", HS_MATH_DOMAINS[category][domain], "math")
    return None


def _parse_ela(code: str) -> CodeInfo | None:
    match = _ELA.fullmatch(code)
    if match is None or match.group(1) not in ELA_STRANDS:
        return None
    strand, grade, number = match.group(1), match.group(2), int(match.group(3))
    name, highest, grades = ELA_STRANDS[strand]
    if grades is None and grade == "6-8":
        raise _invalid(code, f"strand {strand} is per grade in 6-8, not a band")
    if grades is not None and grade not in grades:
        raise _invalid(code, f"strand {strand} has no grade {grade}")
    if number > highest:
        raise _invalid(code, f"strand {strand} has standards 1-{highest}")
    if strand == "RF" and number <= 2 and grade not in {"K", "1"}:
        raise _invalid(code, "RF.1 and RF.2 exist only in kindergarten and grade 1")
    return CodeInfo(CCSS_ELA, grade, name, ELA_SUBJECTS.get(strand, "ela"))


def _parse_ngss(code: str) -> CodeInfo | None:
    match = _NGSS.fullmatch(code)
    if match is None:
        return None
    grade, domain = match.group(1), match.group(2)
    if domain not in NGSS_DOMAINS:
        raise _invalid(code, f"NGSS has no disciplinary core idea {domain}")
    engineering = domain == "ETS1"
    if grade in {"K-2", "3-5"} and not engineering:
        raise _invalid(code, f"band {grade} holds only engineering design (ETS1)")
    if engineering and grade not in {"K-2", "3-5", "MS", "HS"}:
        raise _invalid(code, "engineering design (ETS1) is coded by band: K-2, 3-5, MS or HS")
    return CodeInfo(NGSS, NGSS_BANDS.get(grade, grade), NGSS_DOMAINS[domain], "science")
