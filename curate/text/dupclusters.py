"""From near-duplicate pairs to one survivor per group: connected components or greedy.

Both take pairs ``(i, j)`` over ``n`` rows and a survivor ``rank`` per row (0 = best) and return,
per row, the index of the row it is a duplicate of (itself when it stays).

* ``components``: union of all pairs (scipy's connected components), best-ranked row survives.
  Transitive: A~B and B~C remove C even when A and C are not alike, so a removed row's Jaccard
  to its survivor can fall below the threshold.
* ``greedy``: rows in rank order; a row leaves when it is paired with a row already kept (the
  most similar one becomes its survivor). Every removed row is within the threshold of its
  survivor and no two kept rows are a pair; a chain A~B~C with A unlike C keeps A and C.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

from curate.text.jit import nb


def by_components(n: int, i: np.ndarray, j: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Survivor index per row: the best-ranked row of its connected component."""
    graph = coo_matrix((np.ones(i.size, dtype=np.int8), (i, j)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    order = np.lexsort((rank, label))
    head = np.concatenate([[True], label[order][1:] != label[order][:-1]])
    best = np.empty(int(label.max()) + 1, dtype=np.int64)
    best[label[order][head]] = order[head]
    return best[label]


@nb.njit(nogil=True, cache=True)
def _greedy(order, indptr, indices, weight, rank, out):
    kept = np.zeros(out.size, dtype=np.bool_)
    for u in order:
        best, best_w = -1, -1.0
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            if kept[v] and rank[v] < rank[u]:
                w = weight[e]
                if w > best_w or (w == best_w and rank[v] < rank[best]):
                    best, best_w = v, w
        if best < 0:
            kept[u] = True
            out[u] = u
        else:
            out[u] = best


def greedy(n: int, i: np.ndarray, j: np.ndarray, sim: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Survivor index per row, greedy in rank order (see the module docstring)."""
    out = np.arange(n, dtype=np.int64)
    if i.size == 0:
        return out
    rows, cols = np.concatenate([i, j]), np.concatenate([j, i])
    w = np.concatenate([sim, sim]).astype(np.float64)
    adj = csr_matrix((w, (rows, cols)), shape=(n, n))
    adj.sort_indices()
    nodes = np.unique(rows)
    order = nodes[np.argsort(rank[nodes], kind="stable")]
    _greedy(order, adj.indptr.astype(np.int64), adj.indices.astype(np.int64), adj.data, rank, out)
    return out
