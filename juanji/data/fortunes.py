"""Sentence classification corpora from Debian's fortune cookie files (``/usr/share/games/fortunes``).

Debian's ``fortunes*`` packages hold tens of thousands of short texts in a dozen languages, sorted
by the packagers into topic files: a local corpus for a TextCNN that needs no download.

- ``read_strfile`` / ``parse_strfile``: a strfile text file's entries (separated by lines holding
  only ``%``; the ``.dat`` index files are not needed).
- ``FortunesLanguages`` (``fortunes-languages``): language identification, character level.
- ``FortunesTopics`` (``fortunes-topics``): English topic classification, word level.

Both give ``texts``, ``labels`` (int64), ``classes`` and a ``split`` per entry; ``dataset(split)``
makes a ``TextDataset``, with a ``Vocab`` built from the training split only.

Rules (the same for both corpora):

- Sources. A collection is a folder (``de/``, ``ru/`` ...) or named top-level files (English:
  the files of the ``fortunes`` and ``fortunes-min`` packages, ``ENGLISH_TOPICS``; Portuguese:
  ``brasil``; Chinese: ``chinese``, ``song100``, ``tang300``). Only a folder's own files are read,
  never its sub-folders, so the offensive ``off/`` folders are excluded unless
  ``offensive=True``. Czech is ``cs/`` (``cz/`` is a copy of it) without ``klasik-sk`` (Slovak);
  Slovak (``sk/``) is a candidate but has fewer than ``MIN_PER_CLASS`` entries. Italian is ``it/``
  (the top-level Italian files are links into it). ``ascii-art`` is pictures, not text, and is
  left out.
- Encoding. Each file is read as UTF-8; if it is not valid UTF-8 its ``.u8`` variant is read
  instead (Debian's ``pl/*.u8`` are empty, so the plain file comes first).
- Cleaning. Terminal escapes (the colours of the Chinese files) are removed, an overstrike
  ``x\\b`` (underlining in old files) keeps the second character, other control characters
  except newline and tab go, and a first line that is only an IRC channel tag (``#debian.pl``,
  which the Polish files put on a thousand entries) is dropped: it would give the class away.
- Duplicates. Entries are compared by their normalised text (NFC, whitespace runs as one space,
  trimmed). A duplicate within a class is kept once; a text found in two classes is ambiguous and
  dropped from both.
- Class sizes. A class needs at least ``min_count`` distinct entries (``MIN_PER_CLASS``, 300) or it
  is left out (``stats()["dropped"]`` says why). A class with more than ``max_per_class`` entries
  keeps the ``max_per_class`` whose keyed hash (blake2b, personalised ``juanji-cap``) is smallest:
  a fixed, order-independent choice that never moves an entry to another split. Languages cap
  at ``LANGUAGE_CAP`` (4,000), which keeps English (15,087 distinct entries here) and the other
  large collections from dwarfing Bulgarian (624); topics are not capped.
- Splits. ``split_of(text)``: blake2b (personalised ``juanji-split``) of the normalised text,
  modulo 10: 0-7 train, 8 validation, 9 test. An entry's split depends only on its own text,
  so it never crosses splits between runs, machines, package versions, or when other entries
  are added or removed.

Measured here on Debian's packages (fortunes and fortunes-min 1:1.99.1-7.3, fortunes-bg 1.4,
-br 20220821, -cs 2.0.9-1.1, -de 0.35-1, -eo 20020729b-1.1, -es 1.36, -it 1.99-4.1,
-pl 0.0.20130525-3, -ru 1.52-3.1, -zh 2.98); ``python -m juanji.data.fortunes`` prints them::


    fortunes-languages: 11 classes, 37,752 entries (capped at 4,000; sizes before the cap in brackets)
    class     train   val  test  total
    bg          495    66    63    624
    cs         3213   385   402   4000  (6,994)
    de         3161   419   420   4000  (18,637)
    en         3216   410   374   4000  (15,087)
    eo         2073   257   296   2626
    es         3162   426   412   4000  (10,788)
    it         3206   404   390   4000  (8,505)
    pl         3178   429   393   4000  (7,920)
    pt_BR      2003   260   239   2502
    ru         3204   388   408   4000  (20,180)
    zh         3191   422   387   4000  (5,662)
    all       30102  3866  3784  37752
    1,081 duplicates within a class and 3 texts shared by two classes dropped; sk left out (289).

    fortunes-topics: 17 classes, 11,593 entries (25 topic files under 300 left out)
    class          train   val  test  total
    art              371    40    52    463
    computers        815   103   117   1035
    cookie           851   108   112   1071
    definitions      972   115   107   1194
    fortunes         351    46    33    430
    knghtbrd         425    59    49    533
    linux            268    25    36    329
    men-women        468    50    60    578
    miscellaneous    510    73    55    638
    people           973   138   123   1234
    platitudes       397    41    54    492
    politics         564    61    67    692
    science          510    57    51    618
    songs-poems      539    87    75    701
    wisdom           334    41    40    415
    work             504    55    65    624
    zippy            445    48    53    546
    all             9297  1147  1149  11593
    5 duplicates within a topic and 112 texts found in two topics dropped.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .text import CharTokenizer, TextDataset, Vocab, WordTokenizer, _read_capped, decode_text

__all__ = [
    "FORTUNES_ROOT", "MAX_STRFILE_BYTES", "MIN_PER_CLASS", "LANGUAGE_CAP", "ENGLISH_TOPICS", "LANGUAGES", "SPLITS",
    "read_strfile", "parse_strfile", "normalize_entry", "clean_entry", "split_of",
    "FortunesCorpus", "FortunesLanguages", "FortunesTopics", "FORTUNES_DATASETS",
]

#: Where Debian installs the fortune files.
FORTUNES_ROOT = "/usr/share/games/fortunes"
#: The largest strfile ``read_strfile`` reads (64 MiB; Debian's largest is under 1 MiB), checked first.
MAX_STRFILE_BYTES = 64 << 20
#: The fewest distinct entries a class needs to be kept.
MIN_PER_CLASS = 300
#: The most entries a language keeps (see the module notes for which).
LANGUAGE_CAP = 4000
SPLITS = ("train", "val", "test")

#: The English topic files (Debian's ``fortunes`` and ``fortunes-min`` packages), minus ``ascii-art``.
ENGLISH_TOPICS = (
    "art", "computers", "cookie", "debian", "definitions", "disclaimer", "drugs", "education", "ethnic", "food",
    "fortunes", "goedel", "humorists", "kids", "knghtbrd", "law", "linux", "linuxcookie", "literature", "love",
    "magic", "medicine", "men-women", "miscellaneous", "news", "paradoxum", "people", "perl", "pets", "platitudes",
    "politics", "pratchett", "riddles", "science", "songs-poems", "sports", "startrek", "tao", "translate-me",
    "wisdom", "work", "zippy",
)

#: Language class -> its sources: ``"dir/"`` a folder (minus the files after ``-``), else top-level files.
LANGUAGES: dict[str, tuple[str, ...]] = {
    "bg": ("bg/",),                        # Bulgarian
    "cs": ("cs/", "-klasik-sk"),           # Czech (klasik-sk is Slovak)
    "de": ("de/",),                        # German
    "en": ENGLISH_TOPICS,                  # English
    "eo": ("eo/",),                        # Esperanto
    "es": ("es/",),                        # Spanish
    "it": ("it/",),                        # Italian
    "pl": ("pl/",),                        # Polish
    "pt_BR": ("brasil",),                  # Portuguese (Brazil)
    "ru": ("ru/",),                        # Russian
    "sk": ("sk/",),                        # Slovak (too few entries in Debian's packages)
    "zh": ("chinese", "song100", "tang300"),  # Chinese
}

_SEPARATOR = re.compile(r"^%[ \t\r]*$")
_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]")
_OVERSTRIKE = re.compile(r".\x08", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CHANNEL_TAG = re.compile(r"\A#[A-Za-z0-9][\w.\-]*[ \t]*\n")
_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t\r\f\v]*\n)+")
_SPACES = re.compile(r"\s+")


def parse_strfile(text: str) -> list[str]:
    """The entries of a strfile text: separated by lines holding only ``%``.

    Each entry loses its trailing whitespace (and leading blank lines); empty entries are dropped.

    Example:
        >>> parse_strfile("one\\n%\\n\\n%\\ntwo\\nlines  \\n%\\n")
        ['one', 'two\\nlines']
    """
    entries: list[str] = []
    lines: list[str] = []
    for line in text.splitlines():
        if _SEPARATOR.match(line):
            entries.append("\n".join(lines))
            lines = []
        else:
            lines.append(line)
    entries.append("\n".join(lines))
    out = []
    for e in entries:
        e = _LEADING_BLANK_LINES.sub("", e.rstrip())
        if e:
            out.append(e)
    return out


def read_strfile(path: str | os.PathLike[str], encoding: str = "utf-8") -> list[str]:
    """The entries of the strfile text file ``path`` (see ``parse_strfile``).

    The file may hold at most ``MAX_STRFILE_BYTES`` (checked before reading); bytes that are not
    valid ``encoding`` are a ValueError naming the file and line.
    """
    path = Path(path)
    raw = _read_capped(path, "read_strfile", MAX_STRFILE_BYTES, "MAX_STRFILE_BYTES")
    return parse_strfile(decode_text(raw, path, "read_strfile", encoding))


def clean_entry(text: str) -> str:
    """An entry without terminal escapes, overstrikes, control characters or a leading ``#channel`` line.

    Example:
        >>> clean_entry("#debian.pl\\n\\x1b[32mhi\\x1b[m _\\x08x")
        'hi x'
    """
    text = _ESCAPE.sub("", text)
    while "\x08" in text:
        new = _OVERSTRIKE.sub("", text, count=0)
        text = new.replace("\x08", "") if new == text else new
    text = _CONTROL.sub("", text)
    text = _CHANNEL_TAG.sub("", text)
    return text.strip()


def normalize_entry(text: str) -> str:
    """The key entries are compared and split by: NFC, whitespace runs as one space, trimmed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def _hash(key: str, person: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8, person=person).digest(), "big")


