"""Pretrained word vectors: word2vec (text and binary) and fastText ``.vec`` files, aligned to a vocabulary.

Formats read by ``read_vectors`` (all three start with the header line ``"count dim"``):

- word2vec text: then one line per word, ``word v1 v2 ... vdim``, values separated by spaces;
- fastText ``.vec``: the same text format, as ``fasttext skipgram``/``cbow`` write it (every
  line ends with a space before its newline; the end-of-sentence token ``</s>`` is a word);
- word2vec binary (``-binary 1`` of Mikolov's tool, gensim's ``binary=True``): then per word,
  the word's bytes up to a space, then ``dim`` little-endian float32 values, then optionally a
  newline (the C tool writes one, gensim does not).

(A fastText model ``.bin`` is another format: it is recognised and refused with a hint.)

A loaded file is a list of words and a ``(n, dim)`` float32 matrix. Large files (GoogleNews'
3 M x 300, fastText's crawl 2 M x 300) are read streaming, never held whole: the result is
allocated once, from the header, after its size has been checked against ``MAX_VECTORS_BYTES``
(or ``max_bytes``) and against what a file of this size could hold; ``vocab=`` keeps only the
words a vocabulary needs (as torchtext's ``Vectors`` does) and ``max_vectors=`` reads only the
first words of the file (gensim's ``limit``; files are sorted by frequency). Everything a
damaged file can do is a ``ValueError`` naming the file and the line (text) or record
(binary).

``align`` turns the loaded vectors into an embedding matrix for a vocabulary (row 0, ``<pad>``,
is zeros; words the file lacks are drawn at random with the found vectors' variance, Kim 2014),
and ``train_fasttext_vectors`` trains vectors on a corpus with Debian's ``fasttext`` tool.
"""

from __future__ import annotations

import codecs
import math
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterable, NamedTuple

import numpy as np

__all__ = ["read_vectors", "align", "Alignment", "train_fasttext_vectors",
           "MAX_VECTORS_BYTES", "MAX_VECTOR_DIM", "MAX_WORD_BYTES", "KIM_UNIFORM_SCALE"]

#: The largest vector matrix ``read_vectors`` allocates unless its ``max_bytes`` says otherwise:
#: 4 GiB, above the largest files commonly published (GoogleNews 3,000,000 x 300 float32 is
#: 3.6 GB; fastText's crawl-300d-2M 2.4 GB). Checked from the header before anything is allocated.
MAX_VECTORS_BYTES = 4 << 30

#: The largest vector size accepted (published vectors have 25 to 1000 dimensions).
MAX_VECTOR_DIM = 1 << 16

#: The longest word accepted, in bytes (word2vec's own tool truncates words at 100 bytes).
MAX_WORD_BYTES = 4096

# The longest text a value may take on a line (a float32 printed with %.9g is at most 15
# characters; 64 leaves room for padding and long decimals). With MAX_WORD_BYTES this bounds
# a text line, so a file without newlines is never read whole.
_MAX_VALUE_CHARS = 64

# Records (binary) and values (text) parsed per step: bounds the temporary lists of one step.
_CHUNK = 4096
_CHUNK_VALUES = 1 << 20
_READ_STEP = 1 << 20

_ERRORS = ("strict", "replace", "ignore", "backslashreplace", "surrogateescape")
_FASTTEXT_BIN_MAGIC = (793712314).to_bytes(4, "little")  # fastText's model .bin starts with this int32


def _fail(path: Path, where: str, what: str) -> ValueError:
    return ValueError(f"read_vectors: {path}{' ' + where if where else ''}: {what}")


def _parse_header(path: Path, line: bytes) -> tuple[int, int]:
    parts = line.split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        shown = line[:80].decode("utf-8", "backslashreplace").rstrip("\r\n")
        raise _fail(path, "line 1", f"the header must be two positive integers 'count dim', got {shown!r} "
                    "(a GloVe file has no header: add the line 'count dim' before the vectors)")
    count, dim = int(parts[0]), int(parts[1])
    if count < 1 or dim < 1:
        raise _fail(path, "line 1", f"the header must be two positive integers 'count dim', got {count} {dim}")
    if dim > MAX_VECTOR_DIM:
        raise _fail(path, "line 1", f"declares vectors of {dim} dimensions, more than MAX_VECTOR_DIM "
                    f"= {MAX_VECTOR_DIM}")
    return count, dim


