"""Gated retraining: a challenger on new labelled data, judged against the champion on recent
rows neither saw, promoted only through the same gates as a manual promotion."""
