import numpy as np
import pytest

from zeroskip.models.optim import SGD, Adam, make_optimizer


class Quadratic:
    """A parameter whose loss is 0.5 * |value - target|^2."""

    def __init__(self, target, decay=False):
        self.target = np.asarray(target, np.float64)
        self.value = np.zeros_like(self.target)
        self.decay = decay

    def grad(self):
        return self.value - self.target

    def sync(self):
        pass


@pytest.mark.parametrize("optimizer", [SGD(0.1, momentum=0.9), Adam(0.05)])
def test_optimizers_reach_the_minimum(optimizer):
    param = Quadratic([1.0, -2.0, 3.0])
    for _ in range(500):
        optimizer.step([param])
    np.testing.assert_allclose(param.value, param.target, atol=1e-3)


def test_l2_decay_pulls_towards_zero_only_when_asked():
    # minimum of 0.5 (v - 1)^2 + 0.5 * l2 * v^2 is 1 / (1 + l2)
    decayed, plain = Quadratic([1.0], decay=True), Quadratic([1.0], decay=False)
    optimizer = SGD(0.1, momentum=0.0, l2=1.0)
    for _ in range(500):
        optimizer.step([decayed, plain])
    assert decayed.value[0] == pytest.approx(0.5, abs=1e-6)
    assert plain.value[0] == pytest.approx(1.0, abs=1e-6)


def test_make_optimizer():
    assert isinstance(make_optimizer("sgd", 0.1), SGD)
    assert isinstance(make_optimizer("adam", 0.1), Adam)
    with pytest.raises(ValueError):
        make_optimizer("rmsprop", 0.1)
