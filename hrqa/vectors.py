"""Vector search backends behind one interface (FAISS): exact while small, quantised when large.

Vectors are normalised, so inner product is cosine similarity. Row ids are positions in the store.

The approximate backends store compressed vectors, so a million passages of dimension 384 fit well under
2 GB (float32 alone is 1.5 GB):

- ``ivfsq``: inverted lists (about sqrt(count), capped) over 8-bit scalar-quantised vectors: 384 bytes a
  vector, a build of under a minute at 1M on 2 cores, recall@10 about 0.97 against exact search. Meant
  to be AUTO's choice when large, once IndexType has an IVFSQ member (see LARGE_INDEX_TYPE).
- HNSW: a graph over 8-bit scalar-quantised vectors (``IndexHNSWSQ``): 384 bytes a vector plus the
  graph. Fast to query, but its build is slow on 2 cores (20 minutes at 1M) and its recall lower there.
- IVFPQ: inverted lists over product-quantised codes: 48 bytes a vector, the smallest, with the lowest
  recall (about 0.65); for corpora that do not otherwise fit.

``hrqa bench`` measures build time, latency, recall@10 against exact search and serving memory of each
at 10k, 100k and 1M synthetic vectors; those figures chose the constants below.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hrqa.settings import IndexType

#: HNSW links per node (the bottom layer has twice as many)
HNSW_NEIGHBOURS = 32
#: HNSW beam width while building: higher is a slower build and a better graph
HNSW_EF_CONSTRUCTION = 80
#: HNSW beam width while searching; a search for k rows uses max(k, this)
HNSW_EF_SEARCH = 256
#: rows sampled to fit the 8-bit quantiser's per-dimension ranges
SQ_TRAINING_ROWS = 100_000
#: inverted lists per vector count: about sqrt(count), capped (training cost grows with lists × sample)
IVF_MAX_LISTS = 2048
#: training rows per inverted list (FAISS asks for at least 39)
IVF_TRAINING_PER_LIST = 64
#: lists visited per query: with 8-bit vectors, and with product-quantised codes (coarser, so more lists)
IVF_SQ_NPROBE = 16
IVF_PQ_NPROBE = 32
#: k-means iterations and rows per centroid for each product-quantiser slice (FAISS: 25 and 256)
PQ_TRAINING_ITERATIONS = 10
PQ_TRAINING_PER_CENTROID = 64
#: dimensions per product-quantiser sub-vector (8 bits each): 384 / 8 = 48 bytes a vector
PQ_DIMENSIONS_PER_CODE = 8
#: the index value of inverted lists over 8-bit vectors (IndexType has no member for it yet)
IVFSQ = "ivfsq"
#: AUTO's choice above the exact-search limit; IVFSQ once IndexType has it (hrqa bench: 1M vectors)
LARGE_INDEX_TYPE = IndexType.HNSW
#: below this many vectors a trained (quantised) index has too little to learn from: exact search instead
MIN_TRAINED_ROWS = 10_000


def parameters() -> dict[str, int]:
    """The tuning constants, for reports (``hrqa bench``)."""
    return {
        "hnsw_neighbours": HNSW_NEIGHBOURS,
        "hnsw_ef_construction": HNSW_EF_CONSTRUCTION,
        "hnsw_ef_search": HNSW_EF_SEARCH,
        "ivf_max_lists": IVF_MAX_LISTS,
        "ivf_sq_nprobe": IVF_SQ_NPROBE,
        "ivf_pq_nprobe": IVF_PQ_NPROBE,
        "pq_dimensions_per_code": PQ_DIMENSIONS_PER_CODE,
        "min_trained_rows": MIN_TRAINED_ROWS,
    }


def choose_index_type(requested: IndexType, count: int, exact_limit: int) -> IndexType:
    """AUTO means exact search up to ``exact_limit`` vectors, HNSW beyond."""
    if requested is not IndexType.AUTO:
        return requested
    return IndexType.FLAT if count <= exact_limit else LARGE_INDEX_TYPE


def _sample(vectors: np.ndarray, rows: int) -> np.ndarray:
    """An evenly spread sample (not the first rows: those are often one document's passages)."""
    if len(vectors) <= rows:
        return vectors
    return np.ascontiguousarray(vectors[np.linspace(0, len(vectors) - 1, rows).astype(np.int64)])


def ivf_lists(count: int) -> int:
    return max(1, min(IVF_MAX_LISTS, int(np.sqrt(count))))


def build_vector_index(vectors: np.ndarray, index_type: IndexType | str):
    """A FAISS index over ``vectors`` (rows normalised float32); ``index_type`` an IndexType or its value.

    The quantised indexes learn from the vectors; under MIN_TRAINED_ROWS they fall back to exact search,
    which is as fast at that size.
    """
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dimension = vectors.shape[1]
    kind = getattr(index_type, "value", index_type)
    if kind in (IndexType.HNSW.value, IndexType.IVFPQ.value, IVFSQ) and len(vectors) < MIN_TRAINED_ROWS:
        kind = IndexType.FLAT.value
    if kind == IndexType.HNSW.value:
        index = faiss.IndexHNSWSQ(dimension, faiss.ScalarQuantizer.QT_8bit, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
        index.train(_sample(vectors, SQ_TRAINING_ROWS))
    elif kind == IVFSQ:
        lists = ivf_lists(len(vectors))
        index = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(dimension), dimension, lists, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        index.train(_sample(vectors, IVF_TRAINING_PER_LIST * lists))
        index.nprobe = min(lists, IVF_SQ_NPROBE)
    elif kind == IndexType.IVFPQ.value:
        lists = ivf_lists(len(vectors))
        codes = max(1, dimension // PQ_DIMENSIONS_PER_CODE)
        while dimension % codes:
            codes -= 1
        index = faiss.IndexIVFPQ(faiss.IndexFlatIP(dimension), dimension, lists, codes, 8, faiss.METRIC_INNER_PRODUCT)
        # Each of the ``codes`` slices runs its own k-means: FAISS's defaults make that most of the build.
        index.pq.cp.niter = PQ_TRAINING_ITERATIONS
        index.pq.cp.max_points_per_centroid = PQ_TRAINING_PER_CENTROID
        index.train(_sample(vectors, max(IVF_TRAINING_PER_LIST * lists, 256 * 39)))
        index.nprobe = min(lists, IVF_PQ_NPROBE)
    else:
        index = faiss.IndexFlatIP(dimension)
    if len(vectors):
        index.add(vectors)
    return index


def save_vector_index(index, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def load_vector_index(path: Path, *, mmap: bool = False):
    """A saved FAISS index; ``mmap``: its vectors or codes (and inverted lists) stay in the file, mapped
    read-only, and pages are read as searches touch them (an 8-bit IVF index over 1M passages, 390 MB,
    opens in milliseconds instead of seconds: benchmarks/million.py). The graph of HNSW is read whole."""
    import faiss

    # IO_FLAG_MMAP_IFC maps flat codes and (FAISS 1.15) inverted lists; combined with IO_FLAG_MMAP the
    # inverted lists fail to load ("mmap only supported for File objects")
    flags = faiss.IO_FLAG_MMAP_IFC if mmap else 0
    index = faiss.read_index(str(path), flags)
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
