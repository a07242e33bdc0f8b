"""Knowledge distillation (Hinton, Vinyals, Dean 2015) for any student network.

Loss = ``soft_weight * T**2 * KL(softmax(t / T) || softmax(s / T))
        + (1 - soft_weight) * CE(labels, softmax(s))``,
with teacher logits ``t`` and student logits ``s``. The ``T**2`` keeps the soft term's gradient
magnitude independent of the temperature; the hard term gets the (much) lower weight. KL is
the soft cross-entropy minus the teacher's entropy (a constant): same gradient, and the reported
loss goes to 0 when the student matches the teacher.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zeroskip.errors import ZeroskipError
from zeroskip.progress import QUIET, Progress

from .layers import softmax_cross_entropy
from .network import Network
from .train import History, Schedule, fit


@dataclass(frozen=True)
class Distillation:
    temperature: float = 4.0
    soft_weight: float = 0.9

    def __post_init__(self):
        if not self.temperature > 0:
            raise ZeroskipError(f"distillation temperature {self.temperature}: must be > 0")
        if not 0.0 <= self.soft_weight <= 1.0:
            raise ZeroskipError(f"distillation soft weight {self.soft_weight}: must be in [0, 1]")


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def distillation_loss(student: np.ndarray, teacher: np.ndarray, labels: np.ndarray,
                      config: Distillation) -> tuple[float, np.ndarray]:
    """Mean loss over the batch and its gradient w.r.t. the student logits."""
    t = np.float64(config.temperature)
    n = len(labels)
    p_teacher = softmax(teacher.astype(np.float64) / t)
    p_student = softmax(student.astype(np.float64) / t)
    # KL(teacher || student): the cross-entropy minus the teacher's entropy (same gradient)
    soft = float(np.sum(p_teacher * (np.log(p_teacher + 1e-12) - np.log(p_student + 1e-12)))
                 / n) * t * t
    soft_grad = (p_student - p_teacher) * t / n  # d(T^2 CE)/ds = T (p_s - p_t)
    hard, hard_grad = softmax_cross_entropy(student.astype(np.float64), labels)
    w = config.soft_weight
    loss = w * soft + (1 - w) * hard
    return loss, (w * soft_grad + (1 - w) * hard_grad).astype(student.dtype)


def fit_distilled(student: Network, params: list, x: np.ndarray, y: np.ndarray,
                  teacher_logits: np.ndarray, schedule: Schedule, rng: np.random.Generator,
                  config: Distillation = Distillation(), progress: Progress = QUIET,
                  label: str = "distill", x_val: np.ndarray | None = None,
                  y_val: np.ndarray | None = None) -> History:
    """``zeroskip.models.train.fit`` with the distillation loss; ``teacher_logits`` [n, classes]
    are the teacher's outputs on ``x`` (computed once: the teacher is frozen)."""
    if len(teacher_logits) != len(x):
        raise ZeroskipError(f"teacher logits: {len(teacher_logits)} rows for {len(x)} images")
    def step_loss(batch, images):
        # a shifted image keeps its teacher's soft targets (computed once, unshifted)
        logits = student.forward(images, training=True)
        loss, grad = distillation_loss(logits, teacher_logits[batch], y[batch], config)
        student.backward(grad)
        return loss

    return fit(student, params, x, y, schedule, rng, progress, label, x_val, y_val,
               step_loss=step_loss)
