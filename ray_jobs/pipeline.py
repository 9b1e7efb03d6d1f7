"""Ray job: the main job (build data, create the model, summarise).

    ray job submit --working-dir . -- python ray_jobs/pipeline.py --config configs/pipeline/local.yaml
"""

import sys

from mentalglm.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("pipeline"))
