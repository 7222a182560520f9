"""Text data: tokenizers, Vocab (and its files), padding, TextDataset, the DataLoader's collate_fn
and length bucketing, int64 ids end to end, and the TSV/CSV/folder readers."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from juanji.data import (
    ArrayDataset,
    CharTokenizer,
    DataLoader,
    PadCollate,
    TextDataset,
    Vocab,
    WordTokenizer,
    pad_sequences,
    read_delimited,
    read_text_folder,
)
from juanji.data import text as T
from juanji.tensor import Tensor

# ---------------------------------------------------------------------------------------------
# Tokenizers
# ---------------------------------------------------------------------------------------------


def test_word_tokenizer_unicode_scripts_and_punctuation():
    tok = WordTokenizer(lower=True)
    assert tok("Привет, МИР!") == ["привет", ",", "мир", "!"]
    assert tok("Ça coûte 12€ — déjà?") == ["ça", "coûte", "12", "€", "—", "déjà", "?"]
    assert tok("Żółć gęślą jaźń") == ["żółć", "gęślą", "jaźń"]
    assert tok("我爱北京。天安门") == ["我爱北京", "。", "天安门"]  # no spaces: one run per clause
    assert tok("don't...") == ["don", "'", "t", ".", ".", "."]
    assert tok("  \n\t ") == []
    assert WordTokenizer(lower=False)("Hello World") == ["Hello", "World"]


def test_word_tokenizer_nfkc_normalisation():
    decomposed = "cafe\u0301"  # e + combining acute accent
    assert WordTokenizer()(decomposed) == ["café"]  # NFKC composes it into one word
    assert WordTokenizer()("ﬁne ＡＢＣ") == ["fine", "abc"]  # ligature and full-width letters
    assert WordTokenizer(normalize=False, lower=False)("ＡＢＣ") == ["ＡＢＣ"]


def test_char_tokenizer():
    tok = CharTokenizer()
    assert tok("  Ab \n\t Я中 ") == ["a", "b", " ", "я", "中"]
    assert CharTokenizer(lower=False)("Ab") == ["A", "b"]
    assert tok("e\u0301") == ["é"]  # NFC composes the accent
    assert CharTokenizer(normalize=False)("e\u0301") == ["e", "\u0301"]
    with pytest.raises(TypeError, match="CharTokenizer: text must be a str, got bytes"):
        tok(b"abc")
    with pytest.raises(TypeError, match="WordTokenizer: text must be a str, got int"):
        WordTokenizer()(3)


# ---------------------------------------------------------------------------------------------
# Vocab
# ---------------------------------------------------------------------------------------------

CORPUS = [["the", "cat", "sat"], ["the", "dog", "sat"], ["a", "cat", "the"]]


def test_vocab_order_specials_and_ties():
    v = Vocab.build(CORPUS)
    # the: 3; cat, sat: 2 (cat seen first); dog, a: 1 (dog seen first)
    assert v.itos == ["<pad>", "<unk>", "the", "cat", "sat", "dog", "a"]
    assert v.pad_index == 0 and v.unk_index == 1 and len(v) == 7
    assert v.stoi == {t: i for i, t in enumerate(v.itos)}
    assert v["cat"] == 3 and v["zebra"] == 1 and "dog" in v and "zebra" not in v
    assert v.freqs["the"] == 3


def test_vocab_min_freq_and_max_size():
    assert Vocab.build(CORPUS, min_freq=2).itos == ["<pad>", "<unk>", "the", "cat", "sat"]
    assert Vocab.build(CORPUS, max_size=4).itos == ["<pad>", "<unk>", "the", "cat"]
    assert Vocab.build(CORPUS, min_freq=9).itos == ["<pad>", "<unk>"]
    # a corpus mentioning the specials does not move them
    assert Vocab.build([["<unk>", "x", "<pad>"]]).itos == ["<pad>", "<unk>", "x"]
    with pytest.raises(ValueError, match="min_freq must be an int >= 1, got 0"):
        Vocab.build(CORPUS, min_freq=0)
    with pytest.raises(ValueError, match="max_size must be None or an int >= 2"):
        Vocab.build(CORPUS, max_size=1)
    with pytest.raises(TypeError, match="got a str among them"):
        Vocab.build(["abc"])


@given(st.lists(st.lists(st.sampled_from("abcdefgh"), max_size=6), max_size=8))
def test_vocab_is_deterministic_and_frequency_ordered(lists):
    a, b = Vocab.build(lists), Vocab.build(iter([list(x) for x in lists]))
    assert a == b
    counts = {t: sum(x.count(t) for x in lists) for t in a.itos[2:]}
    assert sorted(counts) == sorted({t for x in lists for t in x})  # every token kept
    c = [counts[t] for t in a.itos[2:]]
    assert c == sorted(c, reverse=True)


def test_vocab_encode_decode():
    v = Vocab.build(CORPUS)
    ids = v.encode(["the", "unicorn", "sat"])
    assert ids.dtype == np.int64 and ids.tolist() == [2, 1, 4]
    assert v.encode([]).shape == (0,) and v.encode([]).dtype == np.int64
    assert v.decode(ids) == ["the", "<unk>", "sat"]
    assert v.decode(np.array([[2, 0]])[0]) == ["the", "<pad>"]
    with pytest.raises(IndexError, match="id 99 is out of range for a vocabulary of 7 tokens"):
        v.decode([99])
    with pytest.raises(ValueError, match="Vocab: token 'x' appears more than once"):
        Vocab(["x", "y", "x"])


def test_vocab_save_load_round_trip(tmp_path):
    v = Vocab.build([["héllo", "мир", "中", "\n", '"q"', "a"]])
    path = v.save(tmp_path / "vocab.json")
    w = Vocab.load(path)
    assert w == v and w.itos == v.itos and w["мир"] == v["мир"]
    doc = json.loads(path.read_text("utf-8"))
    assert doc["version"] == 1 and doc["tokens"][:2] == ["<pad>", "<unk>"]
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write leaves no temporary file


BAD_VOCABS = [
    (b"", "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[1, 2]", "expected a JSON object, got list"),
    (b'{"tokens": ["<pad>", "<unk>"]}', '"format" is None'),
    (b'{"format": "juanji-vocab", "version": 2, "tokens": ["<pad>", "<unk>"]}', "unsupported version 2"),
    (b'{"format": "juanji-vocab", "version": true, "tokens": ["<pad>", "<unk>"]}', "unsupported version True"),
    (b'{"format": "juanji-vocab", "version": 1, "tokens": "abc"}', '"tokens" must be a list of strings, got str'),
    (b'{"format": "juanji-vocab", "version": 1, "tokens": ["<pad>", "<unk>", 3]}', "token 2 is int, not a string"),
    (b'{"format": "juanji-vocab", "version": 1, "tokens": ["<unk>", "<pad>"]}', "must start with '<pad>', '<unk>'"),
    (b'{"format": "juanji-vocab", "version": 1, "tokens": ["<pad>", "<unk>", "a", "a"]}', "token 'a' appears twice"),
    (b'{"format": "juanji-vocab", "version": 1, "tokens": ["<pad>", "<unk>", "<pad>"]}', "token '<pad>' appears twice"),
    (b"[" * 100000 + b"]" * 100000, "not"),
    (b'{"format": "juanji-vocab", "version": 1, "tokens": ["<pad>", "<unk>", "a"', "not valid JSON"),
]


@pytest.mark.parametrize("data,message", BAD_VOCABS)
def test_vocab_load_refuses_bad_files_naming_them(tmp_path, data, message):
    path = tmp_path / "bad-vocab.json"
    path.write_bytes(data)
    with pytest.raises(ValueError, match="Vocab.load: '.*bad-vocab.json'") as info:
        Vocab.load(path)
    assert message in str(info.value)


def test_vocab_load_caps(tmp_path, monkeypatch):
    path = Vocab.build([list("abcdef")]).save(tmp_path / "v.json")
    with pytest.raises(ValueError, match="8 tokens, more than the 5 allowed"):
        Vocab.load(path, max_size=5)
    monkeypatch.setattr(T, "MAX_VOCAB_FILE_BYTES", 10)
    with pytest.raises(ValueError, match=r"v.json' is \d+ bytes, more than the 10"):
        Vocab.load(path)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        Vocab.load(tmp_path / "missing.json")


@given(st.binary(max_size=200))
def test_vocab_load_fuzz_raises_only_value_error(data):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "fuzz.json")
        with open(path, "wb") as f:
            f.write(data)
        try:
            v = Vocab.load(path)
        except ValueError as e:
            assert "fuzz.json" in str(e)
        else:
            assert v.itos[:2] == ["<pad>", "<unk>"]


# ---------------------------------------------------------------------------------------------
# Padding, TextDataset
# ---------------------------------------------------------------------------------------------

def test_pad_sequences():
    ids, lengths = pad_sequences([[1, 2, 3], [4], []])
    assert ids.dtype == np.int64 and lengths.dtype == np.int64
    assert ids.tolist() == [[1, 2, 3], [4, 0, 0], [0, 0, 0]] and lengths.tolist() == [3, 1, 0]
    ids, lengths = pad_sequences([np.array([1, 2, 3, 4], np.int32), [5]], max_len=2, pad_index=9)
    assert ids.tolist() == [[1, 2], [5, 9]] and lengths.tolist() == [2, 1]
    ids, _ = pad_sequences([[1], [2, 3]], min_len=5)
    assert ids.tolist() == [[1, 0, 0, 0, 0], [2, 3, 0, 0, 0]]
    ids, lengths = pad_sequences([])
    assert ids.shape == (0, 0) and lengths.shape == (0,)
    big = 2**40  # ids beyond int32 survive
    assert pad_sequences([[big]])[0][0, 0] == big
    with pytest.raises(ValueError, match="sequence 1 must be 1-D ints, got shape \\(2,\\) and dtype float64"):
        pad_sequences([[1], [0.5, 2.0]])
    with pytest.raises(ValueError, match="max_len must be None or an int >= 1, got 0"):
        pad_sequences([[1]], max_len=0)


def test_text_dataset_and_collate():
    tok = WordTokenizer()
    texts = ["Good film!", "bad, bad film", "unseen words here"]
    vocab = Vocab.build(map(tok, texts[:2]))
    ds = TextDataset(texts, np.array([1, 0, 1]), tok, vocab, max_len=3)
    x, y = ds[1]
    assert x.dtype == np.int64 and vocab.decode(x) == ["bad", ",", "bad"] and y == 0
    assert vocab.decode(ds[2][0]) == ["<unk>"] * 3
    assert ds.lengths.tolist() == [3, 3, 3] and ds.lengths.dtype == np.int64
    ids, labels = ds.collate([ds[0], ds[1]])
    assert ids.shape == (2, 3) and labels.tolist() == [1, 0]
    ids, labels, lengths = PadCollate(return_lengths=True)([(np.array([5, 6]), 1), (np.array([7]), 0)])
    assert ids.tolist() == [[5, 6], [7, 0]] and lengths.tolist() == [2, 1] and labels.dtype == np.int64
    with pytest.raises(ValueError, match="TextDataset: 3 texts but 2 labels"):
        TextDataset(texts, [0, 1], tok, vocab)
    with pytest.raises(ValueError, match="labels must be a 1-D array of ints"):
        TextDataset(texts, [0.5, 1, 2], tok, vocab)


# ---------------------------------------------------------------------------------------------
# DataLoader: collate_fn, bucketing, int64 end to end
# ---------------------------------------------------------------------------------------------

def ragged(n: int = 23) -> TextDataset:
    """Text i has (i * 7) % 13 + 1 words and label i, so batches show which samples they hold."""
    texts = [" ".join(["w%d" % i] * ((i * 7) % 13 + 1)) for i in range(n)]
    tok = WordTokenizer()
    return TextDataset(texts, np.arange(n), tok, Vocab.build(map(tok, texts)))


def test_loader_collate_fn_pads_each_batch_to_its_longest():
    ds = ragged()
    loader = DataLoader(ds, batch_size=4, collate_fn=PadCollate())
    batches = list(loader)
    assert len(batches) == len(loader) == 6
    for b, (ids, y) in enumerate(batches):
        assert isinstance(ids, Tensor) and ids.data.dtype == np.int64 and y.data.dtype == np.int64
        want = np.arange(b * 4, min(b * 4 + 4, 23))
        np.testing.assert_array_equal(y.data, want)
        assert ids.shape[1] == ds.lengths[want].max()
        for row, i in zip(ids.data, want):
            np.testing.assert_array_equal(row[:ds.lengths[i]], ds.ids[i])
            assert (row[ds.lengths[i]:] == 0).all()


def test_loader_collate_fn_arguments():
    ds = ragged()
    with pytest.raises(TypeError, match="collate_fn must be callable, got int"):
        DataLoader(ds, collate_fn=3)
    with pytest.raises(ValueError, match="with a collate_fn, transform inside it instead"):
        DataLoader(ds, collate_fn=PadCollate(), transform=lambda x: x)
    with pytest.raises(ValueError, match="bucket_by has 3 lengths but the dataset has 23 samples"):
        DataLoader(ds, bucket_by=[1, 2, 3])
    with pytest.raises(ValueError, match="bucket_by must be a 1-D array of ints"):
        DataLoader(ds, bucket_by=np.zeros(23))
    # a collate_fn's other values pass through untouched
    out = next(iter(DataLoader(ds, batch_size=2, collate_fn=lambda s: {"n": len(s)})))
    assert out == {"n": 2}
    ids, w = next(iter(DataLoader(ds, batch_size=2, collate_fn=lambda s: [np.array([1, 2], np.int32),
                                                                          np.ones(2, np.float64)])))
    assert ids.data.dtype == np.int64 and w.data.dtype == np.float32


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("prefetch", [0, 2])
def test_bucketing_is_seeded_and_serves_every_sample_once(drop_last, prefetch):
    ds = ragged(257)
    make = lambda seed: DataLoader(ds, batch_size=8, shuffle=True, seed=seed, drop_last=drop_last,  # noqa: E731
                                   collate_fn=PadCollate(), bucket_by=ds.lengths, prefetch=prefetch)
    loader = make(0)
    e0 = [y.data.tolist() for _, y in loader]
    e1 = [y.data.tolist() for _, y in loader]
    assert e0 == [y.data.tolist() for _, y in make(0)]  # same seed, same epoch: same batches
    assert e0 != e1  # a new epoch: a new order
    assert e0 != [y.data.tolist() for _, y in make(1)]
    assert len(e0) == len(loader) == (257 // 8 if drop_last else 33)
    for epoch in (e0, e1):
        flat = sorted(i for b in epoch for i in b)
        if drop_last:
            assert len(flat) == 256 and len(set(flat)) == 256
        else:
            assert flat == list(range(257))
    # similar lengths together: a bucketed batch spans a far smaller length range than a random one
    spread = lambda epochs: np.mean([np.ptp(ds.lengths[b]) for b in epochs if len(b) > 1])  # noqa: E731
    plain = [y.data.tolist() for _, y in DataLoader(ds, batch_size=8, shuffle=True, seed=0, collate_fn=PadCollate())]
    assert spread(e0) <= 1 and spread(plain) >= 6


def test_bucketing_resumes_mid_epoch():
    ds = ragged(100)
    loader = DataLoader(ds, batch_size=7, shuffle=True, seed=3, collate_fn=PadCollate(), bucket_by=ds.lengths)
    full = [y.data.tolist() for _, y in loader]
    loader.set_epoch(0)
    it = iter(loader)
    head = [next(it)[1].data.tolist() for _ in range(5)]
    state = loader.state_dict()
    it.close()
    resumed = DataLoader(ds, batch_size=7, shuffle=True, seed=99, collate_fn=PadCollate(), bucket_by=ds.lengths)
    resumed.load_state_dict(state)
    assert head + [y.data.tolist() for _, y in resumed] == full


def test_bucketing_without_shuffle_sorts_by_length():
    ds = ragged(30)
    loader = DataLoader(ds, batch_size=4, bucket_by=ds.lengths, collate_fn=PadCollate())
    order = loader.order(0)
    assert sorted(order.tolist()) == list(range(30))
    assert (np.diff(ds.lengths[order]) >= 0).all()
    np.testing.assert_array_equal(order, np.argsort(ds.lengths, kind="stable"))


def test_plain_loader_order_is_unchanged_by_the_batches_refactor():
    x = np.arange(10)[:, None].astype(np.float32)
    loader = DataLoader(ArrayDataset(x, np.arange(10)), batch_size=3, shuffle=True, seed=5)
    want = np.random.Generator(np.random.PCG64(np.random.SeedSequence(5, spawn_key=(0, 0, 0)))).permutation(10)
    np.testing.assert_array_equal(loader.order(0), want)
    assert [y.data.tolist() for _, y in loader] == [want[i:i + 3].tolist() for i in range(0, 10, 3)]


def test_int64_token_ids_end_to_end_through_array_dataset():
    big = np.array([[2**40, 5, 0], [7, 1, 0]], dtype=np.int64)  # ids a float32 would round
    ds = ArrayDataset(big, [0, 1])
    assert ds.data.dtype == np.int64 and ds.data.shape == (2, 3)
    (x, y), = list(DataLoader(ds, batch_size=2))
    assert x.data.dtype == np.int64 and x.data[0, 0] == 2**40
    np.testing.assert_array_equal(x.data, big)
    ds32 = ArrayDataset(big.astype(np.int32) % 1000, [0, 1])
    assert ds32.data.dtype == np.int64
    (x, _), = list(DataLoader(ds32, batch_size=2, shuffle=True, seed=1))
    assert x.data.dtype == np.int64 and x.data.max() > 1  # not scaled to [0, 1]
    # the loop path (a per-sample transform) keeps them int64 too
    (x, _), = list(DataLoader(ArrayDataset(big, [0, 1], transform=lambda a: a), batch_size=2))
    assert x.data.dtype == np.int64 and x.data[0, 0] == 2**40


# ---------------------------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------------------------

def test_read_tsv_and_csv(tmp_path):
    tsv = tmp_path / "train.tsv"
    tsv.write_text("label\ttext\npos\tGreat film, \"loved\" it\nneg\tПлохо\n\npos\t好\n", "utf-8")
    texts, labels, classes = read_delimited(tsv)
    assert texts == ['Great film, "loved" it', "Плохо", "好"]
    assert labels.dtype == np.int64 and labels.tolist() == [1, 0, 1] and classes == ["neg", "pos"]
    csv_ = tmp_path / "test.csv"
    csv_.write_text('1,"a, quoted\nmultiline text"\n0,plain\n', "utf-8")
    texts, labels, classes = read_delimited(csv_, text_column=1, label_column=0, header=False)
    assert texts == ["a, quoted\nmultiline text", "plain"] and classes == ["0", "1"] and labels.tolist() == [1, 0]
    texts, labels, classes = read_delimited(csv_, text_column=1, label_column=0, header=False, classes=["1", "0"])
    assert labels.tolist() == [0, 1] and classes == ["1", "0"]


def test_read_delimited_errors_name_file_and_line(tmp_path):
    p = tmp_path / "test.tsv"
    p.write_text("label\ttext\npos\tfine\nmeh\tunknown label\n", "utf-8")
    with pytest.raises(ValueError, match=r"test.tsv:3: unknown label 'meh' \(the classes are \['neg', 'pos'\]\)"):
        read_delimited(p, classes=["neg", "pos"])
    p.write_text("label\ttext\npos\tfine\nneg\t   \n", "utf-8")
    with pytest.raises(ValueError, match=r"test.tsv:3: the text is empty"):
        read_delimited(p)
    p.write_text("label\ttext\npos\n", "utf-8")
    with pytest.raises(ValueError, match=r"test.tsv:2: 1 column\(s\)"):
        read_delimited(p)
    p.write_text("label\tbody\npos\tx\n", "utf-8")
    with pytest.raises(ValueError, match=r"test.tsv:1: no column named 'text'"):
        read_delimited(p)
    p.write_bytes(b"label\ttext\npos\tok\nneg\tbad \xff byte\n")
    with pytest.raises(ValueError, match=r"test.tsv:3: not valid utf-8"):
        read_delimited(p)
    p.write_text("", "utf-8")
    with pytest.raises(ValueError, match="the file is empty"):
        read_delimited(p)
    with pytest.raises(ValueError, match="is a name, but header=False"):
        read_delimited(p, header=False)


def test_read_delimited_size_cap_is_checked_before_reading(tmp_path, monkeypatch):
    p = tmp_path / "big.csv"
    p.write_text("label,text\n" + "a,xxxx\n" * 50, "utf-8")
    monkeypatch.setattr(T, "MAX_TEXT_FILE_BYTES", 100)
    opened = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    with pytest.raises(ValueError, match=r"big.csv' is 361 bytes, more than the 100 allowed"):
        read_delimited(p)
    assert opened == []


def test_read_text_folder(tmp_path):
    for cls, name, text in [("pos", "b.txt", " good \n"), ("pos", "a.txt", "great"), ("neg", "x.TXT", "Плохо"),
                            ("neg", "skip.md", "ignored"), ("neg", ".hidden.txt", "ignored")]:
        (tmp_path / cls).mkdir(exist_ok=True)
        (tmp_path / cls / name).write_text(text, "utf-8")
    texts, labels, classes = read_text_folder(tmp_path)
    assert classes == ["neg", "pos"] and texts == ["Плохо", "great", "good"] and labels.tolist() == [0, 1, 1]
    texts, labels, classes = read_text_folder(tmp_path, classes=["pos", "neg"])
    assert texts == ["great", "good", "Плохо"] and labels.tolist() == [0, 0, 1]
    with pytest.raises(ValueError, match=r"no sub-folder for the classes \['cat'\]"):
        read_text_folder(tmp_path, classes=["cat"])
    (tmp_path / "pos" / "empty.txt").write_text(" \n", "utf-8")
    with pytest.raises(ValueError, match=r"empty.txt' is empty"):
        read_text_folder(tmp_path)
    (tmp_path / "pos" / "empty.txt").write_bytes(b"line one\n\x80oops")
    with pytest.raises(ValueError, match=r"empty.txt:2: not valid utf-8"):
        read_text_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        read_text_folder(tmp_path / "nope")


@given(st.binary(max_size=120), st.booleans())
def test_read_delimited_fuzz_raises_only_value_error_naming_the_file(data, header):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "fuzz.tsv")
        with open(path, "wb") as f:
            f.write(data)
        try:
            texts, labels, classes = read_delimited(path, text_column=1, label_column=0, header=header)
        except ValueError as e:
            assert "fuzz.tsv" in str(e)
        else:
            assert len(texts) == len(labels) > 0 and labels.dtype == np.int64 and labels.max() < len(classes)
