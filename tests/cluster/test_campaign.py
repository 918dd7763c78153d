"""The seeded fault campaign, short: invariants on every run, and the acks=1 loss found.

The long campaign (a few hundred runs) is ``python -m pcmodel.cluster.campaign --runs 300``,
or this file with ``PCMODEL_LONG_CAMPAIGN=1``.
"""

from __future__ import annotations

import os
import signal
import threading

import pytest

from pcmodel.cluster import campaign
from pcmodel.cluster.campaign import CampaignSettings, main, run_once
from pcmodel.cluster.faults import random_plan

RUNS = 300 if os.environ.get("PCMODEL_LONG_CAMPAIGN") else 24
#: 24 runs take about 15 s of CPU (virtual time: no waiting); a hang is caught all the same
#: with room for a machine running other work (a CI run beside others took 60 s).
RUNS_TIMEOUT = 900 if RUNS > 24 else 300


@pytest.mark.timeout(RUNS_TIMEOUT)
def test_acks_all_with_min_isr_two_never_loses_an_acknowledged_record():
    settings = CampaignSettings(acks="all", min_insync_replicas=2)
    acknowledged = 0
    for seed in range(RUNS):
        report = run_once(seed, settings)
        assert report.ok, report.scenario()
        assert not report.lost, report.scenario()
        acknowledged += report.acknowledged
    assert acknowledged > RUNS * 50  # the runs did write, despite the faults


@pytest.mark.timeout(120)
def test_acks_one_campaign_finds_a_run_that_loses_acknowledged_records():
    settings = CampaignSettings(acks=1, min_insync_replicas=1)
    for seed in range(40):
        report = run_once(seed, settings)
        assert report.ok, report.scenario()  # losing is allowed with acks=1, diverging is not
        if report.lost:
            break
    else:
        pytest.fail("40 runs with acks=1 lost no acknowledged record")
    scenario = report.scenario()
    assert f"--seed {seed} --acks 1" in scenario and "LOST acknowledged record" in scenario
    again = run_once(seed, settings)  # the scenario replays: same seed, same loss
    assert again.lost == report.lost