def split_of(text: str) -> str:
    """``"train"``, ``"val"`` or ``"test"`` (80/10/10), a function of the entry's normalised text only.

    Example:
        >>> split_of("Hello  world") == split_of(" Hello world\\n")
        True
    """
    bucket = _hash(normalize_entry(text), b"juanji-split") % 10
    return "train" if bucket < 8 else ("val" if bucket == 8 else "test")


def _read_fortune_file(path: Path) -> list[str]:
    """A Debian fortune file: UTF-8, or its ``.u8`` variant when the file itself is not UTF-8."""
    try:
        return read_strfile(path)
    except ValueError as plain_error:
        u8 = path.with_name(path.name + ".u8")
        if "not valid" in str(plain_error) and u8.is_file() and u8.stat().st_size > 0:
            return read_strfile(u8)
        raise


def _collection_files(root: Path, sources: Sequence[str], offensive: bool) -> list[Path]:
    """The files of a collection (see ``LANGUAGES``), sorted; those that do not exist are skipped."""
    files: list[Path] = []
    exclude = {s[1:] for s in sources if s.startswith("-")}
    for s in sources:
        if s.startswith("-"):
            continue
        if s.endswith("/"):
            folders = [root / s[:-1]] + ([root / s[:-1] / "off"] if offensive else [])
            for folder in folders:
                if folder.is_dir():
                    files += sorted(p for p in folder.iterdir()
                                    if p.is_file() and not p.name.endswith((".dat", ".u8")) and p.name not in exclude)
        else:
            for p in [root / s] + ([root / "off" / s] if offensive else []):
                if p.is_file():
                    files.append(p)
    return files


