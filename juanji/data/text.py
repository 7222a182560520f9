"""Text data: tokenizers, a vocabulary, padding, a text dataset and readers for labelled text.

The pieces a TextCNN (Kim, 2014) needs, with torchtext's and Keras' names where they have one::

    from juanji.data import DataLoader, PadCollate, TextDataset, Vocab, WordTokenizer

    tok = WordTokenizer(lower=True)
    vocab = Vocab.build((tok(t) for t in train_texts), min_freq=2)     # <pad> = 0, <unk> = 1
    train = TextDataset(train_texts, train_labels, tok, vocab, max_len=100)
    loader = DataLoader(train, batch_size=50, shuffle=True, seed=0,
                        collate_fn=PadCollate(min_len=5), bucket_by=train.lengths)
    for ids, y in loader:             # ids (50, L) int64, padded with 0; y (50,) int64
        ...

- Tokenizers are pure callables ``str -> list[str]``: ``WordTokenizer`` (``\\w+`` runs and single
  punctuation marks, Unicode-aware) and ``CharTokenizer`` (every character, whitespace runs as one
  space).
- ``Vocab`` maps tokens to int ids; ids 0 and 1 are always ``<pad>`` and ``<unk>``. Saved as JSON
  (never pickle); ``Vocab.load`` validates the file and names it in every error.
- ``pad_sequences`` / ``PadCollate`` pad a batch to its longest sequence (Keras' name and
  PyTorch's ``collate_fn``); token ids stay int64 end to end, the DataLoader never scales them.
- ``read_delimited`` (TSV/CSV) and ``read_text_folder`` (one sub-folder per class) read labelled
  text a user brings, under the size caps ``MAX_TEXT_FILE_BYTES``, ``MAX_TEXT_FILES`` and
  ``MAX_VOCAB_FILE_BYTES``/``MAX_VOCAB_SIZE``, each checked before anything is read.
"""

from __future__ import annotations

import csv
import io as _stdio
import json
import os
import re
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .._atomic import atomic_write
from .dataset import Dataset, _check_index

__all__ = [
    "WordTokenizer", "CharTokenizer", "Vocab", "pad_sequences", "PadCollate", "TextDataset",
    "read_delimited", "read_text_folder", "decode_text",
    "PAD", "UNK", "MAX_TEXT_FILE_BYTES", "MAX_TEXT_FILES", "MAX_VOCAB_FILE_BYTES", "MAX_VOCAB_SIZE",
]

PAD, UNK = "<pad>", "<unk>"

#: The largest single text file (a TSV/CSV, one document of a folder) the readers open: 512 MiB.
#: Checked from the file's size before it is read.
MAX_TEXT_FILE_BYTES = 512 << 20
#: The most files ``read_text_folder`` reads (1 million); counted before any is opened.
MAX_TEXT_FILES = 1_000_000
#: The largest vocabulary file ``Vocab.load`` reads (256 MiB), checked from its size first.
MAX_VOCAB_FILE_BYTES = 256 << 20
#: The most tokens a loaded vocabulary may hold (10 million; word2vec's GoogleNews has 3 million).
MAX_VOCAB_SIZE = 10_000_000

_VOCAB_FORMAT = "juanji-vocab"
_VOCAB_VERSION = 1


# ---------------------------------------------------------------------------------------------
# Tokenizers
# ---------------------------------------------------------------------------------------------

# A word is a run of Unicode word characters (letters of any script, digits, underscore, and the
# combining marks that belong to them); every other non-space character is a token on its own.
_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_SPACES = re.compile(r"\s+", re.UNICODE)


