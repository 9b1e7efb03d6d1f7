"""PII scrubbing on realistic Weibo-style strings."""

import pytest

from mentalglm.data.scrub import scrub_pii

CASES = [
    ("回复@小鱼_2023:别这样，我在呢", "回复[USER]:别这样，我在呢", {"[USER]": 1}),
    ("@李四 @Wang-Lei 你们都别劝了", "[USER] [USER] 你们都别劝了", {"[USER]": 2}),
    ("有事打我电话13812345678，随时都在", "有事打我电话[PHONE]，随时都在", {"[PHONE]": 1}),
    ("手机 +86 139-1234-5678 或者座机010-87654321", "手机 [PHONE] 或者座机[PHONE]", {"[PHONE]": 2}),
    ("心理援助热线400-161-9995可以打", "心理援助热线[PHONE]可以打", {"[PHONE]": 1}),
    ("我的邮箱 zhang.san@qq.com，写信给我", "我的邮箱 [EMAIL]，写信给我", {"[EMAIL]": 1}),
    ("看这个https://weibo.com/u/1234567?from=feed真的好难过", "看这个[URL]真的好难过", {"[URL]": 1}),
    ("转发微博 t.cn/A6xyzAB ，大家帮帮忙", "转发微博 [URL] ，大家帮帮忙", {"[URL]": 1}),
    ("链接www.example.org/a/b。", "链接[URL]。", {"[URL]": 1}),
    ("身份证号11010519900307123X，别泄露", "身份证号[ID]，别泄露", {"[ID]": 1}),
    ("老身份证110105900307123也能用", "老身份证[ID]也能用", {"[ID]": 1}),
    ("@心理咨询师 我的号码是15912345678，邮箱 a_b@163.com",
     "[USER] 我的号码是[PHONE]，邮箱 [EMAIL]", {"[USER]": 1, "[PHONE]": 1, "[EMAIL]": 1}),
]


@pytest.mark.parametrize("text,expected,counts", CASES)
def test_pii_becomes_placeholders(text, expected, counts):
    scrubbed, found = scrub_pii(text)
    assert scrubbed == expected
    assert dict(found) == counts


@pytest.mark.parametrize("text", [
    "我今年20岁，2023年10月1日那天考了580分",
    "吃了12片药，凌晨3:45还睡不着",
    "房间号1024，学号2021301234",  # ten digits: not a phone number
    "第一次觉得活着好累，100%不想上学",
    "血压140/90，医生说没事",
])
def test_ordinary_numbers_and_text_are_left_alone(text):
    assert scrub_pii(text) == (text, {})
