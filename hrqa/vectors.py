"""Vector search backends behind one interface (FAISS): exact while small, HNSW or IVF-PQ when large.

Vectors are normalised, so inner product is cosine similarity. Row ids are positions in the store.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hrqa.settings import IndexType

HNSW_NEIGHBOURS = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96


def choose_index_type(requested: IndexType, count: int, exact_limit: int) -> IndexType:
    """AUTO means exact search up to ``exact_limit`` vectors, HNSW beyond."""
    if requested is not IndexType.AUTO:
        return requested
    return IndexType.FLAT if count <= exact_limit else IndexType.HNSW


def build_vector_index(vectors: np.ndarray, index_type: IndexType):
    """A FAISS index over ``vectors`` (rows normalised float32)."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dimension = vectors.shape[1]
    if index_type is IndexType.HNSW:
        index = faiss.IndexHNSWFlat(dimension, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    elif index_type is IndexType.IVFPQ:
        lists = max(1, min(4096, int(4 * np.sqrt(len(vectors)))))
        quantizer = faiss.IndexFlatIP(dimension)
        index = faiss.IndexIVFPQ(quantizer, dimension, lists, dimension // 8, 8, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors[: min(len(vectors), 100 * lists)])
        index.nprobe = min(lists, 32)
    else:
        index = faiss.IndexFlatIP(dimension)
    if len(vectors):
        index.add(vectors)
    return index


def save_vector_index(index, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def load_vector_index(path: Path):
    import faiss

    index = faiss.read_index(str(path))
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def search(index, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, row ids) of the ``k`` nearest rows; ids of -1 (fewer rows than k) are dropped."""
    k = min(k, index.ntotal)
    if k <= 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    scores, ids = index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
    keep = ids[0] >= 0
    return scores[0][keep], ids[0][keep]
