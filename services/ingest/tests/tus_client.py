"""Drives Framelog's tus endpoint with tuspy, a tus client this project did not write.

usage: tus_client.py <mode> <endpoint> <api key> <file> <chunk size>
  full: upload the whole file (sha1 Upload-Checksum on every chunk)
  cut:  upload one chunk, cut the connection in the middle of the next PATCH, then resume with
        a new uploader from the upload URL (as a client does after a crash) and finish
Prints one JSON line with what happened.
"""
import json
import socket
import sys
import time
from urllib.parse import urlparse

import requests
from tusclient import client

mode, endpoint, key, path, chunk = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
headers = {"Authorization": "Bearer " + key}
tus = client.TusClient(endpoint, headers=headers)
meta = {"filename": "clip.mp4", "filetype": "video/mp4"}


def head_offset(url):
    r = requests.head(url, headers=dict(headers, **{"Tus-Resumable": "1.0.0"}))
    r.raise_for_status()
    return int(r.headers["Upload-Offset"])


if mode == "full":
    up = tus.uploader(path, chunk_size=chunk, metadata=meta, upload_checksum=True)
    up.upload()
    print(json.dumps({"url": up.url, "offset": up.offset}))
elif mode == "cut":
    up = tus.uploader(path, chunk_size=chunk, metadata=meta)
    up.upload(stop_at=chunk)  # the first chunk, normally
    first = up.offset
    data = open(path, "rb").read()
    # A PATCH that announces the rest of the file but dies after half a chunk.
    u = urlparse(up.url)
    sent = data[first:first + chunk // 2]
    s = socket.create_connection((u.hostname, u.port))
    s.sendall((
        f"PATCH {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\n"
        f"Authorization: Bearer {key}\r\nTus-Resumable: 1.0.0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: {first}\r\n"
        f"Content-Length: {len(data) - first}\r\n\r\n").encode() + sent)
    time.sleep(0.2)
    s.close()
    # The server keeps every byte that arrived: wait until it has committed them.
    deadline = time.time() + 10
    after_cut = head_offset(up.url)
    while after_cut == first and time.time() < deadline:
        time.sleep(0.05)
        after_cut = head_offset(up.url)
    resumed = tus.uploader(path, url=up.url, chunk_size=chunk)
    start = resumed.offset
    resumed.upload()
    print(json.dumps({"url": up.url, "first": first, "sent_before_cut": len(sent),
                      "offset_after_cut": after_cut, "resumed_from": start, "offset": resumed.offset}))
else:
    sys.exit("unknown mode " + mode)
