"""Monitoring: the prediction log, reference profiles, drift and performance checks, reports.

Entry points: :func:`studentops.monitoring.check.run_check` (``studentops monitor``),
:func:`studentops.monitoring.outcomes.record_outcomes` (``studentops outcomes``),
:func:`studentops.monitoring.backfill.backfill_reference` (``studentops backfill-reference``).
See docs/monitoring.md. Nothing is imported here: the parts load their libraries lazily.
"""
