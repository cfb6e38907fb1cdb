"""Registry: the champion/challenger model registry on MLflow, model cards, loading models.

MLflow tracking (experiments, runs, trials) is :mod:`studentops.tracking`, one layer below.
"""
