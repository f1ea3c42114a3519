"""Benchmark scripts of hrqa, installed with it as the ``hrqa_benchmarks`` package.

Why installed: ``hrqa bench`` runs the sections in this folder (``suite.py`` orders them), and it must work
from an installed wheel in any directory (issue 12), where no source tree exists. pyproject.toml maps this
folder to ``hrqa_benchmarks`` (``package-dir``): a name that cannot clash with another distribution's
``benchmarks``, while the folder keeps the name people look for in a repository. The library never
imports it; only the ``hrqa bench`` command does (``hrqa.bench.run``).

Each section is also a script: ``python benchmarks/corpus_latency.py`` (or ``python -m
hrqa_benchmarks.corpus_latency``) prints its own figures. A script imports ``hrqa`` (its measuring helpers
live in ``hrqa.bench``, its baselines in ``hrqa.baselines``) and never a sibling, so it runs by path as
well as by module name; child processes are started by path (``__file__``), which exists in both places.
``million.py`` and ``scifact_backends.py`` are by-hand benchmarks that read the source tree and shared data.
"""
