"""Start-up hook of Python processes spawned by graded code: apply the grading sandbox's policy.

Put first on ``PYTHONPATH`` by :func:`pcmodel.grading.sandbox.enter`; does nothing without
``PCMODEL_SANDBOX`` in the environment.
"""

from pcmodel.grading.sandbox import install_from_environment

install_from_environment()
