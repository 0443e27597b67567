curl -X POST http://localhost:3001/events/logs \
-H "Content-Type: application/json" \
-H "x-api-key: your-api-key" \
-H "x-organization-id: org_123456789" \
-d '{
"service": "api-gateway",
"level": "error",
"message": "Upstream timeout connecting to auth-service",
"traceId": "abc-123-def",
"metadata": {
"region": "us-east-1",
"env": "prod",
"team": "platform"
}
}'
