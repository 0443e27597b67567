curl -X POST http://localhost:3001/events/logs/batch \
-H "Content-Type: application/json" \
-H "x-api-key: your-api-key" \
-H "x-organization-id: org_123456789" \
-d '[
{
"service": "billing-service",
"level": "error",
"message": "Payment failed for customer 42"
},
{
"service": "billing-service",
"level": "warn",
"message": "Retry attempt 3 for payment gateway"
}
]'
