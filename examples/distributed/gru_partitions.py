"""A compiled attn model over a dataset partitioned across a dask.distributed
cluster: every worker compiles the model once and reuses its program for all
the partitions it is given.

    python3 gru_partitions.py [--workers 2] [--scheduler ADDRESS] [--check]

Without --scheduler the example starts a LocalCluster of --workers processes
on this machine; with it, the same code runs on an existing cluster (start
`dask scheduler` on one machine and `dask worker ADDRESS` on each of the
others; every worker needs attn's Python package, libattn and the model and
weight files at the same paths). --check also runs the whole dataset in this
process and exits non-zero unless the results are equal.

The model is the zoo's nn.GRU (models/gru.attn, two bidirectional layers,
with examples/gru's weights); the dataset is synthetic: N random sequences,
of which each task gets one partition and returns their final states.
"""

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "python"))

import attn  # noqa: E402  (after the path of the source tree's package)

MODEL = os.path.join(REPO, "models", "gru.attn")
WEIGHTS = os.path.join(REPO, "examples", "gru", "weights.safetensors")
HYPER = {"num_layers": 2, "bidirectional": True}

_program = None  # one per worker process: compiled on its first partition
_compiles = 0


def program():
    """This process's compiled entry point (compiled once, then reused)."""
    global _program, _compiles
    if _program is None:
        m = attn.Model(MODEL, **HYPER)
        m.bind(WEIGHTS)
        _program = m.compile("forward", threads=1)
        _compiles += 1
    return _program


def run_partition(x):
    """The model's final hidden states for one partition of sequences
    (x: f32[batch, steps, 5]), the process that computed them and how many
    times that process has compiled the model."""
    h0 = np.zeros((4, x.shape[0], 7), np.float32)
    h_n = program()(input=x, h_0=h0)["h_n"]
    return h_n, os.getpid(), _compiles


def dataset(n, steps=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, steps, 5), dtype=np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scheduler", help="address of an existing dask scheduler")
    ap.add_argument("--sequences", type=int, default=4096)
    ap.add_argument("--partition", type=int, default=256, help="sequences per task")
    ap.add_argument("--check", action="store_true", help="compare with a run in this process")
    args = ap.parse_args()

    from dask.distributed import Client, LocalCluster

    data = dataset(args.sequences)
    parts = [data[i:i + args.partition] for i in range(0, len(data), args.partition)]
    if args.scheduler:
        client = Client(args.scheduler)
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    with client:
        futures = client.map(run_partition, parts, pure=False)
        results = client.gather(futures)
    h_n = np.concatenate([r[0] for r in results], axis=1)
    pids = sorted({r[1] for r in results})
    compiles = max(r[2] for r in results)
    print(f"{len(parts)} partitions of {args.partition} sequences on {len(pids)} worker processes, "
          f"each compiling the model {'once' if compiles == 1 else f'{compiles} times'}; h_n {list(h_n.shape)}")
    if args.check:
        single = np.concatenate([run_partition(p)[0] for p in parts], axis=1)
        if not np.array_equal(h_n, single):
            print("the cluster's results differ from this process's", file=sys.stderr)
            return 1
        print("equal to a single-process run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
