"""Image API audiences checked with a third-party minter: PyJWT signs every token.

Run by tests/image.rs with the env: PB (a playback server), KEY_ACME, KEY_GLOBEX (API keys),
VIDEO (an acme video with a ready ladder). A JWT with `aud` `t` opens thumbnails only, `g`
animations only, `v` (playlists and segments) neither; another tenant's key is refused.
Prints "ok <n> checks" at the end; any failed check raises.
"""

import json
import os
import time
import urllib.error
import urllib.request

import jwt

PB, VIDEO = os.environ["PB"], os.environ["VIDEO"]
checks = 0


def call(method, url, key=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req) as res:
            return res.status, res.headers.get("Content-Type"), res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def expect(what, got, want):
    global checks
    assert got == want, f"{what}: got {got}, want {want}"
    checks += 1


def key_of(api_key):
    status, _, body = call("POST", f"{PB}/v1/signing-keys", api_key, {"algorithm": "ES256"})
    expect("create key", status, 201)
    return json.loads(body)


def mint(key, aud):
    claims = {"sub": VIDEO, "aud": aud, "exp": int(time.time()) + 600}
    return jwt.encode(claims, key["private_key"], algorithm="ES256", headers={"kid": key["id"]})


THUMB = "thumbnail.jpg?time=1&width=160"
ANIM = "animated.gif?start=0&end=1&fps=5&width=160"


def image(token, file):
    status, ctype, body = call("GET", f"{PB}/image/{token}/{VIDEO}/{file}")
    if status != 200:
        assert json.loads(body)["error"]["code"] == "invalid_token", body
    return status, ctype


acme = key_of(os.environ["KEY_ACME"])
globex = key_of(os.environ["KEY_GLOBEX"])
# The key watch may take a moment to bring a new key into memory.
deadline = time.time() + 10
while image(mint(acme, "t"), THUMB)[0] != 200 and time.time() < deadline:
    time.sleep(0.2)

expect("aud t: thumbnail", image(mint(acme, "t"), THUMB), (200, "image/jpeg"))
expect("aud thumbnail: thumbnail", image(mint(acme, "thumbnail"), THUMB), (200, "image/jpeg"))
expect("aud g: animation", image(mint(acme, "g"), ANIM), (200, "image/gif"))
expect("aud [t, g]: both", (image(mint(acme, ["t", "g"]), THUMB)[0], image(mint(acme, ["t", "g"]), ANIM)[0]), (200, 200))
expect("aud g: no thumbnail", image(mint(acme, "g"), THUMB)[0], 403)
expect("aud t: no animation", image(mint(acme, "t"), ANIM)[0], 403)
expect("aud v: no thumbnail", image(mint(acme, "v"), THUMB)[0], 403)
expect("aud v: no animation", image(mint(acme, "v"), ANIM)[0], 403)
expect("another tenant's key", image(mint(globex, "t"), THUMB)[0], 403)
print(f"ok {checks} checks")
