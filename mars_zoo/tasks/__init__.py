"""The three MarsRetrieval tasks. Each turns a benchmark and an `Embedder` into the
task's section of the result file; the metrics themselves are pure functions in
`mars_zoo.metrics`."""
