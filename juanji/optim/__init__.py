"""juanji.optim: optimizers and learning-rate schedules, with torch.optim's names and algorithms."""

from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adadelta", "Adagrad", "RMSprop", "Adam", "AdamW", "lr_scheduler"]
