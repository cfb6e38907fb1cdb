"""`studentops stream`: options, and a bad URL fails before any model loads."""

from __future__ import annotations

import pytest

from studentops.cli import main


def test_stream_help_lists_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["stream", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in (
        "--source",
        "--sink",
        "--profile",
        "--batch-size",
        "--max-wait-ms",
        "--consumer",
    ):
        assert option in out


def test_a_bad_url_is_one_line_and_exit_code_2(
    home: object, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model must not load before the URLs are checked")

    monkeypatch.setattr("studentops.streaming.service.open_holder", no_model)
    with pytest.raises(SystemExit) as exit_info:
        main(["stream", "--source", "kafka://x/y", "--sink", "redis://h/0/out"])
    assert exit_info.value.code == 2
    assert "unknown stream URL" in capsys.readouterr().err
