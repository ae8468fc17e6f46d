#!/usr/bin/env python3
"""Full OpenID Connect sign-ins against Gatehouse and the Dev IdP, as a browser makes them.

    bench/signin.py APP_URL IDP_URL COUNT CONCURRENCY ACCOUNTS COOKIES_OUT

ACCOUNTS is `new:N` (a fresh Dev IdP account per sign-in, `e2e-bench-N`, `e2e-bench-N+1`, …, so every session
belongs to a different person) or `same:NAME` (a returning person signing in again and again).

Each sign-in has its own cookie jar: it starts at /auth/login/dev and follows every redirect through the IdP and
back to Gatehouse's callback, stopping at the callback's redirect (the page after it is not part of signing in). It
checks it ended signed in (GET /api/v1/me is 200), appends the session cookie to COOKIES_OUT, and finally prints
"<count> <seconds>" on stdout. Standard library only.
"""

import concurrent.futures
import http.cookiejar
import sys
import threading
import time
import urllib.error
import urllib.request

COOKIE_NAME = "gatehouse_session"


class StopAfterCallback(urllib.request.HTTPRedirectHandler):
    """Follows redirects until the callback redirects back into the app."""

    def __init__(self, app: str):
        self.app = app

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if req.full_url.startswith(f"{self.app}/auth/callback/"):
            return None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def sign_in(app: str, idp: str, account: str) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), StopAfterCallback(app))
    opener.open(f"{idp}/__test/as/{account}", timeout=30).read()
    try:
        opener.open(f"{app}/auth/login/dev", timeout=30).read()
        raise RuntimeError("the sign-in did not come back to the callback")
    except urllib.error.HTTPError as answer:
        if answer.code != 303 or not answer.url.startswith(f"{app}/auth/callback/"):
            raise
    with opener.open(f"{app}/api/v1/me", timeout=30) as me:
        if me.status != 200:
            raise RuntimeError(f"not signed in after the callback: {me.status}")
    for cookie in jar:
        if cookie.name == COOKIE_NAME:
            return cookie.value
    raise RuntimeError("no session cookie after signing in")


def main() -> None:
    app, idp, count, concurrency, accounts, out = sys.argv[1:7]
    count, concurrency = int(count), int(concurrency)
    kind, _, start = accounts.partition(":")
    account = (lambda n: f"e2e-bench-{int(start) + n}") if kind == "new" else (lambda n: start)
    lock = threading.Lock()
    started = time.monotonic()
    with open(out, "a", encoding="ascii") as cookies:

        def one(n: int) -> None:
            cookie = sign_in(app, idp, account(n))
            with lock:
                cookies.write(cookie + "\n")
                cookies.flush()

        with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
            for done in pool.map(one, range(count)):
                del done
    print(count, round(time.monotonic() - started, 3))


if __name__ == "__main__":
    main()
