"""PII scrubbing on realistic Weibo-style strings: exact outputs, and text that must come back unchanged."""

import pytest

from mentalglm.data.scrub import PLACEHOLDERS, scrub_pii

# (text, exact scrubbed text, replacement counts)
REPLACED = [
    # mentions: the canonical `@name ` / `@name:` form is replaced whole
    ("回复@小鱼_2023:别这样，我在呢", "回复[USER]:别这样，我在呢", {"[USER]": 1}),
    ("@李四 @Wang-Lei 你们都别劝了", "[USER] [USER] 你们都别劝了", {"[USER]": 2}),
    ("@心理咨询师 我的号码是15912345678，邮箱 a_b@163.com",
     "[USER] 我的号码是[PHONE]，邮箱 [EMAIL]", {"[USER]": 1, "[PHONE]": 1, "[EMAIL]": 1}),
    ("＠小明：我好累", "[USER]：我好累", {"[USER]": 1}),
    ("@小明 我好累", "[USER] 我好累", {"[USER]": 1}),
    ("@sunny_day123 谢谢你", "[USER] 谢谢你", {"[USER]": 1}),
    # mentions never swallow the statement that follows
    ("@小明我真的好想死", "[USER]我真的好想死", {"[USER]": 1}),
    ("@李四你们都别劝了", "[USER]你们都别劝了", {"[USER]": 1}),
    ("今天好累@小明今天好累", "今天好累[USER]今天好累", {"[USER]": 1}),
    ("@Tom我不想活了", "[USER]我不想活了", {"[USER]": 1}),
    ("@小明", "[USER]", {"[USER]": 1}),
    ("谢谢@小明。", "谢谢[USER]。", {"[USER]": 1}),
    # mobile numbers in the usual writings
    ("有事打我电话13812345678，随时都在", "有事打我电话[PHONE]，随时都在", {"[PHONE]": 1}),
    ("电话１３８１２３４５６７８", "电话[PHONE]", {"[PHONE]": 1}),
    ("手机 +86 139-1234-5678 或者座机010-87654321", "手机 [PHONE] 或者座机[PHONE]", {"[PHONE]": 2}),
    ("号码0086-138-1234-5678", "号码[PHONE]", {"[PHONE]": 1}),
    ("号码 138 1234 5678 打我", "号码 [PHONE] 打我", {"[PHONE]": 1}),
    ("电话138.1234.5678", "电话[PHONE]", {"[PHONE]": 1}),
    ("打＋８６１５９１２３４５６７８", "打[PHONE]", {"[PHONE]": 1}),
    # landlines and service numbers
    ("座机(021)12345678", "座机[PHONE]", {"[PHONE]": 1}),
    ("座机0755 1234 5678", "座机[PHONE]", {"[PHONE]": 1}),
    ("心理援助热线400-161-9995可以打", "心理援助热线[PHONE]可以打", {"[PHONE]": 1}),
    ("打800 810 1117", "打[PHONE]", {"[PHONE]": 1}),
    # QQ and WeChat ids, in context; the context word stays
    ("加我QQ 123456789", "加我QQ [QQ]", {"[QQ]": 1}),
    ("扣扣：987654321聊聊", "扣扣：[QQ]聊聊", {"[QQ]": 1}),
    ("企鹅号是10001", "企鹅号是[QQ]", {"[QQ]": 1}),
    ("ｑｑ号码 2233445566", "ｑｑ号码 [QQ]", {"[QQ]": 1}),
    ("微信号 wxid_abc123", "微信号 [WECHAT]", {"[WECHAT]": 1}),
    ("加VX：sad_girl_99", "加VX：[WECHAT]", {"[WECHAT]": 1}),
    ("wx:13812345678", "wx:[WECHAT]", {"[WECHAT]": 1}),
    ("有事加微信abc-def-1，别私信", "有事加微信[WECHAT]，别私信", {"[WECHAT]": 1}),
    # e-mail and URLs, bare domains inside Chinese text included
    ("我的邮箱 zhang.san@qq.com，写信给我", "我的邮箱 [EMAIL]，写信给我", {"[EMAIL]": 1}),
    ("邮箱zhang.san@qq.com好", "邮箱[EMAIL]好", {"[EMAIL]": 1}),
    ("看这个https://weibo.com/u/1234567?from=feed真的好难过", "看这个[URL]真的好难过", {"[URL]": 1}),
    ("转发微博 t.cn/A6xyzAB ，大家帮帮忙", "转发微博 [URL] ，大家帮帮忙", {"[URL]": 1}),
    ("链接www.example.org/a/b。", "链接[URL]。", {"[URL]": 1}),
    ("访问baidu.com了解", "访问[URL]了解", {"[URL]": 1}),
    ("去ｗｗｗ．ｄｏｕｂａｎ．ｃｏｍ看看", "去[URL]看看", {"[URL]": 1}),
    ("我在zhihu.com/question/123写过", "我在[URL]写过", {"[URL]": 1}),
    # ID cards, with X and with spaces
    ("身份证号11010519900307123X，别泄露", "身份证号[ID]，别泄露", {"[ID]": 1}),
    ("身份证 110105 19900307 123X", "身份证 [ID]", {"[ID]": 1}),
    ("老身份证110105900307123也能用", "老身份证[ID]也能用", {"[ID]": 1}),
    ("证件１１０１０５１９９００３０７１２３ｘ", "证件[ID]", {"[ID]": 1}),
    # bank cards, Luhn-checked
    ("我的卡6222020200000000006借你", "我的卡[BANKCARD]借你", {"[BANKCARD]": 1}),
    ("卡号 6217 0012 3456 7893", "卡号 [BANKCARD]", {"[BANKCARD]": 1}),
    ("转到6217-0012-3456-7893吧", "转到[BANKCARD]吧", {"[BANKCARD]": 1}),
    ("农行卡6228480012345678903别告诉别人", "农行卡[BANKCARD]别告诉别人", {"[BANKCARD]": 1}),
]

