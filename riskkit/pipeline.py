"""Former home of the report pipeline; it now lives in :mod:`riskkit.report`.

Kept so that ``riskkit.pipeline.X`` keeps working for every public name (and the few private
ones older code used); new code imports from :mod:`riskkit.report`.
"""

from __future__ import annotations

from .report import *  # noqa: F403
from .report import __all__  # noqa: F401
from .report.common import FAST_TRIALS  # noqa: F401
from .report.run import _kernel_manager_class, _load_notebook  # noqa: F401
