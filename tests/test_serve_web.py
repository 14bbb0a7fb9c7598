"""`tuitune web`: the terminal app served to a browser (textual-serve), on loopback by default.
(That a public address is refused without --insecure-no-auth is in tests/test_serve.py.)"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import httpx
import pytest

from tests.helpers import wait_for

pytestmark = pytest.mark.integration  # a real tuitune web on a loopback port


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_tuitune_web_serves_the_app_page_on_loopback_and_stops_on_ctrl_c() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tuitune", "web", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def page() -> httpx.Response | None:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
            except httpx.TransportError:
                assert process.poll() is None, (
                    f"tuitune web exited: {process.stdout.read()[-2000:] if process.stdout else ''}"
                )
                return None

        response = wait_for(page, timeout=60, interval=0.2, what="tuitune web to answer")
        assert response.status_code == 200
        assert "<div>tuitune</div>" in response.text  # textual-serve's page, titled after the app
        assert f"ws://127.0.0.1:{port}/ws" in response.text  # where the browser reaches the app
        # Another site's page may not open the app's websocket, nor reach it under its own name.
        handshake = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}
        handshake["Sec-WebSocket-Key"] = "dGhlIHNhbXBsZSBub25jZQ=="
        for origin in ("http://evil.example", f"http://localhost:{port + 1}"):
            hijack = httpx.get(f"http://127.0.0.1:{port}/ws", headers={**handshake, "Origin": origin}, timeout=5)
            assert hijack.status_code == 403 and "another web site" in hijack.text
        rebound = httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": f"rebind.evil.example:{port}"}, timeout=5)
        assert rebound.status_code == 400 and "does not answer" in rebound.text
        own = httpx.get(f"http://127.0.0.1:{port}/", headers={"Origin": f"http://localhost:{port}"}, timeout=5)
        assert own.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise AssertionError("tuitune web did not stop on Ctrl+C") from None
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
    except httpx.TransportError:
        pass  # gone, as it should be
    else:
        raise AssertionError("tuitune web still answers after Ctrl+C")
