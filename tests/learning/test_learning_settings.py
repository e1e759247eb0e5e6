"""``benchmarks/learning_settings.py``: the presets and ``--set FIELD=VALUE`` overrides of the learning benchmark."""

from __future__ import annotations

from dataclasses import replace
from types import ModuleType

import pytest


@pytest.mark.parametrize(
    ("items", "field", "expected"),
    [
        (["lr_warmup_steps=2"], "lr_warmup_steps", 2),
        (["lr=5e-4"], "lr", 5e-4),
        (["lr_min_ratio=0.1"], "lr_min_ratio", 0.1),
        (["lr_scheduler=cosine"], "lr_scheduler", "cosine"),
        (["steps=8", "steps=12"], "steps", 12),  # applied in order: the last wins
        ([], "lr_warmup_steps", 4),  # the preset's own value
    ],
)
def test_set_replaces_one_field_typed_like_it(
    settings: ModuleType, items: list[str], field: str, expected: object
) -> None:
    s = settings.with_overrides(settings.QUICK, items)
    assert getattr(s, field) == expected
    assert type(getattr(s, field)) is type(expected)
    # Every other field stays the preset's.
    assert replace(s, **{field: getattr(settings.QUICK, field)}) == settings.QUICK


@pytest.mark.parametrize(
    ("item", "names"),
    [
        ("steps", "'steps'"),  # no value
        ("steps=", "'steps='"),
        ("stepz=3", "'stepz=3'"),  # unknown field
        ("arms=full", "'arms=full'"),  # a tuple field is not a --set field
        ("steps=1e3", "'steps=1e3'"),  # not an int
        ("lr=fast", "'lr=fast'"),
        ("lr_scheduler=linear", "lr_scheduler 'linear'"),
    ],
)
def test_a_bad_set_item_is_an_error_naming_it(settings: ModuleType, item: str, names: str) -> None:
    with pytest.raises(ValueError, match=names.replace("[", r"\[")):
        settings.with_overrides(settings.QUICK, [item])


def test_unknown_arm_is_rejected(settings: ModuleType) -> None:
    with pytest.raises(ValueError, match=r"unknown arm\(s\) \['best'\]"):
        replace(settings.FULL, arms=("selected", "best"))


def test_presets_warm_the_actor_lr_up(settings: ModuleType) -> None:
    # Measured: without the ramp Adam's first update (lr·sign(g) on every weight) cost reward in 7 of 9 runs.
    assert settings.QUICK.lr_warmup_steps == settings.FULL.lr_warmup_steps == 4
    assert settings.QUICK.lr_warmup_steps < settings.QUICK.steps // 2
