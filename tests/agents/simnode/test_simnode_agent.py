"""The simnode adapter's write queue without an API server: renewals of a node are never queued twice, so an API
server slower than the renewal rate leaves at most one pending renewal per node (the queue stays bounded)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agents.simnode import lifecycle, nodes
from agents.simnode.agent import PRIO_LEASE, Agent, Config

pytestmark = pytest.mark.unit


def test_renewals_of_a_node_coalesce_while_one_is_queued() -> None:
    async def scenario() -> tuple[int, int, int]:
        cfg = Config(names=[f"n{i}" for i in range(3)], profile=nodes.NodeProfile(), timing=lifecycle.Timing(),
                     workers=0)
        agent = Agent(Any, cfg)  # type: ignore[arg-type]  # no request is made: no worker takes the jobs
        for node in agent.nodes.values():
            node.registered = True
        loop = asyncio.create_task(agent._spread_loop(0.01, agent._lease_job, PRIO_LEASE))
        await asyncio.sleep(0.3)  # ~30 periods
        loop.cancel()
        return agent._queue.qsize(), agent.counters["coalesced"], len(agent.nodes)

    queued, coalesced, count = asyncio.run(scenario())
    assert queued == count  # one renewal per node waiting, not one per period
    assert coalesced >= 10 * count
