"""Settings for the test suite: the production settings with a test secret key, nothing else changed."""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key")

from cortex.settings import *  # noqa: F403

# Password hashing is deliberately slow; tests that create users do not need that.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