class WordTokenizer:
    """Split text into words and single punctuation marks (Unicode-aware).

    A token is a run of word characters (``\\w+``: letters of any script, digits, ``_``) or one
    character that is neither a word character nor whitespace (punctuation, symbols, emoji).
    Scripts written without spaces (Chinese, Japanese) come out as one token per run of
    characters; use ``CharTokenizer`` for them.

    Args:
        lower: lowercase each token (``str.lower``, Unicode-aware: ``"ÄÖ" -> "äö"``).
        normalize: apply Unicode NFKC normalisation first (full-width letters and ligatures
            become their plain forms, ``"ﬁ" -> "fi"``, composed and decomposed accents agree).

    Example:
        >>> WordTokenizer(lower=True)("Привет, МИР! Café's")
        ['привет', ',', 'мир', '!', 'café', "'", 's']
    """

    def __init__(self, lower: bool = True, normalize: bool = True) -> None:
        self.lower = bool(lower)
        self.normalize = bool(normalize)

    def __call__(self, text: str) -> list[str]:
        if not isinstance(text, str):
            raise TypeError(f"WordTokenizer: text must be a str, got {type(text).__name__}")
        if self.normalize:
            text = unicodedata.normalize("NFKC", text)
        if self.lower:
            text = text.lower()
        return _WORD.findall(text)

    def __repr__(self) -> str:
        return f"WordTokenizer(lower={self.lower}, normalize={self.normalize})"


class CharTokenizer:
    """Split text into characters: every Unicode code point is a token, runs of whitespace are one ``" "``.

    Leading and trailing whitespace is dropped. Combining accents are separate code points unless
    ``normalize`` composes them (NFC: ``"e\\u0301" -> "é"``).

    Args:
        lower: lowercase the text first.
        normalize: apply Unicode NFC normalisation first (composes accents; keeps full-width forms,
            which carry information about the script).

    Example:
        >>> CharTokenizer()("Ab  中文\\n!")
        ['a', 'b', ' ', '中', '文', ' ', '!']
    """

    def __init__(self, lower: bool = True, normalize: bool = True) -> None:
        self.lower = bool(lower)
        self.normalize = bool(normalize)

    def __call__(self, text: str) -> list[str]:
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer: text must be a str, got {type(text).__name__}")
        if self.normalize:
            text = unicodedata.normalize("NFC", text)
        if self.lower:
            text = text.lower()
        return list(_SPACES.sub(" ", text).strip())

    def __repr__(self) -> str:
        return f"CharTokenizer(lower={self.lower}, normalize={self.normalize})"


# ---------------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------------

