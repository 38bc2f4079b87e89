"""The parts of `make bench`, one module per thing measured: encode (this project's engines against
sentence-transformers, in-process and in the peers environment: peers.py, peer_worker.py), profile (the fast path's
time by stage and operation, the fp32 encoder's share of the matmul peak), predict (multi-task predict, peak memory)
and training (mtl.train's sentences/s by precision and batching, against the matmul peak; heads; processes).
scripts/benchmark.py runs them and writes one reports/benchmark.json; rows.py reads its README and RESULTS rows."""