def _wanted_words(vocab: Any, casefold: bool) -> tuple[set[str], set[str]] | None:
    if vocab is None:
        return None
    tokens = vocab.itos if hasattr(vocab, "itos") else vocab
    if isinstance(tokens, (str, bytes)):
        raise TypeError("read_vectors: vocab must be a Vocab (with .itos) or a collection of words, not a string")
    wanted = set(tokens)
    if not all(isinstance(w, str) for w in wanted):
        raise TypeError("read_vectors: vocab's words must be str")
    return wanted, ({w.casefold() for w in wanted} if casefold else set())


def _looks_binary(head: bytes, dim: int) -> bool:
    """Whether the bytes after the header are binary records. Text if the first line is a word
    and ``dim`` numbers; otherwise (a text file whose first line is damaged, or binary) binary
    only if the first record's 4*dim bytes after its word hold a control byte or are not UTF-8,
    as raw float32s almost always do (text holds printable UTF-8, tabs and newlines only)."""
    end = head.find(b"\n")
    parts = (head if end < 0 else head[:end]).rstrip(b" \r").split(b" ")
    if len(parts) == dim + 1:
        try:
            [float(v) for v in parts[1:]]
            return False
        except ValueError:
            pass
    space = head.find(b" ")
    region = head[space + 1:space + 1 + 4 * dim] if space >= 0 else head[:4 * dim]
    if any(b < 0x20 and b not in (0x09, 0x0A, 0x0D) or b == 0x7F for b in region):
        return True
    try:
        codecs.getincrementaldecoder("utf-8")().decode(region, final=False)  # may end inside a character
    except UnicodeDecodeError:
        return True
    return False


