"""Tests for tools/browser_check.py: the DOM parsing and expectations (no browser needed), and
end to end in headless Chromium against a local page whose JavaScript calls its API by a
relative URL (skipped only where /usr/bin/chromium is absent: `make browser` installs it)."""

import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

from project import ROOT, load

bc = load("browser_check", "tools/browser_check.py")

TOOL = ROOT / "tools" / "browser_check.py"
HAVE_CHROMIUM = os.access(bc.CHROMIUM, os.X_OK)

RENDERED = """<!DOCTYPE html>
<html><head><title>Front</title><script src="/static/app.js"></script><style>p{}</style></head>
<body><h1>Hello   <em>there</em></h1>
<div id="api_status" data-status="OK" class="box available">API <b>OK</b></div>
<img id="logo" src="/l.png"><br>
<ul id="places"><li>One<li>Two</ul>
<p id="empty" hidden></p>
<div id="api_status">second with the same id</div>
<input id="q" disabled>
<script>var hidden = "script text";</script>
</body></html>"""


def _expect(kind, spec):
    """An Expectation as the command line would make it."""
    return bc.parse_expectation(kind, spec)


# --- parsing the rendered DOM --------------------------------------------------------------


def test_parse_dom_finds_elements_by_id_with_attributes_classes_and_text():
    page = bc.parse_dom(RENDERED)
    status = page.elements["api_status"]
    assert status.tag == "div"
    assert status.attrs["data-status"] == "OK"
    assert status.classes == ["box", "available"]
    assert status.text == "API OK"
    assert page.elements["places"].text == "One Two"
    assert page.elements["empty"].attrs == {"id": "empty", "hidden": None}
    assert page.elements["q"].text == ""


def test_void_elements_do_not_swallow_the_text_after_them():
    page = bc.parse_dom(RENDERED)
    assert page.elements["logo"].text == ""
    assert "One" not in page.elements["api_status"].text


def test_first_element_with_a_duplicate_id_wins_like_getelementbyid():
    assert bc.parse_dom(RENDERED).elements["api_status"].text == "API OK"


def test_page_text_is_visible_text_whitespace_collapsed():
    text = bc.parse_dom(RENDERED).text
    assert "Hello there" in text
    assert "script text" not in text and "Front" not in text and "p{}" not in text


def test_entities_are_decoded():
    page = bc.parse_dom('<p id="x" title="a &amp; b">Tom &amp; Jerry&nbsp;!</p>')
    assert page.elements["x"].attrs["title"] == "a & b"
    assert page.elements["x"].text == "Tom & Jerry !"


def test_outer_shows_every_attribute_and_shortens_long_text():
    element = bc.parse_dom('<div id="s" class="a b" data-status="down" hidden>%s</div>' % ("x" * 500)).elements["s"]
    outer = element.outer()
    assert outer.startswith('<div id="s" class="a b" data-status="down" hidden> text "xxx')
    assert outer.endswith('..."') and len(outer) < 300


# --- expectations from the command line ----------------------------------------------------


def test_parse_expectations():
    assert _expect("present", "id=api_status") == bc.Expectation("present", "id=api_status", "api_status")
    assert _expect("class", "api_status:available").name == "available"
    attr = _expect("attr", "api_status:data-status=OK")
    assert (attr.element_id, attr.name, attr.value) == ("api_status", "data-status", "OK")
    assert _expect("attr", "api_status:data-x=").value == ""
    assert _expect("attr", "api_status:hidden").value is None
    assert _expect("attr", "x:data-url=/a=b").value == "/a=b"
    assert _expect("text", "Hello").spec == "Hello"


@pytest.mark.parametrize(
    "kind, spec, words",
    [
        ("present", "api_status", "id=ID"),
        ("present", "class=x", "id=ID"),
        ("present", "id=", "id=ID"),
        ("class", "available", "ID:CLASS"),
        ("class", ":available", "ID:CLASS"),
        ("class", "api_status:a b", "one class"),
        ("attr", "api_status", "ID:ATTR=VALUE"),
        ("attr", "api_status:=OK", "ID:ATTR=VALUE"),
        ("text", "  ", "must not be empty"),
    ],
)
def test_bad_expectations_say_the_expected_form(kind, spec, words):
    with pytest.raises(ValueError, match=words):
        bc.parse_expectation(kind, spec)


def test_check_met_expectations():
    page = bc.parse_dom(RENDERED)
    for kind, spec in [
        ("present", "id=api_status"),
        ("class", "api_status:available"),
        ("attr", "api_status:data-status=OK"),
        ("attr", "empty:hidden"),
        ("text", "Hello\n there"),
    ]:
        assert bc.check(page, _expect(kind, spec))[0], spec


def test_check_unmet_class_names_the_element_as_found_and_the_api_hint():
    page = bc.parse_dom(RENDERED.replace("box available", "box unavailable"))
    ok, found, hint = bc.check(page, _expect("class", "api_status:available"))
    assert not ok
    assert 'class="box unavailable"' in found and 'data-status="OK"' in found and 'text "API OK"' in found
    assert "check /api/ routing in Nginx" in hint


