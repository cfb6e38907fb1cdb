"""Synthetic learning-platform logs of realistic shape, in the OULAD table layout.

Each student gets a latent ability; it drives engagement (activity volume), punctuality, scores,
the chance to withdraw and the final result, so the weekly features carry signal the way real
logs do. Output uses the OULAD tables and column names, so the same adapter, cleaning and
feature code run on synthetic and real data, and ``studentops events generate`` writes a folder
that ``studentops events features --oulad`` reads. Everything is drawn with numpy in whole
arrays: 100,000 students and 10 million clicks take seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

MODULES = ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG")
PRESENTATIONS = ("2013B", "2013J", "2014B", "2014J")
ACTIVITY_TYPES = ("resource", "oucontent", "url", "forumng", "quiz", "homepage", "subpage")
CATEGORIES = {
    "gender": (("F", "M"), (0.45, 0.55)),
    "region": (
        (
            "East Anglian Region",
            "Scotland",
            "North Western Region",
            "South East Region",
            "West Midlands Region",
            "Wales",
            "London Region",
            "South Region",
            "Yorkshire Region",
            "Ireland",
        ),
        None,
    ),
    "highest_education": (
        (
            "No Formal quals",
            "Lower Than A Level",
            "A Level or Equivalent",
            "HE Qualification",
            "Post Graduate Qualification",
        ),
        (0.01, 0.40, 0.43, 0.15, 0.01),
    ),
    "age_band": (("0-35", "35-55", "55<="), (0.70, 0.29, 0.01)),
    "disability": (("N", "Y"), (0.9, 0.1)),
}
IMD_BANDS = tuple(f"{i}-{i + 10}%" for i in range(0, 100, 10))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _presentations(rng: np.random.Generator) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Courses (length) and the assessment catalogue: TMAs, weight-0 CMAs and one exam."""
    courses, rows = [], []
    next_id = 1000
    for module in MODULES:
        for pres in PRESENTATIONS:
            length = int(rng.integers(234, 270))
            courses.append((module, pres, length))
            n_tma = int(rng.integers(4, 7))
            dues = np.linspace(20, length - 40, n_tma).round().astype(int)
            dues += rng.integers(-3, 4, n_tma)
            weights = np.full(n_tma, 100 // n_tma)
            weights[-1] += 100 - weights.sum()
            for due, weight in zip(dues, weights, strict=True):
                rows.append((module, pres, next_id, "TMA", float(due), float(weight)))
                next_id += 1
            for due in rng.choice(np.arange(15, length - 30), size=int(rng.integers(0, 4))):
                rows.append((module, pres, next_id, "CMA", float(due), 0.0))
                next_id += 1
            rows.append((module, pres, next_id, "Exam", float(length - 3), 100.0))
            next_id += 1
    course_cols = ["code_module", "code_presentation", "module_presentation_length"]
    ass_cols = ["code_module", "code_presentation", "id_assessment", "assessment_type"]
    return (
        pl.DataFrame(courses, schema=course_cols, orient="row"),
        pl.DataFrame(rows, schema=[*ass_cols, "date", "weight"], orient="row"),
    )


def _categorical(rng: np.random.Generator, n: int, name: str) -> np.ndarray:
    values, probs = CATEGORIES[name]
    return np.asarray(values)[rng.choice(len(values), size=n, p=probs)]


def generate_oulad(
    n_students: int, seed: int = 0, clicks_per_student: float = 100.0
) -> dict[str, pl.DataFrame]:
    """OULAD-shaped tables for ``n_students`` (one module presentation each).

    Args:
        n_students: number of students (= enrolments).
        seed: random seed; the same seed gives the same tables.
        clicks_per_student: mean number of activity (studentVle) rows per student.

    Returns:
        Table name -> frame, OULAD column names: ``courses``, ``assessments``, ``studentInfo``
        (``n_students`` rows), ``studentRegistration`` (``n_students`` rows),
        ``studentAssessment``, ``vle`` and ``studentVle`` (about
        ``n_students * clicks_per_student`` rows).
    """
    rng = np.random.default_rng(seed)
    courses, assessments = _presentations(rng)
    n = n_students
    ability = rng.normal(size=n)
    engagement = 0.7 * ability + 0.7 * rng.normal(size=n)
    pres_idx = rng.integers(0, courses.height, n)
    length = courses["module_presentation_length"].to_numpy()[pres_idx]
    student_id = rng.choice(np.arange(10_000, 10_000 + 30 * n), size=n, replace=False)

    withdraw = rng.random(n) < _sigmoid(-1.3 - 1.4 * ability)
    withdraw_day = np.where(
        withdraw, np.minimum(rng.exponential(70, n) - 20, length - 1).round(), np.nan
    )
    passed_score = ability + 0.6 * rng.normal(size=n)
    final = np.where(
        withdraw,
        "Withdrawn",
        np.where(passed_score < -0.4, "Fail", np.where(passed_score > 1.3, "Distinction", "Pass")),
    )
    module = courses["code_module"].to_numpy()[pres_idx]
    pres = courses["code_presentation"].to_numpy()[pres_idx]
    prev_attempts = rng.poisson(np.where(ability < -0.5, 0.4, 0.1))
    info = pl.DataFrame(
        {
            "code_module": module,
            "code_presentation": pres,
            "id_student": student_id,
            **{c: _categorical(rng, n, c) for c in ("gender", "region", "highest_education")},
            "imd_band": np.asarray(IMD_BANDS)[
                np.clip((rng.normal(size=n) * 2 + 5 + ability).astype(int), 0, 9)
            ],
            "age_band": _categorical(rng, n, "age_band"),
            "num_of_prev_attempts": prev_attempts,
            "studied_credits": rng.choice([30, 60, 90, 120, 150, 240], size=n),
            "disability": _categorical(rng, n, "disability"),
            "final_result": final,
        }
    )
    registration = pl.DataFrame(
        {
            "code_module": module,
            "code_presentation": pres,
            "id_student": student_id,
            "date_registration": -np.round(rng.gamma(2.0, 40.0, n) - 10),
            "date_unregistration": pl.Series(withdraw_day, nan_to_null=True),
        }
    )
    student_assessment = _submissions(rng, info, assessments, ability, withdraw_day)
    vle, student_vle = _activity(
        rng, info, length, engagement, withdraw_day, clicks_per_student, courses
    )
    return {
        "courses": courses,
        "assessments": assessments,
        "studentInfo": info,
        "studentRegistration": registration,
        "studentAssessment": student_assessment,
        "vle": vle,
        "studentVle": student_vle,
    }


def _submissions(
    rng: np.random.Generator,
    info: pl.DataFrame,
    assessments: pl.DataFrame,
    ability: np.ndarray,
    withdraw_day: np.ndarray,
) -> pl.DataFrame:
    """One row per (student, assessment) pair that was submitted, with lateness and score."""
    people = info.select("code_module", "code_presentation", "id_student").with_columns(
        pl.Series("_ability", ability), pl.Series("_withdraw", withdraw_day)
    )
    pairs = people.join(assessments, on=["code_module", "code_presentation"], how="inner")
    a = pairs["_ability"].to_numpy()
    due = pairs["date"].to_numpy()
    gone = pairs["_withdraw"].fill_null(np.inf).fill_nan(np.inf).to_numpy()
    is_exam = (pairs["assessment_type"] == "Exam").to_numpy()
    m = len(pairs)
    lateness = np.round(rng.normal(-2.0 - 1.5 * a, 4.0, m))
    day = np.where(is_exam, due, due + lateness)
    submits = (rng.random(m) < _sigmoid(1.8 + 1.5 * a)) & (day <= gone)
    score = np.clip(np.round(62 + 14 * a + rng.normal(0, 11, m)), 0, 100)
    banked = (rng.random(m) < 0.01) & ~is_exam
    day = np.where(banked, -1, day)
    score_or_missing = np.where(rng.random(m) < 0.001, np.nan, score)
    return (
        pairs.select("id_assessment", "id_student")
        .with_columns(
            pl.Series("date_submitted", day.astype(np.int64)),
            pl.Series("is_banked", banked.astype(np.int64)),
            pl.Series("score", score_or_missing, nan_to_null=True),
        )
        .filter(pl.Series(submits | banked))
    )


def _activity(
    rng: np.random.Generator,
    info: pl.DataFrame,
    length: np.ndarray,
    engagement: np.ndarray,
    withdraw_day: np.ndarray,
    per_student: float,
    courses: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The VLE site catalogue and the click log (studentVle): days and clicks per student."""
    n = info.height
    sites_per_pres = 40
    vle = courses.select("code_module", "code_presentation").join(
        pl.DataFrame({"_j": np.arange(sites_per_pres)}), how="cross"
    )
    vle = vle.with_columns(
        pl.Series("id_site", 500_000 + np.arange(vle.height)),
        pl.Series(
            "activity_type",
            np.asarray(ACTIVITY_TYPES)[rng.integers(0, len(ACTIVITY_TYPES), vle.height)],
        ),
        pl.lit(None, dtype=pl.Float64).alias("week_from"),
        pl.lit(None, dtype=pl.Float64).alias("week_to"),
    ).drop("_j")
    intensity = np.exp(0.6 * engagement)
    counts = rng.poisson(per_student * intensity / intensity.mean())
    rows = np.repeat(np.arange(n), counts)
    end = np.where(np.isnan(withdraw_day), length, np.maximum(withdraw_day, -10))[rows]
    start = np.full(len(rows), -15.0)
    day = np.floor(start + rng.random(len(rows)) * (end - start)).astype(np.int64)
    pres_row = (
        info.select("code_module", "code_presentation")
        .join(
            courses.with_row_index("_p"),
            on=["code_module", "code_presentation"],
            how="left",
            maintain_order="left",
        )["_p"]
        .to_numpy()
    )
    site = 500_000 + pres_row[rows] * sites_per_pres + rng.integers(0, sites_per_pres, len(rows))
    student_vle = info.select(
        pl.col("code_module", "code_presentation", "id_student").gather(rows)
    ).with_columns(
        pl.Series("id_site", site),
        pl.Series("date", day),
        pl.Series("sum_click", rng.geometric(0.35, len(rows))),
    )
    return vle.select(
        "id_site", "code_module", "code_presentation", "activity_type", "week_from", "week_to"
    ), student_vle


def write_oulad(tables: dict[str, pl.DataFrame], folder: str | Path) -> list[Path]:
    """Write the tables as ``<name>.csv`` in ``folder`` (created if needed).

    Returns:
        The paths written, one per table, in the order of ``tables``.

    Raises:
        OSError: the folder cannot be created or written.
    """
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in tables.items():
        path = root / f"{name}.csv"
        frame.write_csv(path)
        paths.append(path)
    return paths
