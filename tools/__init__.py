"""Developer tools: code generation. Nothing here runs inside the server."""
