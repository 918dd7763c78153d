"""Which instrumentation levels each entry point takes: a buffer's ``instrument`` takes a level,
its name, or a flag (off by default, so None is off); the runner's takes a level or its name
only, since its default is "timeline" and None would have run unrecorded, as "off"; and so do
the Kafka clients' settings for their buffers, the producer's and the consumer's alike."""

from __future__ import annotations

import pytest

from pcmodel.buffers import make_buffer
from pcmodel.experiments import runner
from pcmodel.instrument import Level
from pcmodel.topics import Broker, KafkaConsumer, KafkaProducer
from pcmodel.topics.errors import KafkaConfigurationError

TINY = {"items": 4, "producers": 1, "consumers": 1}
CHOICES = "choose one of 'off', 'counters', 'timeline'"


@pytest.fixture
def no_runs(monkeypatch):
    """Fail the test if a run starts: a wrong level is refused before anything runs."""
    def refuse(*args, **kwargs):
        raise AssertionError("a run started before the arguments were checked")

    monkeypatch.setattr(runner, "_supervise", refuse)


@pytest.mark.parametrize("value", [None, True, False], ids=["none", "true", "false"])
def test_run_workload_refuses_a_level_that_is_not_one(no_runs, value):
    with pytest.raises(ValueError, match=rf"instrument={value!r} is not a level; {CHOICES}"):
        runner.run_workload(**TINY, instrument=value)


def test_a_sweep_refuses_instrument_none_before_its_first_run(no_runs):
    with pytest.raises(ValueError, match=rf"instrument=None is not a level; {CHOICES}"):
        runner.capacity_sweep(capacities=(1, 2), variants=("condition",), instrument=None,
                              **TINY)


@pytest.mark.parametrize("value", ["off", Level.COUNTERS], ids=["name", "level"])
def test_run_workload_takes_a_level_or_its_name(value):
    result = runner.run_workload(**TINY, instrument=value)
    assert result.instrument == Level.parse(value).value
    assert result.items_moved == TINY["items"]


@pytest.mark.parametrize(("value", "level"), [
    (None, Level.OFF), (False, Level.OFF), (True, Level.COUNTERS), ("timeline", Level.TIMELINE),
])
def test_a_buffer_takes_a_flag_as_documented(value, level):
    assert Level.parse(value) is level
    buffer = make_buffer("condition", 2, instrument=value)
    try:
        assert buffer.stats().level is level
    finally:
        buffer.close()


@pytest.mark.parametrize("value", [None, True, 3, "Off", b"off"])
def test_names_only_refuses_anything_but_a_level_or_its_name(value):
    with pytest.raises(ValueError, match=rf"instrument={value!r} is not a level; {CHOICES}"):
        Level.parse(value, flags=False)
    assert Level.parse("counters", flags=False) is Level.COUNTERS


CLIENT_SETTINGS = [(KafkaProducer, "buffer_instrument"), (KafkaConsumer, "fetch_buffer_instrument")]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("value", [None, True, False, "bad"], ids=repr)
@pytest.mark.parametrize(("client", "setting"), CLIENT_SETTINGS, ids=["producer", "consumer"])
def test_a_clients_buffer_level_is_a_level_or_its_name(client, setting, value):
    with Broker() as broker:
        with pytest.raises(KafkaConfigurationError, match=f"{setting}={value!r} is not a "
                                                          f"level; {CHOICES}$"):
            client(broker=broker, **{setting: value})
        for level in (Level.COUNTERS, "timeline"):
            client(broker=broker, **{setting: level}).close()
