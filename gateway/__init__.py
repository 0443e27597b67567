"""The HTTP gateway, in the style of grpc-gateway: routes derived from the `google.api.http`
annotations of the exposed services.

Dependency rule: this package imports protobuf, grpc and aiohttp only, never `server` or
`storage`; the composition root (`server.main`) hands it what it serves.
"""
