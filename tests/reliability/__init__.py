"""Reliability suite: tests that inject faults (crashes, outages, kills) and check nothing is lost."""
