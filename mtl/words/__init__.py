"""The sentences reports 03 and 04 write about their measurements, and their results rows: freezing_and_transfer.py
for notebook 03, training_loop.py for notebook 04. The notebooks train, score and compare, and hand these modules the
figures they write to their JSON, so that each notebook's code shows its experiments and every generated sentence can
be rebuilt from the committed JSON (tests/test_words_*.py do).

This subpackage lies outside the run cache's key on purpose: mtl/cache.py hashes the code of mtl/*.py, the modules
that decide what a run computes, and words decide no run's figure. Rewording a sentence replays the cached runs
instead of training them all again.
"""