@pytest.mark.timeout(120)
def test_an_idempotent_retrying_producer_never_stores_a_record_twice():
    retrying = CampaignSettings(acks="all", retries=True)
    idempotent = CampaignSettings(acks="all", idempotent=True)
    duplicated = 0
    for seed in range(RUNS // 2):
        report = run_once(seed, idempotent)
        assert report.ok and not report.duplicates, report.scenario()
        duplicated += bool(run_once(seed, retrying).duplicates)
    assert duplicated, "plain retries never duplicated a record: the test proves nothing"


@pytest.mark.timeout(RUNS_TIMEOUT)
def test_a_transactional_producer_keeps_every_transaction_whole_under_faults():
    # Checked on every run (pcmodel.cluster.campaign_transactions): nothing hangs, committed
    # transactions are visible whole, aborted ones not at all, uncertain ones all or nothing.
    settings = CampaignSettings(transactional=True, duration=10.0)
    committed = 0
    for seed in range(RUNS):
        report = run_once(seed, settings)
        assert report.ok, report.scenario()
        assert "--transactional" in report.scenario()
        committed += report.acknowledged
    assert committed > RUNS * 15  # transactions did commit, despite the faults


@pytest.mark.timeout(RUNS_TIMEOUT)
def test_a_consumer_group_keeps_its_invariants_and_recovers_under_faults():
    # Checked on every run (pcmodel.cluster.campaign_groups): no partition has two owners in
    # one generation, committed offsets never go back, and once the faults are undone the
    # survivors reach one Stable generation owning every partition and commit every log's end.
    settings = CampaignSettings(groups=True)
    commits = generations = 0
    for seed in range(RUNS):
        report = run_once(seed, settings)
        assert report.ok, report.scenario()
        assert "--groups" in report.scenario()
        commits += report.group_commits
        generations += report.group_generations
    assert commits > RUNS * 3  # the members did commit, despite the faults
    # and rebalanced: a first generation, the late member's, the crashed member's expiry
    assert generations >= RUNS * 3
    first, second = run_once(5, settings), run_once(5, settings)  # it replays exactly too
    assert (first.group_commits, first.group_generations, first.acknowledged) == \
        (second.group_commits, second.group_generations, second.acknowledged)


def test_group_members_reset_below_a_truncated_log_and_commit_where_nothing_was_read():
    # Found by `python -m pcmodel.cluster.campaign --groups --transactional [--unclean] --runs
    # 3000`. Seed 500, the first such seed since the leaders check their ISRs every half lag
    # limit as Kafka's do (1060 before; 1056 before the ISR and high-watermark rules followed
    # Kafka 3.7's): an unclean election truncates data-0 below the group's committed offset
    # (12); the member's fetch is answered OFFSET_OUT_OF_RANGE, it starts again from the
    # earliest offset (auto.offset.reset) and commits from there. Seed 760: the only
    # transaction-log write of the run waits out its timeout at an isolated leader, so nothing
    # is produced; the members commit position 0 of the empty partitions, as a consumer
    # commits every position it holds.
    truncated = run_once(500, CampaignSettings(transactional=True, groups=True,
                                               unclean_leader_election_enable=True))
    assert truncated.ok, truncated.scenario()
    assert truncated.vanished and truncated.broken  # the election did truncate: reported
    empty = run_once(760, CampaignSettings(transactional=True, groups=True))
    assert empty.ok, empty.scenario()
    assert empty.acknowledged == 0 and empty.group_commits > 0


def test_a_retrying_producer_at_acks_1_leaves_every_replica_alike():
    # Found by `python -m pcmodel.cluster.campaign --retries --acks 1 --runs 3000`: what the
    # producer resent once the cluster had settled was answered by the leader alone, and the
    # replicas were compared before the followers had copied it (seeds 0 and 15).
    settings = CampaignSettings(acks=1, retries=True)
    for seed in (0, 15):
        report = run_once(seed, settings)
        assert report.ok, report.scenario()


def test_the_same_seed_gives_the_same_plan_and_history():
    assert random_plan(7, brokers=3, duration=3).script() == \
        random_plan(7, brokers=3, duration=3).script()
    assert random_plan(7, brokers=3, duration=3).faults != \
        random_plan(8, brokers=3, duration=3).faults
    first, second = run_once(3), run_once(3)
    assert (first.acknowledged, first.consumed, first.lost) == \
        (second.acknowledged, second.consumed, second.lost)


def test_campaign_command_replays_one_seed(capsys):
    assert main(["--seed", "2", "--acks", "all"]) == 0
    out = capsys.readouterr().out
    assert "# replay: python -m pcmodel.cluster.campaign --seed 2" in out
    assert "1 runs in" in out


@pytest.mark.parametrize("value", ["0", "4", "-1"])
def test_campaign_command_refuses_an_impossible_min_isr_before_running(value, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--runs", "1", "--min-insync-replicas", value])
    assert exited.value.code == 2
    assert f"--min-insync-replicas must be between 1 and the topic's 3 replicas, got {value}" \
        in capsys.readouterr().err


@pytest.mark.timeout(30)
def test_campaign_command_stops_on_sigterm_with_one_line(monkeypatch, capsys):
    def campaign_until_a_signal(seeds, settings):
        os.kill(os.getpid(), signal.SIGTERM)
        threading.Event().wait(20)  # the handler raises KeyboardInterrupt in here
        raise AssertionError("SIGTERM did not interrupt the campaign")

    monkeypatch.setattr(campaign, "run_campaign", campaign_until_a_signal)
    assert main(["--runs", "1"]) == 130
    assert capsys.readouterr().err == "python -m pcmodel.cluster.campaign: interrupted\n"


def test_unclean_election_can_lose_records_a_consumer_already_read():
    # Seed 743 was found by `python -m pcmodel.cluster.campaign --unclean --min-insync-replicas 1
    # --runs 800` (173 of `--runs 200` before a follower could rejoin the ISR under a steady
    # load): a stopped replica returns, the ISR members die before it catches up, it leads
    # out of sync, and committed, consumed records vanish.
    settings = CampaignSettings(acks="all", min_insync_replicas=1,
                                unclean_leader_election_enable=True)
    report = run_once(743, settings)
    assert report.ok, report.scenario()  # reported, not a violation: that is the lesson
    assert report.vanished and report.lost
    assert "CONSUMED record vanished (unclean election)" in report.scenario()


def test_unclean_elections_break_transactions_and_hanging_ones_are_aborted():
    # Seeds found by `python -m pcmodel.cluster.campaign --transactional --unclean --runs
    # 2000`: in 803 an out-of-sync leader of data-0 lacks a transaction's ABORT marker, so the
    # transaction hangs until find-hanging finds it and abort ends it; in 1060 the aborted
    # records become visible to read_committed consumers.
    settings = CampaignSettings(transactional=True, unclean_leader_election_enable=True)
    hung = run_once(803, settings)
    assert hung.ok and not hung.broken, hung.scenario()  # after the abort nothing hangs
    assert hung.hanging == ["data-0: a transaction hung from offset 0 (its marker was lost); "
                            "abort ended it"]
    assert "# HANGING (an unclean election lost its marker)" in hung.scenario()
    broken = run_once(1060, settings)
    assert broken.ok and not broken.hanging, broken.scenario()  # reported, not a violation
    assert broken.broken and broken.broken[0].startswith("aborted records visible")
    assert "# BROKEN by an unclean election: aborted records visible" in broken.scenario()
    clean = run_once(1060, CampaignSettings(transactional=True))
    assert clean.ok and not clean.broken and not clean.hanging, clean.scenario()


# Seeds whose plans SIGKILL or stop brokers (10: a stop and a SIGKILL at once, 15: two SIGKILLs
# at once, 31: one broker stopped, restarted, then SIGKILLed).
PROCESS_SEEDS = range(20) if os.environ.get("PCMODEL_LONG_CAMPAIGN") else (10, 15, 31)


@pytest.mark.timeout(600 if len(PROCESS_SEEDS) > 3 else 90)
def test_process_mode_campaign_with_real_sigkills_keeps_every_invariant():
    # Each broker an OS process, each kill a SIGKILL; an idempotent producer with acks=all
    # and min ISR 2: no acknowledged record lost, none stored twice, order kept, committed
    # offsets never back, replicas identical at the end.
    settings = CampaignSettings(acks="all", idempotent=True, mode="processes",
                                duration=2.0 if len(PROCESS_SEEDS) == 3 else 3.0)
    kills = stops = 0
    for seed in PROCESS_SEEDS:
        report = run_once(seed, settings)
        assert report.ok and not report.lost and not report.duplicates, report.scenario()
        assert "--mode processes" in report.scenario()
        # The producer got through in every run (how far depends on the machine's load: the
        # runs last seconds of real time).
        assert report.acknowledged > 0, report.scenario()
        kills += report.kills
        stops += report.stops
    assert kills >= len(PROCESS_SEEDS) // 2  # the plans did kill brokers
    assert stops >= 1  # and stopped some (controlled shutdowns of broker processes)
