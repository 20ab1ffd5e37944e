"""Embedding beyond one machine: the texts a run still needs vectors for, embedded on the workers
of a Dask distributed cluster.

The client (the machine with the project) reads what is missing from the cache, sends the texts
out in the very chunks a run on one machine embeds them in (``Embedder.chunks``: a vector depends
a little on the texts batched with it, the int8 encoder's a lot; partitions by document gave
vectors up to 0.03 apart in that mode), gets vectors back and writes them to the cache itself: the
SQLite store keeps one writer. Each worker loads the encoder once per process (``embed``'s loader
cache, keyed by the model's path, device and mode) from its own disk, never from the network. The
matcher is fitted and scores on the client (matrix products over the run's features: sending them
out would cost more than computing them), so a run on a cluster stores what a local run stores.

Dask is optional (``pip install 'nlp-theming[dask]'``) and imported only here, only when asked.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from .embed import Embedder, resolve_model

#: ``SuggestConfig.dask`` for a cluster of worker processes made on this machine for the run
LOCAL = "local"


class DaskUnavailable(RuntimeError):
    """``--dask`` was asked for and Dask is not installed, or its scheduler cannot be reached."""


def _distributed():
    try:
        import distributed
    except ImportError as exc:
        raise DaskUnavailable("running on Dask needs the dask extra: pip install 'nlp-theming[dask]'") from exc
    return distributed


@contextmanager
def dask_client(address: str) -> Iterator[object]:
    """A Dask client on the scheduler at ``address`` (``tcp://host:8786``, or a scheduler file's
    path ending in .json), or on a :class:`LocalCluster` of one-thread worker processes made on the
    spot and closed after (``"local"``)."""
    distributed = _distributed()
    if address == LOCAL:
        # no dashboard: nothing listens beyond the scheduler's own port on this machine
        with distributed.LocalCluster(threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            yield client
        return
    try:
        client = (distributed.Client(scheduler_file=address) if address.endswith(".json")
                  else distributed.Client(address))
    except (OSError, ValueError) as exc:  # nobody listening, a malformed address, no such file
        raise DaskUnavailable(f"no Dask scheduler at {address}: {exc}") from exc
    with client:
        yield client


def encode_chunk(model: str, mode: str, batch_size: int, texts: list[str]) -> np.ndarray:
    """What a worker runs: the vectors of one chunk of ``texts``, by the model at ``model`` on the
    worker's disk, in the run's mode. No cache here: the client keeps it."""
    return Embedder(model, batch_size=batch_size, encoder=mode).encode(texts)


def embed_on_dask(client, embedder: Embedder, texts: Sequence[str], progress: bool = False) -> int:
    """Embed the ``texts`` ``embedder``'s cache lacks on the cluster of ``client`` (see
    :func:`dask_client`) and store their vectors in the cache; returns how many were embedded.
    Afterwards ``embedder.encode(texts)`` reads every vector from the cache."""
    chunks = embedder.chunks(texts)
    if not chunks:
        return 0
    _, location = resolve_model(embedder.model)  # workers load the same path (shared storage)
    distributed = _distributed()
    total = sum(map(len, chunks))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="embed (dask)", unit="segment")
    futures = {client.submit(encode_chunk, location, embedder.mode, embedder.batch_size, chunk, pure=False): chunk
               for chunk in chunks}
    for future in distributed.as_completed(futures):
        chunk = futures.pop(future)
        embedder.remember(chunk, future.result())  # written here, on the client, as they arrive
        future.release()
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return total