class Vocab:
    """A token <-> id mapping: ``<pad>`` is id 0, ``<unk>`` id 1, then the kept tokens.

    Built from token lists with ``Vocab.build``: tokens are counted, those seen fewer than
    ``min_freq`` times are dropped, and the rest are ordered by descending count, ties broken
    by the token's first appearance in the input (so the same corpus in the same order always
    gives the same ids, and a corpus that is already ordered keeps its order), then cut to
    ``max_size`` (specials included).

    Attributes:
        itos: the tokens by id (``itos[0] == "<pad>"``, ``itos[1] == "<unk>"``).
        stoi: token -> id.
        pad_index: 0. unk_index: 1.

    Example:
        >>> v = Vocab.build([["a", "b", "a"], ["c", "b", "a"]])
        >>> v.itos, v["a"], v["zzz"], v.encode(["c", "x"]).tolist(), v.decode([2, 0])
        (['<pad>', '<unk>', 'a', 'b', 'c'], 2, 1, [4, 1], ['a', '<pad>'])
    """

    pad_index = 0
    unk_index = 1

    def __init__(self, tokens: Sequence[str]) -> None:
        """A vocabulary over ``tokens`` in this order, after ``<pad>`` and ``<unk>`` (added if missing).

        Args:
            tokens: unique strings; may start with ``"<pad>", "<unk>"`` (as ``itos`` does).
        """
        tokens = list(tokens)
        if tokens[:2] == [PAD, UNK]:
            tokens = tokens[2:]
        itos = [PAD, UNK]
        for t in tokens:
            if not isinstance(t, str):
                raise TypeError(f"Vocab: tokens must be str, got {type(t).__name__} ({t!r})")
        itos.extend(tokens)
        stoi = {t: i for i, t in enumerate(itos)}
        if len(stoi) != len(itos):
            dup = next(t for t, c in Counter(itos).items() if c > 1)
            raise ValueError(f"Vocab: token {dup!r} appears more than once (the specials {PAD!r} and "
                             f"{UNK!r} are ids 0 and 1 and cannot appear again)")
        self.itos: list[str] = itos
        self.stoi: dict[str, int] = stoi
        self.freqs: dict[str, int] = {}  # token -> count, filled by build()

    @classmethod
    def build(cls, token_lists: Iterable[Iterable[str]], min_freq: int = 1, max_size: int | None = None) -> "Vocab":
        """Count the tokens of ``token_lists`` and keep the frequent ones (see the class notes).

        Args:
            token_lists: an iterable of token lists (e.g. ``map(tokenizer, texts)``); read once.
            min_freq: keep tokens seen at least this many times (>= 1).
            max_size: at most this many ids in all, the two specials included (>= 2); None: no cap.
        """
        if isinstance(min_freq, bool) or not isinstance(min_freq, (int, np.integer)) or min_freq < 1:
            raise ValueError(f"Vocab.build: min_freq must be an int >= 1, got {min_freq!r}")
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, (int, np.integer))
                                     or max_size < 2):
            raise ValueError(f"Vocab.build: max_size must be None or an int >= 2 (the specials count), got {max_size!r}")
        counts: Counter[str] = Counter()  # a dict: iteration follows first appearance
        for tokens in token_lists:
            if isinstance(tokens, str):
                raise TypeError("Vocab.build: expected an iterable of token lists, got a str among them "
                                "(tokenize each text first, e.g. map(tokenizer, texts))")
            counts.update(tokens)
        counts.pop(PAD, None)
        counts.pop(UNK, None)
        # sorted() is stable, so equal counts keep their first-appearance order.
        kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: -counts[t])
        if max_size is not None:
            kept = kept[:int(max_size) - 2]
        vocab = cls(kept)
        vocab.freqs = {t: counts[t] for t in kept}
        return vocab

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        """The id of ``token``; ``unk_index`` (1) for a token not in the vocabulary."""
        return self.stoi.get(token, self.unk_index)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    __hash__ = None  # type: ignore[assignment]

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """Token ids, shape ``(len(tokens),)`` int64; unknown tokens become ``unk_index``."""
        get, unk = self.stoi.get, self.unk_index
        ids = [get(t, unk) for t in tokens]
        return np.asarray(ids, dtype=np.int64).reshape(len(ids))

    def decode(self, ids: Iterable[int] | np.ndarray) -> list[str]:
        """The tokens of ``ids`` (any iterable of ints, e.g. a row of a padded batch)."""
        arr = np.asarray(ids)
        if arr.size == 0:
            return []
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise ValueError(f"Vocab.decode: ids must be a 1-D sequence of ints, got shape {arr.shape} "
                             f"and dtype {arr.dtype}")
        bad = (arr < 0) | (arr >= len(self.itos))
        if bad.any():
            raise IndexError(f"Vocab.decode: id {int(arr[bad][0])} is out of range for a vocabulary of "
                             f"{len(self.itos)} tokens")
        return [self.itos[i] for i in arr.tolist()]

    # -- files ---------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the vocabulary as JSON (atomically): ``{"format", "version", "tokens": itos}``."""
        doc = {"format": _VOCAB_FORMAT, "version": _VOCAB_VERSION, "tokens": self.itos}
        data = json.dumps(doc, ensure_ascii=False, indent=0).encode("utf-8")
        return atomic_write(path, lambda f: f.write(data))

    @classmethod
    def load(cls, path: str | os.PathLike[str], max_size: int = MAX_VOCAB_SIZE) -> "Vocab":
        """Read a vocabulary written by ``save``; anything else is a ValueError naming the file.

        The file must be at most ``MAX_VOCAB_FILE_BYTES``, UTF-8 JSON: an object with
        ``"format": "juanji-vocab"``, ``"version": 1`` and ``"tokens"``, a list of at most
        ``max_size`` unique strings starting with ``"<pad>", "<unk>"``.
        """
        path = Path(path)
        where = f"Vocab.load: '{path}'"
        raw = _read_capped(path, "Vocab.load", MAX_VOCAB_FILE_BYTES, "MAX_VOCAB_FILE_BYTES")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line = raw[:e.start].count(b"\n") + 1
            raise ValueError(f"{where}: line {line}: not UTF-8 ({e.reason})") from None
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{where}: line {e.lineno}: not valid JSON ({e.msg})") from None
        except RecursionError:
            raise ValueError(f"{where}: not a vocabulary (JSON nested too deeply)") from None
        if not isinstance(doc, dict):
            raise ValueError(f"{where}: not a vocabulary (expected a JSON object, got {type(doc).__name__})")
        if doc.get("format") != _VOCAB_FORMAT:
            raise ValueError(f"{where}: not a vocabulary (\"format\" is {doc.get('format')!r}, "
                             f"expected {_VOCAB_FORMAT!r})")
        version = doc.get("version")
        if type(version) is not int or version != _VOCAB_VERSION:
            raise ValueError(f"{where}: unsupported version {version!r} (this juanji reads version {_VOCAB_VERSION})")
        tokens = doc.get("tokens")
        if not isinstance(tokens, list):
            raise ValueError(f"{where}: \"tokens\" must be a list of strings, got {type(tokens).__name__}")
        if len(tokens) > max_size:
            raise ValueError(f"{where}: {len(tokens)} tokens, more than the {max_size} allowed")
        bad = next((i for i, t in enumerate(tokens) if not isinstance(t, str)), None)
        if bad is not None:
            raise ValueError(f"{where}: token {bad} is {type(tokens[bad]).__name__}, not a string")
        if tokens[:2] != [PAD, UNK]:
            raise ValueError(f"{where}: the tokens must start with {PAD!r}, {UNK!r} (ids 0 and 1), "
                             f"got {tokens[:2]!r}")
        if len(set(tokens)) != len(tokens):
            seen: set[str] = set()
            dup = next(i for i, t in enumerate(tokens) if t in seen or seen.add(t))  # type: ignore[func-returns-value]
            raise ValueError(f"{where}: token {tokens[dup]!r} appears twice (again at id {dup})")
        return cls(tokens)

    def __repr__(self) -> str:
        head = ", ".join(repr(t) for t in self.itos[2:7])
        return f"Vocab(size={len(self)}, tokens=[{head}{', ...' if len(self) > 7 else ''}])"


