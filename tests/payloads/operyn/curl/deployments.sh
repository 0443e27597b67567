curl -X POST http://localhost:3001/events/deployments \
-H "Content-Type: application/json" \
-H "x-api-key: your-api-key" \
-H "x-organization-id: org_123456789" \
-d '{
"service": "payment-service",
"version": "v2.0.1",
"environment": "production",
"gitHash": "a1b2c3d4",
"metadata": {
"deployedBy": "jenkins",
"deployId": "job-123"
}
}'
