"""The harness tests and benchmarks share: real servers on loopback ports (a Ray head or a local
cluster with Serve, Redis, S3), API keys and students' datasets."""
