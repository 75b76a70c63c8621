"""Evaluation: clip accuracy and confusion, long-stream detection, false alarms, DET."""
