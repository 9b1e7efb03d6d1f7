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
    found = index.first_matches([post_key(q) for q in queries])
    # brute force over every pair gives the same answer
    expected = [next((i for i, p in enumerate(base) if jaccard(shingles(post_key(q)), shingles(post_key(p))) >= 0.8),
                     None) for q in queries]
    assert found == expected == [7, None, None, 9]


def test_many_indexed_near_copies_of_one_text_are_still_found_quickly():
    text = "我真的撑不下去了每天晚上都哭到凌晨三点没有人能理解我的痛苦"
    copies = [f"{text}第{i}条" for i in range(3000)]  # near each other, as reposts are
    index = NearDuplicateIndex(copies, threshold=0.8)
    (hit,) = index.first_matches([text + "转发"])
    assert hit is not None and jaccard(shingles(text + "转发"), shingles(copies[hit])) >= 0.8
    (miss,) = index.first_matches(["今天天气很好我们去公园散步吧"])
    assert miss is None


def test_signatures_are_deterministic_across_indexes():
    keys = ["今天有点累想睡觉", "工作好累不想上班"]
    assert NearDuplicateIndex(keys, 0.8).buckets == NearDuplicateIndex(keys, 0.8).buckets
