"""Ray job: build the unified C-IMHI records.

    ray job submit --working-dir . -- python ray_jobs/build_data.py --config configs/data/cimhi.yaml
"""

import sys

from mentalglm.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("data build"))
