"""A short run of benchmarks/serve_load.py against the shared service: mixed streamed and plain requests, short
and long prompts, from 8 clients for 10 s; no 5xx but 503/504, and every 200 answer equals the same request sent
alone."""

import sys

from conftest import TOKEN
from paths import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

from serve_load import bad_statuses, catalogue, replica_rss_mb, report, run_load  # noqa: E402


def test_mixed_load_gets_no_unexpected_5xx_and_answers_like_alone(served, sample_data_dir):
    from mentalglm.data.records import load_split

    main, _, _ = served
    posts = [r.post for r in load_split(sample_data_dir, "train")]
    requests = catalogue(posts)
    assert any(r["body"].get("stream") for r in requests) and any(r["route"] == "/v1/analyze" for r in requests)
    start = replica_rss_mb("mentalglm")
    result = run_load(main, TOKEN, requests, clients=8, duration_s=10)
    print(report(result, (start, replica_rss_mb("mentalglm"))))
    assert bad_statuses(result["statuses"]) == {}
    assert result["mismatches"] == []
    assert result["answers"] >= 20 and result["streamed_200"] >= 1 and result["long_200"] >= 1
    assert set(result["statuses"]) <= {200, 503, 504}
