// The seed's "Node.js (server key)" example. As written but for TypeScript's parameter types,
// dropped so that Node runs it, and the last line, which calls it. The test substitutes the
// host; the key comes from SIMPLELOGS_SERVER_KEY, as in the seed.
async function sendLog(message, touchpoint) {
  await fetch('https://simplelogs.io/api/v1/enqueue', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      key: process.env.SIMPLELOGS_SERVER_KEY,
      source: 'server',
      entries: [{
        touchpoint,
        message,
        level: 'info',
        timestamp: Date.now(),
      }],
    }),
  });
}

await sendLog(process.argv[2], process.argv[3]);
