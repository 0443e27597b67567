"""The ingestd benchmark harness: `python -m bench` (or `make bench`).

It measures IngestService.WriteEvents (batches of 1 and of 100), StreamEvents and OTLP's trace
Export over gRPC, and the HTTP gateway's canonical and vendor ingest routes (single events and
batches; OTLP and Sentry included), against a real ingestd on SQLite and on PostgreSQL, and the
same requests against two bare baselines that store nothing: a grpc.aio handler and an aiohttp
handler. See bench/README.md for how to read the ratios.

Modules, one concept each:

- `events`: the ~600-byte canonical events, built once up front.
- `routes`: the HTTP routes driven (OTLP's and Sentry's included), their headers, bodies and how
  their answers count.
- `scenarios`: the kinds of load (gRPC calls; HTTP single events and batches per route).
- `bare`: the bare grpc.aio and aiohttp servers (run as `python -m bench.bare`).
- `children`: a server child process: start, wait until ready, stop, and its log tail.
- `postgres`: a throwaway PostgreSQL database.
- `targets`: what is benchmarked, and how each target is started.
- `tally`: what one load phase counted (calls, events, errors, latencies).
- `http1`: the minimal HTTP/1.1 keep-alive client of the HTTP load.
- `load`: the load generators (grpc.aio and HTTP clients), bounded in time and in count.
- `cpu`: CPU seconds of a process, to tell a saturated client from a saturated server.
- `report`: the results table, the ratios and the goals.
- `profile`: `python -m bench.profile`, ingestd in-process under a profiler, per HTTP request.
"""
