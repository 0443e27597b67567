// The real Open Sentry SDK (@zapdev-labs/sentry-clone 0.1.4, from node_modules) against ingestd:
// proof that an application using it needs nothing but a DSN pointing at ingestd.
//
// Usage: node tests/node/opensentry_sdk.mjs <dsn> <unique marker>
//   e.g. node tests/node/opensentry_sdk.mjs http://pub_…@127.0.0.1:3001/v1/ingest run-42
//
// Captures an error (captureException), a transaction with one span (tracesSampleRate 1) and an
// ai_generation (captureGeneration), each carrying the marker, then flushes. The SDK never reads
// the answers, so this script watches fetch and prints one JSON line to stdout:
//   {"statuses": [<HTTP status of each ingest request>]}
// It exits 1 if a request fails at the network level or the whole run takes too long.

import process from "node:process";

import {
  captureException,
  captureGeneration,
  flush,
  init,
  setTag,
  setUser,
  startTransaction,
} from "@zapdev-labs/sentry-clone";

const OVERALL_TIMEOUT_MS = 30_000;

function fail(message) {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

const [dsn, marker] = process.argv.slice(2);
if (!dsn || !marker) {
  fail("usage: node tests/node/opensentry_sdk.mjs <dsn> <unique marker>");
}
setTimeout(() => fail(`timed out after ${OVERALL_TIMEOUT_MS} ms`), OVERALL_TIMEOUT_MS).unref();

// The SDK swallows network errors and ignores statuses: record both here instead.
const statuses = [];
const originalFetch = globalThis.fetch;
globalThis.fetch = async (input, options) => {
  try {
    const response = await originalFetch(input, options);
    statuses.push(response.status);
    return response;
  } catch (error) {
    fail(`ingest request failed: ${error}`);
  }
};

init({ dsn, environment: "sdk-test", release: `sdk@${marker}`, tracesSampleRate: 1 });
setUser({ id: "user-42", email: "dev@example.com" });
setTag("marker", marker);

function checkout() {
  throw new TypeError(`checkout failed ${marker}`);
}
try {
  checkout();
} catch (error) {
  captureException(error);
}

const transaction = startTransaction(`GET /checkout/${marker}`);
const span = transaction.startChild("db.query", "SELECT * FROM orders");
span.finish();
transaction.finish("ok");

captureGeneration({
  provider: "openai",
  model: "gpt-4o",
  inputTokens: 1200,
  outputTokens: 350,
  totalCostUsd: 0.012,
  latencyMs: 1840,
  status: "ok",
  metadata: { marker },
});

await flush();
process.stdout.write(`${JSON.stringify({ statuses })}\n`);
process.exit(0);
