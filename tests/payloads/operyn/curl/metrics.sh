curl -X POST http://localhost:3001/events/metrics \
-H "Content-Type: application/json" \
-H "x-api-key: your-api-key" \
-H "x-organization-id: org_123456789" \
-d '{
"service": "api-gateway",
"name": "request_latency_p99",
"value": 2.34,
"unit": "seconds",
"labels": {
"region": "us-east-1",
"env": "prod",
"endpoint": "/api/v1/users"
}
}'
