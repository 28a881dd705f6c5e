"""Compiled kernels and text helpers: utf8, scans, n-grams, shingles, MinHash/LSH, clusters, word lists.

Arrays (or polars expressions) in, arrays out; no stage registrations, no run state.
"""
