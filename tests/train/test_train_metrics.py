"""juanji.train.metrics: accuracy, top-k accuracy and confusion matrix, as functions and running metrics."""

from __future__ import annotations

import numpy as np
import pytest

import juanji
from juanji.train import (
    Accuracy, ConfusionMatrix, TopKAccuracy, accuracy, confusion_matrix, get_metric, top_k_accuracy,
)


def _data(n=97, c=7, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, c)).astype(np.float32), rng.integers(0, c, n)


def test_accuracy_by_hand():
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert accuracy(scores, np.array([1, 1, 1, 0])) == 0.75
    assert accuracy(np.array([2, 0, 1]), np.array([2, 1, 1])) == pytest.approx(2 / 3)
    assert accuracy(juanji.tensor(scores), juanji.tensor([1, 0, 1, 0])) == 1.0


def test_top_k_accuracy_by_hand():
    scores = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.2, 0.5, 0.3]])
    y = np.array([1, 0, 2])
    assert top_k_accuracy(scores, y, k=1) == 0.0
    assert top_k_accuracy(scores, y, k=2) == pytest.approx(2 / 3)
    assert top_k_accuracy(scores, y, k=3) == 1.0


def test_top_k_against_scikit_learn():
    sk = pytest.importorskip("sklearn.metrics", reason="scikit-learn is the oracle (pip install scikit-learn)")
    scores, y = _data()
    for k in (1, 2, 3, 5):
        assert top_k_accuracy(scores, y, k) == pytest.approx(sk.top_k_accuracy_score(y, scores, k=k, labels=range(7)))
    assert top_k_accuracy(scores, y, 1) == accuracy(scores, y)


def test_confusion_matrix_against_scikit_learn():
    sk = pytest.importorskip("sklearn.metrics", reason="scikit-learn is the oracle (pip install scikit-learn)")
    scores, y = _data()
    expected = sk.confusion_matrix(y, scores.argmax(1), labels=range(7))
    np.testing.assert_array_equal(confusion_matrix(scores, y), expected)
    assert confusion_matrix(scores, y).sum() == len(y)


def test_confusion_matrix_by_hand():
    m = confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 0, 1, 2]), num_classes=4)
    expected = np.zeros((4, 4), np.int64)
    expected[0, 0] = expected[0, 1] = expected[1, 1] = expected[2, 2] = 1
    np.testing.assert_array_equal(m, expected)


def test_running_metrics_over_batches_equal_the_whole():
    scores, y = _data(n=100)
    metrics = [Accuracy(), TopKAccuracy(3), ConfusionMatrix()]
    for i in range(0, 100, 30):  # uneven batches: 30, 30, 30, 10
        for m in metrics:
            m.update(scores[i:i + 30], y[i:i + 30])
    assert metrics[0].compute() == accuracy(scores, y)
    assert metrics[1].compute() == top_k_accuracy(scores, y, 3)
    np.testing.assert_array_equal(metrics[2].compute(), confusion_matrix(scores, y))
    for m in metrics:
        m.reset()
        with pytest.raises(ValueError, match="no samples seen since reset"):
            m.compute()


def test_metric_names():
    assert get_metric("acc").name == "accuracy"
    assert get_metric("top5").name == "top5_accuracy"
    assert get_metric("top3_accuracy").k == 3
    assert get_metric("confusion_matrix").scalar is False
    with pytest.raises(ValueError, match="unknown metric 'f1'; known: accuracy, top<k>"):
        get_metric("f1")


def test_bad_inputs_are_named():
    scores, y = _data(n=5, c=3)
    with pytest.raises(ValueError, match=r"accuracy: output has 5 rows but target has 4 labels"):
        accuracy(scores, y[:4])
    with pytest.raises(ValueError, match=r"target labels must be in \[0, 3\)"):
        accuracy(scores, np.array([0, 1, 2, 3, 0]))
    with pytest.raises(ValueError, match=r"target must be a 1-D array of integer labels"):
        accuracy(scores, y.astype(np.float32))
    with pytest.raises(ValueError, match=r"k must be an int in \[1, 3\]"):
        top_k_accuracy(scores, y, k=4)
    with pytest.raises(ValueError, match=r"top_k_accuracy: output must be \(N, C\) scores"):
        top_k_accuracy(y, y, k=1)
    with pytest.raises(ValueError, match="accuracy: no samples"):
        accuracy(np.zeros((0, 3)), np.zeros(0, np.int64))
    with pytest.raises(ValueError, match=r"predicted labels must be in \[0, 2\)"):
        confusion_matrix(np.array([0, 2]), np.array([0, 1]), num_classes=2)
