// The real Sentry Node SDK (@sentry/node 11.12.0, from node_modules) against ingestd: proof that
// a Node application needs nothing but a DSN pointing at ingestd.
//
// Usage: node tests/node/sentry_node.mjs <dsn> <unique marker>
//
// Captures an exception (with a context large enough that the SDK gzips the envelope and sends it
// chunked, without Content-Length), a message, a span with a child span, and a cron check-in in
// progress then ok, then flushes. The SDK ignores the answers, so this script wraps its transport
// and prints one JSON line to stdout:
//   {"statuses": [<HTTP status of each envelope>], "error": <event id>, "message": <event id>}
// It exits 1 if the whole run takes too long.

import process from "node:process";

import * as Sentry from "@sentry/node";

const OVERALL_TIMEOUT_MS = 30_000;
const FLUSH_TIMEOUT_MS = 10_000;

function fail(message) {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

const [dsn, marker] = process.argv.slice(2);
if (!dsn || !marker) {
  fail("usage: node tests/node/sentry_node.mjs <dsn> <unique marker>");
}
setTimeout(() => fail(`timed out after ${OVERALL_TIMEOUT_MS} ms`), OVERALL_TIMEOUT_MS).unref();

const statuses = [];
Sentry.init({
  dsn,
  release: `node-shop@${marker}`,
  environment: "node-test",
  tracesSampleRate: 1,
  transport: (options) => {
    const transport = Sentry.makeNodeTransport(options);
    return {
      ...transport,
      send: async (envelope) => {
        const response = await transport.send(envelope);
        statuses.push(response.statusCode);
        return response;
      },
    };
  },
});
Sentry.setTag("marker", marker);

function placeOrder() {
  throw new TypeError(`order rejected ${marker}`);
}

let errorId;
try {
  placeOrder();
} catch (error) {
  // Over 32 KiB, so the transport gzips the body and streams it.
  errorId = Sentry.captureException(error, { extra: { padding: "x".repeat(40_000) } });
}
const messageId = Sentry.captureMessage(`queue slow ${marker}`, "warning");
Sentry.startSpan({ name: `GET /orders/${marker}`, op: "http.server" }, () => {
  Sentry.startSpan({ name: "SELECT * FROM orders", op: "db.query" }, () => {});
});
const slug = `node-nightly-${marker}`;
const checkInId = Sentry.captureCheckIn(
  { monitorSlug: slug, status: "in_progress" },
  { schedule: { type: "crontab", value: "0 * * * *" }, checkinMargin: 2 },
);
Sentry.captureCheckIn({ checkInId, monitorSlug: slug, status: "ok", duration: 0.5 });

await Sentry.flush(FLUSH_TIMEOUT_MS);
process.stdout.write(`${JSON.stringify({ statuses, error: errorId, message: messageId })}\n`);
process.exit(0);
