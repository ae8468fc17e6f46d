#!/usr/bin/env python3
"""An app's tokens for the OAuth rows of the benchmark, obtained as an app obtains them.

    bench/app_tokens.py APP_URL COOKIE CLIENT_JSON COUNT REFRESH_OUT

CLIENT_JSON is what `gatehouse clients add` printed for a confidential app whose redirect URI is
http://127.0.0.1/bench-callback. As the signed-in person of COOKIE (`gatehouse_session=…`), the app is authorized
COUNT times with code + PKCE (the consent page answered "allow" the first time), each code exchanged at
/oauth/token. Every refresh token goes to REFRESH_OUT, one per line (each is used once: rotation); on stdout:
"<client_id> <client_secret> <access_token>" with the first exchange's access token (an ES256 JWT). Standard
library only.
"""

import base64
import hashlib
import json
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request

REDIRECT = "http://127.0.0.1/bench-callback"


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


OPENER = urllib.request.build_opener(NoRedirects())


def send(request: urllib.request.Request):
    """(status, headers, body) without following redirects."""
    try:
        with OPENER.open(request, timeout=30) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as answer:
        return answer.code, answer.headers, answer.read()


def code_from(location: str) -> str:
    if not location.startswith(REDIRECT):
        raise RuntimeError(f"the authorization did not come back to the app: {location}")
    params = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    if "code" not in params:
        raise RuntimeError(f"no code in {location}")
    return params["code"][0]


def authorize(app: str, cookie: str, client_id: str) -> tuple[str, str]:
    """One authorization: (code, verifier)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urllib.parse.urlencode({
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid profile:read offline_access",
        "state": secrets.token_urlsafe(12),
        "nonce": secrets.token_urlsafe(12),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    })
    status, headers, body = send(urllib.request.Request(f"{app}/oauth/authorize?{query}", headers={"Cookie": cookie}))
    if status == 200:  # the consent page, the first time
        page = body.decode()
        request_id = page.split('name="request" value="', 1)[1].split('"', 1)[0]
        form = urllib.parse.urlencode({"request": request_id, "decision": "allow"}).encode()
        status, headers, body = send(urllib.request.Request(
            f"{app}/oauth/authorize/decision", data=form,
            headers={"Cookie": cookie, "Origin": app, "Content-Type": "application/x-www-form-urlencoded"}))
    if status not in (302, 303):
        raise RuntimeError(f"authorize answered {status}: {body[:300]!r}")
    return code_from(headers["Location"]), verifier


def exchange(app: str, client_id: str, secret: str, code: str, verifier: str) -> dict:
    form = urllib.parse.urlencode({
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }).encode()
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    status, _, body = send(urllib.request.Request(
        f"{app}/oauth/token", data=form,
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"}))
    if status != 200:
        raise RuntimeError(f"the token endpoint answered {status}: {body[:300]!r}")
    return json.loads(body)


def main() -> None:
    app, cookie, client_json, count, out = sys.argv[1:6]
    client = json.loads(client_json)
    client_id, secret = client["client_id"], client["client_secret"]
    first = None
    with open(out, "w", encoding="ascii") as refresh:
        for _ in range(int(count)):
            tokens = exchange(app, client_id, secret, *authorize(app, cookie, client_id))
            if "refresh_token" not in tokens:
                raise RuntimeError("no refresh token: offline_access was not granted")
            refresh.write(tokens["refresh_token"] + "\n")
            first = first or tokens["access_token"]
    print(client_id, secret, first)


if __name__ == "__main__":
    main()
