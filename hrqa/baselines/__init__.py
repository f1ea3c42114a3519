"""Baselines that ``hrqa eval --baselines`` and ``hrqa bench`` measure beside hrqa, on the same documents
and questions: none of them answers a question in hrqa itself.

- ``paragraphs``: the tutorial pipeline (MiniLM + FAISS inner product over blank-line paragraphs, the
  top paragraph as the answer), and bm25s over the same paragraphs;
- ``sentences``: sentence rankings without an answer step (bm25s, MiniLM, their RRF) and the previous
  answer step;
- ``heuristic_answer`` (+ ``heuristic_signals``): the answer step before the trained reader.
"""
