"""A tiny made-up OULAD folder and event-log builders for the events tests."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from studentops.events.schema import EventLog

TINY = {
    "courses.csv": """code_module,code_presentation,module_presentation_length
AAA,2013J,100
""",
    "assessments.csv": """code_module,code_presentation,id_assessment,assessment_type,date,weight
AAA,2013J,1,TMA,10,20.0
AAA,2013J,2,TMA,20,30.0
AAA,2013J,3,CMA,30,0.0
AAA,2013J,4,Exam,,50.0
""",
    "studentInfo.csv": "code_module,code_presentation,id_student,gender,region,highest_education,"
    "imd_band,age_band,num_of_prev_attempts,studied_credits,disability,final_result\n"
    """AAA,2013J,11,F,Scotland,HE Qualification,20-30%,0-35,0,60,N,Pass
AAA,2013J,12,M,Wales,Lower Than A Level,,35-55,1,120,Y,Withdrawn
AAA,2013J,13,F,Ireland,A Level or Equivalent,10-20,55<=,0,30,N,Fail
""",
    "studentRegistration.csv": "code_module,code_presentation,id_student,date_registration,"
    """date_unregistration
AAA,2013J,11,-30.0,
AAA,2013J,12,-5.0,15.0
AAA,2013J,13,,
""",
    "studentAssessment.csv": """id_assessment,id_student,date_submitted,is_banked,score
1,11,8,0,60.0
2,11,25,0,80.0
1,12,9,0,40.0
2,12,16,0,55.0
1,13,-2,1,70.0
2,13,-3,0,
""",
    "vle.csv": """id_site,code_module,code_presentation,activity_type,week_from,week_to
100,AAA,2013J,resource,,
""",
}


def write_tiny_oulad(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in TINY.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def tiny_oulad(tmp_path: Path) -> Path:
    """OULAD tables for three students of one presentation, made up by hand."""
    return write_tiny_oulad(tmp_path / "oulad")


def catalogue(*rows: tuple[str, int | None, float]) -> pl.DataFrame:
    """Assessments of module M / presentation P: (id, due day, weight)."""
    return pl.DataFrame(
        {
            "module": ["M"] * len(rows),
            "presentation": ["P"] * len(rows),
            "assessment_id": [r[0] for r in rows],
            "assessment_type": ["TMA"] * len(rows),
            "due_day": [r[1] for r in rows],
            "weight": [r[2] for r in rows],
        },
        schema_overrides={"due_day": pl.Int32},
    )


def event_log(events: list[dict[str, object]], assessments: pl.DataFrame) -> EventLog:
    """Events of module M / presentation P from short dicts (missing fields are null)."""
    rows = [{"module": "M", "presentation": "P", **e} for e in events]
    return EventLog.build(pl.DataFrame(rows, infer_schema_length=None), assessments)
