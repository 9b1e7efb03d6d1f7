"""Ray job: LoRA fine-tuning with Ray Train + DeepSpeed (one or several stages).

    ray job submit --working-dir . -- python ray_jobs/train.py --config configs/train/glm4-9b-lora.yaml

Rerunning with the same run.name and run.storage_path continues from the latest checkpoint.
"""

import sys

from mentalglm.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("train"))
