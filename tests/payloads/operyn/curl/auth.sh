curl -X POST https://ingest.operyn.example.com/events/logs \
-H "Content-Type: application/json" \
-H "x-api-key: your-api-key-here" \
-H "x-organization-id: org_123456789" \
-d '{ ... }'
