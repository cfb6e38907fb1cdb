"""Hot swap: a new champion is loaded beside the old one and swapped in with no failed request."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from studentops.serving.app import create_app
from studentops.serving.holder import ModelHolder, signal_reload
from studentops.serving.predictor import Predictor

from .helpers import MemorySource
from .standin import fake_explainer


class SlowSource(MemorySource):
    """Loading takes a while, as a real MLflow load does."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s

    def load(self, version: str) -> Any:
        time.sleep(self.delay_s)
        return super().load(version)


def holder_for(source: MemorySource) -> ModelHolder:
    return ModelHolder(source, lambda m, info: Predictor(m, info))


def test_reload_outcomes(model: Any, model_b: Any) -> None:
    source = MemorySource()
    holder = holder_for(source)
    assert holder.reload().outcome == "failed" and holder.current is None  # no champion yet
    source.add("1", model)
    assert holder.reload().outcome == "swapped" and holder.version == "1"
    assert holder.reload().outcome == "unchanged" and source.loads == 1
    assert holder.reload(force=True).outcome == "swapped" and source.loads == 2
    source.add("2", model_b)
    result = holder.reload()
    assert (result.outcome, result.previous, result.current) == ("swapped", "1", "2")


def test_a_bad_new_model_keeps_the_old_one(model: Any) -> None:
    source = MemorySource()
    source.add("1", model)
    holder = holder_for(source)
    holder.reload()
    source.add("2", object())  # not a model: building its Predictor fails
    result = holder.reload()
    assert result.outcome == "failed" and holder.version == "1"
    assert "AttributeError" in (holder.last_error or "")


def test_poller_follows_the_signal_file(tmp_path: Path, model: Any, model_b: Any) -> None:
    source = MemorySource()
    source.add("1", model)
    holder = holder_for(source)
    holder.reload()
    signal = tmp_path / "reload-x"
    holder.start_polling(3600, signal)  # the registry poll alone would wait an hour
    try:
        source.add("2", model_b)
        time.sleep(0.05)
        signal_reload(signal)
        deadline = time.monotonic() + 5
        while holder.version != "2" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert holder.version == "2"
    finally:
        holder.stop()


async def _hammer(
    client: httpx.AsyncClient,
    body: list[dict],
    stop: anyio.Event,
    seen: dict[str, int],
    failures: list[str],
    finished: list[float],
) -> None:
    while not stop.is_set():
        r = await client.post("/v1/predict", json=body)
        finished.append(time.perf_counter())
        if r.status_code != 200:
            failures.append(f"{r.status_code}: {r.text[:200]}")
            continue
        for answer in r.json():
            seen[answer["model_version"]] = seen.get(answer["model_version"], 0) + 1
        await asyncio.sleep(0)


@pytest.mark.timeout(60)
def test_swap_under_concurrent_load_fails_no_request(
    settings: Any, model: Any, model_b: Any, records: list[dict[str, Any]]
) -> None:
    """16 clients post without pause while the champion flips 4 times (each load 0.5 s)."""
    source = SlowSource(delay_s=0.5)
    source.add("1", model)
    app = create_app(settings, source=source, explainer=fake_explainer, poll=False)
    holder: ModelHolder = app.state.serving.holder
    failures: list[str] = []
    finished: list[float] = []
    loads: list[tuple[float, float]] = []
    seen: dict[str, int] = {}

    async def scenario() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                stop = anyio.Event()
                async with anyio.create_task_group() as tg:
                    for _ in range(16):
                        tg.start_soon(_hammer, client, records[:2], stop, seen, failures, finished)
                    for i in range(4):
                        await anyio.sleep(0.1)
                        source.add(str(i + 2), model_b if i % 2 == 0 else model)
                        began = time.perf_counter()
                        result = await anyio.to_thread.run_sync(holder.reload)
                        loads.append((began, time.perf_counter()))
                        assert result.outcome == "swapped", result
                    await anyio.sleep(0.1)
                    stop.set()

    asyncio.run(scenario())
    assert failures == []
    assert holder.version == "5"
    assert len(finished) > 200
    assert {"1", "5"} <= set(seen)
    # Requests kept being answered while each 0.5 s load ran: none waited for a load.
    for began, ended in loads:
        assert sum(began < t < ended for t in finished) > 10


def test_no_champion_is_warned_once_not_every_poll(
    model: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    source = MemorySource()
    holder = holder_for(source)
    with caplog.at_level(logging.DEBUG, logger="studentops.serving.holder"):
        for _ in range(5):  # the poller retries every second while there is no model
            assert holder.reload().outcome == "failed"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "no champion" in warnings[0].getMessage()
    assert "no model served yet" in warnings[0].getMessage()  # not "keeping version None"
    source.add("1", model)
    assert holder.reload().outcome == "swapped"
