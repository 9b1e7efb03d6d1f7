"""Ray job: score an adapter on a split (generation over Ray actors when evaluate.num_workers > 1).

    ray job submit --working-dir . -- python ray_jobs/evaluate.py --config configs/evaluate/tiny.yaml \\
        --checkpoint runs/local-tiny/final --split test
"""

import sys

from mentalglm.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("evaluate"))
