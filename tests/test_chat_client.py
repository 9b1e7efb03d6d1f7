"""The chat client against the scripted OpenAI-compatible server (real HTTP): the rate limit spaces requests over
threads, 429/5xx are retried, other 4xx and malformed bodies are counted failures with their status, a server that
never answers in time is a `timeout`."""

import sys
from concurrent.futures import ThreadPoolExecutor

from paths import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

from scripted_teacher import ScriptedTeacher  # noqa: E402

from mentalglm.chat.client import ChatClient, ChatSettings, chat_url  # noqa: E402
from mentalglm.explain.prompts import load_prompt  # noqa: E402

PROMPT = load_prompt("suicide_risk")


def _messages(post):
    return PROMPT.messages(post, ["低自杀风险"])


def test_the_rate_limit_spaces_requests_across_threads():
    with ScriptedTeacher() as teacher:
        client = ChatClient(ChatSettings(teacher.url, "m"), qps=10)
        with ThreadPoolExecutor(4) as pool:
            replies = list(pool.map(lambda i: client.complete(_messages(f"帖子{i}号，今天很累。")), range(8)))
        times = sorted(teacher.request_times())
    assert all(r.text and r.failure is None and r.requests == 1 for r in replies)
    assert times[-1] - times[0] >= 7 * 0.1 * 0.95  # 8 starts at most 10 per second apart, whatever the threads


def test_retries_and_counted_failures():
    script = {"甲帖子，今天很累。": ["http_429", "http_500", "good"], "乙帖子，今天很累。": ["http_400"],
              "丙帖子，今天很累。": ["malformed"], "丁帖子，今天很累。": ["http_500"], "戊帖子，今天很累。": ["timeout"]}
    with ScriptedTeacher(script, sleep_s=1.0) as teacher:
        client = ChatClient(ChatSettings(teacher.url, "m", timeout_s=0.3, max_retries=2, backoff_s=0.01))
        ok, bad, malformed, busy, slow = (client.complete(_messages(p)) for p in script)
    assert (ok.failure, ok.requests, ok.status) == (None, 3, 200) and "理由：" in ok.text
    assert (bad.text, bad.failure, bad.requests, bad.status) == (None, "http_4xx", 1, 400)
    assert (malformed.failure, malformed.requests) == ("malformed", 1)
    assert (busy.failure, busy.requests, busy.status) == ("http_5xx", 3, 500)
    assert (slow.failure, slow.requests) == ("timeout", 3)


def test_chat_url_takes_a_root_or_its_v1():
    assert chat_url("http://h:1") == chat_url("http://h:1/") == chat_url("http://h:1/v1") == \
        "http://h:1/v1/chat/completions"
