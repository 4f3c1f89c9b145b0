"""The standards catalogue: JSONL files under `data/`, one standard a line, validated on load.

Each line holds code, framework, subject, grade, domain, description (our own words: the CCSS
text itself is under a restrictive licence) and keywords. The loader refuses a malformed code, an
entry whose framework, grade or domain disagrees with its code, and a code seen twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from aivo.curriculum.codes import InvalidStandardCode, grade_range, parse_code
from aivo.schemas import Subject

DATA_DIR = Path(__file__).parent / "data"
CATALOGUE_GLOB = "standards_*.jsonl"
FIELDS = ("code", "framework", "subject", "grade", "domain", "description", "keywords")
MAX_DESCRIPTION_CHARS = 200


class CatalogueError(ValueError):
    """A catalogue file that cannot be loaded; the message names the file, line and code."""


@dataclass(frozen=True)
class Standard:
    code: str
    framework: str
    subject: Subject
    grade: str
    domain: str
    description: str
    keywords: tuple[str, ...]

    @property
    def grades(self) -> tuple[int, int]:
        """Lowest and highest grade (K is 0) the standard is written for."""
        return grade_range(self.grade)


class Catalogue:
    def __init__(self, standards: Sequence[Standard]) -> None:
        self.standards = tuple(standards)
        self._by_code = {s.code: s for s in self.standards}

    def __len__(self) -> int:
        return len(self.standards)

    def __iter__(self) -> Iterator[Standard]:
        return iter(self.standards)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def get(self, code: str) -> Standard:
        return self._by_code[code]


def load_catalogue(paths: Sequence[Path] | None = None) -> Catalogue:
    """Every standard in `paths` (default: the bundled `data/standards_*.jsonl`)."""
    files = sorted(DATA_DIR.glob(CATALOGUE_GLOB)) if paths is None else list(paths)
    if not files:
        raise CatalogueError(f"no catalogue files ({CATALOGUE_GLOB} in {DATA_DIR})")
    seen: dict[str, str] = {}
    standards: list[Standard] = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                where = f"{path.name} line {number}"
                standard = _parse_line(line, where)
                if standard.code in seen:
                    raise CatalogueError(
                        f"{where}: duplicate standard code {standard.code!r} "
                        f"(first in {seen[standard.code]})"
                    )
                seen[standard.code] = where
                standards.append(standard)
    return Catalogue(standards)


def _parse_line(line: str, where: str) -> Standard:
    try:
        entry = json.loads(line)
    except json.JSONDecodeError as error:
        raise CatalogueError(f"{where}: not valid JSON ({error.msg})") from None
    if not isinstance(entry, dict) or set(entry) != set(FIELDS):
        raise CatalogueError(f"{where}: an entry has exactly the fields {', '.join(FIELDS)}")
    code = entry["code"]
    if not isinstance(code, str):
        raise CatalogueError(f"{where}: code must be a string")
    try:
        info = parse_code(code)
    except InvalidStandardCode as error:
        raise CatalogueError(f"{where}: {error}") from None
    expected = {
        "framework": info.framework,
        "grade": info.grade,
        "domain": info.domain,
        "subject": info.subject,
    }
    for key, value in expected.items():
        if entry[key] != value:
            raise CatalogueError(
                f"{where}: {code!r} has {key} {entry[key]!r}, its code says {value!r}"
            )
    description, keywords = entry["description"], entry["keywords"]
    if not isinstance(description, str) or not 0 < len(description) <= MAX_DESCRIPTION_CHARS:
        raise CatalogueError(
            f"{where}: {code!r} needs a description of 1-{MAX_DESCRIPTION_CHARS} characters"
        )
    if not keywords or not all(isinstance(k, str) and k.strip() for k in keywords):
        raise CatalogueError(f"{where}: {code!r} needs a non-empty list of keywords")
    return Standard(
        code=code,
        framework=info.framework,
        subject=Subject(info.subject),
        grade=info.grade,
        domain=info.domain,
        description=description,
        keywords=tuple(keywords),
    )
