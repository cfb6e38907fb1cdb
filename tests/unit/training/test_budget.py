"""The budget policy: time or trials, the reserve after the search, the process start."""

from __future__ import annotations

import math
import time

import pytest

from studentops.errors import ConfigError
from studentops.training.budget import (
    POST_PER_SETUP,
    Budget,
    fold_would_overrun,
    post_search_reserve,
    process_age,
    process_started,
)


def test_a_trial_budget_has_no_clock() -> None:
    b = Budget.create(time_s=None, trials=5, n_rows=1000)
    assert b.mode == "trials" and b.trials == 5
    assert math.isinf(b.search_deadline) and math.isinf(b.final_fit_deadline)
    assert b.seconds_before_logging() is None


def test_no_budget_or_a_bad_one_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--trials"):
        Budget.create(time_s=None, trials=None, n_rows=10)
    with pytest.raises(ConfigError, match="positive"):
        Budget.create(time_s=0, trials=None, n_rows=10)
    with pytest.raises(ConfigError, match="at least 1"):
        Budget.create(time_s=None, trials=0, n_rows=10)


def test_the_stages_after_the_search_are_reserved_in_order() -> None:
    start = time.perf_counter()
    b = Budget.create(time_s=60, trials=None, n_rows=2000, start=start, final_fit=True)
    assert b.mode == "time" and b.end == pytest.approx(start + 60)
    assert b.search_deadline < b.final_fit_deadline < b.end
    assert b.reserve_s == pytest.approx(post_search_reserve(2000, 60), rel=0.05)
    assert 0 < b.logging_s < b.reserve_s


def test_a_slow_start_reserves_more_after_the_search() -> None:
    """Start-up seconds already spent tell how slow the machine is now."""
    quiet = post_search_reserve(2000, 60)
    slow = post_search_reserve(2000, 60, setup_s=30)
    assert slow == pytest.approx(POST_PER_SETUP * 30) and slow > quiet
    assert post_search_reserve(2000, 60, log=False, setup_s=30) < slow  # tune: only the exit
    assert post_search_reserve(2000, 4, setup_s=30) == 2.0  # never more than half the budget
    started = time.perf_counter() - 30
    b = Budget.create(time_s=60, trials=None, n_rows=2000, start=started)
    assert b.reserve_s >= POST_PER_SETUP * 30


def test_fold_projection() -> None:
    now = time.perf_counter()
    assert not fold_would_overrun(now, 0, 5, 1.0, now + 10)
    assert fold_would_overrun(now, 0, 5, 20.0, now + 10)  # the first fold alone is too long
    assert fold_would_overrun(now - 4, 1, 5, 0.0, now + 10)  # 4 s a fold, 4 folds left


def test_the_budget_counts_from_the_process_start() -> None:
    """pytest has imported and run for a while: the process started well before now."""
    age = process_age()
    assert age > 0.5
    assert time.perf_counter() - process_started(max_age_s=1e9) == pytest.approx(age, abs=0.1)
    # a long-lived process (a notebook, a test runner) starts its commands now
    assert time.perf_counter() - process_started(max_age_s=0.0) < 0.1
