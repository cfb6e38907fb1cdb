"""Draft a profile for a new dataset: types, ranges, categories, formats, id, target, sensitive.

The draft is a starting point a person edits, so it errs on the side of saying what it saw
(observed categories, ranges widened to round numbers) and lists every guess a person must
check (:attr:`Draft.notes`) and every question it could not answer (:attr:`Draft.questions`).
It reads cells with the data contract (:mod:`studentops.datasets.contract`), so what it drafts
is what ``validate`` will accept: decimal commas and NA tokens (``N/A``, ``#DIV/0!``) in a
number column keep it a number column, repeated header rows and blank rows are skipped and
counted, and an id or code (``001001``, ``T0001``) is never drafted as a number or a date.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import yaml

from studentops.datasets.contract import Formats, Rule, detect_decimal, fold
from studentops.datasets.loading import read_table
from studentops.datasets.profile import Profile, parse_profile
from studentops.json_values import to_json_safe

MAX_CATEGORIES = 30
NUMERIC_SHARE = 0.9  # a column whose readable cells are this share numbers is a number column
DATE_SHARE = 0.95
ID_NAME = re.compile(
    r"(^id$|_id$|^id_|id$|number$|^matricula|code$|^code|_no$|^no$|nr$|_key$)", re.IGNORECASE
)
TARGET_NAME = re.compile(
    r"(target|outcome|result|label|class|status|grade|pass|dropout|score)", re.IGNORECASE
)
DATE_NAME = re.compile(r"(date|_on$|_at$|^dob$|birth|day)", re.IGNORECASE)
CODE_VALUE = re.compile(r"^(?=.*\d)[A-Za-z0-9][A-Za-z0-9_/.-]*$")
# NA tokens that are values. An NA token (``none``, ``NA``, ``-``) means missing in a numbers
# column, but in a text or category column it may be an answer: ``test_preparation_course`` is
# ``none`` or ``completed``, and reading ``none`` as missing would erase most of the column. So
# a token is never read as missing in a column whose other cells are not numbers (or dates)
# when it is a frequent value (at least NA_VALUE_SHARE of the non-empty cells), or when it is a
# word (letters only: ``none``, ``null``, ``NA``) and the column's other values are words; it
# stays a category value. Rare punctuation tokens and Excel errors (``-``, ``#N/A``) in a word
# column stay missing. See docs/data.md ("NA tokens").
NA_VALUE_SHARE = 0.05
WORD_VALUE = re.compile(r"[^\W\d_][^\d]*")  # starts with a letter, no digits: "group B"

# Sensitive attributes (kept for fairness audits, out of the features): by column name...
SENSITIVE_NAME = re.compile(
    r"(sex|gender|genre|geschlecht|race|ethnic|nationalit|citizen|country.of.birth|"
    r"^age$|age_|_age|birth|dob|disab|special.?need|sen_status|handicap|"
    r"language|mother.?tongue|native|ell$|esl$|"
    r"lunch|frl|free.?meal|fsm|income|poverty|deprivation|imd|pell|scholarship|debtor|"
    r"religio|marital)",
    re.IGNORECASE,
)
# ... and by content: the values of a column name it.
SENSITIVE_VALUES = [
    ("sex/gender", {"male", "female", "m", "f", "man", "woman", "non-binary", "nonbinary"}),
    ("race/ethnicity", {"white", "black", "asian", "hispanic", "latino", "indigenous"}),
    ("free-lunch/income proxy", {"free", "reduced", "standard", "free/reduced"}),
    ("disability", {"disabled", "disability", "y/disability"}),
]

# Words for a bad outcome, in the languages of common school exports; folded before matching.
BAD_OUTCOME = re.compile(
    r"(fail|drop.?out|dropped|withdr|at.?risk|risk|not.?pass|no.?pass|retain|repeat|"
    r"abandon|suspens|reprob|reprov|desist|evad|insuficiente|"
    r"[ée]chec|ajourn|redoubl|nicht.?bestanden|durchgefallen|abbruch|"
    r"bocciat|ritirat|gezakt|uitval|niet.?geslaagd|"
    r"^f$|^e$|^d$)",
    re.IGNORECASE,
)
GOOD_OUTCOME = re.compile(
    r"(pass|graduat|complet|success|distinct|merit|enrolled|aprob|aprov|r[ée]ussi|admis|"
    r"bestanden|promoss|geslaagd|^a$|^b$)",
    re.IGNORECASE,
)


@dataclass
class Draft:
    """A drafted profile: ``data`` (the YAML mapping), ``notes`` (guesses to check) and
    ``questions`` (what the draft leaves unset for a person to answer)."""

    data: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)

    def profile(self) -> Profile:
        """The draft as a Profile (raises ProfileError while a question is open)."""
        return parse_profile(to_json_safe(self.data), origin="inferred profile")

    def to_yaml(self) -> str:
        """The draft with its notes and questions as comments at the top."""
        lines = ["# Draft profile inferred by `studentops profile infer`: check every guess."]
        lines += [f"# guess: {n}" for n in self.notes]
        lines += [f"# QUESTION: {q}" for q in self.questions]
        body = yaml.safe_dump(
            to_json_safe(self.data),
            sort_keys=False,
            allow_unicode=True,
            default_flow_style=None,
            width=100,
        )
        return "\n".join(lines) + "\n" + body


def _round_out(value: float, up: bool) -> float:
    """Widen an observed bound to a round number so a draft does not reject tomorrow's data."""
    if value == 0 or not math.isfinite(value):
        return 0.0
    magnitude = 10 ** math.floor(math.log10(abs(value)))
    step = magnitude if abs(value) >= 10 else max(magnitude, 1.0)
    return float((math.ceil if up else math.floor)(value / step) * step)


