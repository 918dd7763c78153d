"""The spinner's learning rule: spin as long as spins have lately needed, halve after a miss."""

from __future__ import annotations

import multiprocessing

import pytest

from pcmodel.buffers.robust import (
    LOCK_SPIN,
    ROOMY_PERMIT_SPIN,
    ROOMY_WAIT_SPIN,
    SPIN,
    WAIT_SPIN,
    Health,
)
from pcmodel.buffers.robust_semaphore import RobustSemaphore
from pcmodel.buffers.spinning import Spinner

pytestmark = pytest.mark.timeout(30)


def _succeeds_after(n: int):
    """A try_take that fails ``n`` times, then succeeds; records how often it was called."""
    calls = []

    def try_take(block: bool) -> bool:
        assert block is False  # a spinner never blocks
        calls.append(block)
        return len(calls) > n

    return try_take, calls


def test_a_spin_stops_at_the_first_success_and_keeps_room_for_twice_that() -> None:
    spinner = Spinner(300)
    spinner.tries = 20
    try_take, calls = _succeeds_after(15)
    assert spinner.spin(try_take)
    assert len(calls) == 16
    assert spinner.tries == 2 * 15 + 16  # grown: it needed 16 of its 20 tries


def test_a_quick_success_does_not_shrink_the_spin() -> None:
    spinner = Spinner(300)
    try_take, _ = _succeeds_after(0)
    assert spinner.spin(try_take)
    assert spinner.tries == 300


def test_growth_is_capped_at_the_maximum() -> None:
    spinner = Spinner(40)
    spinner.tries = 30
    try_take, _ = _succeeds_after(29)
    assert spinner.spin(try_take)
    assert spinner.tries == 40


def test_a_miss_halves_the_next_spins_down_to_none() -> None:
    spinner = Spinner(300)
    never, calls = _succeeds_after(10**9)
    seen = []
    for _ in range(10):
        assert not spinner.spin(never)
        seen.append(spinner.tries)
    assert len(calls) == 300 + 150 + 75 + 37 + 18 + 9 + 4 + 2 + 1  # then 0 tries
    assert seen == [150, 75, 37, 18, 9, 4, 2, 1, 0, 0]


def test_a_miss_never_takes_the_spin_below_its_floor() -> None:
    spinner = Spinner(1000, least=100)
    never, calls = _succeeds_after(10**9)
    for _ in range(6):
        assert not spinner.spin(never)
    assert spinner.tries == 100  # 1000, 500, 250, 125, then the floor
    assert len(calls) == 1000 + 500 + 250 + 125 + 100 + 100
    try_take, _ = _succeeds_after(300)
    assert spinner.spin(try_take) is False  # 100 tries: a holder needing 301 is missed ...
    assert spinner.spin(_succeeds_after(50)[0])
    assert spinner.tries == 2 * 50 + 16  # ... and a success that needed more grows it


@pytest.mark.parametrize(("most", "least"), [(10, 11), (10, -1)])
def test_a_floor_outside_zero_to_most_is_refused(most, least) -> None:
    with pytest.raises(ValueError, match="least"):
        Spinner(most, least=least)


def test_every_32nd_spin_is_a_full_one_so_a_quiet_machine_is_noticed_again() -> None:
    spinner = Spinner(300)
    never, calls = _succeeds_after(10**9)
    for _ in range(31):
        spinner.spin(never)  # learns to give up at once
    assert spinner.tries == 0
    before = len(calls)
    try_take, _ = _succeeds_after(50)
    assert spinner.spin(try_take)  # the 32nd: a full spin, which succeeds after 51 tries
    assert len(calls) == before
    assert spinner.tries == 2 * 50 + 16


def test_a_process_semaphore_takes_a_free_permit_soon_and_owes_it() -> None:
    context = multiprocessing.get_context()
    health = Health(context)
    semaphore = RobustSemaphore(context, 1, health, WAIT_SPIN)
    assert semaphore.acquire_soon()
    assert health.table[health.debt_slot()] == 1  # a death now would break the buffer
    assert not semaphore.acquire_soon()  # nobody releases: it gives up, never sleeps
    assert semaphore._spinner.tries == WAIT_SPIN // 2
    semaphore.release()
    assert health.table[health.debt_slot()] == 0


@pytest.mark.parametrize("variant", ["condition", "semaphore"])
def test_capacity_one_spins_longest_for_wake_ups_permits_and_the_lock(variant) -> None:
    from pcmodel.buffers import make_buffer

    def spins(buf):
        waited_on = ([buf._not_full, buf._not_empty] if variant == "condition"
                     else [buf._empty_slots, buf._full_slots])
        return {primitive._spinner.most for primitive in waited_on}

    def lock_spin(buf):
        spinner = buf._mutex._spinner
        return spinner.most, spinner.least, spinner.learns

    with make_buffer(variant, 1, "process") as one, make_buffer(variant, 2, "process") as two:
        assert spins(one) == {WAIT_SPIN}
        assert lock_spin(one) == (WAIT_SPIN, 0, True)
        # shorter: only batches wait often there
        assert spins(two) == {ROOMY_WAIT_SPIN if variant == "condition" else ROOMY_PERMIT_SPIN}
        assert lock_spin(two) == (LOCK_SPIN, SPIN, True)  # longer while copies need it
        for buf in (one, two):
            buf.put("x")
            assert buf.get() == "x"


def test_a_spinner_that_does_not_learn_always_spins_its_most() -> None:
    spinner = Spinner(40, learns=False)
    for _ in range(3):
        never, calls = _succeeds_after(10**9)
        assert not spinner.spin(never)
        assert len(calls) == 40
    try_take, calls = _succeeds_after(5)
    assert spinner.spin(try_take) and len(calls) == 6
