"""Monte Carlo on a Dask cluster: ``simulate(..., client=...)`` gives the local numbers exactly.

The chunks of trials run as tasks of a ``dask.distributed`` LocalCluster (threads, for speed)
and their rows come back to the caller. Every block of trials draws from its own streams
(``riskkit.engine.streams``), so the result must equal the local run bit for bit: every
summary number, every trial's loss per scenario and every harm count are compared with
``==``, not a tolerance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskkit import simulate
from riskkit.engine import simulate_many
from riskkit.engine.streams import BLOCK

distributed = pytest.importorskip("dask.distributed")

TRIALS = 3 * BLOCK + 123  # several chunks, the last one a partial block
SEED = 20261129


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    )
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


def _same(a, b):
    assert a.trials == b.trials and a.seed == b.seed
    assert np.array_equal(a.losses("scenario").to_numpy(), b.losses("scenario").to_numpy())
    for level in ("scenario", "zone", "site"):
        pd.testing.assert_frame_equal(a.summary(level), b.summary(level), check_exact=True)
    pd.testing.assert_frame_equal(a.exceedance("site"), b.exceedance("site"), check_exact=True)
    for cat in ("safety", "environment"):
        pd.testing.assert_frame_equal(a.harm_counts(cat), b.harm_counts(cat), check_exact=True)


def test_simulate_on_a_dask_cluster_is_bit_identical_to_a_local_run(refinery_site, client):
    local = simulate(refinery_site, trials=TRIALS, seed=SEED, chunk_size=BLOCK)
    with distributed.get_task_stream(client) as tasks:
        remote = simulate(refinery_site, trials=TRIALS, seed=SEED, chunk_size=BLOCK, client=client)
    _same(local, remote)
    assert local.losses("site").to_numpy().sum() > 0  # not two empty runs
    # the cluster ran every chunk as a task: 4 of them, the last one partial
    chunks = [t for t in tasks.data if "_remote_chunk" in str(t["key"])]
    assert len(chunks) == -(-TRIALS // BLOCK) == 4


def test_simulate_many_on_a_dask_cluster_matches_local(refinery_site, client):
    plans = {"now": "current", "none": "unmitigated"}
    local = simulate_many(refinery_site, plans, trials=TRIALS, seed=SEED)
    remote = simulate_many(refinery_site, plans, trials=TRIALS, seed=SEED, client=client)
    for name in plans:
        _same(local[name], remote[name])
