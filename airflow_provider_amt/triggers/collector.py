"""The triggerer's young-generation collection threshold: raised once per process, never lowered.

Why: CPython runs a young collection whenever 700 more container objects exist than at the last
one, and promotes everything it finds alive. A triggerer watching thousands of AMT jobs always has
hundreds of requests, timers and waiting futures alive, so at 700 it collects about 30 times a
second and promotes them all; the oldest generation then grows by a quarter every few seconds, and
each full collection walks the whole process (Airflow's modules and every trigger) while the event
loop waits: 250-750 ms at 5,000-20,000 triggers (``bench/triggerer_scale.py``). A higher threshold
lets those short-lived objects die by reference counting before any collection sees them: full
collections become rare and young ones cheap. Measured in ``docs/performance.md``.

The setting is the process's, so it is taken only upwards (a triggerer already tuned higher keeps
its own) and only from the value the process started with (so once: a later change by someone else
is left alone, and no flag is needed to remember it), and logged to the triggerer's own log: the
line is about the process, not about the task whose trigger happened to come first (Airflow's
trigger runner sends a line to a task's log by the ``trigger_id`` in its log context).
"""

from __future__ import annotations

import contextvars
import gc
import logging

#: The young threshold this process started with (the interpreter's own unless someone tuned it first).
STARTING_YOUNG_THRESHOLD = gc.get_threshold()[0]


def raise_young_threshold(threshold: int, log: logging.Logger) -> bool:
    """Set the young-generation threshold to ``threshold`` if it is still the one the process started
    with and lower (``threshold`` 0 leaves it alone). Returns whether it was set."""
    young, middle, old = gc.get_threshold()
    if threshold <= 0 or young != STARTING_YOUNG_THRESHOLD or young >= threshold:
        return False
    gc.set_threshold(threshold, middle, old)
    contextvars.Context().run(  # no trigger's log context: the triggerer's own log
        log.info,
        "Raised this triggerer's young-generation GC threshold from %s to %s ([amt] triggerer_gc_threshold)",
        young,
        threshold,
    )
    return True
