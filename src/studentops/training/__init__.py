"""Training: the search, the final model, its evaluation, explanations and fairness audit."""
