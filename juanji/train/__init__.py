"""juanji.train: fit, evaluate and predict with progress bars, history, callbacks and exact resume.

    >>> from juanji.train import Trainer, ModelCheckpoint, EarlyStopping
    >>> trainer = Trainer(model, Adam(model.parameters(), lr=1e-3), metrics=["accuracy"])
    >>> history = trainer.fit(train_loader, val_loader, epochs=10,
    ...                       callbacks=[ModelCheckpoint("runs/x"), EarlyStopping(patience=3)])
    >>> history.plot("runs/x/learning_curves.png")
"""

from .callbacks import (
    AfterStep,
    Callback,
    CSVLogger,
    EarlyStopping,
    LRSchedulerCallback,
    MaxNormCallback,
    ModelCheckpoint,
)
from .checkpoint import is_checkpoint, load_checkpoint, load_weights, save_checkpoint
from .history import History
from .metrics import (
    Accuracy,
    ConfusionMatrix,
    Metric,
    TopKAccuracy,
    accuracy,
    confusion_matrix,
    get_metric,
    top_k_accuracy,
)
from .serialize import pack, unpack
from .trainer import LOSSES, DivergedError, Trainer

__all__ = [
    "Trainer", "LOSSES", "DivergedError", "History",
    "Callback", "ModelCheckpoint", "EarlyStopping", "LRSchedulerCallback", "CSVLogger",
    "AfterStep", "MaxNormCallback",
    "save_checkpoint", "load_checkpoint", "load_weights", "is_checkpoint",
    "Metric", "Accuracy", "TopKAccuracy", "ConfusionMatrix", "get_metric",
    "accuracy", "top_k_accuracy", "confusion_matrix",
    "pack", "unpack",
]
