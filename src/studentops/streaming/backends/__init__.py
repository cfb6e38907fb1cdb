"""Backends chosen by URL scheme: ``redis://`` / ``rediss://`` and ``kinesis://``.

Source and sinks are independent, so a worker may read Kinesis and write Redis. Each backend
module is imported only when its scheme is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from studentops.streaming.backends.base import Sink, Source, StreamURLError

if TYPE_CHECKING:
    from studentops.config import Settings

SCHEMES = ("redis", "rediss", "kinesis")


def _scheme(url: str) -> str:
    scheme = urlsplit(url).scheme
    if scheme not in SCHEMES:
        raise StreamURLError(
            f"{url}: unknown stream URL (use redis://host:port/db/stream or kinesis://stream)"
        )
    return scheme


def check_url(url: str) -> str:
    """Parse a stream URL without connecting, so a typo fails before the model loads."""
    if _scheme(url) == "kinesis":
        from studentops.streaming.backends.kinesis import parse_kinesis_url

        parse_kinesis_url(url)
    else:
        from studentops.streaming.backends.redis_streams import parse_redis_url

        parse_redis_url(url)
    return url


def open_source(url: str, settings: Settings, consumer: str) -> Source:
    """The source for ``url``; ``consumer`` names this worker in a Redis consumer group."""
    if _scheme(url) == "kinesis":
        from studentops.streaming.backends.kinesis import KinesisSource

        path = settings.stream_checkpoint_path or settings.ensure_home() / "stream-checkpoints.db"
        return KinesisSource(
            url,
            group=settings.stream_group,
            checkpoint_path=path,
            endpoint_url=settings.aws_endpoint_url,
            region=settings.aws_region,
        )
    from studentops.streaming.backends.redis_streams import RedisStreamSource

    return RedisStreamSource(
        url, consumer, group=settings.stream_group, claim_idle_ms=settings.stream_claim_idle_ms
    )


def open_sink(url: str, settings: Settings) -> Sink:
    """The sink for ``url`` (results or dead letters)."""
    if _scheme(url) == "kinesis":
        from studentops.streaming.backends.kinesis import KinesisSink

        return KinesisSink(url, endpoint_url=settings.aws_endpoint_url, region=settings.aws_region)
    from studentops.streaming.backends.redis_streams import RedisStreamSink

    return RedisStreamSink(url)


def default_dead_letter_url(source_url: str) -> str:
    """The source's stream with ``-dead`` appended, on the same server or region."""
    if _scheme(source_url) == "kinesis":
        from studentops.streaming.backends.kinesis import parse_kinesis_url

        target = parse_kinesis_url(source_url)
        return target.with_stream(f"{target.stream}-dead")
    from studentops.streaming.backends.redis_streams import parse_redis_url

    parsed = parse_redis_url(source_url)
    return f"{parsed.connection}/{quote(parsed.stream + '-dead', safe=':')}"
