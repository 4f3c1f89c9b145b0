"""Newcomers' prompts cut into prefill runs: padding saved against a pass's own cost."""

from __future__ import annotations

import pytest

from aivo.engine.prefill_groups import prefill_groups


def padded(lengths: list[int], runs: list[list[int]], pass_tokens: int) -> int:
    return sum(pass_tokens + len(run) * max(lengths[i] for i in run) for run in runs)


@pytest.mark.parametrize(
    "lengths",
    [
        [54, 44, 78, 62, 39, 65, 82, 80, 38, 55, 42, 43, 36, 33, 38, 44],  # after a shared prefix
        [150, 156, 174, 158, 135, 161, 178, 176, 182, 183, 154, 171, 180, 177, 150, 172],
        [5, 600, 7, 590, 6],
        [40] * 8,
    ],
)
def test_runs_hold_every_prompt_once_shortest_first_and_cost_no_more_than_one_pass(
    lengths: list[int],
) -> None:
    runs = prefill_groups(lengths, 48)
    assert sorted(i for run in runs for i in run) == list(range(len(lengths)))
    longest = [max(lengths[i] for i in run) for run in runs]
    shortest = [min(lengths[i] for i in run) for run in runs]
    assert longest == sorted(longest)
    assert all(a <= b for a, b in zip(longest, shortest[1:], strict=False))  # runs do not mix
    one_pass = [sorted(range(len(lengths)), key=lambda i: lengths[i])]
    assert padded(lengths, runs, 48) <= padded(lengths, one_pass, 48)


def test_a_run_is_cut_only_where_the_padding_saved_outweighs_a_pass() -> None:
    assert len(prefill_groups([40] * 8, 48)) == 1  # nothing to save
    assert len(prefill_groups([5, 600, 7, 590, 6], 48)) == 2  # short ones need not wait
    assert len(prefill_groups([30, 31, 60], 1000)) == 1  # a pass costs more than any padding
    runs = prefill_groups([54, 44, 78, 62, 39, 65, 82, 80, 38, 55, 42, 43, 36, 33, 38, 44], 48)
    assert len(runs) == 3  # 1312 padded tokens in one pass, 902 in three


def test_without_a_pass_cost_all_prompts_go_at_once() -> None:
    assert prefill_groups([600, 5, 7], None) == [[1, 2, 0]]
    assert prefill_groups([], 48) == []
    assert prefill_groups([9], 48) == [[0]]
