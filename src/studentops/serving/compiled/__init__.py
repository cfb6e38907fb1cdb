"""The compiled scorer: a trained ensemble's own numbers from numba loops, far faster.

Entry point :func:`~studentops.serving.compiled.scorer.compile_scorer`; the contract a model
meets to be compiled is :mod:`~studentops.serving.compiled.protocol`. Modules, from the top:
``scorer`` (members, proofs against the model), ``forests`` (tree members and their links),
``tree_readers`` (each library's trees read), ``trees`` (the flat forest), ``linear`` (linear
members folded), ``pipelines`` (the per-fold fallback), ``transforms`` (preprocessing steps in
numpy), ``kernels`` (the numba loops). This package imports no other studentops module.
"""
