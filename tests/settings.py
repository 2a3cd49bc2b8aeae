"""Settings for the test suite: the production settings with a test secret key, nothing else changed."""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key")

from cortex.settings import *  # noqa: E402, F403
