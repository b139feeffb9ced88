"""tus resume on another replica, with tuspy (a tus client this project did not write).

usage: stateless_tus.py <endpoint A> <endpoint B> <api key> <file> <chunk size> <stop at>
Creates the upload on A and PATCHes it there until <stop at> bytes, then (as a client whose
load balancer now sends it elsewhere) HEADs the same upload on B and sends the rest to B.
Prints one JSON line with what happened.
"""
import json
import sys
from urllib.parse import urlparse

import requests
from tusclient import client

a_endpoint, b_endpoint, key, path = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
chunk, stop_at = int(sys.argv[5]), int(sys.argv[6])
headers = {"Authorization": "Bearer " + key}
meta = {"filename": "clip.mp4", "filetype": "video/mp4"}


def head_offset(url):
    r = requests.head(url, headers=dict(headers, **{"Tus-Resumable": "1.0.0"}))
    r.raise_for_status()
    return int(r.headers["Upload-Offset"])


up = client.TusClient(a_endpoint, headers=headers).uploader(path, chunk_size=chunk, metadata=meta)
up.upload(stop_at=stop_at)
on_a = up.offset
# The same upload, addressed on replica B.
b = urlparse(b_endpoint)
b_url = f"{b.scheme}://{b.netloc}{urlparse(up.url).path}"
head_on_b = head_offset(b_url)
resumed = client.TusClient(b_endpoint, headers=headers).uploader(path, url=b_url, chunk_size=chunk)
resumed_from = resumed.offset
resumed.upload()
print(json.dumps({
    "a_url": up.url, "b_url": b_url, "offset_on_a": on_a, "head_on_b": head_on_b,
    "resumed_from": resumed_from, "offset": resumed.offset, "head_on_a_after": head_offset(up.url),
}))