def _is_code_like(text: pd.Series) -> bool:
    """Ids and codes: leading zeros (``001001``) or letters with digits (``T0001``)."""
    leading_zero = text.str.fullmatch(r"0\d+").mean() > 0.1
    mixed = (
        text.str.fullmatch(CODE_VALUE.pattern).mean() > 0.9
        and text.str.contains(r"[A-Za-z]").mean() > 0.5
    )
    return bool(leading_zero or mixed)


def infer_column(
    values: pd.Series, formats: Formats | None = None, name: str = ""
) -> tuple[dict[str, Any], list[str]]:
    """Guess one column's spec from its cells (read as text); returns (spec, notes)."""
    fmt = formats or Formats()
    rule = Rule(name or "column", "number", required=False, formats=fmt)
    text = values.astype("string").str.strip()
    blank = (text.isna() | text.eq("")).fillna(True).astype(bool)
    token = (~blank & text.str.casefold().isin(fmt.na_set())).fillna(False).astype(bool)
    notes: list[str] = []
    kept = tokens_as_values(text[~blank], token[~blank], rule)
    if kept:
        token &= ~text.isin(kept).fillna(False).astype(bool)
        notes.append(
            f"{name}: {', '.join(kept)} kept as a value, not read as missing (a frequent value "
            "or a word among words)"
        )
    na = blank | token
    tokens = sorted(set(text[token].tolist()))
    if tokens:
        notes.append(f"{name}: {', '.join(tokens[:6])} read as missing")
    present = text[~na]
    spec: dict[str, Any] = {}
    if na.any():
        spec["nullable"] = True
    if present.empty:
        return {"type": "text", "nullable": True}, notes
    unique = present.unique()
    if _is_code_like(present) or (ID_NAME.search(name) and present.is_unique):
        return {"type": "text", **spec}, notes
    parsed = [rule.parse_number(v) for v in unique]
    numbers = {u: p for u, p in zip(unique, parsed, strict=True) if isinstance(p, float)}
    share = present.isin(list(numbers)).mean()
    if numbers and share >= NUMERIC_SHARE:
        values_num = np.array(list(numbers.values()), dtype=float)
        integral = bool((values_num % 1 == 0).all())
        if share < 1:
            bad = [str(u) for u in unique if u not in numbers][:5]
            notes.append(f"{name}: mostly numbers; {', '.join(bad)} will be rejected")
        serials = integral and values_num.min() > 20_000 and values_num.max() < 80_000
        if DATE_NAME.search(name) and serials:
            notes.append(f"{name}: whole numbers in a date column, read as Excel day numbers")
            return {"type": "datetime", **spec}, notes
        if integral and len(unique) <= min(MAX_CATEGORIES, 10) and share == 1:
            cats = sorted({int(v) for v in values_num})
            return {"type": "category", "categories": cats, **spec}, notes
        lo, hi = float(values_num.min()), float(values_num.max())
        return {
            "type": "integer" if integral else "number",
            # Non-negative data (counts, scores, hours) gets 0 as its floor.
            "min": 0.0 if lo >= 0 else _round_out(lo, up=False),
            "max": _round_out(hi, up=True),
            **spec,
        }, notes
    lowered = {str(u).casefold() for u in unique}
    if lowered <= {"true", "false", "yes", "no", "y", "n", "t", "f"} and len(lowered) <= 2:
        return {"type": "boolean", **spec}, notes
    date_rule = Rule(
        name or "column", "datetime", False, fmt.model_copy(update={"excel_dates": False})
    )
    dates = sum(date_rule(v).reject is None for v in unique[:500])
    if dates / min(len(unique), 500) >= DATE_SHARE:
        return {"type": "datetime", **spec}, notes
    if len(unique) <= MAX_CATEGORIES or len(unique) <= 0.05 * len(present):
        return {
            "type": "category",
            "categories": _fold_categories(unique, name, notes),
            **spec,
        }, notes
    if kept:  # the contract reads NA tokens in a text column as missing
        spec["nullable"] = True
    return {"type": "text", **spec}, notes


