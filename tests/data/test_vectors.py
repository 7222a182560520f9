"""juanji.data.vectors: word2vec text/binary and fastText .vec readers, align, fastText training.

The files are written here independently of the reader (text writes, struct/tobytes for binary).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from juanji.data.vectors import (
    KIM_UNIFORM_SCALE,
    MAX_VECTOR_DIM,
    MAX_VECTORS_BYTES,
    MAX_WORD_BYTES,
    align,
    read_vectors,
    train_fasttext_vectors,
)

ROOT = Path(__file__).resolve().parents[2]


# --- writers (used by tests/fuzz_readers.py's targets too) ------------------------------------------

def write_word2vec_text(path: Path, words: list[str], vectors: np.ndarray, trailing_space: bool = False,
                        header: str | None = None) -> Path:
    """word2vec's text format ('count dim', then 'word v1 .. vdim'); fastText's .vec adds a trailing space."""
    n, dim = vectors.shape
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(header if header is not None else f"{n} {dim}\n")
        for w, v in zip(words, vectors):
            f.write(w + " " + " ".join("%.9g" % x for x in v) + (" " if trailing_space else "") + "\n")
    return path


def write_word2vec_binary(path: Path, words: list[str], vectors: np.ndarray, newline: bool = True,
                          count: int | None = None) -> Path:
    """word2vec's binary format: 'count dim\\n', then per word its UTF-8 bytes, a space, dim
    little-endian float32s and (Mikolov's tool; gensim omits it) a newline."""
    n, dim = vectors.shape
    out = bytearray(f"{n if count is None else count} {dim}\n".encode())
    for w, v in zip(words, vectors):
        out += w.encode("utf-8") + b" " + struct.pack(f"<{dim}f", *v.tolist()) + (b"\n" if newline else b"")
    path.write_bytes(bytes(out))
    return path


def sample(n: int = 30, dim: int = 6, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(n - 3)] + ["naïve", "東京", "</s>"]
    return words, rng.standard_normal((n, dim)).astype(np.float32)


class StubVocab:
    """The duck-typed Vocab interface: itos (0 <pad>, 1 <unk>) and stoi."""

    def __init__(self, tokens: list[str]) -> None:
        self.itos = ["<pad>", "<unk>"] + tokens
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)


# --- round trips ----------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["word2vec text", "fasttext vec", "binary newline", "binary gensim"])
@pytest.mark.parametrize("binary_arg", [None, "explicit"])
def test_round_trip(tmp_path, fmt, binary_arg):
    words, vecs = sample()
    if fmt == "word2vec text":
        p = write_word2vec_text(tmp_path / "v.txt", words, vecs)
    elif fmt == "fasttext vec":
        p = write_word2vec_text(tmp_path / "v.vec", words, vecs, trailing_space=True)
    else:
        p = write_word2vec_binary(tmp_path / "v.bin", words, vecs, newline=fmt == "binary newline")
    binary = None if binary_arg is None else fmt.startswith("binary")
    got_words, got = read_vectors(p, binary=binary)
    assert got_words == words
    assert got.dtype == np.float32 and got.shape == vecs.shape
    np.testing.assert_array_equal(got, vecs)


def test_large_text_file_spans_several_steps(tmp_path):
    # More values than one parsing step (2**20), so the chunked loop is exercised.
    words = [f"w{i}" for i in range(3000)]
    vecs = np.random.default_rng(1).standard_normal((3000, 400)).astype(np.float32)
    got_words, got = read_vectors(write_word2vec_text(tmp_path / "v.txt", words, vecs))
    assert got_words == words
    np.testing.assert_array_equal(got, vecs)


def test_binary_spans_several_buffer_refills(tmp_path):
    words = [f"word{i}" for i in range(5000)]
    vecs = np.random.default_rng(2).standard_normal((5000, 64)).astype(np.float32)  # 1.3 MB > one 1 MiB read
    got_words, got = read_vectors(write_word2vec_binary(tmp_path / "v.bin", words, vecs))
    assert got_words == words
    np.testing.assert_array_equal(got, vecs)


# --- vocab filter, max_vectors, casefold ---------------------------------------------------------

