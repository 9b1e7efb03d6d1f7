"""Ray job: a Ray Tune sweep whose trials are Ray Train + DeepSpeed LoRA runs.

    ray job submit --working-dir . -- python ray_jobs/tune.py --config configs/tune/glm4-9b-lora.yaml

Resubmitting the same config resumes an interrupted sweep without rerunning finished trials.
"""

import sys

from mentalglm.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("tune"))
