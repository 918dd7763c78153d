"""The fault campaign with a Kafka 4 consumer group (``--groups consumer``, KIP-848).

The long campaign is ``python -m pcmodel.cluster.campaign --groups consumer --runs 600``.
"""

from __future__ import annotations

import pytest

from pcmodel.cluster import campaign
from pcmodel.cluster.campaign import CampaignSettings, main, run_once
from pcmodel.topics.consumer_group import ConsumerGroup

CONSUMER = CampaignSettings(groups=True, group_protocol="consumer")


@pytest.mark.timeout(60)
def test_a_consumer_group_keeps_its_invariants_and_recovers_under_faults():
    # Checked on every run (pcmodel.cluster.campaign_consumer_groups): no partition is given to
    # a new owner before its old owner revoked it, committed offsets never go back, and once
    # the faults are undone the survivors reach a Stable group owning every partition and
    # commit every log's end.
    commits = epochs = 0
    for seed in range(8):
        report = run_once(seed, CONSUMER)
        assert report.ok, report.scenario()
        assert "--groups consumer" in report.scenario()
        commits += report.group_commits
        epochs += report.group_generations
    assert commits > 8 * 3  # the members did commit, despite the faults
    assert epochs >= 8 * 3  # and the group moved on: joins, the late member, the crash
    first, second = run_once(5, CONSUMER), run_once(5, CONSUMER)  # it replays exactly
    assert (first.group_commits, first.group_generations, first.acknowledged) == \
        (second.group_commits, second.group_generations, second.acknowledged)


@pytest.mark.timeout(60)
def test_a_consumer_group_keeps_its_invariants_beside_a_transactional_producer():
    for seed in (0, 1, 2):
        report = run_once(seed, CampaignSettings(transactional=True, groups=True,
                                                 group_protocol="consumer"))
        assert report.ok, report.scenario()
        assert "--transactional --groups consumer" in report.scenario()


def test_a_coordinator_that_assigns_before_revocation_is_caught(monkeypatch):
    # A coordinator that counts no partition as held grants each at once, before its old owner
    # revoked it: both the coordinator's own state and the members' show it.
    monkeypatch.setattr(ConsumerGroup, "owner_epoch", lambda self, topic, partition: -1)
    report = run_once(0, CONSUMER)
    assert not report.ok
    text = "\n".join(report.violations)
    assert "it was given to a new owner before the old one revoked it" in text
    assert "the coordinator has data-" in text and "held by two members at once" in text


def test_the_consumer_protocol_is_chosen_on_the_command_line(capsys):
    assert main(["--seed", "3", "--groups", "consumer"]) == 0
    out = capsys.readouterr().out
    assert "# replay: python -m pcmodel.cluster.campaign --seed 3" in out
    assert "--groups consumer\n" in out and "member epochs reached" in out
    assert main(["--seed", "3", "--groups"]) == 0  # --groups alone: the classic protocol
    out = capsys.readouterr().out
    assert " --groups\n" in out and "generations joined" in out
    assert main(["--seed", "3", "--groups", "classic"]) == 0
    assert " --groups\n" in capsys.readouterr().out


def test_an_unknown_group_protocol_is_refused_in_one_line(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--runs", "1", "--groups", "eager"])
    assert exited.value.code == 2
    assert "argument --groups: invalid choice: 'eager'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="group_protocol must be 'classic' or 'consumer', "
                                         "not 'eager'"):
        CampaignSettings(groups=True, group_protocol="eager")


@pytest.mark.timeout(60)
def test_process_mode_consumer_group_with_real_sigkills_keeps_its_invariants():
    # Seed 10's plan SIGKILLs a broker and stops another; the members speak to broker
    # processes.
    report = run_once(10, CampaignSettings(groups=True, group_protocol="consumer",
                                           mode="processes", duration=2.0))
    assert report.ok, report.scenario()
    assert report.kills >= 1 and report.group_commits > 0


def test_the_runs_may_start_at_any_seed(monkeypatch, capsys):
    ran = []

    def record(seeds, settings):
        ran.extend(seeds)
        return [run_once(seed, settings) for seed in ran[:1]]

    monkeypatch.setattr(campaign, "run_campaign", record)
    assert main(["--runs", "3", "--first-seed", "20000", "--groups", "consumer"]) == 0
    assert ran == [20000, 20001, 20002]
    assert "1 runs in" in capsys.readouterr().out