def test_check_attr_must_match_exactly():
    page = bc.parse_dom(RENDERED)
    assert not bc.check(page, _expect("attr", "api_status:data-status=ok"))[0]
    assert not bc.check(page, _expect("attr", "api_status:data-other"))[0]


def test_check_missing_element_lists_the_ids_found():
    ok, found, hint = bc.check(bc.parse_dom(RENDERED), _expect("class", "nope:available"))
    assert not ok
    assert "no element with id 'nope'" in found and "#api_status" in found
    assert "right page" in hint


def test_check_missing_text_shows_the_page_text():
    ok, found, _ = bc.check(bc.parse_dom(RENDERED), _expect("text", "Goodbye"))
    assert not ok and "Hello there" in found


def test_failure_message_names_expected_found_url_and_hint():
    expectation = _expect("class", "api_status:available")
    message = bc.failure_message(expectation, "<div>", "a hint", "http://h/")
    assert message.splitlines() == [
        'FAIL: expected #api_status has class "available"',
        "  found:    <div>",
        "  url:      http://h/",
        "  hint:     a hint",
    ]


def test_load_failure_and_stderr_noise():
    err = (
        "/usr/bin/chromium: 9: [: 25276510208: unexpected operator\n"
        "[1:2:1121/1.0:ERROR:dbus/bus.cc:405] Failed to connect to the bus\n"
        "[1:1:1121/1.2:ERROR:components/headless/command_handler/headless_command_handler.cc:403] "
        "Page load failed: net::ERR_CONNECTION_REFUSED\n"
    )
    assert bc.load_failure(err) == "net::ERR_CONNECTION_REFUSED"
    assert bc.load_failure("nothing here") is None
    kept = [line for line in err.splitlines() if not bc.STDERR_NOISE.search(line)]
    assert len(kept) == 1 and "Page load failed" in kept[0]


def test_png_size(tmp_path):
    png = tmp_path / "a.png"
    png.write_bytes(bc.PNG_MAGIC + b"\x00\x00\x00\rIHDR" + (1280).to_bytes(4, "big") + (900).to_bytes(4, "big"))
    assert bc.png_size(png) == (1280, 900)
    (tmp_path / "b.png").write_text("not a png")
    assert bc.png_size(tmp_path / "b.png") is None
    assert bc.png_size(tmp_path / "missing.png") is None


