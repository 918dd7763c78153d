"""Graded suites: the ``impl`` fixture, ``@pytest.mark.points`` and the score report.

Everything lives in :mod:`pcmodel.grading.plugin`; run a suite with
``pytest exercises/01_condition_buffer --impl path/to/student.py`` (or set ``PCMODEL_IMPL``).
"""

pytest_plugins = ["pcmodel.grading.plugin"]
