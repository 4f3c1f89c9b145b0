"""Standard codes and the catalogue loader: formats, consistency, duplicates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aivo.curriculum.catalogue import CatalogueError, load_catalogue
from aivo.curriculum.codes import CCSS_ELA, CCSS_MATH, NGSS, InvalidStandardCode, parse_code


@pytest.mark.parametrize(
    ("code", "framework", "grade"),
    [
        ("5.NF.A.1", CCSS_MATH, "5"),
        ("K.CC.A.1", CCSS_MATH, "K"),
        ("6.RP.A.3c", CCSS_MATH, "6"),
        ("HSF.IF.A.1", CCSS_MATH, "9-12"),
        ("HSG.SRT.C.8", CCSS_MATH, "9-12"),
        ("RL.4.3", CCSS_ELA, "4"),
        ("RF.K.2", CCSS_ELA, "K"),
        ("L.9-10.2", CCSS_ELA, "9-10"),
        ("RH.6-8.1", CCSS_ELA, "6-8"),
        ("5-LS1-1", NGSS, "5"),
        ("MS-PS2-1", NGSS, "6-8"),
        ("HS-ESS3-5", NGSS, "9-12"),
        ("K-2-ETS1-1", NGSS, "K-2"),
        ("3-5-ETS1-3", NGSS, "3-5"),
    ],
)
def test_valid_codes_parse(code: str, framework: str, grade: str) -> None:
    info = parse_code(code)
    assert (info.framework, info.grade) == (framework, grade)


@pytest.mark.parametrize(
    "code",
    [
        "5.NF.1",  # no cluster letter
        "5.NF.E.1",  # clusters are A-D
        "3.RP.A.1",  # grade 3 has no ratios domain
        "9.NF.A.1",  # no grade 9 in the K-8 format
        "HSF.SSE.A.1",  # SSE belongs to algebra, not functions
        "HSX.IF.A.1",  # no conceptual category X
        "RL.4.11",  # RL has standards 1-10
        "RF.7.3",  # foundational skills stop at grade 5
        "RF.3.1",  # RF.1 and RF.2 exist only in K and 1
        "RH.4.1",  # history literacy starts at 6-8
        "RL.6-8.1",  # RL is per grade in 6-8
        "5-ETS1-1",  # engineering is coded by band
        "K-2-LS1-1",  # a K-2 band holds only engineering
        "MS-PS5-1",  # PS has core ideas 1-4
        "6-LS1-1",  # middle school is MS, not a grade
        "5.nf.a.1",  # case matters
        " 5.NF.A.1",
        "",
    ],
)
def test_malformed_codes_are_refused_by_name(code: str) -> None:
    with pytest.raises(InvalidStandardCode) as refused:
        parse_code(code)
    assert repr(code) in str(refused.value)


def _entry(code: str, **changes: object) -> dict[str, object]:
    info = parse_code(code)
    entry: dict[str, object] = {
        "code": code,
        "framework": info.framework,
        "subject": info.subject,
        "grade": info.grade,
        "domain": info.domain,
        "description": "A short description.",
        "keywords": ["kw"],
    }
    entry.update(changes)
    return entry


def _write(tmp_path: Path, entries: list[dict[str, object]]) -> Path:
    path = tmp_path / "standards_test.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in entries) + "\n", encoding="utf-8")
    return path


def test_duplicate_code_is_refused_with_its_name(tmp_path: Path) -> None:
    path = _write(tmp_path, [_entry("5.NF.A.1"), _entry("4.NF.A.1"), _entry("5.NF.A.1")])
    with pytest.raises(CatalogueError, match=r"line 3: duplicate standard code '5\.NF\.A\.1'"):
        load_catalogue([path])


def test_duplicate_across_files_is_refused(tmp_path: Path) -> None:
    first = _write(tmp_path, [_entry("MS-PS2-1")])
    second = tmp_path / "standards_other.jsonl"
    second.write_text(json.dumps(_entry("MS-PS2-1")) + "\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"first in standards_test\.jsonl line 1"):
        load_catalogue([first, second])


def test_malformed_code_in_a_file_is_refused_with_file_and_line(tmp_path: Path) -> None:
    entries = [_entry("5.NF.A.1"), {**_entry("5.NF.A.2"), "code": "5.NF.A"}]
    with pytest.raises(CatalogueError, match=r"standards_test.jsonl line 2: .*'5\.NF\.A'"):
        load_catalogue([_write(tmp_path, entries)])


@pytest.mark.parametrize(
    ("field", "value"),
    [("grade", "6"), ("framework", "NGSS"), ("subject", "science"), ("domain", "Geometry")],
)
def test_entry_that_disagrees_with_its_code_is_refused(
    tmp_path: Path, field: str, value: str
) -> None:
    with pytest.raises(CatalogueError, match=f"has {field}"):
        load_catalogue([_write(tmp_path, [_entry("5.NF.A.1", **{field: value})])])


@pytest.mark.parametrize(
    "change", [{"description": ""}, {"keywords": []}, {"extra": 1}, {"description": "x" * 201}]
)
def test_incomplete_entry_is_refused(tmp_path: Path, change: dict[str, object]) -> None:
    with pytest.raises(CatalogueError, match=r"5\.NF\.A\.1|exactly the fields"):
        load_catalogue([_write(tmp_path, [_entry("5.NF.A.1", **change)])])


def test_bundled_catalogue_covers_every_grade_and_framework() -> None:
    catalogue = load_catalogue()
    assert len(catalogue) >= 300
    assert {s.framework for s in catalogue} == {CCSS_MATH, CCSS_ELA, NGSS}
    covered = {g for s in catalogue for g in range(s.grades[0], s.grades[1] + 1)}
    assert covered == set(range(13))
    for framework in (CCSS_MATH, CCSS_ELA, NGSS):
        grades = {
            g
            for s in catalogue
            if s.framework == framework
            for g in range(s.grades[0], s.grades[1] + 1)
        }
        assert grades == set(range(13)), framework
    math_hs = [s for s in catalogue if s.code.startswith("HS") and s.framework == CCSS_MATH]
    assert len(math_hs) >= 50
    assert "5.NF.A.1" in catalogue and catalogue.get("5.NF.A.1").subject.value == "math"
