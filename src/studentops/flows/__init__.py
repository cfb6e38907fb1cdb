"""Prefect 3 flows over the parts' plain functions: train, score, events-features, monitor, retrain.

The flows hold no logic of their own (``definitions.py``); schedules come from settings
(``schedules.py``); a local Prefect server with SQLite or PostgreSQL under home is started or
reused (``server.py``); failed, crashed, cancelled and stuck runs are reported (``alerts.py``,
``sweep.py``). See docs/orchestration.md.
"""
