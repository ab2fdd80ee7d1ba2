"""The `flows` fixture of the training command tests: the first 120 rows of a shared Argus log with CTU
labels (skipped, saying why, where the shared data is missing)."""
import os

import pytest

from traincli import ARGUS, DATA


@pytest.fixture
def flows(tmp_path):
    if not os.path.exists(ARGUS):
        pytest.skip(f"shared data not found at {DATA}")
    p = tmp_path / "small.binetflow"
    with open(ARGUS) as f:
        p.write_text("".join(f.readlines()[:120]))
    return str(p)
