import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "notebooks"))

import helpers  # noqa: E402


@pytest.fixture(scope="session")
def encoder():
    return helpers.SentenceEncoder(device="cpu")


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory):
    from demo_data import write_demo_data

    path = tmp_path_factory.mktemp("demo")
    write_demo_data(path)
    return path