def tokens_as_values(present: pd.Series, is_token: pd.Series, rule: Rule) -> list[str]:
    """The NA tokens of a column that are values, not missing (see :data:`NA_VALUE_SHARE`).

    Args:
        present: the column's non-empty cells, stripped text.
        is_token: True where a cell is an NA token.
        rule: a number rule in the file's formats (to tell a numbers column).

    Returns:
        The tokens (as written) to keep as category values; empty for a numbers or dates
        column, or when the column holds nothing but tokens.
    """
    others = present[~is_token]
    if others.empty or not is_token.any():
        return []
    unique = others.unique()
    numbers = [u for u in unique if isinstance(rule.parse_number(u), float)]
    if others.isin(numbers).mean() >= NUMERIC_SHARE:
        return []  # a numbers column keeps its NA tokens
    date_rule = Rule(
        rule.name, "datetime", False, rule.formats.model_copy(update={"excel_dates": False})
    )
    sample = unique[:500]
    if sum(date_rule(v).reject is None for v in sample) / len(sample) >= DATE_SHARE:
        return []
    words = all(WORD_VALUE.fullmatch(str(u)) for u in unique)
    counts = present[is_token].value_counts()
    return sorted(
        str(tok)
        for tok, n in counts.items()
        if n / len(present) >= NA_VALUE_SHARE or (words and str(tok).isalpha())
    )


def _fold_categories(unique: np.ndarray, name: str, notes: list[str]) -> list[str]:
    """Observed categories, one per folded spelling (the contract matches the others)."""
    chosen: dict[str, str] = {}
    for value in sorted(str(u) for u in unique):
        chosen.setdefault(fold(value), value)
    if len(chosen) < len(unique):
        notes.append(
            f"{name}: {len(unique) - len(chosen)} spelling(s) differ only in case or spaces; "
            "kept one of each (validation folds the rest)"
        )
    return sorted(chosen.values())


