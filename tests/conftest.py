import os

# Two test workers share the machine's cores: one BLAS thread each avoids oversubscription,
# which otherwise slows matmul-heavy tests several-fold.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("ci", max_examples=25, deadline=None)
settings.register_profile("thorough", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

try:        # numpy may have been imported (and BLAS started) before this file ran
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)
except ImportError:
    pass


@pytest.fixture
def rng():
    return np.random.default_rng(0)