@pytest.mark.parametrize("binary", [False, True])
def test_vocab_filter_and_max_vectors(tmp_path, binary):
    words, vecs = sample()
    p = (write_word2vec_binary(tmp_path / "v.bin", words, vecs) if binary
         else write_word2vec_text(tmp_path / "v.txt", words, vecs))
    vocab = StubVocab(["w3", "東京", "w20", "absent"])
    got_words, got = read_vectors(p, vocab=vocab)
    assert got_words == ["w3", "w20", "東京"]  # file order
    np.testing.assert_array_equal(got, vecs[[3, 20, words.index("東京")]])
    got_words, got = read_vectors(p, vocab={"w3", "w20", "東京"}, max_vectors=10)
    assert got_words == ["w3"] and np.array_equal(got, vecs[[3]])
    got_words, got = read_vectors(p, max_vectors=4)
    assert got_words == words[:4] and np.array_equal(got, vecs[:4])
    assert read_vectors(p, max_vectors=0)[1].shape == (0, vecs.shape[1])


def test_max_vectors_does_not_read_past_the_limit(tmp_path):
    # Damage after the limit is not seen: only the first records are read (gensim's limit).
    words, vecs = sample()
    p = write_word2vec_text(tmp_path / "v.txt", words, vecs)
    lines = p.read_text(encoding="utf-8").splitlines()
    lines[20] = "w19 not numbers"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert read_vectors(p, max_vectors=10)[0] == words[:10]
    with pytest.raises(ValueError, match="line 21"):
        read_vectors(p)


def test_casefold_filter_keeps_the_first_form_in_the_file(tmp_path):
    words = ["Paris", "the", "PARIS", "paris2", "Berlin"]
    vecs = np.arange(15, dtype=np.float32).reshape(5, 3)
    p = write_word2vec_text(tmp_path / "v.txt", words, vecs)
    vocab = StubVocab(["paris", "berlin", "the", "rome"])
    assert read_vectors(p, vocab=vocab)[0] == ["the"]
    w, v = read_vectors(p, vocab=vocab, casefold=True)
    assert w == ["Paris", "the", "Berlin"]  # 'PARIS' is a later form of a key already kept
    al = align(vocab, w, v, casefold=True)
    np.testing.assert_array_equal(al.weights[2], vecs[0])  # paris -> Paris
    np.testing.assert_array_equal(al.weights[3], vecs[4])
    assert al.found == 3 and al.missing == ["rome"]
    assert align(vocab, w, v).found == 1  # exact only by default


# --- bad input: each a ValueError naming the file and where ------------------------------------------

def _text(tmp_path: Path, body: str, name: str = "bad.txt") -> Path:
    p = tmp_path / name
    p.write_bytes(body.encode("utf-8"))
    return p


def _raises(p: Path, where: str, *fragments: str, **kw) -> None:
    with pytest.raises(ValueError) as e:
        read_vectors(p, **kw)
    msg = str(e.value)
    assert str(p) in msg, msg
    assert where in msg, msg
    for frag in fragments:
        assert frag in msg, msg


@pytest.mark.parametrize("header", ["", "3\n", "3 2 1\n", "a b\n", "-3 2\n", "0 2\n", "3 0\n", "3.0 2\n",
                                    "hello 0.1 0.2\n"])
def test_bad_header(tmp_path, header):
    p = _text(tmp_path, header + "a 1 2\nb 3 4\nc 5 6\n")
    _raises(p, "line 1", "two positive integers")


def test_empty_file(tmp_path):
    _raises(_text(tmp_path, ""), "", "empty")


def test_wrong_number_of_values_names_line_expected_and_got(tmp_path):
    p = _text(tmp_path, "3 2\na 1 2\nb 3 4 5\nc 5 6\n")
    _raises(p, "line 3", "expected a word and 2 values, got 3")
    p = _text(tmp_path, "3 2\na 1.5 2.5\nb 3\nc 5.5 6.5\n")  # long enough for the size check
    _raises(p, "line 3", "expected a word and 2 values, got 1")


def test_non_number_value(tmp_path):
    _raises(_text(tmp_path, "3 2\na 1 2\nb 3 4\nc 5 x6\n"), "line 4", "value 2 of the word 'c' is not a number",
            "x6")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e39"])
def test_non_finite_text(tmp_path, value):
    _raises(_text(tmp_path, f"3 2\na 1 2\nb 3 {value}\nc 5 6\n"), "line 3", "value 2 of the word 'b'", "finite")


def test_non_finite_binary(tmp_path):
    words, vecs = sample(5, 3)
    vecs[3, 1] = np.nan
    _raises(write_word2vec_binary(tmp_path / "v.bin", words, vecs), "record 4", "value 2", "finite")


def test_fewer_lines_than_declared(tmp_path):
    _raises(_text(tmp_path, "3 2\na 1.25 2.25\nb 3.25 4.25\n"), "line 4", "ends after 2 of the 3")


