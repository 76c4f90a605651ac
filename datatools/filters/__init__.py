"""Filter steps (near_dedup, toxicity, length, low_info, decontaminate) and their kernels
(minhash, lsh). Steps are registered by name in datatools/registry.py."""
