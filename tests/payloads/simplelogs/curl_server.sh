curl -X POST https://simplelogs.io/api/v1/enqueue \
-H "Content-Type: application/json" \
-d '{
"key": "sk_your_server_key",
"source": "server",
"entries": [
{
"touchpoint": "api/orders/submit",
"message": "Order placed",
"level": "info",
"timestamp": '"$(date +%s000)"',
"metadata": { "orderId": "ord_123" }
}
]
}'
