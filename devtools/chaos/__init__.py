"""Reliability harness (issue 7): crashes, OneFile faults, a Postgres outage, two replicas.

`python -m devtools.chaos` runs the full-size scenarios; tests/reliability runs small ones.
"""