def read_vectors(path: str | os.PathLike, *, binary: bool | None = None, vocab: Any = None,
                 max_vectors: int | None = None, casefold: bool = False, errors: str = "strict",
                 duplicates: str = "error", max_bytes: int = MAX_VECTORS_BYTES) -> tuple[list[str], np.ndarray]:
    """Read a word2vec (text or binary) or fastText ``.vec`` file.

    Args:
        path: the file.
        binary: ``True`` for word2vec binary, ``False`` for text (word2vec text, fastText ``.vec``);
            ``None`` (default) decides from the first record: text if it is a word and ``dim``
            numbers on a line, or if the bytes after its word are printable UTF-8; binary
            otherwise (raw float32s hold control bytes or invalid UTF-8, except by rare chance
            when dim is 1: pass ``binary=`` for such files).
        vocab: keep only these words: a Vocab (anything with ``itos``, a list of tokens) or a
            collection of str. The whole file is read, but only the kept vectors are stored.
        max_vectors: read only the first ``max_vectors`` words of the file (gensim's ``limit``;
            files list words by frequency). With ``vocab``, the kept words come from these.
        casefold: with ``vocab``, also keep a word whose ``str.casefold()`` equals a vocab word's
            (so ``align(..., casefold=True)`` can fall back to 'Paris' for 'paris').
        errors: how a word that is not valid UTF-8 is decoded (``bytes.decode``'s policy):
            ``"strict"`` (default) makes it a ValueError naming the line or record; ``"replace"``
            (U+FFFD), ``"ignore"``, ``"backslashreplace"`` or ``"surrogateescape"`` keep it
            (Mikolov's word2vec tool cuts long words at a byte count, which can split a UTF-8
            character; gensim's ``unicode_errors`` is the same option).
        duplicates: ``"error"`` (default): a word appearing twice is a ValueError naming both
            lines; ``"first"``: keep its first vector (gensim's choice), drop later ones.
            Duplicates are looked for among the words kept (with ``vocab``, a repeated word the
            vocabulary does not need is harmless and not looked for).
        max_bytes: the largest matrix allocated (default ``MAX_VECTORS_BYTES``, 4 GiB).

    Returns:
        ``(words, vectors)``: ``words`` a list of n str in file order, ``vectors`` an
        ``(n, dim)`` float32 array, row i the vector of ``words[i]``.

    Raises:
        ValueError naming the file, and the line (text) or record (binary, counted from 1 after
        the header) for: an empty file; a header that is not two positive integers; a count or
        dim over the caps or more than the file's size could hold; a line with the wrong number
        of values (expected vs got) or a value that is not a number; an empty or over-long word,
        or one that is not UTF-8 under ``errors="strict"``; a truncated binary record; fewer or
        more records than declared (when the whole file is read); a duplicate word (with
        ``duplicates="error"``); a value that is not finite (nan, inf, or over float32's range).

    Memory: the result, allocated once at min(count, max_vectors, len(vocab)) rows (shrunk in
    place to the words kept), plus one step of the file (about 2**20 values, or 1 MiB). Values
    of words that ``vocab`` does not keep are counted but not parsed.
    """
    path = Path(path)
    if errors not in _ERRORS:
        raise ValueError(f"read_vectors: errors must be one of {_ERRORS}, got {errors!r}")
    if duplicates not in ("error", "first"):
        raise ValueError(f"read_vectors: duplicates must be 'error' or 'first', got {duplicates!r}")
    if max_vectors is not None and (not isinstance(max_vectors, int) or max_vectors < 0):
        raise ValueError(f"read_vectors: max_vectors must be a non-negative int or None, got {max_vectors!r}")
    wanted = _wanted_words(vocab, casefold)
    size = os.path.getsize(path)  # FileNotFoundError names the file
    with open(path, "rb") as f:
        first = f.readline(128)
        if not first:
            raise _fail(path, "", "the file is empty (expected a header line 'count dim', then the vectors)")
        if first.startswith(_FASTTEXT_BIN_MAGIC):
            raise _fail(path, "", "this is a fastText model (.bin), not vectors: read its .vec, or write one with "
                        "'fasttext print-word-vectors model.bin < words.txt'")
        if not first.endswith(b"\n"):
            raise _fail(path, "line 1", "the header line 'count dim' is missing or longer than 128 bytes")
        count, dim = _parse_header(path, first)
        rest = size - len(first)
        head = f.read(min(rest, MAX_WORD_BYTES + dim * _MAX_VALUE_CHARS + 2))
        if binary is None:
            binary = _looks_binary(head, dim)
        # What a file of this size can hold: every text line is a word and dim values, at least
        # 2*dim + 1 bytes, and a newline between lines; every binary record is a word, a space
        # and 4*dim bytes.
        least = count * (4 * dim + 2) if binary else count * (2 * dim + 2) - 1
        if least > rest:
            raise _fail(path, "line 1", f"declares {count} vectors of {dim} dimensions, which need at least "
                        f"{least} bytes, but the file has {rest} after its header (truncated or damaged)")
        rows = count if max_vectors is None else min(count, max_vectors)
        if wanted is not None:
            rows = min(rows, len(wanted[0]) + len(wanted[1]))
        if rows * dim * 4 > max_bytes:
            raise _fail(path, "line 1", f"declares {rows} vectors of {dim} dimensions, {rows * dim * 4} bytes, "
                        f"more than the cap of {max_bytes} bytes (MAX_VECTORS_BYTES; pass max_bytes=, "
                        "max_vectors= or vocab= to read fewer)")
        reader = _BinaryReader if binary else _TextReader
        r = reader(path, f, head, count, dim, rows, wanted, max_vectors, errors, duplicates)
        return r.run()


