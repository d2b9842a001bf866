"""Point the official Kaggle client at a local test server (tests only).

On PYTHONPATH with KAGGLE_TEST_ENDPOINT=http://127.0.0.1:PORT set, every
Python process (Snakemake's script jobs included) sends the client's "PROD"
calls there.  kagglesdk's endpoint table is private: the versions are pinned.
"""

import os

if os.environ.get("KAGGLE_TEST_ENDPOINT"):
    from kagglesdk import kaggle_env

    kaggle_env._env_to_endpoint[kaggle_env.KaggleEnv.PROD] = os.environ["KAGGLE_TEST_ENDPOINT"]
