"""Every time given to a cluster is a finite number of seconds >= 0, refused in one line if not.

A clock never reaches NaN or infinity: ``run_for(inf)`` stepped for ever and ``run_for(nan)``
returned having done nothing, ``advance(nan)`` failed converting NaN to an int,
``produce(timeout=nan)`` never timed out, and a real-time ``get(timeout=inf)`` overflowed its
lock's timeout. Each is refused before anything happens, as ``slow()`` already refused them.
"""

from __future__ import annotations

import math
import re

import pytest

from pcmodel.topics.errors import IllegalArgumentError

pytestmark = pytest.mark.timeout(60)

NOT_TIMES = [math.nan, math.inf, -1, 1e300, "1", True]


@pytest.mark.parametrize("value", NOT_TIMES, ids=repr)
@pytest.mark.parametrize("call", [
    ("run_for()", lambda cluster, v: cluster.run_for(v)),
    ("advance()", lambda cluster, v: cluster.advance(v)),
    ("settle()", lambda cluster, v: cluster.settle(v)),
    ("slow()", lambda cluster, v: cluster.slow(0, v)),
    ("produce()", lambda cluster, v: cluster.produce("t", 0, [(None, b"x")], timeout=v)),
    ("get()", lambda cluster, v: cluster.produce("t", 0, [(None, b"x")]).get(timeout=v)),
], ids=lambda call: call[0] if isinstance(call, tuple) else call)
def test_a_time_no_clock_reaches_is_refused_before_anything_happens(make_cluster, call, value):
    name, run = call
    cluster = make_cluster(3)
    cluster.create_topic("t", 1)
    cluster.settle()
    before = cluster.clock()
    with pytest.raises(IllegalArgumentError,
                       match=re.escape(name) + r" needs a finite number of seconds >= 0 "):
        run(cluster, value)
    assert cluster.clock() == before  # no time driven


def test_times_a_clock_reaches_still_work(make_cluster):
    cluster = make_cluster(3)
    cluster.create_topic("t", 1)
    cluster.settle(0)
    cluster.run_for(0.5)
    cluster.advance(0)
    future = cluster.produce("t", 0, [(None, b"x")], acks="all", timeout=5)
    assert future.get(timeout=5).base_offset == 0
