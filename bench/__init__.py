"""The ingestd benchmark harness: `python -m bench` (or `make bench`).

It measures IngestService.WriteEvents (batches of 1 and of 100) and StreamEvents against a real
ingestd on SQLite and on PostgreSQL, and the same calls against two bare baselines that store
nothing: a grpc.aio handler and an aiohttp handler. See bench/README.md for how to read the ratios.

Modules, one concept each:

- `events`: the ~600-byte payloads, built once up front.
- `bare`: the bare grpc.aio and aiohttp servers (run as `python -m bench.bare`).
- `children`: a server child process: start, wait until ready, stop, and its log tail.
- `postgres`: a throwaway PostgreSQL database.
- `targets`: what is benchmarked, and how each target is started.
- `tally`: what one load phase counted (calls, events, errors, latencies).
- `load`: the load generators (grpc.aio and aiohttp clients), bounded in time and in count.
- `cpu`: CPU seconds of a process, to tell a saturated client from a saturated server.
- `report`: the results table, the ratios and the goals.
"""
