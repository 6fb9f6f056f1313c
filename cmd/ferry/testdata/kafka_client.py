"""Kafka clients of ferry's broker in Python's kafka-python (Debian's
python3-kafka, which reads no snappy without python-snappy), for the
end-to-end test TestPythonKafkaClients.

usage: kafka_client.py BOOTSTRAP N
Reads orders.commands from the start, then answers N requests of
quotes.requests by ferry's reply contract (Spring Kafka's headers), with
status 201 and {"price": 42, "symbol": ...}. Prints one JSON object.
"""
import json
import struct
import sys

from kafka import KafkaConsumer, KafkaProducer


def main(bootstrap, n):
    out = {"orders": [], "answered": []}
    orders = KafkaConsumer("orders.commands", bootstrap_servers=bootstrap,
                           auto_offset_reset="earliest", consumer_timeout_ms=5000)
    for m in orders:
        out["orders"].append({"key": m.key.decode(), "ce_type": dict(m.headers)["ce_type"].decode(),
                              "customer_id": json.loads(m.value)["customer_id"]})
    orders.close()

    requests = KafkaConsumer("quotes.requests", bootstrap_servers=bootstrap, group_id="py-quotes",
                             auto_offset_reset="earliest", consumer_timeout_ms=30000)
    replies = KafkaProducer(bootstrap_servers=bootstrap)
    for m in requests:
        h = dict(m.headers)
        partition = None
        if "kafka_replyPartition" in h:
            partition = struct.unpack(">i", h["kafka_replyPartition"])[0]
        body = json.dumps({"price": 42, "symbol": json.loads(m.value)["symbol"]}).encode()
        replies.send(h["kafka_replyTopic"].decode(), value=body, partition=partition,
                     headers=[("kafka_correlationId", h["kafka_correlationId"]), ("ferry-status", b"201"),
                              ("content-type", b"application/json")]).get(timeout=10)
        out["answered"].append(h["kafka_correlationId"].decode())
        if len(out["answered"]) == n:
            break
    requests.commit()
    requests.close()
    replies.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
