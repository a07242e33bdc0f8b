import numpy as np
import pytest

from zeroskip.errors import ZeroskipError
from zeroskip.models import binary_zoo
from zeroskip.models.distill import Distillation, distillation_loss, fit_distilled, softmax
from zeroskip.models.layers import softmax_cross_entropy
from zeroskip.models.train import Schedule, dense_params


def _logits(seed, n=5, classes=4):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, classes)) * 3).astype(np.float64), rng.integers(0, classes, n)


@pytest.mark.parametrize("config", [Distillation(1.0, 0.5), Distillation(20.0, 0.9)])
def test_gradient_matches_finite_differences(config):
    student, labels = _logits(0)
    teacher, _ = _logits(1)
    _, grad = distillation_loss(student, teacher, labels, config)
    eps = 1e-5
    numeric = np.zeros_like(student)
    for idx in np.ndindex(student.shape):
        up, down = student.copy(), student.copy()
        up[idx] += eps
        down[idx] -= eps
        numeric[idx] = (distillation_loss(up, teacher, labels, config)[0]
                        - distillation_loss(down, teacher, labels, config)[0]) / (2 * eps)
    assert np.allclose(grad, numeric, atol=1e-6)


def test_hard_only_is_plain_cross_entropy_and_soft_term_vanishes_on_the_teacher():
    student, labels = _logits(2)
    loss, grad = distillation_loss(student, student.copy(), labels, Distillation(3.0, 0.0))
    hard, hard_grad = softmax_cross_entropy(student.copy(), labels)
    assert loss == pytest.approx(hard) and np.allclose(grad, hard_grad)
    soft, soft_grad = distillation_loss(student, student.copy(), labels, Distillation(3.0, 1.0))
    assert soft == pytest.approx(0.0, abs=1e-9) and np.allclose(soft_grad, 0.0)


def test_soft_gradient_scales_with_temperature_as_hinton_says():
    student, labels = _logits(3)
    teacher, _ = _logits(4)
    t = 5.0
    _, grad = distillation_loss(student, teacher, labels, Distillation(t, 1.0))
    expected = t * (softmax(student / t) - softmax(teacher / t)) / len(labels)
    assert np.allclose(grad, expected)


def test_bad_settings_are_one_line_errors():
    with pytest.raises(ZeroskipError, match="temperature 0"):
        Distillation(0.0)
    with pytest.raises(ZeroskipError, match="soft weight 1.5"):
        Distillation(2.0, 1.5)


def test_a_student_learns_the_teachers_function():
    """A small float student, distilled from a random teacher on soft targets only, comes to
    agree with the teacher's decisions (the labels are deliberately useless)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((600, 8)).astype(np.float32)
    teacher = binary_zoo.float_mlp(sizes=(8, 16, 3), seed=5)
    teacher_logits = teacher.logits(x) * 3
    student = binary_zoo.float_mlp(sizes=(8, 64, 3), seed=9)
    before = np.mean(student.logits(x).argmax(1) == teacher_logits.argmax(1))
    junk_labels = np.zeros(len(x), np.int64)
    history = fit_distilled(student, dense_params(student), x, junk_labels, teacher_logits,
                            Schedule(30, 0.01, "adam", 50), rng, Distillation(2.0, 1.0))
    after = np.mean(student.logits(x).argmax(1) == teacher_logits.argmax(1))
    assert history.loss[-1] < history.loss[0]
    assert after > 0.9 and after > before


def test_teacher_logits_must_match_the_images():
    student = binary_zoo.float_mlp(sizes=(4, 3))
    with pytest.raises(ZeroskipError, match="teacher logits: 2 rows for 3 images"):
        fit_distilled(student, dense_params(student), np.zeros((3, 4), np.float32),
                      np.zeros(3, np.int64), np.zeros((2, 3)), Schedule(1, 0.1),
                      np.random.default_rng(0))
