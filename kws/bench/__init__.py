"""Benchmarks: each suite measures ours against a baseline in the same run (ratios, because
the machine is shared and noisy) and writes JSON + a Markdown table."""
