"""Publishes one envelope to the exchange towns.inbound as the connecting user, the way an
upstream system does from its own code (CONTRACT.md, "Over RabbitMQ"): routing key = the
envelope's type, persistent, message_id = the envelope's, user_id = the AMQP user of the
connection, mandatory, and waits for the broker's confirm.

    TOWNS_AMQP_URL=amqp://USER:PASSWORD@HOST:5672/VHOST python3 examples/publish_one.py FILE.json

Needs only pika (pip install pika) and the write permission on the exchange towns.inbound.
"""

import json
import os
import sys
from urllib.parse import unquote, urlsplit

import pika

url = os.environ["TOWNS_AMQP_URL"]
with open(sys.argv[1], "rb") as file:
    body = file.read()
envelope = json.loads(body)
user = unquote(urlsplit(url).username or "guest")

connection = pika.BlockingConnection(pika.URLParameters(url))
try:
    channel = connection.channel()
    channel.confirm_delivery()  # basic_publish raises if the broker nacks or returns it
    channel.basic_publish(
        "towns.inbound", envelope["type"], body,
        pika.BasicProperties(delivery_mode=2, message_id=envelope["message_id"], user_id=user,
                             content_type="application/json"),
        mandatory=True,
    )
finally:
    connection.close()
print(f"published 1: confirmed 1 ({envelope['message_id']})")
