"""Blitz's benchmarks: each measures one path and, in the same run, the reference it is compared with.

Run them with `python -m benchmarks all` or `python -m benchmarks NAME` (see
`benchmarks.__main__` and docs/performance.md).  Nothing here is imported by
Blitz itself or by the test suite, which only runs the smoke sizes.
"""
