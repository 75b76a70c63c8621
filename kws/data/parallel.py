"""Run a per-chunk function over many items in worker processes, keeping the order."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any


def map_in_chunks(fn: Callable[[Sequence[Any]], list[Any]], items: Sequence[Any],
                  workers: int = 0, chunk_size: int = 0,
                  fresh_process: bool = False) -> list[Any]:
    """`fn` takes a chunk of items and returns one result per item; results keep the order.

    Chunks amortise process start-up and pickling. With `fresh_process`, every chunk runs in
    a new process and chunks have a fixed size, so a library with hidden global state
    (espeak-ng) gives the same results whatever the number of workers; otherwise one
    worker (or one chunk) runs inline.
    """
    workers = workers or os.cpu_count() or 1
    chunk = chunk_size or max(16, len(items) // (workers * 8) + 1)
    batches = [items[i:i + chunk] for i in range(0, len(items), chunk)]
    if not fresh_process and (workers == 1 or len(batches) <= 1):
        results = [fn(b) for b in batches]
    else:
        ctx = multiprocessing.get_context("spawn" if fresh_process else None)
        with ProcessPoolExecutor(min(workers, len(batches)) or 1, mp_context=ctx,
                                 max_tasks_per_child=1 if fresh_process else None) as pool:
            results = list(pool.map(fn, batches))
    return [x for batch in results for x in batch]
