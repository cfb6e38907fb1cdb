"""Serving: answers for students from the registry's champion, by API, batch file and stream.

Three groups of modules:

- the HTTP app: ``app`` (``create_app``), ``routes/``, ``deps`` (FastAPI dependencies),
  ``schemas`` (request and answer models), ``security`` (API keys, body limit), ``metrics``
  (Prometheus), ``service`` (the routes' plain functions), ``holder`` (hot model swaps),
  ``source`` (the registry's champion), ``commands`` (``studentops serve`` and ``score``);
- the prediction core: ``predictor`` (validate, score, band and answer, shared by every
  channel), ``batch`` (whole files), ``bands`` (risk bands), ``inputs`` (where a batch comes
  from);
- ``compiled/``: the compiled scorer, the model's own numbers from numba loops.
"""
