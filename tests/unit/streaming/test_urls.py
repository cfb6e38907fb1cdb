"""Stream URLs: what each backend accepts, and errors that name the problem."""

from __future__ import annotations

import re

import pytest

from studentops.config import load_settings
from studentops.streaming.backends import check_url, default_dead_letter_url, open_sink
from studentops.streaming.backends.base import StreamURLError
from studentops.streaming.backends.kinesis import parse_kinesis_url
from studentops.streaming.backends.redis_streams import parse_redis_url


@pytest.mark.parametrize(
    ("url", "connection", "stream", "group", "maxlen"),
    [
        ("redis://h:1/0/events", "redis://h:1/0", "events", None, None),
        ("redis://h:1/events", "redis://h:1/0", "events", None, None),
        ("redis://h:1/3/a:b?group=g&maxlen=1000", "redis://h:1/3", "a:b", "g", 1000),
        ("rediss://u:p@h:1/2/x", "rediss://u:p@h:1/2", "x", None, None),
        ("redis:///0/x", "redis://localhost:6379/0", "x", None, None),
    ],
)
def test_redis_urls(
    url: str, connection: str, stream: str, group: str | None, maxlen: int | None
) -> None:
    parsed = parse_redis_url(url)
    assert (parsed.connection, parsed.stream, parsed.group, parsed.maxlen) == (
        connection,
        stream,
        group,
        maxlen,
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://h:1", "expected redis://host:port[/db]/stream"),
        ("redis://h:1/0/a/b", "expected redis://host:port[/db]/stream"),
        ("redis://h:1/zero/a", "database must be a number"),
        ("redis://h:1/0/a?maxlen=lots", "maxlen must be a whole number"),
        ("redis://h:1/0/a?batch=3", "unknown option(s) batch"),
        ("kafka://h/a", "unknown stream URL"),
        ("kinesis://", "expected kinesis://stream-name"),
        ("kinesis://a/b", "expected kinesis://stream-name"),
        ("kinesis://a?start=middle", "start must be trim_horizon or latest"),
        ("kinesis://a?poll_ms=-1", "poll_ms must be >= 0"),
    ],
)
def test_bad_urls_say_why(url: str, message: str) -> None:
    with pytest.raises(StreamURLError, match=re.escape(message)):
        check_url(url)


def test_kinesis_urls() -> None:
    parsed = parse_kinesis_url("kinesis://events?region=eu-west-1&start=latest&poll_ms=50")
    assert (parsed.stream, parsed.region, parsed.start, parsed.poll_ms) == (
        "events",
        "eu-west-1",
        "LATEST",
        50,
    )
    default = parse_kinesis_url("kinesis://events")
    assert (default.start, default.poll_ms, default.region) == ("TRIM_HORIZON", 200, None)


@pytest.mark.parametrize(
    ("source", "dead"),
    [
        ("redis://h:1/2/events?group=g", "redis://h:1/2/events-dead"),
        ("redis://h:1/events", "redis://h:1/0/events-dead"),
        ("kinesis://events?region=eu-west-1&poll_ms=5", "kinesis://events-dead?region=eu-west-1"),
    ],
)
def test_dead_letters_default_to_the_source_name_plus_dead(source: str, dead: str) -> None:
    assert default_dead_letter_url(source) == dead


def test_sinks_are_chosen_by_scheme(home: object) -> None:
    settings = load_settings()
    assert type(open_sink("redis://127.0.0.1:1/0/x", settings)).__name__ == "RedisStreamSink"
    sink = open_sink("kinesis://x?region=us-east-1", settings)
    assert type(sink).__name__ == "KinesisSink"
