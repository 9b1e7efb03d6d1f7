"""When two posts count as the same: the normalised key, shingles, and the MinHash LSH near-duplicate index."""

import random

import pytest

from mentalglm.data.overlap import NearDuplicateIndex, jaccard, post_key, shingles


@pytest.mark.parametrize("post,key", [
    ("今天  有点累", "今天有点累"),
    ("今天，有点累！", "今天有点累"),
    ("今天有点累。。。", "今天有点累"),
    ("ＡＢＣ１２３今天", "abc123今天"),  # full-width letters and digits
    ("I Am Tired", "iamtired"),
    ("“我好累”——真的", "我好累真的"),
    ("累😭😭", "累"),  # emoji are symbols
    ("[USER]我好累", "user我好累"),
    ("第3次", "第3次"),
])
def test_post_key_folds_width_case_space_and_punctuation(post, key):
    assert post_key(post) == key


@pytest.mark.parametrize("a,b", [("我好累", "我好困"), ("3级", "8级"), ("想死", "不想死")])
def test_post_key_keeps_what_changes_meaning(a, b):
    assert post_key(a) != post_key(b)


def test_shingles_and_jaccard():
    assert shingles("abcd") == {"abc", "bcd"}
    assert shingles("ab") == {"ab"} and shingles("") == set()
    assert jaccard({"a", "b"}, {"b", "c"}) == pytest.approx(1 / 3)
    assert jaccard(set(), set()) == 0.0


def test_index_finds_exactly_the_posts_at_or_above_the_threshold():
    rng = random.Random(0)
    alphabet = "我你他今天明好累想死活工作家人朋友学校老师医生药睡觉哭笑"
    base = ["".join(rng.choice(alphabet) for _ in range(40)) for _ in range(300)]
    index = NearDuplicateIndex([post_key(p) for p in base], threshold=0.8)
    queries = [base[7] + "转发", base[8][:20], "".join(rng.choice(alphabet) for _ in range(40)), base[9]]
    found = index.query_many([post_key(q) for q in queries])
    # brute force over every pair gives the same answer
    expected = [[i for i, p in enumerate(base) if jaccard(shingles(post_key(q)), shingles(post_key(p))) >= 0.8]
                for q in queries]
    assert found == expected
    assert found[0] == [7] and found[1] == [] and found[3] == [9]


def test_signatures_are_deterministic_across_indexes():
    keys = ["今天有点累想睡觉", "工作好累不想上班"]
    assert NearDuplicateIndex(keys, 0.8).buckets == NearDuplicateIndex(keys, 0.8).buckets
