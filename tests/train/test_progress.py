"""Progress lines on the driver's console, read from the run's metrics.jsonl while it grows: one per report, with
an ETA from the pace so far; reports from before (a resumed run) are not repeated; a half-written line waits."""

import io
import json
import time

from mentalglm.train.progress import follow_progress, progress_line, progress_to


def test_each_report_appended_while_following_is_one_line_with_an_eta(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps({"step": 1, "total_steps": 9, "train_loss": 9.0}) + "\n")  # an earlier attempt's
    out = io.StringIO()
    with progress_to(out), follow_progress(path, interval_s=0.05):
        for step in (2, 3):
            with path.open("a") as handle:
                handle.write(json.dumps({"step": step, "total_steps": 9, "epoch": step / 3, "train_loss": 3.0 / step,
                                         "val_loss": 2.5, "lr": 1e-3, "tokens_per_s": 812.4}) + "\n")
            time.sleep(0.3)
        with path.open("a") as handle:
            handle.write('{"step": 4, "total_')  # still being written when the run ends: never printed half
    lines = out.getvalue().splitlines()
    assert lines[0] == ("[mentalglm train] step 2/9 · epoch 0.67 · train_loss 1.5000 · val_loss 2.5000 · "
                        "lr 1.00e-03 · tokens_per_s 812")
    assert lines[1].startswith("[mentalglm train] step 3/9 · epoch 1.00 · train_loss 1.0000") and len(lines) == 2
    eta = lines[1].rsplit(" · ETA ", 1)[1]  # 6 steps left at about 0.3 s a step
    assert eta in ("0m01s", "0m02s", "0m03s"), lines[1]


def test_a_line_without_optional_metrics_names_step_and_total():
    assert progress_line({"step": 5, "total_steps": 10}, 3725) == "[mentalglm train] step 5/10 · ETA 1h02m"