def test_no_chromium_exits_2_with_the_install_hint(tmp_path, capsys):
    assert bc.main(["http://127.0.0.1:9/", "--expect", "id=x", "--chromium", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "no Chromium at" in err and "make browser" in err and "apt-get install chromium" in err


def test_bad_expectation_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        bc.main(["http://127.0.0.1:9/", "--expect-class", "available"])
    assert exc.value.code == 2
    assert "ID:CLASS" in capsys.readouterr().err


# --- end to end in headless Chromium -------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>hbnb</title><script src="/static/app.js" defer></script></head>
<body data-api="%s"><h1>Hello from berth</h1><div id="api_status">checking</div></body></html>"""

# What a front-end does: ask the API by a relative URL (through the same Nginx), show the answer.
APP_JS = """
fetch(document.body.dataset.api)
  .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
  .then(function (d) {
    var e = document.getElementById("api_status");
    e.dataset.status = d.status;
    e.classList.add(d.status === "OK" ? "available" : "unavailable");
    e.textContent = "API " + d.status;
  })
  .catch(function (err) {
    var e = document.getElementById("api_status");
    e.classList.add("unavailable");
    e.textContent = "API unreachable: " + err.message;
  });
"""


class _FrontHandler(http.server.BaseHTTPRequestHandler):
    """/ the page, /broken/ the page asking a wrong API path, /static/app.js, /api/v1/status/ JSON
    (answered after a short delay, as a real API over the network may be)."""

    routes = {
        "/": ("text/html", PAGE % "/api/v1/status/"),
        "/broken/": ("text/html", PAGE % "/api/v1/stauts/"),
        "/static/app.js": ("application/javascript", APP_JS),
        "/api/v1/status/": ("application/json", json.dumps({"status": "OK"})),
    }

    def do_GET(self):
        """Answer a known path, 404 otherwise."""
        route = self.routes.get(self.path)
        if self.path.startswith("/api/"):
            time.sleep(0.3)
        body = (route[1] if route else "not found").encode()
        self.send_response(200 if route else 404)
        self.send_header("Content-Type", route[0] if route else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        """Quiet."""


@pytest.fixture(scope="module")
def front():
    """A local front-end and API on 127.0.0.1, a free port; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FrontHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


def _run(*args, timeout=120):
    """Run the tool as a command (as root here: Chromium needs --no-sandbox, which it passes)."""
    return subprocess.run(
        [sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _live_chromium_of_the_tool():
    """Live processes still running with one of the tool's throwaway profiles."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as handle:
                cmdline = handle.read().decode(errors="replace")
        except OSError:
            continue
        if bc.PROFILE_PREFIX in cmdline:
            found.append("%s %s" % (pid, cmdline.replace("\0", " ")[:120]))
    return found


needs_chromium = pytest.mark.skipif(not HAVE_CHROMIUM, reason="no /usr/bin/chromium (make browser installs it)")


@needs_chromium
def test_rendered_page_meets_expectations_with_a_screenshot(front, tmp_path):
    shot = tmp_path / "reports" / "front.png"
    result = _run(
        front + "/",
        "--expect",
        "id=api_status",
        "--expect-class",
        "api_status:available",
        "--expect-attr",
        "api_status:data-status=OK",
        "--expect-text",
        "Hello from berth",
        "--screenshot",
        str(shot),
        "--timeout",
        "60",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert 'ok: #api_status has class "available"' in lines
    assert 'ok: #api_status has data-status="OK"' in lines
    assert "ok: #api_status is on the page" in lines and 'ok: the page shows the text "Hello from berth"' in lines
    assert lines[-1].startswith("browser_check: all expectations met at %s/" % front)
    assert "dbus" not in result.stdout + result.stderr
    data = shot.read_bytes()
    assert data.startswith(bc.PNG_MAGIC) and len(data) > 2000
    assert bc.png_size(shot) == bc.WINDOW_SIZE
    assert _live_chromium_of_the_tool() == []


@needs_chromium
def test_a_class_the_page_never_gets_fails_with_the_explanation(front):
    result = _run(front + "/", "--expect-class", "api_status:unavailable", "--attempts", "2", "--timeout", "60")
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert 'FAIL: expected #api_status has class "unavailable"' in out
    assert 'found:    <div id="api_status" data-status="OK" class="available"> text "API OK"' in out
    assert "url:      %s/" % front in out
    assert "check /api/ routing in Nginx" in out
    assert "after 2 attempts" in out
    assert _live_chromium_of_the_tool() == []


@needs_chromium
def test_page_whose_api_call_fails_is_reported_with_what_it_shows(front):
    result = _run(front + "/broken/", "--expect-class", "api_status:available", "--attempts", "1")
    assert result.returncode == 1, result.stdout
    assert 'class="unavailable"> text "API unreachable: HTTP 404"' in result.stdout


@needs_chromium
def test_page_that_does_not_load_is_a_failure_not_a_crash():
    with socket.socket() as sock:  # a port nothing listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        url = "http://127.0.0.1:%d/" % sock.getsockname()[1]
        result = _run(url, "--expect", "id=api_status", "--attempts", "1")
    assert result.returncode == 1
    assert "FAIL: the page did not load: net::ERR_CONNECTION_REFUSED" in result.stdout
    assert "is Nginx up" in result.stdout


@needs_chromium
def test_hanging_page_times_out_and_leaves_no_chromium(tmp_path):
    with socket.socket() as sock:  # listens but never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        url = "http://127.0.0.1:%d/" % sock.getsockname()[1]
        start = time.monotonic()
        result = _run(url, "--expect", "id=api_status", "--timeout", "3", "--attempts", "1")
        elapsed = time.monotonic() - start
    assert result.returncode == 1
    assert "chromium did not finish within 3 s" in result.stdout
    assert elapsed < 20
    assert _live_chromium_of_the_tool() == []


def _test_ca(tmp_path, name):
    """A CA and a server certificate for ``name`` signed by it (PEM files): the private CA a site of
    the sandbox gets its certificate from (its ACME test server)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "berth test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {k: tmp_path / ("%s.pem" % k) for k in ("ca", "cert", "key")}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return paths


@needs_chromium
@pytest.mark.skipif(not shutil.which("certutil"), reason="no certutil (make browser installs libnss3-tools)")
def test_an_https_site_from_a_private_ca_loads_by_its_name_with_the_ca_trusted(tmp_path):
    import ssl

    name = "front.berth.test"
    paths = _test_ca(tmp_path, name)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FrontHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(paths["cert"]), str(paths["key"]))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = "https://%s:%d/" % (name, server.server_address[1])
    try:
        trusted = _run(url, "--ca-cert", str(paths["ca"]), "--resolve", "%s=127.0.0.1" % name,
                       "--expect-attr", "api_status:data-status=OK", "--timeout", "60")
        untrusted = _run(url, "--resolve", "%s=127.0.0.1" % name, "--expect-attr", "api_status:data-status=OK",
                         "--attempts", "1", "--timeout", "60")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert 'ok: #api_status has data-status="OK"' in trusted.stdout
    # Without the CA the certificate is not trusted: the page does not load.
    assert untrusted.returncode == 1, untrusted.stdout
    assert _live_chromium_of_the_tool() == []


def test_resolve_must_be_name_equals_address(capsys):
    with pytest.raises(SystemExit) as exc:
        bc.main(["https://www.example.test/", "--expect", "id=x", "--resolve", "www.example.test"])
    assert exc.value.code == 2
    assert "is not NAME=ADDRESS" in capsys.readouterr().err