class _Reader:
    """What the text and binary readers share: the result and the rules for keeping a word."""

    def __init__(self, path: Path, f: Any, head: bytes, count: int, dim: int, rows: int,
                 wanted: tuple[set[str], set[str]] | None, max_vectors: int | None, errors: str,
                 duplicates: str) -> None:
        self.path, self.f, self.head, self.count, self.dim = path, f, head, count, dim
        self.wanted, self.errors, self.duplicates = wanted, errors, duplicates
        self.limit = count if max_vectors is None else min(count, max_vectors)
        self.vectors = np.empty((rows, dim), np.float32)
        self.words: list[str] = []
        self.where: dict[str, int] = {}  # kept word -> its line or record number
        self.folded_kept: set[str] = set()

    def decode(self, raw: bytes, where: str) -> str:
        if not raw:
            raise _fail(self.path, where, "the word is empty")
        if len(raw) > MAX_WORD_BYTES:
            raise _fail(self.path, where, f"the word is {len(raw)} bytes long, more than MAX_WORD_BYTES "
                        f"= {MAX_WORD_BYTES}")
        try:
            return raw.decode("utf-8", self.errors)
        except UnicodeDecodeError as e:
            raise _fail(self.path, where, f"the word {raw[:80]!r} is not valid UTF-8 ({e.reason} at byte {e.start}; "
                        "pass errors='replace' or 'ignore' to keep such words)") from None

    def keep(self, word: str, number: int, label: str) -> bool:
        """Whether to store this word's vector (and the duplicate rule)."""
        if self.wanted is not None:
            exact, folded = self.wanted
            key = word.casefold() if folded else None
            # Beyond the exact matches, only the first word of each casefold key is kept (the one
            # align's fallback takes), so at most len(exact) + len(folded) rows are ever needed.
            if word not in exact and (key not in folded or key in self.folded_kept):
                return False
            if key is not None:
                self.folded_kept.add(key)
        seen = self.where.get(word)
        if seen is not None:
            if self.duplicates == "first":
                return False
            raise _fail(self.path, f"{label} {number}", f"the word {word!r} appears again (first at {label} {seen}; "
                        "pass duplicates='first' to keep the first vector)")
        if len(self.words) == len(self.vectors):  # only with vocab: more kept words than rows cannot happen
            raise AssertionError("read_vectors: more words kept than allocated")
        self.where[word] = number
        self.words.append(word)
        return True

    def check_finite(self, start: int, numbers: list[int], label: str) -> None:
        block = self.vectors[start:len(self.words)]
        if not np.isfinite(block).all():
            i = int(np.argmax(~np.isfinite(block).all(axis=1)))
            j = int(np.argmax(~np.isfinite(block[i])))
            raise _fail(self.path, f"{label} {numbers[i]}", f"value {j + 1} of the word {self.words[start + i]!r} is "
                        f"{block[i, j]} (vectors must be finite float32 numbers)")

    def result(self) -> tuple[list[str], np.ndarray]:
        n = len(self.words)
        if n < len(self.vectors):
            try:
                self.vectors.resize((n, self.dim), refcheck=False)  # in place: no second copy
            except ValueError:
                self.vectors = self.vectors[:n].copy()
        return self.words, self.vectors