# Written as people write them and missed before (issue 27): 19-digit UnionPay cards in groups, spaced or
# short-keyword QQ ids, `加V`/`加薇` WeChat ids, phone digits spaced out or written as Chinese numerals.
MISSED_BEFORE = [
    ("卡号 6222 0212 3456 7890 128 转给我", "卡号 [BANKCARD] 转给我", {"[BANKCARD]": 1}),
    ("6222-0212-3456-7890-128", "[BANKCARD]", {"[BANKCARD]": 1}),
    ("扣扣号码是 123 456 789", "扣扣号码是 [QQ]", {"[QQ]": 1}),
    ("Q：123456789", "Q：[QQ]", {"[QQ]": 1}),
    ("QQ群 123456789", "QQ群 [QQ]", {"[QQ]": 1}),
    ("Q群：987654321 进来聊", "Q群：[QQ] 进来聊", {"[QQ]": 1}),
    ("ｑｑ：８８８ ８８８ ８８８", "ｑｑ：[QQ]", {"[QQ]": 1}),
    ("加V：abc12345", "加V：[WECHAT]", {"[WECHAT]": 1}),
    ("加薇：abc12345", "加薇：[WECHAT]", {"[WECHAT]": 1}),
    ("加v 13812345678", "加v [WECHAT]", {"[WECHAT]": 1}),
    ("电话 1 3 8 1 2 3 4 5 6 7 8", "电话 [PHONE]", {"[PHONE]": 1}),
    ("手机一三八一二三四五六七八", "手机[PHONE]", {"[PHONE]": 1}),
    ("打给我幺三八幺二三四五六七八吧", "打给我[PHONE]吧", {"[PHONE]": 1}),
    ("号码一三九 一二三四 五六七八", "号码[PHONE]", {"[PHONE]": 1}),
]

# Text that carries no PII and must come back byte for byte: dates, prices, years, times, levels, ordinary text.
UNCHANGED = [
    "我今年20岁，2023年10月1日那天考了580分",
    "吃了12片药，凌晨3:45还睡不着",
    "房间号1024，学号2021301234",  # ten digits: not a phone number
    "第一次觉得活着好累，100%不想上学",
    "血压140/90，医生说没事",
    "今天2023.10.01，又是一个人过节",
    "2023-10-01 12:30:45 记录一下",
    "20231001 这天我永远记得",
    "房租¥13800一个月，工资才5000",
    "欠了1,380,000元，还不上了",
    "1998年出生，今年26了",
    "发帖人的自杀风险为8级。理由：……",
    "自杀风险处于0到10级中的哪一级？",
    "身高178cm体重65kg",
    "圆周率3.1415926535我背得出来",
    "卡号1234567812345678是假的",  # fails the Luhn check
    "编号12345678901",  # 11 digits starting 12: not a mobile prefix
    "QQ空间好久没上了",
    "微信聊天记录都删了",
    "邮箱不想告诉你",
    "版本v1.2.3又崩了",
    "报告.docx写不完",
    "我真的好想死，谁能救救我",
    "凌晨四点，还是睡不着。",
    "体重从50.5公斤掉到45公斤",
    "Node.js 学不会",
    "他说:我没事",
]

