"""What an installed hrqa carries: the bench's sample corpus and questions are the seeds and the dev
questions of this repository, byte for byte (``pip install .`` and ``hrqa bench`` from any directory
run in CI: .ci/run)."""

from __future__ import annotations

from pathlib import Path

from hrqa import bench

ROOT = Path(__file__).resolve().parent.parent


def test_the_sample_corpus_is_the_seeds():
    shipped = sorted(p.name for p in bench.SAMPLE_CORPUS.iterdir())
    assert shipped == sorted(p.name for p in (ROOT / "seeds").iterdir())
    for name in shipped:
        assert (bench.SAMPLE_CORPUS / name).read_bytes() == (ROOT / "seeds" / name).read_bytes(), name


def test_the_bench_questions_are_the_dev_questions():
    assert bench.DEV_QUESTIONS.read_bytes() == (ROOT / "tests" / "data" / "dev.jsonl").read_bytes()
    assert len(bench.load_dev_questions()) == 30


def test_the_package_data_reaches_the_wheel():
    """Each file the installed package reads at run time matches a package-data pattern."""
    import fnmatch
    import tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
        "package-data"
    ]["hrqa"]
    package = ROOT / "hrqa"
    needed = [bench.DEV_QUESTIONS, *bench.SAMPLE_CORPUS.iterdir(), *(package / "models" / "reader").iterdir()]
    needed += [*(package / "ui" / "static").iterdir()]  # the web page's CSS and JavaScript
    for path in needed:
        relative = path.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(relative, p) for p in patterns), relative
