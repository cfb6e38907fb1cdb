"""Features: scikit-learn transformers from raw profile columns to model matrices."""
