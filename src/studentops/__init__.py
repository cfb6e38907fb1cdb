"""studentops: predict student outcomes and act on them, end to end and in production."""

__version__ = "0.1.0"
