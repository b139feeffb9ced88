"""A third-party NATS client (nats-py) against a Framelog test server: prints one JSON line.

Usage: nats_py_client.py <url without credentials> <framelog password> <dashboard password>
"""
import asyncio
import json
import sys

import nats


async def main(url, framelog_pw, dashboard_pw):
    out = {}
    try:
        nc = await nats.connect(url, allow_reconnect=False, connect_timeout=3)
        await nc.close()
        out["anonymous"] = "connected"
    except Exception as e:  # nats-py raises its own Error with the server's message
        out["anonymous"] = str(e)
    nc = await nats.connect(url, user="framelog", password=framelog_pw, allow_reconnect=False)
    out["framelog"] = "connected"
    errors = []

    async def on_error(e):
        errors.append(str(e))

    reader = await nats.connect(
        url, user="dashboard", password=dashboard_pw, error_cb=on_error,
        inbox_prefix=b"_INBOX_dashboard", allow_reconnect=False,
    )
    await reader.publish("vid.acme.upload.initiated.vid_py", b"forged")
    await reader.flush()
    await asyncio.sleep(0.5)
    out["reader_errors"] = errors
    js = nc.jetstream()
    out["vid_messages"] = (await js.stream_info("VID")).state.messages
    await reader.close()
    await nc.close()
    print(json.dumps(out))


asyncio.run(main(*sys.argv[1:4]))
