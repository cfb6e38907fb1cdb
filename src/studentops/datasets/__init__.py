"""Datasets: profiles, the data contract, loading, row-level validation and synthetic cohorts."""
