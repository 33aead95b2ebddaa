"""The moving average of the weights (Polyak averaging): its recursion, and that it is swapped in and out exactly."""

from __future__ import annotations

import pytest
import torch

from binlatent.training import ParameterAverage


def test_the_average_follows_its_recursion_and_leaves_the_weights_as_they_were():
    module = torch.nn.Linear(3, 2)
    average = ParameterAverage(module, 0.75)
    expected = [t.detach().clone() for t in (module.weight, module.bias)]
    for step in range(5):
        with torch.no_grad():
            module.weight.add_(step + 1.0)
            module.bias.mul_(-2.0)
        average.update()
        expected = [0.75 * e + 0.25 * t.detach() for e, t in zip(expected, (module.weight, module.bias), strict=True)]
    own = [t.detach().clone() for t in (module.weight, module.bias)]
    with pytest.raises(RuntimeError), average.applied():
        torch.testing.assert_close([module.weight, module.bias], expected)
        raise RuntimeError("a failure inside the block")
    assert torch.equal(module.weight, own[0]) and torch.equal(module.bias, own[1])


def test_without_decay_nothing_is_averaged():
    module = torch.nn.Linear(2, 2)
    average = ParameterAverage(module, 0.0)
    with torch.no_grad():
        module.weight.add_(1.0)
    own = module.weight.detach().clone()
    average.update()
    with average.applied():
        assert torch.equal(module.weight, own)
    assert average.average == []