# ---------------------------------------------------------------------------------------------
# Padding and the text dataset
# ---------------------------------------------------------------------------------------------

def pad_sequences(seqs: Sequence[Any], max_len: int | None = None, pad_index: int = 0,
                  min_len: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pad a batch of id sequences to a common length (at the end).

    The batch is as long as its longest sequence, cut to ``max_len`` (sequences longer than that
    keep their first ``max_len`` ids) and grown to ``min_len`` (a TextCNN needs at least its
    widest filter). ``lengths`` counts the ids kept (not the pads).

    Args:
        seqs: N 1-D sequences of ints (lists, arrays).
        max_len: truncate to at most this length; None: no limit.
        pad_index: the id that fills the tail (``Vocab.pad_index``, 0).
        min_len: pad to at least this length.

    Returns:
        ``(ids, lengths)``: ``(N, L)`` int64 and ``(N,)`` int64.

    Example:
        >>> ids, lengths = pad_sequences([[5, 6, 7], [8]])
        >>> ids.tolist(), lengths.tolist()
        ([[5, 6, 7], [8, 0, 0]], [3, 1])
    """
    if max_len is not None and (isinstance(max_len, bool) or not isinstance(max_len, (int, np.integer)) or max_len < 1):
        raise ValueError(f"pad_sequences: max_len must be None or an int >= 1, got {max_len!r}")
    if isinstance(min_len, bool) or not isinstance(min_len, (int, np.integer)) or min_len < 0:
        raise ValueError(f"pad_sequences: min_len must be an int >= 0, got {min_len!r}")
    arrays = []
    for k, s in enumerate(seqs):
        a = np.asarray(s)
        if a.size == 0:
            a = a.reshape(0).astype(np.int64)
        if a.ndim != 1 or a.dtype.kind not in "iu":
            raise ValueError(f"pad_sequences: sequence {k} must be 1-D ints, got shape {a.shape} and dtype {a.dtype}")
        arrays.append(a if max_len is None else a[:max_len])
    lengths = np.array([len(a) for a in arrays], dtype=np.int64).reshape(len(arrays))
    width = max(int(lengths.max(initial=0)), int(min_len))
    if max_len is not None:
        width = min(width, int(max_len)) if min_len <= max_len else int(min_len)
    ids = np.full((len(arrays), width), pad_index, dtype=np.int64)
    for i, a in enumerate(arrays):
        ids[i, :len(a)] = a
    return ids, lengths


class PadCollate:
    """A DataLoader ``collate_fn`` for ``(ids, label)`` samples: pads ids, stacks labels.

    Returns ``(ids (N, L) int64, labels (N,) int64)``, or with ``return_lengths=True``
    ``(ids, labels, lengths (N,) int64)``. Pads are ``pad_index`` (0), which the model masks.

    Args:
        max_len: truncate longer sequences; None: no limit.
        pad_index: the padding id.
        min_len: pad every batch to at least this length (e.g. the widest conv filter).
        return_lengths: also return the unpadded lengths.

    Example:
        >>> ids, y = PadCollate()([(np.array([3, 4]), 1), (np.array([5]), 0)])
        >>> ids.tolist(), y.tolist()
        ([[3, 4], [5, 0]], [1, 0])
    """

    def __init__(self, max_len: int | None = None, pad_index: int = 0, min_len: int = 0,
                 return_lengths: bool = False) -> None:
        pad_sequences([], max_len=max_len, min_len=min_len)  # validates the arguments
        self.max_len, self.pad_index, self.min_len = max_len, int(pad_index), int(min_len)
        self.return_lengths = bool(return_lengths)

    def __call__(self, samples: Sequence[tuple[Any, Any]]) -> tuple[np.ndarray, ...]:
        ids, lengths = pad_sequences([s[0] for s in samples], self.max_len, self.pad_index, self.min_len)
        labels = np.asarray([s[1] for s in samples])
        labels = labels.astype(np.float32 if labels.dtype.kind == "f" else np.int64).reshape(len(samples))
        return (ids, labels, lengths) if self.return_lengths else (ids, labels)

    def __repr__(self) -> str:
        return (f"PadCollate(max_len={self.max_len}, pad_index={self.pad_index}, min_len={self.min_len}, "
                f"return_lengths={self.return_lengths})")


class TextDataset(Dataset):
    """Texts and labels as a dataset of ``(ids (L,) int64, label int)`` samples.

    Every text is tokenized and encoded once, here; ``lengths`` holds each sample's length
    (after ``max_len``), for ``DataLoader(..., bucket_by=ds.lengths)``. Batch it with
    ``collate_fn=PadCollate()`` (samples have different lengths).

    Args:
        texts: N strings.
        labels: N integer labels.
        tokenizer: ``str -> list[str]`` (``WordTokenizer()``, ``CharTokenizer()``).
        vocab: maps tokens to ids (build it from the training texts only).
        max_len: keep the first ``max_len`` tokens; None: all.

    Example:
        >>> tok = WordTokenizer(); texts = ["good film", "bad bad film"]
        >>> ds = TextDataset(texts, [1, 0], tok, Vocab.build(map(tok, texts)))
        >>> ds[1][0].tolist(), ds[1][1], ds.lengths.tolist()
        ([3, 3, 2], 0, [2, 3])
    """

    def __init__(self, texts: Sequence[str], labels: Any, tokenizer: Callable[[str], list[str]], vocab: Vocab,
                 max_len: int | None = None) -> None:
        texts = list(texts)
        y = np.asarray(labels)
        if y.size == 0:
            y = y.reshape(0).astype(np.int64)
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise ValueError(f"TextDataset: labels must be a 1-D array of ints, got shape {y.shape} and dtype {y.dtype}")
        if len(y) != len(texts):
            raise ValueError(f"TextDataset: {len(texts)} texts but {len(y)} labels")
        if max_len is not None and (isinstance(max_len, bool) or not isinstance(max_len, (int, np.integer)) or max_len < 1):
            raise ValueError(f"TextDataset: max_len must be None or an int >= 1, got {max_len!r}")
        if not callable(tokenizer):
            raise TypeError(f"TextDataset: tokenizer must be callable, got {type(tokenizer).__name__}")
        self.texts = texts
        self.targets: np.ndarray = y.astype(np.int64)
        self.tokenizer, self.vocab, self.max_len = tokenizer, vocab, max_len
        self.ids: list[np.ndarray] = []
        for t in texts:
            ids = vocab.encode(tokenizer(t))
            self.ids.append(ids if max_len is None else ids[:max_len])
        self.lengths: np.ndarray = np.array([len(a) for a in self.ids], dtype=np.int64).reshape(len(texts))

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        i = _check_index(type(self).__name__, index, len(self))
        return self.ids[i], int(self.targets[i])

    def collate(self, samples: Sequence[tuple[Any, Any]]) -> tuple[np.ndarray, ...]:
        """``PadCollate(max_len=self.max_len)(samples)``: ``(ids (N, L), labels (N,))``."""
        return PadCollate(max_len=self.max_len)(samples)

    def __repr__(self) -> str:
        return f"TextDataset(n={len(self)}, vocab={len(self.vocab)}, max_len={self.max_len}, tokenizer={self.tokenizer!r})"


# ---------------------------------------------------------------------------------------------
# Readers for labelled text a user brings
# ---------------------------------------------------------------------------------------------

def decode_text(raw: bytes, path: str | os.PathLike[str], who: str, encoding: str = "utf-8") -> str:
    """``raw`` decoded, or a ValueError naming ``who``, the file and the line of the bad bytes.

    A UTF-8 byte-order mark at the start is dropped.
    """
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ValueError(f"{who}: {path}:{line}: not valid {encoding} ({e.reason} at byte {e.start})") from None
    return text[1:] if text.startswith("\ufeff") else text


def _read_capped(path: Path, who: str, max_bytes: int | None = None, cap_name: str = "MAX_TEXT_FILE_BYTES") -> bytes:
    """The file's bytes, refused from its size before reading when over ``max_bytes``.

    Read in chunks: ``f.read(max_bytes + 1)`` would allocate the whole cap up front, whatever
    the file's size (found by tests/fuzz_readers.py under a memory cap)."""
    max_bytes = MAX_TEXT_FILE_BYTES if max_bytes is None else max_bytes
    try:
        size = path.stat().st_size
    except OSError as e:
        raise FileNotFoundError(f"{who}: cannot open '{path}' ({e.strerror or e})") from e
    if size > max_bytes:
        raise ValueError(f"{who}: '{path}' is {size} bytes, more than the {max_bytes} allowed ({cap_name})")
    chunks, total = [], 0
    with open(path, "rb") as f:
        while chunk := f.read(min(1 << 20, max_bytes + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise ValueError(f"{who}: '{path}' grew past {max_bytes} bytes while being read ({cap_name})")
    return b"".join(chunks)


def _column(spec: int | str, header: list[str] | None, path: Path, what: str) -> int:
    if isinstance(spec, bool):
        raise TypeError(f"read_delimited: {what} must be a column name or index, got {spec!r}")
    if isinstance(spec, (int, np.integer)):
        if spec < 0:
            raise ValueError(f"read_delimited: {what} must be >= 0, got {spec}")
        return int(spec)
    if isinstance(spec, str):
        if header is None:
            raise ValueError(f"read_delimited: {what} {spec!r} is a name, but header=False: give a column index")
        if spec not in header:
            raise ValueError(f"read_delimited: {path}:1: no column named {spec!r} (the header has {header})")
        return header.index(spec)
    raise TypeError(f"read_delimited: {what} must be a column name or index, got {type(spec).__name__}")


def read_delimited(path: str | os.PathLike[str], text_column: int | str = "text", label_column: int | str = "label",
                   delimiter: str | None = None, header: bool = True, classes: Sequence[str] | None = None,
                   encoding: str = "utf-8") -> tuple[list[str], np.ndarray, list[str]]:
    """Read labelled texts from a TSV or CSV file (Python's ``csv`` module: quoting as Excel writes it).

    Rules: a row whose text is empty (or only whitespace) is an error naming ``file:line`` (a
    blank line, with no fields at all, is skipped); a row with too few columns is an error;
    labels are strings (``"1"`` and ``"pos"`` alike). With ``classes``, the label ids are
    ``classes.index(label)`` and a label not in it is an error naming ``file:line`` (read the
    test file with the training file's classes); without, the classes are the sorted distinct labels.

    Args:
        path: the file (at most ``MAX_TEXT_FILE_BYTES``).
        text_column, label_column: column name (needs the header) or 0-based index.
        delimiter: ``"\\t"`` for ``.tsv``/``.tab`` files, ``","`` otherwise, unless given.
        header: the first row names the columns.
        classes: the class names, in label-id order.
        encoding: the file's text encoding.

    Returns:
        ``(texts, labels (N,) int64, classes)``.
    """
    path = Path(path)
    who = "read_delimited"
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    text = decode_text(_read_capped(path, who), path, who, encoding)
    reader = csv.reader(_stdio.StringIO(text, newline=""), delimiter=delimiter)
    texts: list[str] = []
    raw_labels: list[str] = []
    lines: list[int] = []
    names: list[str] | None = None
    ti = li = -1
    if not header:  # indices only: checked before reading
        ti = _column(text_column, None, path, "text_column")
        li = _column(label_column, None, path, "label_column")
    try:
        for row in reader:
            line = reader.line_num
            if names is None and header:
                names = [c.strip() for c in row]
                ti = _column(text_column, names, path, "text_column")
                li = _column(label_column, names, path, "label_column")
                continue
            if not row:
                continue
            if len(row) <= max(ti, li):
                raise ValueError(f"{who}: {path}:{line}: {len(row)} column(s), but the text and label are "
                                 f"columns {ti} and {li}")
            t, lab = row[ti], row[li].strip()
            if not t.strip():
                raise ValueError(f"{who}: {path}:{line}: the text is empty")
            if not lab:
                raise ValueError(f"{who}: {path}:{line}: the label is empty")
            texts.append(t)
            raw_labels.append(lab)
            lines.append(line)
    except csv.Error as e:
        raise ValueError(f"{who}: {path}:{reader.line_num}: {e}") from None
    if header and names is None:
        raise ValueError(f"{who}: {path}: the file is empty (no header row)")
    if not texts:
        raise ValueError(f"{who}: {path}: no rows of data")
    if classes is None:
        names_out = sorted(set(raw_labels))
    else:
        names_out = [str(c) for c in classes]
        if len(set(names_out)) != len(names_out):
            raise ValueError(f"{who}: classes has duplicates: {names_out}")
    index = {c: i for i, c in enumerate(names_out)}
    labels = np.empty(len(texts), dtype=np.int64)
    for k, (lab, line) in enumerate(zip(raw_labels, lines)):
        if lab not in index:
            raise ValueError(f"{who}: {path}:{line}: unknown label {lab!r} (the classes are {names_out})")
        labels[k] = index[lab]
    return texts, labels, names_out


def read_text_folder(root: str | os.PathLike[str], extensions: Sequence[str] = (".txt",),
                     classes: Sequence[str] | None = None,
                     encoding: str = "utf-8") -> tuple[list[str], np.ndarray, list[str]]:
    """Read a folder with one sub-folder per class of text files, one document per file (as ImageFolder)::

        root/neg/001.txt
        root/pos/abc.txt

    gives classes ``["neg", "pos"]`` (sorted sub-folder names, or ``classes`` in that order) and
    labels 0, 1. Files are read in sorted order; files with other extensions and hidden files are
    ignored; a file that is empty or only whitespace is an error naming it. Each text is
    stripped of leading and trailing whitespace.

    Args:
        root: the folder.
        extensions: the file name endings read (case-insensitive).
        classes: the sub-folders to read, in label-id order (each must exist).
        encoding: the files' text encoding.

    Returns:
        ``(texts, labels (N,) int64, classes)``.
    """
    root = Path(root)
    who = "read_text_folder"
    if not root.is_dir():
        raise FileNotFoundError(f"{who}: '{root}' is not a directory")
    if classes is None:
        names = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    else:
        names = [str(c) for c in classes]
        missing = [c for c in names if not (root / c).is_dir()]
        if missing:
            raise ValueError(f"{who}: '{root}' has no sub-folder for the classes {missing}")
    if not names:
        raise ValueError(f"{who}: '{root}' has no class sub-folders")
    exts = tuple(e.lower() for e in extensions)
    files: list[tuple[Path, int]] = []
    for label, name in enumerate(names):
        for dirpath, dirnames, filenames in os.walk(root / name):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for fn in sorted(filenames):
                if fn.lower().endswith(exts) and not fn.startswith("."):
                    files.append((Path(dirpath, fn), label))
                    if len(files) > MAX_TEXT_FILES:
                        raise ValueError(f"{who}: '{root}' holds more than {MAX_TEXT_FILES} files (MAX_TEXT_FILES)")
    if not files:
        raise ValueError(f"{who}: '{root}' holds no files ending in {list(exts)}")
    texts = []
    for p, _ in files:
        t = decode_text(_read_capped(p, who), p, who, encoding).strip()
        if not t:
            raise ValueError(f"{who}: '{p}' is empty")
        texts.append(t)
    return texts, np.array([label for _, label in files], dtype=np.int64), names
