// The shop page's script (browser_page.html): @sentry/browser, initialized with a DSN of ingestd
// on another origin, captures a thrown TypeError and a message, flushes, captures a second message
// once every answer is in, flushes again, then posts what it saw to /report on the page's own
// server. The SDK ignores its answers, so the transport is wrapped, not replaced, to record each
// envelope's URL, event id, item types, and the HTTP status and rate-limit headers the SDK read:
// a page can read them at all only when ingestd's CORS headers allow its origin. An envelope the
// SDK drops, backing off after a rate limit, is recorded without a status.

import * as Sentry from "@sentry/browser";

const FLUSH_TIMEOUT_MS = 10_000;
const { dsn, marker } = JSON.parse(document.getElementById("config").textContent);
const report = { sdk: Sentry.SDK_VERSION, sends: [] };
const sending = [];

function placeOrder(cart) {
  return cart.items.length;
}

function checkout() {
  return placeOrder(undefined);
}

async function flush() {
  const flushed = await Sentry.flush(FLUSH_TIMEOUT_MS);
  // flush() settles with the transport's buffer, which can be a few promise hops before the
  // wrapper above has recorded the last answer.
  await Promise.race([
    Promise.allSettled(sending),
    new Promise((resolve) => setTimeout(resolve, FLUSH_TIMEOUT_MS)),
  ]);
  return flushed;
}

try {
  Sentry.init({
    dsn,
    release: `web-shop@${marker}`,
    environment: "browser-test",
    transport: (options) => {
      const transport = Sentry.makeFetchTransport(options);
      return {
        ...transport,
        send: (envelope) => {
          const [header, items] = envelope;
          const sent = {
            url: options.url,
            eventId: header.event_id,
            items: items.map(([item]) => item.type),
          };
          report.sends.push(sent);
          const response = transport.send(envelope).then(
            (answer) => {
              sent.status = answer.statusCode;
              sent.headers = answer.headers;
              return answer;
            },
            (error) => {
              sent.error = String(error);
              throw error;
            },
          );
          sending.push(response);
          return response;
        },
      };
    },
  });
  Sentry.setTag("marker", marker);
  try {
    checkout();
  } catch (error) {
    report.error = Sentry.captureException(error);
  }
  report.message = Sentry.captureMessage(`cart slow ${marker}`, "warning");
  report.flushed = await flush();
  // Sent after every answer is in, so the SDK has read any rate limit they set.
  report.again = Sentry.captureMessage(`cart still slow ${marker}`, "info");
  report.flushedAgain = await flush();
} catch (error) {
  report.failure = String(error?.stack ?? error);
}
document.getElementById("status").textContent = JSON.stringify(report, null, 2);
await fetch("/report", { method: "POST", body: JSON.stringify(report) });
