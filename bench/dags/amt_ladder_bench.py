"""``triggerer_ladder.py``'s DAGs: one per design, each a run of ``conf["jobs"]`` mapped tasks that start
straight in the triggerer (``start_from_trigger``: no worker), map index i watching job ``first + i``.

* ``amt_ladder_messages``: ``AmtJobTrigger`` on jobs 1.. (each writes a message every 10 s);
* ``amt_ladder_at_read``: the same on the same jobs, its triggerer at ``[amt] trigger_messages = at_read``;
* ``amt_ladder_quiet``: ``AmtJobTrigger`` on jobs 1,000,001.. (no messages);
* ``amt_ladder_peer``: the peer design (``bench/_ladder_triggers.py``) on jobs 2,000,001.. (no messages);
* ``amt_ladder_floor``: a trigger that logs one line and waits, polling nothing (Airflow's own cost).

The job count comes with the run (a tiny upstream task lists the map indexes), so one parse serves
every level of the ladder.
"""

from __future__ import annotations

import os
from typing import Any

from _ladder_triggers import FIRST_JOB
from _start_in_triggerer import started_in_the_triggerer
from airflow.sdk import DAG, BaseOperator, task

POLL_INTERVAL = float(os.environ.get("AMT_BENCH_POLL_INTERVAL", "30"))
TRIGGER = {
    "messages": "_outage_trigger.OutageBenchTrigger",
    "at_read": "_outage_trigger.OutageBenchTrigger",
    "quiet": "_outage_trigger.OutageBenchTrigger",
    "peer": "_ladder_triggers.PeerStatusTrigger",
    "floor": "_ladder_triggers.FloorTrigger",
}


def watcher(design: str) -> type[BaseOperator]:
    return started_in_the_triggerer(
        f"Watch{design.title()}FromTheTriggerer",
        TRIGGER[design],
        {
            "batch_request_id": FIRST_JOB[design],
            "amt_conn_id": "amt_default",
            "poll_interval": POLL_INTERVAL,
            "outage_grace_period": 600,
            "on_kill_action": None,  # a level ends by failing its run: nothing to send to the fake server
        },
    )


for _design in FIRST_JOB:
    with DAG(f"amt_ladder_{_design}", schedule=None, catchup=False, max_active_tasks=100_000, params={"jobs": 10}):

        @task
        def map_indexes(**context: Any) -> list[int]:
            return list(range(int(context["params"]["jobs"])))

        watcher(_design).partial(task_id="watch").expand(n=map_indexes())
