"""Speed comparisons of ganjax against peer frameworks (benchmarks, not tests)."""
