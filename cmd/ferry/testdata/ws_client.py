"""A WebSocket client of ferry, in Python's websockets (Debian's
python3-websockets), for the end-to-end test TestWebSocketPython.

usage: ws_client.py BASE_URL TOKEN N
Publishes N frames to customer-event and 5 orders to create-order on one
socket, pipelined, then reads the orders back from the order-events
stream, and again from the second record's id. Prints one JSON object.
"""
import asyncio
import json
import sys

import websockets


async def main(base, token, n):
    out = {}
    auth = {"Authorization": "Bearer " + token}
    async with websockets.connect(base + "/v1/ws", extra_headers=auth) as ws:
        for i in range(n):
            await ws.send(json.dumps({"id": i, "route": "customer-event",
                                      "params": {"customer_id": "c-%d" % (i % 7)}, "body": {"n": i}}))
        for i in range(5):
            await ws.send(json.dumps({"id": "o%d" % i, "route": "create-order", "idempotency_key": "py-%d" % i,
                                      "body": {"customer_id": "c-%d" % i, "items": [{"sku": "ABC-1", "qty": 1, "price": 2.5}]}}))
        await ws.send(json.dumps({"id": "bad", "route": "create-order", "body": {"customer_id": 5}}))
        acks = {}
        while len(acks) < n + 6:
            a = json.loads(await ws.recv())
            acks[str(a["id"])] = a
        out["statuses"] = {}
        for a in acks.values():
            out["statuses"][str(a["status"])] = out["statuses"].get(str(a["status"]), 0) + 1
        out["bad"] = acks["bad"]
        out["offsets"] = len({(a.get("topic"), a.get("partition"), a.get("offset")) for a in acks.values() if a["status"] == 202})
    async with websockets.connect(base + "/v1/streams/order-events?from=earliest") as ws:
        frames = [json.loads(await ws.recv()) for _ in range(5)]
    out["stream"] = [f["value"]["customer_id"] for f in frames]
    out["types"] = sorted({f["type"] for f in frames})
    async with websockets.connect(base + "/v1/streams/order-events?last_event_id=" + frames[1]["id"]) as ws:
        resumed = [json.loads(await ws.recv()) for _ in range(3)]
    out["resumed"] = [f["value"]["customer_id"] for f in resumed]
    print(json.dumps(out))


asyncio.run(asyncio.wait_for(main(sys.argv[1], sys.argv[2], int(sys.argv[3])), 60))
