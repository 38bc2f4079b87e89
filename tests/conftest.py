import pytest

import mtl


@pytest.fixture(scope="session")
def encoder():
    return mtl.SentenceEncoder(device="cpu")
