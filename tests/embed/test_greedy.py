"""The chunked greedy kernels against brute force."""

from __future__ import annotations

import numpy as np

from curate.embed.greedy import facility_location, greedy_keep, k_center


def _unit(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    x[n // 2 :] = x[: n - n // 2] + 0.3 * x[n // 2 :]  # half are noisy copies of the first half
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _brute(x: np.ndarray, thr: float) -> np.ndarray:
    kept: list[int] = []
    for i in range(len(x)):
        if not kept or (x[kept] @ x[i]).max() <= thr:
            kept.append(i)
    return np.asarray(kept)


def test_greedy_keep_matches_brute_force_across_blocks() -> None:
    x = _unit(700, 16, 0)
    g = greedy_keep(x, np.arange(700), threshold=0.8, block=64, kept_chunk=50)
    assert np.array_equal(np.flatnonzero(g.kept), _brute(x, 0.8))
    gone = np.flatnonzero(~g.kept)
    assert np.all(g.dup_of[gone] >= 0) and np.all(g.kept[g.dup_of[gone]])
    assert np.allclose(np.einsum("ij,ij->i", x[gone], x[g.dup_of[gone]]), g.sim[gone], atol=1e-5)


def test_greedy_limit_stops_the_walk() -> None:
    x = _unit(300, 8, 1)
    g = greedy_keep(x, np.arange(300), threshold=0.99, limit=10, block=7)
    assert g.kept.sum() == 10 and (~g.decided).sum() > 0


def test_k_center_and_facility_pick_distinct_rows_within_budget() -> None:
    x = _unit(200, 8, 2)
    for pick in (k_center(x, 20), facility_location(x, 20, chunk=33)):
        assert len(pick) == 20 == len(set(pick.tolist()))