def _find_root(root: str | os.PathLike[str] | None, who: str) -> Path:
    path = Path(FORTUNES_ROOT if root is None else root)
    if not path.is_dir():
        raise FileNotFoundError(f"{who}: no fortune files at '{path}' (on Debian/Ubuntu: sudo apt-get install "
                                f"fortunes fortunes-de fortunes-es fortunes-it fortunes-pl fortunes-ru fortunes-cs "
                                f"fortunes-bg fortunes-br fortunes-eo fortunes-zh), or pass root=")
    return path


class FortunesCorpus:
    """Labelled texts with a fixed train/val/test split, built from groups of fortune files.

    Attributes:
        name: the corpus' name (``fortunes-languages``, ``fortunes-topics``).
        classes: class names, in label order (sorted).
        texts: the entries (cleaned); ``labels``: ``(N,)`` int64; ``splits``: ``(N,)`` str
            (``"train"``, ``"val"``, ``"test"``).
        tokenizer: the tokenizer its datasets use.
        dropped: class -> why it was left out.
    """

    name = "fortunes"

    def __init__(self, groups: dict[str, list[Path]], tokenizer: Callable[[str], list[str]],
                 min_count: int = MIN_PER_CLASS, max_per_class: int | None = None) -> None:
        """Build the corpus from ``groups`` (class -> its files) by the module's rules."""
        who = type(self).__name__
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"{who}: min_count must be an int >= 1, got {min_count!r}")
        if max_per_class is not None and (isinstance(max_per_class, bool) or not isinstance(max_per_class, int)
                                          or max_per_class < 1):
            raise ValueError(f"{who}: max_per_class must be None or an int >= 1, got {max_per_class!r}")
        self.tokenizer = tokenizer
        self.dropped: dict[str, str] = {}
        per_class: dict[str, dict[str, str]] = {}  # class -> key -> text (first occurrence)
        self.duplicates_within = 0
        for cls in sorted(groups):
            entries: dict[str, str] = {}
            for path in groups[cls]:
                for e in _read_fortune_file(path):
                    text = clean_entry(e)
                    key = normalize_entry(text)
                    if not key:
                        continue
                    if key in entries:
                        self.duplicates_within += 1
                    else:
                        entries[key] = text
            if not groups[cls]:
                self.dropped[cls] = "no files"
            else:
                per_class[cls] = entries
        owners = Counter(k for entries in per_class.values() for k in entries)
        shared = {k for k, c in owners.items() if c > 1}
        self.duplicates_across = len(shared)
        texts: list[str] = []
        labels: list[int] = []
        classes: list[str] = []
        self.capped: dict[str, int] = {}
        for cls, entries in per_class.items():
            keys = [k for k in entries if k not in shared]
            if len(keys) < min_count:
                self.dropped[cls] = f"{len(keys)} distinct entries, fewer than min_count={min_count}"
                continue
            if max_per_class is not None and len(keys) > max_per_class:
                keep = set(sorted(keys, key=lambda k: _hash(k, b"juanji-cap"))[:max_per_class])
                self.capped[cls] = len(keys)
                keys = [k for k in keys if k in keep]
            label = len(classes)
            classes.append(cls)
            texts += [entries[k] for k in keys]
            labels += [label] * len(keys)
        if not classes:
            raise ValueError(f"{who}: no class has {min_count} entries (dropped: {self.dropped})")
        self.classes: list[str] = classes
        self.texts: list[str] = texts
        self.labels: np.ndarray = np.asarray(labels, dtype=np.int64)
        self.splits: np.ndarray = np.asarray([split_of(t) for t in texts])

    def __len__(self) -> int:
        return len(self.texts)

    def split(self, name: str) -> tuple[list[str], np.ndarray]:
        """The texts and int64 labels of split ``name`` (``"train"``, ``"val"`` or ``"test"``)."""
        if name not in SPLITS:
            raise ValueError(f"{type(self).__name__}: split must be one of {list(SPLITS)}, got {name!r}")
        idx = np.flatnonzero(self.splits == name)
        return [self.texts[i] for i in idx], self.labels[idx]

    def build_vocab(self, min_freq: int = 1, max_size: int | None = None) -> Vocab:
        """A ``Vocab`` of the training split's tokens only (see ``Vocab.build``)."""
        texts, _ = self.split("train")
        return Vocab.build(map(self.tokenizer, texts), min_freq=min_freq, max_size=max_size)

    def dataset(self, split: str, vocab: Vocab | None = None, max_len: int | None = None) -> TextDataset:
        """Split ``split`` as a ``TextDataset`` (with ``build_vocab()`` when ``vocab`` is None)."""
        texts, labels = self.split(split)
        return TextDataset(texts, labels, self.tokenizer, vocab if vocab is not None else self.build_vocab(), max_len)

    def stats(self) -> dict:
        """``{"classes": {name: {"train", "val", "test", "total"}}, "splits": {...}, "dropped", "capped", ...}``."""
        table = {}
        for k, cls in enumerate(self.classes):
            mine = self.splits[self.labels == k]
            row = {s: int((mine == s).sum()) for s in SPLITS}
            row["total"] = int(len(mine))
            table[cls] = row
        return {"name": self.name, "classes": table,
                "splits": {s: int((self.splits == s).sum()) for s in SPLITS} | {"total": len(self)},
                "dropped": dict(self.dropped), "capped": dict(self.capped),
                "duplicates_within": self.duplicates_within, "duplicates_across": self.duplicates_across}

    def summary(self) -> str:
        """The class counts and split sizes as a table (what ``stats()`` holds)."""
        st = self.stats()
        lines = [f"{self.name}: {len(self.classes)} classes, {len(self)} entries",
                 f"{'class':<16}{'train':>8}{'val':>8}{'test':>8}{'total':>8}"]
        for cls, row in st["classes"].items():
            note = f"  (capped from {self.capped[cls]})" if cls in self.capped else ""
            lines.append(f"{cls:<16}{row['train']:>8}{row['val']:>8}{row['test']:>8}{row['total']:>8}{note}")
        sp = st["splits"]
        lines.append(f"{'all':<16}{sp['train']:>8}{sp['val']:>8}{sp['test']:>8}{sp['total']:>8}")
        lines.append(f"duplicates dropped: {self.duplicates_within} within a class, "
                     f"{self.duplicates_across} texts found in two classes")
        for cls, why in self.dropped.items():
            lines.append(f"left out: {cls} ({why})")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(classes={len(self.classes)}, entries={len(self)})"


