"""Newcomers' prompts split into prefill passes that waste little on padding.

A prefill pads every prompt to the longest one that goes through the model (after its cached
prefix). On a CPU a padded token costs as much as a real one, and with prefix reuse the tokens
left to prefill vary a lot (30 to 80 for the tutor's prompts at a 16-row admission: a third of
one pass was padding). So the prompts, shortest first, are cut into runs whose padding saved
outweighs a pass's own cost. The batcher starts the shortest run and the rest a step later, so
its rows get their first token without waiting for the longest prompts.
"""

from __future__ import annotations

# A forward pass's own cost, in prompt tokens: on the bundled model on CPU a one-token pass
# takes about as long as 45 more prompt tokens in a pass (47 ms against about 1 ms a token).
CPU_PASS_TOKENS = 48


def prefill_groups(lengths: list[int], pass_tokens: int | None) -> list[list[int]]:
    """Indices of `lengths` (tokens each prompt has left to prefill) in passes, shortest first,
    minimising padded tokens plus `pass_tokens` per pass; None: one pass for all."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    if pass_tokens is None or len(order) < 2:
        return [order] if order else []
    # best[j]: the least cost of the first j prompts in order; cut[j]: where its last pass starts
    best, cut = [0.0] + [float("inf")] * len(order), [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        longest = lengths[order[end - 1]]
        for start in range(end):
            cost = best[start] + pass_tokens + (end - start) * longest
            if cost < best[end]:
                best[end], cut[end] = cost, start
    groups, end = [], len(order)
    while end:
        groups.append(order[cut[end] : end])
        end = cut[end]
    return groups[::-1]
