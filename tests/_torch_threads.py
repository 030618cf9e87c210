"""A fixture that runs a test's tiny torch models single-threaded (fastest on a busy shared CPU)."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Module scope, so module-scoped model fixtures are built single-threaded too."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