def guess_id(frame: pd.DataFrame, specs: dict[str, dict[str, Any]]) -> str | None:
    """A column named like an id (or holding codes) whose values are all present and unique."""
    for name in frame.columns:
        col = frame[name]
        named = ID_NAME.search(str(name))
        if named and col.notna().all() and col.is_unique:
            return str(name)
    for name in frame.columns:
        col = frame[name]
        unique_text = specs[str(name)]["type"] == "text" and col.notna().all() and col.is_unique
        if unique_text and _is_code_like(col.astype(str).str.strip()):
            return str(name)
    return None


def guess_target(frame: pd.DataFrame, specs: dict[str, dict[str, Any]], id_col: str | None) -> str:
    """A column named like an outcome, else the last column that is not the id."""
    candidates = [c for c in frame.columns if c != id_col and specs[c]["type"] != "text"]
    named = [c for c in candidates if TARGET_NAME.search(str(c))]
    return str((named or candidates or list(frame.columns))[-1])


YES = {"yes", "y", "true", "t", "1", "si", "sí", "oui", "ja", "sim"}
NO = {"no", "n", "false", "f", "0", "non", "nein", "nao", "não", "nee"}


def at_risk_classes(classes: list[Any], column: str = "") -> list[Any]:
    """Classes whose name says a bad outcome (fail, dropout, withdrawn, ... in several
    languages), unless it also says a good one. Yes/no classes take their meaning from the
    column's name (``dropout: yes`` is at risk, ``passed: no`` is at risk)."""
    folded = {fold(str(c)): c for c in classes}
    if len(folded) == 2 and set(folded) <= YES | NO and set(folded) & YES:
        yes = next(c for k, c in folded.items() if k in YES)
        no = next(c for k, c in folded.items() if k in NO)
        if BAD_OUTCOME.search(column) and not GOOD_OUTCOME.search(column):
            return [yes]
        if GOOD_OUTCOME.search(column):
            return [no]
        return []
    out = []
    for c in classes:
        text = fold(str(c))
        if BAD_OUTCOME.search(text) and not (
            GOOD_OUTCOME.search(text) and not re.search(r"not|nicht|niet|no ", text)
        ):
            out.append(c)
    return out


def guess_sensitive(
    frame: pd.DataFrame, specs: dict[str, dict[str, Any]], skip: set[str]
) -> dict[str, str]:
    """Columns that look like protected attributes, each with why: {column: reason}."""
    found: dict[str, str] = {}
    for name in frame.columns:
        name = str(name)
        if name in skip:
            continue
        if SENSITIVE_NAME.search(name):
            found[name] = "by its name"
            continue
        cats = specs[name].get("categories")
        if specs[name]["type"] == "category" and cats:
            values = {fold(str(c)) for c in cats}
            for what, words in SENSITIVE_VALUES:
                if len(values & words) >= 2 or (values <= words and len(values) >= 2):
                    found[name] = f"its values look like {what}"
                    break
    return found


