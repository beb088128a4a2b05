"""Reliability (issue 7 items 1–4): the real service, broken on purpose; see devtools/chaos."""
