"""Optimizers over ``Param`` objects (see ``zeroskip.models.train``): SGD with momentum, Adam.

Both apply L2 regularisation as weight decay on the parameters that ask for it (``param.decay``).
"""

from __future__ import annotations

import numpy as np


class SGD:
    def __init__(self, lr: float, momentum: float = 0.9, l2: float = 0.0):
        self.lr, self.momentum, self.l2 = lr, momentum, l2
        self._velocity: dict[int, np.ndarray] = {}

    def step(self, params) -> None:
        for i, param in enumerate(params):
            grad = param.grad()
            if param.decay and self.l2:
                grad = grad + self.l2 * param.value
            v = self._velocity.setdefault(i, np.zeros_like(param.value))
            v *= self.momentum
            v -= self.lr * grad
            value = param.value
            value += v
            param.sync()


class Adam:
    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, l2: float = 0.0):
        self.lr, self.beta1, self.beta2, self.eps, self.l2 = lr, beta1, beta2, eps, l2
        self._m: dict[int, np.ndarray] = {}
        self._v: dict[int, np.ndarray] = {}
        self._t = 0

    def step(self, params) -> None:
        self._t += 1
        c1 = 1.0 - self.beta1 ** self._t
        c2 = 1.0 - self.beta2 ** self._t
        for i, param in enumerate(params):
            grad = param.grad()
            if param.decay and self.l2:
                grad = grad + self.l2 * param.value
            m = self._m.setdefault(i, np.zeros_like(param.value))
            v = self._v.setdefault(i, np.zeros_like(param.value))
            m *= self.beta1
            m += (1.0 - self.beta1) * grad
            v *= self.beta2
            v += (1.0 - self.beta2) * grad * grad
            value = param.value
            value -= (self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)).astype(value.dtype)
            param.sync()


def make_optimizer(name: str, lr: float, l2: float = 0.0):
    if name == "sgd":
        return SGD(lr, momentum=0.9, l2=l2)
    if name == "adam":
        return Adam(lr, l2=l2)
    raise ValueError(f"unknown optimizer {name!r} (sgd or adam)")