# Numbers of the kinds the rules above read, that are not PII and must come back byte for byte: dates, timestamps,
# prices, order and tracking numbers, public hotlines, medical readings, counts, and the keywords without an id.
KEPT_NUMBERS = [
    "2023年10月1日我又哭了", "二〇二三年十月一日，我永远记得", "2023/10/01 晚上", "10月1日到10月7日放假",
    "1999-12-31 23:59:59 跨年那晚", "出生于1998.06.15", "2024 年 3 月 5 日 星期二", "时间戳1696143045",
    "毫秒时间戳1696143045123", "23:59 还醒着", "凌晨 02:13:45 又醒了", "2023-10-01T12:30:45+08:00 记录",
    "一共花了¥1,299.00", "房租 3500 元/月", "工资 8 000 元，房贷 6 500 元", "欠款 128,000.50 元", "花了两千三百块",
    "一万二千元的债", "价格 ¥ 99.9", "余额 0.01 元", "订单号 2023100112345678901 还没到货",
    "订单号：6222021234567890128", "订单编号 6217 0012 3456 7893", "快递单号 SF1234567890123",
    "运单号：773012345678901", "流水号 20231001000012345678", "取件码 5-2-1034", "工单号 202310010001",
    "心理危机干预热线12356", "报警打110", "急救电话120", "移动客服10086", "市长热线12345", "拨打12320卫生热线",
    "火警119", "12355青少年服务台", "血压120/80", "血压 135 / 85 mmHg", "心率 110 次/分", "吃了 3 片 0.5mg 的药",
    "抑郁量表 PHQ-9 得分 21 分", "SDS 标准分 68", "睡了 3 小时 20 分钟", "1 2 3 4 5 数到五就好了",
    "一二三四五六七八九十，数羊也睡不着", "QQ音乐里的歌", "Q版头像好可爱", "Q：你为什么难过？A：不知道",
    "V：我们分手吧", "加薇的好友了吗", "QQ群里没人理我", "微信步数 12345 步", "学号 2021 3012 34",
    "手机电量剩 13%", "第138页到第156页", "比分 1:3", "版本号 13.8.1", "三八妇女节快乐", "一三五去健身，二四六休息",
]


@pytest.mark.parametrize("text,expected,counts", REPLACED)
def test_pii_becomes_placeholders(text, expected, counts):
    scrubbed, found = scrub_pii(text)
    assert (scrubbed, dict(found)) == (expected, counts)


@pytest.mark.parametrize("text,expected,counts", MISSED_BEFORE)
def test_pii_written_the_other_usual_ways_becomes_placeholders(text, expected, counts):
    scrubbed, found = scrub_pii(text)
    assert (scrubbed, dict(found)) == (expected, counts)


@pytest.mark.parametrize("text", KEPT_NUMBERS)
def test_numbers_that_are_not_pii_are_left_alone(text):
    assert scrub_pii(text) == (text, {})


@pytest.mark.parametrize("text", UNCHANGED)
def test_text_without_pii_is_left_alone(text):
    assert scrub_pii(text) == (text, {})


def test_scrubbing_is_idempotent():
    for text, expected, _ in REPLACED + MISSED_BEFORE:
        assert scrub_pii(expected)[0] == expected


def test_every_placeholder_kind_is_exercised_and_the_suite_is_large_enough():
    assert {p for _, _, counts in REPLACED for p in counts} == set(PLACEHOLDERS)
    assert len(REPLACED) + len(UNCHANGED) >= 60 and len(UNCHANGED) >= 20
    assert len(MISSED_BEFORE) >= 12 and len(KEPT_NUMBERS) >= 57
