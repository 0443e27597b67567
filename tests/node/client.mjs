// A gRPC client for ingestd in Node, built only from the .proto files: proof that a language other
// than Python can talk to the server with the published protos.
//
// Usage: node tests/node/client.mjs <host:port> <api key> <unique message text>
//
// Writes one log event to project "default" with IngestService.WriteEvents, lists it back with
// EventService.ListEvents filtered by the text, and prints one JSON line to stdout:
//   {"write": <WriteEventsResponse>, "list": <ListEventsResponse>}
// Field names are the proto names (keepCase: true), 64-bit integers are strings, enums are their
// names. On a gRPC error it prints the code and details to stderr and exits 1.

import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const CALL_DEADLINE_MS = 10_000;
const OVERALL_TIMEOUT_MS = 30_000;

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");
const protoRoot = path.join(repo, "proto");

function fail(message) {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

const [target, apiKey, text] = process.argv.slice(2);
if (!target || !apiKey || !text) {
  fail("usage: node tests/node/client.mjs <host:port> <api key> <unique message text>");
}

// A last resort: never hang a test run, whatever happens to the calls. unref() lets the process
// exit normally as soon as the work is done.
setTimeout(() => fail(`timed out after ${OVERALL_TIMEOUT_MS} ms`), OVERALL_TIMEOUT_MS).unref();

const packageDefinition = protoLoader.loadSync(
  ["ingestd/v1/ingest_service.proto", "ingestd/v1/event_service.proto"],
  {
    includeDirs: [protoRoot],
    keepCase: true,
    longs: String,
    enums: String,
    bytes: String,
    defaults: true,
    oneofs: true,
  },
);
const ingestd = grpc.loadPackageDefinition(packageDefinition).ingestd.v1;

const credentials = grpc.credentials.createInsecure();
const ingestClient = new ingestd.IngestService(target, credentials);
const eventClient = new ingestd.EventService(target, credentials);

function metadata() {
  const md = new grpc.Metadata();
  md.add("authorization", `Bearer ${apiKey}`);
  return md;
}

function call(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](
      request,
      metadata(),
      { deadline: new Date(Date.now() + CALL_DEADLINE_MS) },
      (error, response) => (error ? reject(Object.assign(error, { method })) : resolve(response)),
    );
  });
}

let exitCode = 0;
try {
  const write = await call(ingestClient, "WriteEvents", {
    project: "default",
    events: [
      {
        message: text,
        service: "node-client",
        tags: { lang: "node" },
        log: { level_text: "info" },
      },
    ],
  });
  const list = await call(eventClient, "ListEvents", { project: "default", text });
  process.stdout.write(`${JSON.stringify({ write, list })}\n`);
} catch (error) {
  exitCode = 1;
  if (error && typeof error.code === "number") {
    const codeName = grpc.status[error.code] ?? "UNKNOWN";
    process.stderr.write(
      `${JSON.stringify({ method: error.method, code: error.code, code_name: codeName, details: error.details })}\n`,
    );
  } else {
    process.stderr.write(`${error && error.stack ? error.stack : error}\n`);
  }
} finally {
  ingestClient.close();
  eventClient.close();
}
process.exitCode = exitCode;