class FortunesLanguages(FortunesCorpus):
    """Language identification over Debian's fortune collections (``fortunes-languages``).

    One class per language present (``LANGUAGES``: bg, cs, de, en, eo, es, it, pl, pt_BR, ru, zh;
    sk falls under ``min_count``), character level (``CharTokenizer(lower=True)``). See the module
    notes for the sources, cleaning, duplicates, the cap and the splits.

    Args:
        root: the fortunes folder (``FORTUNES_ROOT`` by default).
        min_count: the fewest distinct entries a language needs.
        max_per_class: the most entries a language keeps (``LANGUAGE_CAP``); None: no cap.
        offensive: also read the ``off/`` sub-folders (excluded by default).
        tokenizer: overrides the character tokenizer.

    Example (the real corpus)::

        corpus = FortunesLanguages()
        print(corpus.summary())
        vocab = corpus.build_vocab()                        # train split only
        train = corpus.dataset("train", vocab, max_len=300)
    """

    name = "fortunes-languages"

    def __init__(self, root: str | os.PathLike[str] | None = None, min_count: int = MIN_PER_CLASS,
                 max_per_class: int | None = LANGUAGE_CAP, offensive: bool = False,
                 tokenizer: Callable[[str], list[str]] | None = None) -> None:
        base = _find_root(root, type(self).__name__)
        groups = {lang: _collection_files(base, sources, offensive) for lang, sources in LANGUAGES.items()}
        super().__init__(groups, tokenizer or CharTokenizer(lower=True), min_count, max_per_class)


