// The seed's "Browser (client key)" example. As written but for TypeScript's parameter type,
// dropped so that a browser runs it. The test substitutes the host; the page defines CLIENT_KEY.
function sendClientLog(message) {
  const payload = JSON.stringify({
    key: CLIENT_KEY,
    source: 'client',
    entries: [{
      message,
      level: 'info',
      timestamp: Date.now(),
    }],
  });
  // sendBeacon is preferred for browser — survives page unload
  if (navigator.sendBeacon) {
    navigator.sendBeacon('https://simplelogs.io/api/v1/enqueue', payload);
  } else {
    fetch('https://simplelogs.io/api/v1/enqueue', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: payload,
      keepalive: true,
    });
  }
}