def test_more_lines_than_declared(tmp_path):
    _raises(_text(tmp_path, "2 2\na 1 2\nb 3 4\nc 5 6\n"), "line 4", "more lines than the 2")
    assert read_vectors(_text(tmp_path, "2 2\na 1 2\nb 3 4\n\n\n", "ok.txt"))[0] == ["a", "b"]  # blank tail ok


def test_empty_line_inside(tmp_path):
    _raises(_text(tmp_path, "3 2\na 1.25 2.25\n\nb 3.25 4.25\n"), "line 3", "empty")


@pytest.mark.parametrize("binary", [False, True])
def test_duplicates_error_or_keep_first(tmp_path, binary):
    words = ["a", "b", "a", "c"]
    vecs = np.arange(8, dtype=np.float32).reshape(4, 2)
    p = (write_word2vec_binary(tmp_path / "d.bin", words, vecs) if binary
         else write_word2vec_text(tmp_path / "d.txt", words, vecs))
    label = "record" if binary else "line"
    _raises(p, f"{label} {3 if binary else 4}", "'a' appears again", f"first at {label} {1 if binary else 2}")
    w, v = read_vectors(p, duplicates="first")
    assert w == ["a", "b", "c"]
    np.testing.assert_array_equal(v, vecs[[0, 1, 3]])


def test_truncated_binary_record(tmp_path):
    words, vecs = sample(5, 4)
    p = write_word2vec_binary(tmp_path / "v.bin", words, vecs, newline=False)
    data = p.read_bytes()
    p.write_bytes(data[:-5])  # the last record loses 5 of its 16 value bytes
    # The header now declares more than the file holds only by the record's size: the reader
    # gets to the record and names it.
    _raises(p, "record 5", "truncated", "need 16 bytes", "has 11 left", binary=True)


def test_binary_word_without_space_and_trailing_garbage(tmp_path):
    words, vecs = sample(3, 2)
    p = write_word2vec_binary(tmp_path / "v.bin", words, vecs)
    p.write_bytes(p.read_bytes() + b"junk " + bytes(8))
    _raises(p, "after record 3", "more data than the 3")
    p.write_bytes(b"1 2\n" + b"x" * (MAX_WORD_BYTES + 20))
    _raises(p, "record 1", "no space", binary=True)


@pytest.mark.parametrize("binary", [False, True])
def test_word_not_utf8_and_errors_policy(tmp_path, binary):
    bad = b"caf\xe9"  # latin-1, not UTF-8
    if binary:
        body = b"2 2\n" + bad + b" " + struct.pack("<2f", 1, 2) + b"ok " + struct.pack("<2f", 3, 4)
    else:
        body = b"2 2\n" + bad + b" 1 2\nok 3 4\n"
    p = tmp_path / "u.bin"
    p.write_bytes(body)
    _raises(p, "record 1" if binary else "line 2", "not valid UTF-8", "errors='replace'")
    w, v = read_vectors(p, errors="replace")
    assert w == ["caf\ufffd", "ok"] and np.array_equal(v, [[1, 2], [3, 4]])
    assert read_vectors(p, errors="ignore")[0] == ["caf", "ok"]


def test_fasttext_model_bin_is_recognised(tmp_path):
    p = tmp_path / "model.bin"
    p.write_bytes(struct.pack("<ii", 793712314, 12) + bytes(100))
    _raises(p, "", "fastText model")


def test_argument_errors(tmp_path):
    words, vecs = sample(3, 2)
    p = write_word2vec_text(tmp_path / "v.txt", words, vecs)
    with pytest.raises(ValueError, match="errors must be"):
        read_vectors(p, errors="bogus")
    with pytest.raises(ValueError, match="duplicates must be"):
        read_vectors(p, duplicates="last")
    with pytest.raises(ValueError, match="max_vectors"):
        read_vectors(p, max_vectors=-1)
    with pytest.raises(FileNotFoundError):
        read_vectors(tmp_path / "missing.vec")


# --- size checks ----------------------------------------------------------------------------------

@pytest.mark.parametrize("binary", [False, True])
def test_declared_count_impossible_for_the_file_size(tmp_path, binary):
    p = _text(tmp_path, "1000 3\na 1 2 3\n")
    _raises(p, "line 1", "declares 1000 vectors of 3 dimensions", "truncated or damaged", binary=binary)


def test_declared_size_over_the_cap(tmp_path):
    p = _text(tmp_path, "4 3\na 1 2 3\nb 1 2 3\nc 1 2 3\nd 1 2 3\n")
    _raises(p, "line 1", "more than the cap of 40 bytes", "max_bytes", max_bytes=40)
    assert read_vectors(p, max_bytes=40, max_vectors=3)[1].shape == (3, 3)  # 36 bytes fit
    assert MAX_VECTORS_BYTES == 4 << 30
    _raises(_text(tmp_path, f"1 {MAX_VECTOR_DIM + 1}\n", "d.txt"), "line 1", "MAX_VECTOR_DIM")


