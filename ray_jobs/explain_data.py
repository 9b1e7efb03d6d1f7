"""Ray job: a teacher model writes the 理由 of label-only records, verified, on Ray Data.

    ray job submit --working-dir . -- python ray_jobs/explain_data.py --config configs/data/explain-vllm.yaml

The teacher's API key is read by the job's driver from the environment variable named by teacher.api_key_env (give
it with --runtime-env-json '{"env_vars": {...}}') and handed to the Ray Data workers; it is never logged or written.
A rerun resumes: answers are cached in the folder beside out_dir.
"""

import sys

from mentalglm.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("data explain"))
