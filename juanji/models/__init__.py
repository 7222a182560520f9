"""juanji.models: the classic CNNs, built only from juanji.nn, each registered by name.

    >>> from juanji.models import get_model, list_models
    >>> model = get_model("resnet18", num_classes=10)
"""

from . import alexnet as _alexnet, cifar_resnet as _cifar_resnet, classic as _classic, inception as _inception
from . import resnet as _resnet
from . import senet as _senet, small as _small, textcnn as _textcnn, vgg as _vgg, xception as _xception
from .alexnet import *  # noqa: F401,F403
from .cifar_resnet import *  # noqa: F401,F403
from .classic import *  # noqa: F401,F403
from .inception import *  # noqa: F401,F403
from .registry import get_model, list_models, model_builder, register_model
from .resnet import *  # noqa: F401,F403
from .senet import *  # noqa: F401,F403
from .small import *  # noqa: F401,F403
from .textcnn import *  # noqa: F401,F403
from .vgg import *  # noqa: F401,F403
from .xception import *  # noqa: F401,F403

__all__ = [
    "get_model", "list_models", "model_builder", "register_model",
    *_alexnet.__all__, *_cifar_resnet.__all__, *_classic.__all__, *_inception.__all__, *_resnet.__all__,
    *_senet.__all__, *_small.__all__, *_textcnn.__all__, *_vgg.__all__, *_xception.__all__,
]