def test_over_long_line_is_refused_without_reading_it_whole(tmp_path):
    p = _text(tmp_path, "2 2\n" + "a" * (MAX_WORD_BYTES + 500) + " " + "1" * 200000 + " 2\nb 1 2\n")
    _raises(p, "line 2", "longer than")


_CAPPED = r'''
import resource, sys
import numpy as np
from juanji.data.vectors import read_vectors
def vm():
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
cap = vm() + (256 << 20)
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
try:
    read_vectors(sys.argv[1], binary={binary}, max_bytes=1 << 62)
except ValueError as e:
    print("ValueError:", e)
'''


@pytest.mark.parametrize("binary", [False, True, None])
def test_huge_declared_count_refused_in_a_capped_process(tmp_path, binary):
    """A header declaring 10**12 vectors in a tiny file: refused from the header, under a cap of
    256 MiB above start-up (the allocation it declares, 1.2 TB, would fail with MemoryError)."""
    p = _text(tmp_path, "1000000000000 3\na 1 2 3\n")
    out = subprocess.run([sys.executable, "-c", _CAPPED.format(binary=binary), str(p)], capture_output=True,
                         text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ValueError:" in out.stdout and str(p) in out.stdout and "declares 1000000000000 vectors" in out.stdout


# --- align ----------------------------------------------------------------------------------------

def test_align_rows_pad_found_and_unknown():
    words, vecs = sample(30, 5)
    vocab = StubVocab(["w4", "nope", "w0", "東京", "zzz"])
    al = align(vocab, words, vecs, seed=3)
    assert al.weights.shape == (7, 5) and al.weights.dtype == np.float32
    np.testing.assert_array_equal(al.weights[0], np.zeros(5))
    np.testing.assert_array_equal(al.weights[2], vecs[4])
    np.testing.assert_array_equal(al.weights[4], vecs[0])
    np.testing.assert_array_equal(al.weights[5], vecs[words.index("東京")])
    assert al.found == 3 and al.coverage == pytest.approx(3 / 5) and al.missing == ["nope", "zzz"]
    for row in (1, 3, 6):  # <unk> and the missing words: random, within [-a, a], not zero
        assert np.all(np.abs(al.weights[row]) <= al.scale) and np.any(al.weights[row] != 0)


def test_align_unknown_variance_matches_found_variance():
    # 4000 found vectors with per-dimension std 0.5 (variance 0.25); 20000 missing words.
    rng = np.random.default_rng(7)
    dim = 50
    words = [f"w{i}" for i in range(4000)]
    vecs = (rng.standard_normal((4000, dim)) * 0.5 + 1.0).astype(np.float32)  # a mean: variance is about it
    vocab = StubVocab(words + [f"u{i}" for i in range(20000)])
    al = align(vocab, words, vecs, seed=0)
    target = vecs.astype(np.float64).var(axis=0).mean()
    assert al.scale == pytest.approx(np.sqrt(3 * target))
    unknown = al.weights[4002:].astype(np.float64)
    assert abs(unknown.mean()) < 0.01  # centred on zero
    assert unknown.var() == pytest.approx(target, rel=0.02)  # a**2/3 with a = sqrt(3 v)
    assert al.coverage == pytest.approx(4000 / 24000)


def test_align_per_dimension_scale():
    rng = np.random.default_rng(8)
    stds = np.linspace(0.1, 2.0, 8)
    words = [f"w{i}" for i in range(5000)]
    vecs = (rng.standard_normal((5000, 8)) * stds).astype(np.float32)
    vocab = StubVocab(words + [f"u{i}" for i in range(20000)])
    al = align(vocab, words, vecs, per_dimension=True)
    np.testing.assert_allclose(al.weights[5002:].var(axis=0), vecs.var(axis=0), rtol=0.05)
    assert al.scale.shape == (8,)


def test_align_determinism_scale_and_fallback():
    words, vecs = sample(30, 5)
    vocab = StubVocab(["w1", "x", "y"])
    a, b, c = (align(vocab, words, vecs, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.weights, b.weights)
    assert not np.array_equal(a.weights[3:], c.weights[3:])
    fixed = align(vocab, words, vecs, scale=0.25)
    assert fixed.scale == 0.25 and np.abs(fixed.weights[3:]).max() <= 0.25
    assert np.abs(fixed.weights[3:]).max() > 0.1
    # One word found: no variance to measure, Kim's 0.25.
    assert align(vocab, words, vecs).scale == KIM_UNIFORM_SCALE
    none = align(StubVocab(["x"]), words, vecs)
    assert none.found == 0 and none.coverage == 0.0 and none.missing == ["x"]


def test_align_file_unk_vector_is_used_and_pad_stays_zero():
    words = ["<pad>", "<unk>", "a", "b"]
    vecs = np.arange(1, 9, dtype=np.float32).reshape(4, 2)
    al = align(StubVocab(["a", "c"]), words, vecs)
    np.testing.assert_array_equal(al.weights[0], [0, 0])
    np.testing.assert_array_equal(al.weights[1], vecs[1])
    assert al.found == 1 and al.coverage == 0.5  # specials not counted


def test_align_bad_arguments():
    words, vecs = sample(3, 2)
    with pytest.raises(TypeError, match="itos"):
        align(["a"], words, vecs)
    with pytest.raises(ValueError, match="3 words but 2 vectors"):
        align(StubVocab(["a"]), words, vecs[:2])
    with pytest.raises(ValueError, match="2-D"):
        align(StubVocab(["a"]), words, vecs[0])
    with pytest.raises(ValueError, match="scale"):
        align(StubVocab(["a"]), words, vecs, scale=float("nan"))


# --- fastText training --------------------------------------------------------------------------

def _corpus(n: int = 300, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    nouns = ["cat", "dog", "bird", "fish", "horse", "mouse"]
    verbs = ["sees", "chases", "likes", "bites"]
    return [f"the {rng.choice(nouns)} {rng.choice(verbs)} the {rng.choice(nouns)} today" for _ in range(n)]


def _need_fasttext() -> None:
    if shutil.which("fasttext") is None:
        pytest.skip("the fasttext program is not installed (Debian: apt install fasttext); CI installs it")


def test_train_fasttext_vectors(tmp_path):
    _need_fasttext()
    texts = _corpus()
    vec = train_fasttext_vectors(texts, tmp_path / "ft", dim=10, epochs=1, min_count=1)
    assert vec == tmp_path / "ft" / "vectors.vec" and vec.exists()
    header = vec.read_text(encoding="utf-8").splitlines()[0]
    words, vectors = read_vectors(vec)
    expected = {w for t in texts for w in t.split()} | {"</s>"}
    assert set(words) == expected and header == f"{len(expected)} 10"
    assert vectors.shape == (len(expected), 10) and np.all(np.isfinite(vectors)) and np.any(vectors != 0)
    # Trained text is what was passed, one text per line.
    assert (tmp_path / "ft" / "train.txt").read_text(encoding="utf-8").splitlines() == texts
    # One thread and a seed: the same vectors again.
    again = train_fasttext_vectors(texts, tmp_path / "ft2", dim=10, epochs=1, min_count=1)
    assert again.read_bytes() == vec.read_bytes()


def test_train_fasttext_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="no texts"):
        train_fasttext_vectors([], tmp_path / "a", fasttext=sys.executable)
    with pytest.raises(ValueError, match="dim must be"):
        train_fasttext_vectors(["a b"], tmp_path / "a", dim=0)
    with pytest.raises(TypeError, match="not one string"):
        train_fasttext_vectors("a b c", tmp_path / "a")
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="apt install fasttext"):
        train_fasttext_vectors(["a b"], tmp_path / "a")


def test_train_fasttext_failure_reports_fasttexts_message(tmp_path):
    _need_fasttext()
    with pytest.raises(RuntimeError, match="(?i)empty vocabulary"):
        train_fasttext_vectors(["a b c"], tmp_path / "ft", dim=10, epochs=1, min_count=5)


def test_autodetect_reports_a_damaged_first_text_line_as_text(tmp_path):
    # The first line does not parse, but it is printable text: the error is the text reader's.
    _raises(_text(tmp_path, "3 2\na 1.5 x2.5\nb 3.5 4.5\nc 5.5 6.5\n"), "line 2", "not a number")
    _raises(_text(tmp_path, "3 2\na 1.5 2.5 3.5\nb 3.5 4.5\nc 5.5 6.5\n"), "line 2", "got 3 values")
    # dim 2 float32 zeros and ones (bytes 00 00 80 3f) are binary.
    words, vecs = ["a", "b"], np.array([[0, 1], [1, 0]], np.float32)
    assert read_vectors(write_word2vec_binary(tmp_path / "z.bin", words, vecs))[0] == words
