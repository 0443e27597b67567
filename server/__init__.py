"""The ingestd server: the domain (ingest, queries, admin), the shared call pipeline, the gRPC
transport and the composition root.

Where things live:
- `config`: frozen `Settings`, built from an injected environment.
- `errors`: the one error vocabulary, each error carrying its gRPC code.
- `pipeline`: auth, limits, error mapping and the canonical log line, for every transport.
- `endpoints`: the table from RPC name to domain handler and access rule.
- `ingest`, `queries`, `admin`, `normalize`: the domain; no gRPC, no HTTP, no SQL statements
  (those live in `storage`'s repositories).
- `grpc_transport`: turns the endpoint table into grpc.aio handlers.
- `main`: the composition root shared by `ingestd serve` and the tests.
"""
