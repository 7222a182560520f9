"""juanji.data: datasets, readers, transforms and the DataLoader.

Everything is NumPy: datasets hand out ``(C, H, W)`` images (uint8 or float32) and int labels;
the DataLoader turns them into batches of juanji Tensors (float32 NCHW images, int64 labels)::

    from juanji.data import DataLoader, FashionMNIST
    from juanji.data.transforms import RandomCrop

    train = FashionMNIST(train=True)                 # Debian's dataset-fashion-mnist files
    loader = DataLoader(train, batch_size=128, shuffle=True, seed=0,
                        transform=RandomCrop(28, padding=2))
    for x, y in loader:                              # x (128, 1, 28, 28) float32 in [0, 1]
        ...

Text (``juanji.data.text``): tokenizers, ``Vocab``, ``pad_sequences``/``PadCollate`` (a
``collate_fn``), ``TextDataset``, TSV/CSV and folder readers; ``DataLoader(..., bucket_by=lengths)``
batches similar lengths together. ``juanji.data.fortunes`` builds language and topic
classification corpora from Debian's fortune files.

Nothing here downloads: readers take local files, and ``Digits``/``SampleImages`` use the
copies bundled with scikit-learn.
"""

from . import transforms
from .bundled import SAMPLE_IMAGE_NAMES, Digits, SampleImages, load_sample_image
from .cifar import CIFAR10, CIFAR100, MAX_FILE_BYTES, safe_unpickle
from .dataset import ArrayDataset, ConcatDataset, Dataset, Subset, TensorDataset, random_split
from .folder import IMG_EXTENSIONS, MAX_IMAGE_PIXELS, ImageFolder, load_image
from .fortunes import (
    FORTUNES_DATASETS,
    FORTUNES_ROOT,
    MAX_STRFILE_BYTES,
    FortunesCorpus,
    FortunesLanguages,
    FortunesTopics,
    read_strfile,
)
from .idx import DEBIAN_FASHION_MNIST, FASHION_MNIST_CLASSES, MAX_IDX_BYTES, MNIST, FashionMNIST, read_idx
from .loader import BUCKET_POOL_BATCHES, DataLoader
from .sampler import DistributedSampler
from .text import (
    MAX_TEXT_FILE_BYTES,
    MAX_TEXT_FILES,
    MAX_VOCAB_FILE_BYTES,
    MAX_VOCAB_SIZE,
    CharTokenizer,
    PadCollate,
    TextDataset,
    Vocab,
    WordTokenizer,
    pad_sequences,
    read_delimited,
    read_text_folder,
)
from .vectors import (
    KIM_UNIFORM_SCALE,
    MAX_VECTOR_DIM,
    MAX_VECTORS_BYTES,
    MAX_WORD_BYTES,
    Alignment,
    read_vectors,
    train_fasttext_vectors,
)
from .vectors import align as align_vectors
from .transforms import (
    CenterCrop,
    Compose,
    Normalize,
    OneHot,
    Pad,
    PCAColorAugment,
    RandomCrop,
    RandomErasing,
    RandomHorizontalFlip,
    RandomTranslate,
    Resize,
    ToFloat,
)

__all__ = [
    "Dataset", "ArrayDataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader",
    "DistributedSampler",
    "read_idx", "MNIST", "FashionMNIST", "FASHION_MNIST_CLASSES", "DEBIAN_FASHION_MNIST",
    "CIFAR10", "CIFAR100", "safe_unpickle", "Digits", "SampleImages", "load_sample_image", "SAMPLE_IMAGE_NAMES",
    "ImageFolder", "load_image", "IMG_EXTENSIONS", "transforms",
    "MAX_IDX_BYTES", "MAX_FILE_BYTES", "MAX_IMAGE_PIXELS",  # the readers' documented size caps
    "MAX_TEXT_FILE_BYTES", "MAX_TEXT_FILES", "MAX_VOCAB_FILE_BYTES", "MAX_VOCAB_SIZE", "BUCKET_POOL_BATCHES",
    "WordTokenizer", "CharTokenizer", "Vocab", "pad_sequences", "PadCollate", "TextDataset",
    "read_delimited", "read_text_folder",
    "FortunesCorpus", "FortunesLanguages", "FortunesTopics", "FORTUNES_DATASETS", "FORTUNES_ROOT", "read_strfile",
    "MAX_STRFILE_BYTES",
    "Compose", "ToFloat", "Normalize", "OneHot", "Pad", "RandomCrop", "CenterCrop", "RandomHorizontalFlip",
    "RandomTranslate", "Resize", "PCAColorAugment", "RandomErasing",
    "read_vectors", "align_vectors", "Alignment", "train_fasttext_vectors", "MAX_VECTORS_BYTES", "MAX_VECTOR_DIM",
    "MAX_WORD_BYTES", "KIM_UNIFORM_SCALE",
]