class FortunesTopics(FortunesCorpus):
    """English topic classification over the ``fortunes`` package's files (``fortunes-topics``).

    One class per topic file of ``ENGLISH_TOPICS`` with at least ``min_count`` distinct entries
    (300: art, computers, cookie, definitions, fortunes, knghtbrd, linux, men-women,
    miscellaneous, people, platitudes, politics, science, songs-poems, wisdom, work, zippy on
    Debian's packages), word level (``WordTokenizer(lower=True)``), no cap.

    Args:
        root: the fortunes folder (``FORTUNES_ROOT`` by default).
        min_count: the fewest distinct entries a topic needs.
        max_per_class: the most entries a topic keeps; None: no cap.
        offensive: also read ``off/<topic>`` (excluded by default).
        tokenizer: overrides the word tokenizer.
    """

    name = "fortunes-topics"

    def __init__(self, root: str | os.PathLike[str] | None = None, min_count: int = MIN_PER_CLASS,
                 max_per_class: int | None = None, offensive: bool = False,
                 tokenizer: Callable[[str], list[str]] | None = None) -> None:
        base = _find_root(root, type(self).__name__)
        groups = {t: _collection_files(base, (t,), offensive) for t in ENGLISH_TOPICS}
        groups = {t: files for t, files in groups.items() if files}  # a topic with no file is no class
        super().__init__(groups, tokenizer or WordTokenizer(lower=True), min_count, max_per_class)


#: The corpora by name (as a command line spells them).
FORTUNES_DATASETS: dict[str, type[FortunesCorpus]] = {
    FortunesLanguages.name: FortunesLanguages,
    FortunesTopics.name: FortunesTopics,
}


if __name__ == "__main__":  # python -m juanji.data.fortunes [root]: the measured numbers
    import sys

    for corpus_class in (FortunesLanguages, FortunesTopics):
        print(corpus_class(sys.argv[1] if len(sys.argv) > 1 else None).summary(), end="\n\n")