def clean_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Drop rows that repeat the header or hold nothing, saying how many."""
    from studentops.datasets.validation import skipped_rows

    headers, blanks = skipped_rows(frame)
    notes = []
    if len(headers):
        notes.append(f"{len(headers)} repeated header row(s) skipped")
    if len(blanks):
        notes.append(f"{len(blanks)} empty row(s) skipped")
    drop = np.concatenate([headers, blanks])
    if len(drop):
        frame = frame.drop(index=frame.index[drop])
    return frame, notes


def draft_profile(frame: pd.DataFrame, name: str, target: str | None = None) -> Draft:
    """Draft a profile for ``frame`` (cells as read); ``target`` overrides the guess.

    Raises:
        ProfileError: ``target`` names a column that is not in ``frame``.
    """
    attrs = dict(frame.attrs)
    frame, notes = clean_rows(frame.reset_index(drop=True))
    frame.attrs.update(attrs)
    notes = list(attrs.get("read_notes", [])) + notes
    formats = _file_formats(frame)
    if formats.decimal != ".":
        notes.append("decimal mark ',' (5,4 is five point four): formats.decimal set")
    specs: dict[str, dict[str, Any]] = {}
    for c in frame.columns:
        specs[str(c)], col_notes = infer_column(frame[c], formats, str(c))
        notes += col_notes
    id_col = guess_id(frame, specs)
    questions: list[str] = []
    if id_col:
        specs[id_col] = {"type": "text"}
        notes.append(f"id: {id_col} (text, exactly as written; never a feature)")
    target_col = target or guess_target(frame, specs, id_col)
    if target_col not in specs:
        from studentops.errors import ProfileError

        raise ProfileError(f"target column '{target_col}' is not in the file")
    tspec = specs[target_col]
    notes.append(f"target: {target_col}" + ("" if target else " (guessed from its name)"))
    target_def: dict[str, Any]
    if tspec["type"] in ("integer", "number"):
        target_def = {"column": target_col, "task": "regression"}
        questions.append(
            f"a value of '{target_col}' below which a student is at risk? "
            "(set target.at_risk_below)"
        )
    else:
        present = frame[target_col].dropna().astype(str).str.strip()
        present = present[present.ne("")]
        cats = tspec.get("categories") or _fold_categories(present.unique(), target_col, notes)
        tspec.clear()
        tspec.update({"type": "category", "categories": list(cats)})
        task = "binary" if len(cats) == 2 else "multiclass"
        target_def = {"column": target_col, "task": task}
        bad = at_risk_classes(list(cats), target_col)
        if task == "binary":
            if len(bad) == 1:
                target_def["positive"] = bad[0]
                notes.append(
                    f"at-risk class: {bad[0]!r} (the bad outcome; the risk score is its "
                    "probability)"
                )
            else:
                target_def["positive"] = None
                questions.append(
                    f"which class of '{target_col}' is the bad outcome, {cats[0]!r} or "
                    f"{cats[1]!r}? Set target.positive (the risk score is its probability)"
                )
        elif bad and len(bad) < len(cats):
            target_def["at_risk"] = bad
            notes.append(f"at-risk classes: {', '.join(map(str, bad))} (the bad outcomes)")
        else:
            questions.append(
                f"which classes of '{target_col}' are at risk? Set target.at_risk "
                f"(one or more of {', '.join(map(str, cats))})"
            )
    sensitive = guess_sensitive(frame, specs, {id_col or "", target_col})
    for col, why in sensitive.items():
        notes.append(f"sensitive: {col} ({why}): audited for fairness, not a feature")
    for col, spec in specs.items():
        if spec["type"] == "text" and col != id_col and col != target_col:
            notes.append(f"not a feature: {col} (free text)")
        if spec["type"] == "datetime":
            notes.append(f"{col}: a date, used as days since 1970-01-01")
    data: dict[str, Any] = {"name": name}
    if id_col:
        data["id"] = id_col
    data["columns"] = specs
    data["target"] = target_def
    if sensitive:
        data["sensitive"] = list(sensitive)
    fmt = formats.model_dump(exclude_defaults=True)
    if fmt:
        data["formats"] = fmt
    return Draft(data, notes, questions)


def _file_formats(frame: pd.DataFrame) -> Formats:
    """The decimal mark of the file: ',' when number-like cells use it and never '.'."""
    fmt, _ = detect_decimal(frame, [str(c) for c in frame.columns], Formats())
    return fmt


def infer_profile(frame: pd.DataFrame, name: str, target: str | None = None) -> Profile:
    """Draft a profile for ``frame``; ``target`` overrides the guess.

    Raises:
        ProfileError: the draft leaves a question open (e.g. which class is at risk).
    """
    return draft_profile(frame, name, target).profile()


def draft_from_file(
    path: str,
    name: str,
    sep: str | None = None,
    target: str | None = None,
    encoding: str | None = None,
) -> Draft:
    """Read a CSV/Parquet file (encoding detected unless given) and draft its profile."""
    frame = read_table(path, sep, encoding)
    return draft_profile(frame, name=name, target=target)
