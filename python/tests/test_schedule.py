"""Learning-rate factors, against values worked out by hand from transformers' definitions."""
import math

import pytest

from strawberry_torch.schedule import factor, learning_rate


@pytest.mark.parametrize("schedule,step,expected", [
    ("cosine", 0, 0.0), ("cosine", 5, 0.5), ("cosine", 10, 1.0), ("cosine", 55, 0.5), ("cosine", 100, 0.0),
    ("cosine", 120, 0.5 * (1 + math.cos(math.pi * 110 / 90))),   # past the end it rises again, as in transformers
    ("linear", 5, 0.5), ("linear", 10, 1.0), ("linear", 55, 0.5), ("linear", 100, 0.0), ("linear", 130, 0.0),
    ("constant_with_warmup", 2, 0.2), ("constant_with_warmup", 50, 1.0),
    ("constant", 0, 1.0), ("constant", 99, 1.0),   # constant ignores warmup
])
def test_factor(schedule, step, expected):
    assert factor(schedule, step, warmup=10, total=100) == pytest.approx(expected, abs=1e-7)


def test_zero_warmup_and_total_equal_to_warmup_do_not_divide_by_zero():
    assert factor("cosine", 0, warmup=0, total=1) == 1.0
    assert factor("linear", 10, warmup=10, total=10) == 0.0


def test_learning_rate_is_float32_like_swift():
    # Swift logs Double(Float(2e-4) * factor): the float32 value, widened.
    assert learning_rate(2e-4, "constant", 0, 0, 10) == 0.00019999999494757503


def test_unknown_schedule():
    with pytest.raises(ValueError):
        factor("exponential", 0, 0, 10)
