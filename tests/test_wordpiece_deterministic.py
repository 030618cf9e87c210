"""The text vocabulary is a pure function of its corpus (the library trainer's ties are not)."""
from __future__ import annotations

import random
from collections import Counter

from fourm_registry.tokenizers.text import TextTokenizer, build_wordpiece
from fourm_registry.tokenizers.wordpiece_train import learn_vocab


def _corpus(seed: int) -> list[str]:
    rng = random.Random(seed)
    words = ["red", "blue", "cube", "sphere", "cylinder", "left", "right", "of", "a", "large", "small"]
    return [" ".join(rng.choice(words) for _ in range(8)) for _ in range(300)]


def test_same_corpus_same_vocabulary_and_ids():
    corpus = _corpus(0)
    first, second = build_wordpiece(corpus, 4600, ["traffic light"], 1), build_wordpiece(corpus, 4600, ["traffic light"], 1)
    assert first.to_str() == second.to_str()
    tok = TextTokenizer(first)  # 4M's layout holds
    ids = tok.encode("a large red cylinder left of a traffic light")
    assert tok.decode(ids) == "a large red cylinder left of a traffic light"
    assert first.get_vocab_size() <= 4600


def test_ties_break_by_text_and_min_frequency_stops_merging():
    counts = Counter({"ab": 2, "cd": 2})  # equal counts: ('a', '##b') sorts before ('c', '##d')
    vocab = learn_vocab(counts, 100, ["[PAD]"], [], min_frequency=2)
    assert vocab["ab"] < vocab["cd"]
    assert vocab["[PAD]"] == 0
    assert "ab" not in learn_vocab(counts, 100, ["[PAD]"], [], min_frequency=3)
    capped = learn_vocab(counts, len(vocab) - 1, ["[PAD]"], [], min_frequency=1)
    assert "ab" in capped and "cd" not in capped
