"""Deploy the Serve application from a Ray job; it keeps answering after the job ends.

    ray job submit --working-dir . -- python ray_jobs/serve.py --config configs/serve/cluster.yaml \
        --checkpoint s3://mentalglm-runs/runs/glm4-9b-cimhi/final
"""

import sys

from mentalglm.cli import job_main

if __name__ == "__main__":
    # --detach: a job's driver exits when the job ends; Serve applications are detached and stay up
    sys.exit(job_main("serve", sys.argv[1:] + ["--detach"]))
