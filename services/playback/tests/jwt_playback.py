"""JWT playback checked with a third-party minter: PyJWT signs every token.

Run by tests/jwt.rs with the env: PB_A, PB_B (two playback processes on one NATS), KEY_ACME,
KEY_GLOBEX (API keys), VIDEO (an acme video with a real ffmpeg HLS ladder and a poster).
Creates RS256 and ES256 signing keys through the API, plays the video with PyJWT tokens, and
checks each refusal. Prints "ok <n> checks" at the end; any failed check raises.
"""

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

import jwt

PB_A, PB_B = os.environ["PB_A"], os.environ["PB_B"]
KEY_ACME, KEY_GLOBEX = os.environ["KEY_ACME"], os.environ["KEY_GLOBEX"]
VIDEO = os.environ["VIDEO"]
checks = 0


def call(method, url, key=None, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def expect(what, got, want):
    global checks
    assert got == want, f"{what}: got {got}, want {want}"
    checks += 1


def create_key(api_key, alg):
    status, body = call("POST", f"{PB_A}/v1/signing-keys", api_key, {"algorithm": alg})
    expect(f"create {alg}", status, 201)
    k = json.loads(body)
    assert k["algorithm"] == alg and k["id"].startswith("sk_"), k
    assert "BEGIN PRIVATE KEY" in k["private_key"] and "BEGIN PUBLIC KEY" in k["public_key"], k
    return k


def mint(key, alg, aud="v", sub=VIDEO, exp_in=3600, **extra):
    claims = {"sub": sub, "aud": aud, "exp": int(time.time()) + exp_in, **extra}
    return jwt.encode(claims, key["private_key"], algorithm=alg, headers={"kid": key["id"]})


def get(base, token, path, headers=None):
    return call("GET", f"{base}/hls/{token}/{VIDEO}/{path}", headers=headers)


def uris(playlist):
    out = []
    for line in playlist.decode().splitlines():
        line = line.strip()
        if 'URI="' in line:
            out.append(line.split('URI="')[1].split('"')[0])
        elif line and not line.startswith("#"):
            out.append(line)
    return out


def plays(base, token, alg):
    """master -> rendition -> init and one segment, following the relative URIs."""
    master_url = f"{base}/hls/{token}/{VIDEO}/master.m3u8"
    status, master = call("GET", master_url)
    expect(f"{alg} master", status, 200)
    rendition_url = urllib.parse.urljoin(master_url, uris(master)[0])
    assert f"/hls/{token}/{VIDEO}/" in rendition_url, "relative URI inherits the token"
    status, rendition = call("GET", rendition_url)
    expect(f"{alg} rendition playlist", status, 200)
    segs = uris(rendition)
    assert "init.mp4" in segs, segs
    for u in ["init.mp4", [s for s in segs if s.endswith(".m4s")][0]]:
        status, body = call("GET", urllib.parse.urljoin(rendition_url, u))
        expect(f"{alg} {u}", status, 200)
        assert len(body) > 0


rs = create_key(KEY_ACME, "RS256")
es = create_key(KEY_ACME, "ES256")
other = create_key(KEY_GLOBEX, "ES256")

# Listing and showing never give the private key; another tenant's key is a 404.
status, body = call("GET", f"{PB_A}/v1/signing-keys", KEY_ACME)
expect("list", status, 200)
listed = json.loads(body)["signing_keys"]
assert {k["id"] for k in listed} == {rs["id"], es["id"]}, listed
assert all("private_key" not in k for k in listed), listed
expect("show own", call("GET", f"{PB_A}/v1/signing-keys/{rs['id']}", KEY_ACME)[0], 200)
expect("show other tenant's", call("GET", f"{PB_A}/v1/signing-keys/{rs['id']}", KEY_GLOBEX)[0], 404)
expect("delete other tenant's", call("DELETE", f"{PB_A}/v1/signing-keys/{rs['id']}", KEY_GLOBEX)[0], 404)
expect("bad algorithm", call("POST", f"{PB_A}/v1/signing-keys", KEY_ACME, {"algorithm": "HS256"})[0], 400)

for key, alg in [(rs, "RS256"), (es, "ES256")]:
    plays(PB_A, mint(key, alg), alg)
    plays(PB_B, mint(key, alg), alg + " on the second process")

# The player's view beacon carries the same JWT.
beacon = {"token": mint(es, "ES256"), "video_id": VIDEO, "session": "s1", "kind": "start"}
expect("beacon with a JWT", call("POST", f"{PB_A}/v1/views", body=beacon)[0], 202)
beacon["token"] = mint(es, "ES256", aud="t")
expect("beacon with a thumbnail JWT", call("POST", f"{PB_A}/v1/views", body=beacon)[0], 403)

# Audiences: a thumbnail token opens the poster, not a playlist.
thumb = mint(es, "ES256", aud="thumbnail")
expect("thumbnail token, poster", get(PB_A, thumb, "poster.jpg")[0], 200)
expect("thumbnail token, playlist", get(PB_A, thumb, "master.m3u8")[0], 403)
expect("video token, poster", get(PB_A, mint(es, "ES256", aud="video"), "poster.jpg")[0], 403)

# Refusals: all 403 invalid_token.
good = mint(rs, "RS256")
head, payload, sig = good.split(".")
wrong_kid = jwt.encode({"sub": VIDEO, "aud": "v", "exp": int(time.time()) + 60},
                       rs["private_key"], algorithm="RS256", headers={"kid": "sk_" + "0" * 32})
expired = mint(rs, "RS256", exp_in=-120)
flipped = bytearray(payload.encode())
flipped[3] = ord("A") if flipped[3] != ord("A") else ord("B")
tampered = ".".join([head, flipped.decode(), sig])
# The ES256 key's id on an RS256 signature (alg is not the key's).
mismatch = jwt.encode({"sub": VIDEO, "aud": "v", "exp": int(time.time()) + 60},
                      rs["private_key"], algorithm="RS256", headers={"kid": es["id"]})
unsigned = jwt.encode({"sub": VIDEO, "aud": "v", "exp": int(time.time()) + 60}, None,
                      algorithm="none", headers={"kid": rs["id"]})
other_video = mint(rs, "RS256", sub="vid_other")
other_tenant = mint(other, "ES256")
no_exp = jwt.encode({"sub": VIDEO, "aud": "v"}, rs["private_key"], algorithm="RS256",
                    headers={"kid": rs["id"]})
for what, token in [("wrong kid", wrong_kid), ("expired", expired), ("tampered", tampered),
                    ("alg mismatch", mismatch), ("alg none", unsigned), ("other video", other_video),
                    ("other tenant's key", other_tenant), ("no exp", no_exp)]:
    status, body = get(PB_A, token, "master.m3u8")
    expect(what, status, 403)
    assert json.loads(body)["error"]["code"] == "invalid_token", body

# Referrers.
ref = mint(es, "ES256", referrers=["example.com"])
expect("allowed referrer", get(PB_A, ref, "master.m3u8", {"Referer": "https://example.com/x"})[0], 200)
expect("other referrer", get(PB_A, ref, "master.m3u8", {"Referer": "https://evil.com/"})[0], 403)
expect("no referrer", get(PB_A, ref, "master.m3u8")[0], 403)
ref_open = mint(es, "ES256", referrers=["*.example.com"], allow_no_referrer=True)
expect("no referrer allowed", get(PB_A, ref_open, "master.m3u8")[0], 200)
expect("wildcard", get(PB_A, ref_open, "master.m3u8", {"Referer": "https://www.example.com/"})[0], 200)

# A deleted key stops verifying on the other process within a second.
doomed = create_key(KEY_ACME, "ES256")
token = mint(doomed, "ES256")
deadline = time.monotonic() + 5
while get(PB_B, token, "master.m3u8")[0] != 200:  # B learns of the new key through its watch
    assert time.monotonic() < deadline, "new key never reached the second process"
    time.sleep(0.02)
checks += 1
expect("delete", call("DELETE", f"{PB_A}/v1/signing-keys/{doomed['id']}", KEY_ACME)[0], 204)
deleted_at = time.monotonic()
while (status := get(PB_B, token, "master.m3u8")[0]) != 403:
    assert status == 200, status
    assert time.monotonic() - deleted_at < 1.0, "deleted key still verifies after 1 s"
    time.sleep(0.01)
checks += 1
print(f"deleted key refused on the second process after {time.monotonic() - deleted_at:.3f} s")
expect("deleted key on the first process", get(PB_A, token, "master.m3u8")[0], 403)
print(f"ok {checks} checks")
