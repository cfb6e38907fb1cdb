"""Scoring event streams: a micro-batching worker over Redis Streams or Kinesis, and a Lambda.

See docs/streaming.md. Submodules import their heavy dependencies (redis, boto3, the model)
only when used, so importing this package costs nothing.
"""