class _TextReader(_Reader):
    def run(self) -> tuple[list[str], np.ndarray]:
        f, dim = self.f, self.dim
        f.seek(f.tell() - len(self.head))
        max_line = MAX_WORD_BYTES + dim * _MAX_VALUE_CHARS + 2
        lineno = 1
        chunk = max(1, _CHUNK_VALUES // dim)
        for _ in range(0, self.limit, chunk):
            start = len(self.words)
            values: list[float] = []
            numbers: list[int] = []
            for _ in range(min(chunk, self.limit - lineno + 1)):
                line = f.readline(max_line)
                lineno += 1
                if not line:
                    raise _fail(self.path, f"line {lineno}", f"the file ends after {lineno - 2} of the {self.count} "
                                "vectors its header declares (truncated?)")
                if len(line) == max_line and not line.endswith(b"\n"):
                    raise _fail(self.path, f"line {lineno}", f"the line is longer than {max_line} bytes, more than a "
                                f"word and {dim} values can take")
                parts = line.rstrip(b"\r\n").rstrip(b" ").split(b" ")
                if parts == [b""]:
                    raise _fail(self.path, f"line {lineno}", f"the line is empty (expected a word and {dim} values)")
                if len(parts) != dim + 1:
                    raise _fail(self.path, f"line {lineno}", f"expected a word and {dim} values, got {len(parts) - 1} "
                                "values")
                word = self.decode(parts[0], f"line {lineno}")
                if not self.keep(word, lineno, "line"):
                    continue
                numbers.append(lineno)
                try:
                    values.extend(map(float, parts[1:]))
                except ValueError:
                    for j, v in enumerate(parts[1:]):
                        try:
                            float(v)
                        except ValueError:
                            raise _fail(self.path, f"line {lineno}", f"value {j + 1} of the word {word!r} is not a "
                                        f"number: {v[:40]!r}") from None
            if numbers:
                with np.errstate(over="ignore"):  # over float32's range becomes inf: refused just below
                    self.vectors[start:len(self.words)] = np.array(values, np.float64).reshape(-1, dim)
                self.check_finite(start, numbers, "line")
        if self.limit == self.count:  # the whole file was read: nothing but blank lines may follow
            while True:
                line = f.readline(max_line)
                lineno += 1
                if not line:
                    break
                if line.strip():
                    raise _fail(self.path, f"line {lineno}", f"the file has more lines than the {self.count} vectors "
                                "its header declares")
        return self.result()


class _BinaryReader(_Reader):
    def run(self) -> tuple[list[str], np.ndarray]:
        f, dim = self.f, self.dim
        nbytes = 4 * dim
        buf = self.head
        pos = 0
        eof = False

        def fill(need: int) -> bool:
            """Make ``need`` bytes available from ``pos`` (False at the end of the file)."""
            nonlocal buf, pos, eof
            while len(buf) - pos < need and not eof:
                more = f.read(max(_READ_STEP, need))
                if not more:
                    eof = True
                buf = buf[pos:] + more
                pos = 0
            return len(buf) - pos >= need

        record = 0
        while record < self.limit:
            start = len(self.words)
            numbers: list[int] = []
            for _ in range(min(_CHUNK, self.limit - record)):
                record += 1
                where = f"record {record}"
                # The word: skip the newline that may end the previous record, then up to a space.
                while True:
                    if not fill(1):
                        raise _fail(self.path, where, f"the file ends after {record - 1} of the {self.count} "
                                    "vectors its header declares (truncated?)")
                    if buf[pos] != 0x0A:
                        break
                    pos += 1
                fill(MAX_WORD_BYTES + 1)
                space = buf.find(b" ", pos, pos + MAX_WORD_BYTES + 1)
                if space < 0:
                    if eof and len(buf) - pos <= MAX_WORD_BYTES:
                        raise _fail(self.path, where, "the record is truncated: the file ends inside its word")
                    raise _fail(self.path, where, f"no space ends the word within MAX_WORD_BYTES = {MAX_WORD_BYTES} "
                                "bytes (damaged, or not a word2vec binary file)")
                word = self.decode(buf[pos:space], where)
                pos = space + 1
                if not fill(nbytes):
                    raise _fail(self.path, where, f"the record of the word {word!r} is truncated: its {dim} float32 "
                                f"values need {nbytes} bytes, the file has {len(buf) - pos} left")
                if self.keep(word, record, "record"):
                    numbers.append(record)
                    self.vectors[len(self.words) - 1] = np.frombuffer(buf, "<f4", dim, pos)
                pos += nbytes
            if numbers:
                self.check_finite(start, numbers, "record")
        if self.limit == self.count:  # the whole file was read: nothing but whitespace may follow
            while fill(1):
                tail = buf[pos:]
                if tail.strip():
                    raise _fail(self.path, f"after record {record}", "the file has more data than the "
                                f"{self.count} vectors its header declares")
                pos = len(buf)
        return self.result()


# --- aligning vectors to a vocabulary -------------------------------------------------------------

#: The half-width of the uniform draw for unknown words in Kim (2014)'s code (``U[-0.25, 0.25]``,
#: chosen there to match GoogleNews vectors' variance); ``align`` uses it when fewer than two
#: words are found, where a variance cannot be measured.
KIM_UNIFORM_SCALE = 0.25


class Alignment(NamedTuple):
    """What ``align`` returns.

    Attributes:
        weights: ``(len(vocab.itos), dim)`` float32, the embedding matrix (row i for token i).
        found: how many tokens got a vector from the file (specials not counted).
        coverage: ``found`` / the number of tokens that are not specials (0.0 for none).
        missing: the tokens (not specials) that got a random vector, in index order.
        scale: the half-width ``a`` of the U[-a, a] draw (a ``(dim,)`` array when per dimension).
    """

    weights: np.ndarray
    found: int
    coverage: float
    missing: list[str]
    scale: Any


def align(vocab: Any, words: list[str], vectors: np.ndarray, *, seed: int = 0, scale: float | None = None,
          casefold: bool = False, per_dimension: bool = False,
          specials: Iterable[str] = ("<pad>", "<unk>")) -> Alignment:
    """Build an embedding matrix for a vocabulary from loaded word vectors (Kim 2014's recipe).

    Args:
        vocab: anything with ``itos`` (index -> token; index 0 is ``<pad>``), e.g.
            ``juanji.data.text.Vocab``.
        words, vectors: what ``read_vectors`` returned (``vectors`` is ``(len(words), dim)``).
        seed: the random vectors of missing tokens are a function of (seed, vocab, words) only.
        scale: the half-width ``a`` of U[-a, a] for missing tokens; ``None`` (default) measures it
            from the found vectors (below). Kim's code uses 0.25 (``KIM_UNIFORM_SCALE``).
        casefold: a token absent from ``words`` takes the vector of the first word in the file
            (most frequent) whose ``str.casefold()`` equals the token's ('paris' -> 'Paris');
            an exact match always wins. Read with ``read_vectors(..., casefold=True)`` so the
            vocab filter keeps those words.
        per_dimension: measure ``a`` per dimension instead of one for all (below).
        specials: tokens not counted in ``found``/``coverage``. Row 0 (``<pad>``) is always zeros;
            another special (``<unk>``) takes the file's vector if the file has one, else a
            random one, like any token.

    The scale: U[-a, a] has variance a**2 / 3, so ``a = sqrt(3 * v)`` gives the random vectors
    the variance ``v`` of the found ones (Kim 2014, section 3.1: "initialized randomly ... with
    the same variance as the pre-trained ones"). By default ``v`` is the mean over dimensions of
    each dimension's variance across the found vectors: one scale, which is what Kim's
    ``U[-0.25, 0.25]`` is (0.25 = sqrt(3 * 0.0208), GoogleNews' variance), and which stays
    steady when few words are found. ``per_dimension=True`` uses each dimension's own variance
    (for vectors whose dimensions differ in spread, e.g. fastText's); it needs more found words
    for the estimate to mean anything. Fewer than two found: ``KIM_UNIFORM_SCALE``.

    Returns:
        an ``Alignment`` (weights, found, coverage, missing, scale).
    """
    itos = getattr(vocab, "itos", None)
    if itos is None:
        raise TypeError(f"align: vocab must have an itos list (index -> token), got {type(vocab).__name__}")
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or vectors.dtype.kind != "f":
        raise ValueError(f"align: vectors must be a 2-D float array (n, dim), got shape {vectors.shape} "
                         f"and dtype {vectors.dtype}")
    if len(words) != vectors.shape[0]:
        raise ValueError(f"align: {len(words)} words but {vectors.shape[0]} vectors (shape {vectors.shape})")
    if scale is not None and not (math.isfinite(scale) and scale >= 0):
        raise ValueError(f"align: scale must be a finite number >= 0 or None, got {scale!r}")
    dim = vectors.shape[1]
    index: dict[str, int] = {}
    folded: dict[str, int] = {}
    for i, w in enumerate(words):
        index.setdefault(w, i)
        if casefold:
            folded.setdefault(w.casefold(), i)
    special = set(specials)
    weights = np.zeros((len(itos), dim), np.float32)
    rows_from: list[int] = []
    found_rows: list[int] = []
    missing_rows: list[int] = []
    for t, token in enumerate(itos):
        if t == 0:
            continue  # <pad>: zeros, so padding adds nothing to a convolution over the sentence
        i = index.get(token)
        if i is None and casefold:
            i = folded.get(token.casefold())
        if i is None:
            missing_rows.append(t)
        else:
            found_rows.append(t)
            rows_from.append(i)
    weights[found_rows] = vectors[rows_from]
    found_vectors = weights[found_rows].astype(np.float64)
    if scale is not None:
        a: Any = float(scale)
    elif len(found_rows) < 2:
        a = KIM_UNIFORM_SCALE
    elif per_dimension:
        a = np.sqrt(3.0 * found_vectors.var(axis=0))
    else:
        a = float(np.sqrt(3.0 * found_vectors.var(axis=0).mean()))
    rng = np.random.default_rng(seed)
    u = rng.uniform(-1.0, 1.0, size=(len(missing_rows), dim))
    weights[missing_rows] = (u * a).astype(np.float32)
    found = sum(1 for t in found_rows if itos[t] not in special)
    counted = sum(1 for t in range(1, len(itos)) if itos[t] not in special)
    missing = [itos[t] for t in missing_rows if itos[t] not in special]
    return Alignment(weights, found, found / counted if counted else 0.0, missing, a)


# --- training vectors with fastText ---------------------------------------------------------------

def train_fasttext_vectors(texts: Iterable[str], out_dir: str | os.PathLike, *, dim: int = 100, epochs: int = 5,
                           min_count: int = 5, model: str = "skipgram", seed: int = 0, threads: int = 1,
                           minn: int = 3, maxn: int = 6, bucket: int = 200_000, lr: float = 0.05,
                           window: int = 5, fasttext: str | None = None,
                           timeout: float | None = None) -> Path:
    """Train word vectors with Debian's ``fasttext`` tool; the path of the ``.vec`` it writes.

    ONLY EVER PASS THE TRAINING SPLIT'S TEXTS. Vectors trained on test sentences have seen
    them: their words get trained vectors and their contexts shape them, so a test score
    measured with such vectors is leaked and too good.

    Writes ``texts`` (unlabelled, one per line; newlines inside a text become spaces) to
    ``out_dir/train.txt`` and runs::

        fasttext {model} -input out_dir/train.txt -output out_dir/vectors -dim {dim} -epoch {epochs}
            -minCount {min_count} -minn {minn} -maxn {maxn} -bucket {bucket} -lr {lr} -ws {window}
            -thread {threads} -seed {seed} -verbose 0

    which writes ``out_dir/vectors.vec`` (read it with ``read_vectors``) and the model
    ``out_dir/vectors.bin`` (``fasttext print-word-vectors`` gives it vectors for unseen words
    from their character n-grams). fastText tokenises on whitespace and adds ``</s>`` for each
    line's end; tokenise the texts as the vocabulary does before passing them.

    Reproducibility: with ``threads=1`` (the default) and the same seed, fastText's training is
    deterministic; with several threads the threads update shared vectors without locks
    (Hogwild), so runs differ. ``bucket`` (fastText's default is 2,000,000) is the number of
    character n-gram rows; 200,000 keeps the model small for the small corpora used here.

    Raises:
        FileNotFoundError when the ``fasttext`` program is not found (``apt install fasttext``);
        ValueError for no texts or a bad argument; RuntimeError with fastText's message when it
        fails (e.g. "Empty vocabulary" when no word occurs ``min_count`` times).
    """
    if isinstance(texts, (str, bytes)):
        raise TypeError("train_fasttext_vectors: texts must be a list of str, not one string")
    for name, v, low in (("dim", dim, 1), ("epochs", epochs, 1), ("min_count", min_count, 1), ("threads", threads, 1),
                         ("minn", minn, 0), ("maxn", maxn, 0), ("bucket", bucket, 0), ("window", window, 1),
                         ("seed", seed, 0)):
        if not isinstance(v, int) or isinstance(v, bool) or v < low:
            raise ValueError(f"train_fasttext_vectors: {name} must be an int >= {low}, got {v!r}")
    if model not in ("skipgram", "cbow"):
        raise ValueError(f"train_fasttext_vectors: model must be 'skipgram' or 'cbow', got {model!r}")
    exe = fasttext or shutil.which("fasttext")
    if exe is None or not Path(exe).exists():
        raise FileNotFoundError("train_fasttext_vectors: the fastText program 'fasttext' was not found on PATH "
                                "(Debian/Ubuntu: apt install fasttext), or pass fasttext='/path/to/fasttext'")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    corpus = out / "train.txt"
    n = 0
    with open(corpus, "w", encoding="utf-8", newline="\n") as f:
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"train_fasttext_vectors: text {n} is {type(text).__name__}, not str")
            f.write(" ".join(text.split()) + "\n")
            n += 1
    if n == 0:
        raise ValueError("train_fasttext_vectors: no texts to train on")
    cmd = [exe, model, "-input", str(corpus), "-output", str(out / "vectors"), "-dim", str(dim),
           "-epoch", str(epochs), "-minCount", str(min_count), "-minn", str(minn), "-maxn", str(maxn),
           "-bucket", str(bucket), "-lr", repr(float(lr)), "-ws", str(window), "-thread", str(threads),
           "-seed", str(seed), "-verbose", "0"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    vec = out / "vectors.vec"
    if proc.returncode != 0 or not vec.exists():
        msg = (proc.stderr.strip() or proc.stdout.strip())[-2000:]
        raise RuntimeError(f"train_fasttext_vectors: '{' '.join(cmd)}' failed (exit {proc.returncode}): {msg}")
    return vec
