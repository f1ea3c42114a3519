"""ONNX Runtime for every transformer hrqa runs at question time: one way to open a session.

Importing this module imports neither torch nor onnxruntime; ``inference_session`` imports onnxruntime.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hrqa.errors import ModelError

if TYPE_CHECKING:
    import onnxruntime


def inference_session(path: Path, threads: int) -> onnxruntime.InferenceSession:
    """A CPU session over the ONNX file at ``path``: ``threads`` intra-op threads, one inter-op thread
    (the graphs hrqa runs are sequential), all graph optimisations on.

    Raises ModelError when onnxruntime is missing or the file is not a loadable model.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    try:
        import onnxruntime
    except ImportError:
        raise ModelError("onnxruntime is not installed; run: pip install onnxruntime") from None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: the fallback warnings would reach every user's terminal
    try:
        return onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph/NoSuchFile types
        raise ModelError(f"cannot load the ONNX model {path}: {error}") from error
