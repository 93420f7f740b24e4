"""Suite-wide test set-up.

The pseudonym key comes from the environment in tests, so no test (nor a papermill kernel it starts)
writes a key file into the home directory of whoever runs the suite. Tests of key handling set or
remove the variable themselves with monkeypatch.
"""

import os

os.environ.setdefault("RISKMODEL_PSEUDONYM_KEY", "5a" * 32)
