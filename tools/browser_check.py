#!/usr/bin/env python3
"""Check a deployed page in a real browser: load URL in headless Chromium, let the page's
own JavaScript run (its fetch() calls to the API included), then assert on the RENDERED DOM.

    tools/browser_check.py URL [--expect id=ID] [--expect-class ID:CLASS]
                               [--expect-attr ID:ATTR=VALUE | ID:ATTR] [--expect-text TEXT]
                               [--screenshot PNG] [--timeout SECONDS] [--attempts N]
                               [--ca-cert PEM] [--resolve NAME=ADDRESS]

    tools/browser_check.py http://127.0.0.1:8080/ --expect 'id=api_status' \\
        --expect-attr 'api_status:data-status=OK' --expect-class 'api_status:available' \\
        --expect-text 'Hello' --screenshot reports/hbnb-front.png --timeout 30

Expectations (each may be given several times; an ID cannot contain ':'):
  --expect id=ID              an element with that id is on the page
  --expect-class ID:CLASS     that element's class list has CLASS
  --expect-attr ID:ATTR=VAL   that element's attribute ATTR is exactly VAL (ID:ATTR: is set)
  --expect-text TEXT          TEXT is in the page's visible text (whitespace collapsed)

Chromium (Debian's `chromium`, /usr/bin/chromium; `make browser` installs it) runs as
`--headless --dump-dom` with a virtual time budget, so pending network requests finish
before the DOM is printed; the screenshot is taken in the same run. Since network timing
varies, a run whose expectations fail is repeated (--attempts, within --timeout in all)
before the check fails. Chromium always runs with --no-sandbox (root has no sandbox) and a
throwaway profile; every process it started is killed and reaped before this tool returns.
Its stderr (dbus noise and the like) is shown only when the check fails.

For a site over HTTPS from a private CA (the sandbox's ACME test server): --ca-cert PEM trusts
that CA in a throwaway NSS database (Chromium's trust store on Linux; `certutil` from
libnss3-tools), and --resolve NAME=ADDRESS sends the site's name to that address (Chromium's
host resolver rules), so the page loads by its own name with its certificate verified.

Prints one line per met expectation and the elapsed seconds. Exit status: 0 every
expectation met; 1 one failed, or the page did not load (the message names what was
expected, what was found, the URL and a hint); 2 bad arguments or no Chromium.
"""

import argparse
import ctypes
import dataclasses
import html
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
INSTALL_HINT = "install it with `make browser` (tools/install-browser.sh) or `apt-get install chromium`"
WINDOW_SIZE = (1280, 900)
PROFILE_PREFIX = "berth-browser-check-"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Elements whose text is not shown on the page.
HIDDEN_TEXT = frozenset({"script", "style", "noscript", "template", "head", "title"})
# Elements that never have an end tag (the serialized DOM has none for them).
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"})
PR_SET_CHILD_SUBREAPER = 36
# Chromium's stderr lines that say nothing about the page (no session bus in a container,
# the Debian launcher's shell test); left out even when the check fails.
STDERR_NOISE = re.compile(r"ERROR:dbus/|/usr/bin/chromium: \d+: \[:|^\s*$")

HINT_MISSING = (
    "the rendered page has no element with this id: is this the right page? "
    "Check the URL and the Nginx location that serves the front-end (static files)."
)
HINT_NOT_SET = (
    "the element is there but the page's JavaScript did not set it: the page's JavaScript did not "
    "reach the API (check /api/ routing in Nginx: the page fetches the API by a relative URL) "
    "or the API answered something else (curl the API through Nginx)."
)
HINT_TEXT = "the text is not on the rendered page: check which page Nginx serves at this URL."
HINT_NO_LOAD = "is Nginx up on this host, and are the URL's host and port the published ones (curl -sI URL)?"
HINT_TIMEOUT = "the page kept Chromium busy: raise --timeout, or lower --budget (virtual time for the page's scripts)."
HINT_EXIT = "Chromium itself failed: see its stderr below (reinstall: apt-get install --reinstall chromium)."


@dataclasses.dataclass(frozen=True)
class Expectation:
    """One assertion on the rendered page: kind is 'present', 'class', 'attr' or 'text'."""

    kind: str
    spec: str
    element_id: str = ""
    name: str = ""
    value: str | None = None

    def describe(self) -> str:
        """What is expected, in words (used for both the ok and the FAIL line)."""
        target = "#" + self.element_id
        if self.kind == "present":
            return "%s is on the page" % target
        if self.kind == "class":
            return '%s has class "%s"' % (target, self.name)
        if self.kind == "attr" and self.value is None:
            return "%s has attribute %s" % (target, self.name)
        if self.kind == "attr":
            return '%s has %s="%s"' % (target, self.name, self.value)
        return 'the page shows the text "%s"' % self.spec


@dataclasses.dataclass
class Element:
    """An element of the rendered DOM that has an id: its tag, attributes and text."""

    tag: str
    attrs: dict
    text_parts: list = dataclasses.field(default_factory=list)

    @property
    def text(self) -> str:
        """The element's text content, whitespace collapsed."""
        return normalize(" ".join(self.text_parts))

    @property
    def classes(self) -> list:
        """The element's class list."""
        return (self.attrs.get("class") or "").split()

    def outer(self, limit: int = 200) -> str:
        """The start tag with every attribute, and the (shortened) text: for messages."""
        attrs = "".join(
            " %s" % k if v is None else ' %s="%s"' % (k, html.escape(v, quote=True)) for k, v in self.attrs.items()
        )
        text = self.text
        if len(text) > limit:
            text = text[: limit - 3] + "..."
        return '<%s%s> text "%s"' % (self.tag, attrs, text)


@dataclasses.dataclass
class Page:
    """The parsed rendered DOM: elements by id (the first one wins, as getElementById) and visible text."""

    elements: dict
    text: str


class _DomParser(HTMLParser):
    """Collects id'd elements with their attributes and text, and the page's visible text."""

    def __init__(self):
        """An empty parser: no open elements, no elements, no text."""
        super().__init__(convert_charrefs=True)
        self.stack = []  # [tag, Element or None]
        self.elements = {}
        self.visible = []

    def handle_starttag(self, tag, attrs):
        """Open an element; remember it when it has an id not seen before."""
        attr_map = {}
        for key, value in attrs:
            attr_map.setdefault(key, value)
        element = None
        element_id = attr_map.get("id")
        if element_id and element_id not in self.elements:
            element = Element(tag, attr_map)
            self.elements[element_id] = element
        if tag not in VOID:
            self.stack.append((tag, element))

    def handle_startendtag(self, tag, attrs):
        """A self-closed element (<x/>): open it, and close it unless it is void."""
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        """Close the innermost open element of this tag (and whatever it left open)."""
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        """Text goes to every open id'd element, and to the page text unless hidden."""
        for _, element in self.stack:
            if element is not None:
                element.text_parts.append(data)
        if not any(tag in HIDDEN_TEXT for tag, _ in self.stack):
            self.visible.append(data)


def normalize(text: str) -> str:
    """Collapse runs of whitespace to one space and strip the ends."""
    return " ".join(text.split())


def parse_dom(dom: str) -> Page:
    """Parse a serialized DOM (chromium --dump-dom) into a Page."""
    parser = _DomParser()
    parser.feed(dom)
    parser.close()
    return Page(parser.elements, normalize(" ".join(parser.visible)))


def _split_id(spec: str, option: str, form: str) -> tuple:
    """Split 'ID:REST' at the first ':'; ValueError naming the option and its form when it does not fit."""
    element_id, sep, rest = spec.partition(":")
    if not sep or not element_id.strip() or not rest.strip():
        raise ValueError("%s %r: expected %s" % (option, spec, form))
    return element_id.strip(), rest


def parse_expectation(kind: str, spec: str) -> Expectation:
    """Turn one command-line expectation (--expect, --expect-class, --expect-attr, --expect-text)
    into an Expectation; ValueError with the expected form when SPEC does not fit."""
    if kind == "present":
        key, sep, element_id = spec.partition("=")
        if key.strip() != "id" or not sep or not element_id.strip():
            raise ValueError("--expect %r: expected id=ID (an element id)" % spec)
        return Expectation("present", spec, element_id.strip())
    if kind == "class":
        element_id, name = _split_id(spec, "--expect-class", "ID:CLASS")
        if len(name.split()) != 1:
            raise ValueError("--expect-class %r: expected one class name after the ':'" % spec)
        return Expectation("class", spec, element_id, name.strip())
    if kind == "attr":
        element_id, rest = _split_id(spec, "--expect-attr", "ID:ATTR=VALUE or ID:ATTR")
        name, sep, value = rest.partition("=")
        if not name.strip() or len(name.split()) != 1:
            raise ValueError("--expect-attr %r: expected ID:ATTR=VALUE or ID:ATTR" % spec)
        return Expectation("attr", spec, element_id, name.strip().lower(), value if sep else None)
    if kind == "text":
        if not normalize(spec):
            raise ValueError("--expect-text: the text must not be empty")
        return Expectation("text", spec)
    raise ValueError("unknown expectation kind %r" % kind)


def check(page: Page, expectation: Expectation) -> tuple:
    """Check one expectation on the page: (True, '') or (False, what was found, the hint)."""
    if expectation.kind == "text":
        if normalize(expectation.spec) in page.text:
            return True, "", ""
        shown = page.text if len(page.text) <= 300 else page.text[:297] + "..."
        return False, 'page text "%s"' % shown, HINT_TEXT
    element = page.elements.get(expectation.element_id)
    if element is None:
        ids = ", ".join("#" + i for i in list(page.elements)[:15]) or "none"
        return False, "no element with id %r (ids on the page: %s)" % (expectation.element_id, ids), HINT_MISSING
    if expectation.kind == "present":
        ok = True
    elif expectation.kind == "class":
        ok = expectation.name in element.classes
    elif expectation.value is None:
        ok = expectation.name in element.attrs
    else:
        ok = element.attrs.get(expectation.name) == expectation.value
    return (True, "", "") if ok else (False, element.outer(), HINT_NOT_SET)


def failure_message(expectation: Expectation, found: str, hint: str, url: str) -> str:
    """The explanation printed for one unmet expectation."""
    return "FAIL: expected %s\n  found:    %s\n  url:      %s\n  hint:     %s" % (
        expectation.describe(),
        found,
        url,
        hint,
    )


def load_failure(stderr: str) -> str | None:
    """Chromium's reason when the page itself did not load (net::ERR_...), from its stderr."""
    match = re.search(r"Page load failed: (\S+)", stderr)
    return match.group(1) if match else None


def png_size(path: Path) -> tuple | None:
    """(width, height) when PATH is a PNG file, else None."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(24)
    except OSError:
        return None
    if len(head) < 24 or not head.startswith(PNG_MAGIC) or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def become_subreaper() -> None:
    """Make this process the reaper of Chromium's orphaned helpers (Linux), so cleanup() finds them."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _children() -> list:
    """The pids whose parent is this process (from /proc)."""
    me = str(os.getpid())
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == me:
            pids.append(int(entry))
    return pids


def cleanup(proc: subprocess.Popen, before: set) -> None:
    """Kill Chromium's process group and every child of this process that was not one BEFORE it
    started (Chromium's helpers, some in sessions of their own, are re-parented here), and reap them."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    for _ in range(50):
        pids = [pid for pid in _children() if pid not in before]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def trust_store(home: str, ca_cert: Path) -> None:
    """Chromium's NSS database under ``home`` (~/.pki/nssdb) trusting ``ca_cert`` for web sites."""
    nssdb = os.path.join(home, ".pki", "nssdb")
    os.makedirs(nssdb)
    for argv in (["certutil", "-N", "-d", "sql:" + nssdb, "--empty-password"],
                 ["certutil", "-A", "-d", "sql:" + nssdb, "-t", "C,,", "-n", "berth-ca", "-i", str(ca_cert)]):
        subprocess.run(argv, check=True, capture_output=True, timeout=30)


def run_chromium(chromium: str, url: str, budget_ms: int, timeout: float, screenshot: Path | None,
                 ca_cert: Path | None = None, resolve: tuple = ()) -> tuple:
    """One headless Chromium run: (dom, stderr, error) where error is (why there is no DOM, hint)
    on a timeout or a failed exit, else None. Never leaves a Chromium process behind."""
    with tempfile.TemporaryDirectory(prefix=PROFILE_PREFIX) as profile:
        env = dict(os.environ)
        if ca_cert is not None:
            env["HOME"] = os.path.join(profile, "home")
            trust_store(env["HOME"], ca_cert)
        cmd = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--user-data-dir=%s" % profile,
            "--virtual-time-budget=%d" % budget_ms,
            "--window-size=%d,%d" % WINDOW_SIZE,
        ]
        if screenshot is not None:
            cmd.append("--screenshot=%s" % screenshot)
        if resolve:
            cmd.append("--host-resolver-rules=%s" % ", ".join("MAP %s %s" % pair for pair in resolve))
        cmd += ["--dump-dom", url]
        before = set(_children())
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            env=env,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
            error = None if proc.returncode == 0 else ("chromium exited with status %d" % proc.returncode, HINT_EXIT)
        except subprocess.TimeoutExpired:
            cleanup(proc, before)
            out, err = proc.communicate()
            error = ("chromium did not finish within %.0f s" % timeout, HINT_TIMEOUT)
        finally:
            cleanup(proc, before)
    return out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), error


def show_stderr(stderr: str, lines: int = 20) -> None:
    """Print the tail of Chromium's stderr, its noise left out (only done when the check fails)."""
    kept = [line for line in stderr.splitlines() if not STDERR_NOISE.search(line)]
    noise = len([line for line in stderr.splitlines() if line.strip()]) - len(kept)
    tail = kept[-lines:]
    print(
        "chromium stderr (last %d lines; %d dbus/launcher noise lines left out)%s"
        % (len(tail), noise, ":" if tail else ".")
    )
    for line in tail:
        print("  " + line)


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Load URL in headless Chromium and assert on the page after its JavaScript ran.",
        epilog="Exit status: 0 all expectations met, 1 a check failed, 2 bad arguments or no Chromium.",
    )
    parser.add_argument("url", metavar="URL")
    parser.add_argument("--expect", action="append", default=[], metavar="id=ID", help="an element with this id")
    parser.add_argument(
        "--expect-class", action="append", default=[], metavar="ID:CLASS", help="the element has this class"
    )
    parser.add_argument(
        "--expect-attr",
        action="append",
        default=[],
        metavar="ID:ATTR=VALUE",
        help="the element's attribute has exactly this value (ID:ATTR: the attribute is set)",
    )
    parser.add_argument("--expect-text", action="append", default=[], metavar="TEXT", help="text on the page")
    parser.add_argument("--screenshot", type=Path, metavar="PNG", help="save a PNG of the rendered page")
    parser.add_argument(
        "--timeout", type=float, default=30.0, metavar="SECONDS", help="for the whole check, every attempt (30)"
    )
    parser.add_argument(
        "--attempts", type=int, default=3, metavar="N", help="runs before an unmet expectation fails (3)"
    )
    parser.add_argument(
        "--budget",
        type=int,
        default=10000,
        metavar="MS",
        help="Chromium's virtual time budget for the page's scripts and requests (10000)",
    )
    parser.add_argument("--chromium", default=CHROMIUM, metavar="PATH", help="the browser (%s)" % CHROMIUM)
    parser.add_argument("--ca-cert", type=Path, metavar="PEM", help="trust this CA's certificates (HTTPS sites)")
    parser.add_argument(
        "--resolve", action="append", default=[], metavar="NAME=ADDRESS", help="send NAME to ADDRESS (repeatable)"
    )
    return parser


def main(argv=None) -> int:
    """Run the check; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        expectations = (
            [parse_expectation("present", s) for s in args.expect]
            + [parse_expectation("class", s) for s in args.expect_class]
            + [parse_expectation("attr", s) for s in args.expect_attr]
            + [parse_expectation("text", s) for s in args.expect_text]
        )
    except ValueError as exc:
        parser.error(str(exc))
    if args.attempts < 1 or args.timeout <= 0 or args.budget < 0:
        parser.error("--attempts must be at least 1, --timeout above 0, --budget not negative")
    resolve = []
    for item in args.resolve:
        name, _, address = item.partition("=")
        if not name or not address or " " in item or "," in item:
            parser.error("--resolve %r is not NAME=ADDRESS" % item)
        resolve.append((name, address))
    if args.ca_cert is not None and not args.ca_cert.is_file():
        parser.error("--ca-cert %s is not a file" % args.ca_cert)
    if not (os.path.isfile(args.chromium) and os.access(args.chromium, os.X_OK)):
        print("browser_check: no Chromium at %s: %s" % (args.chromium, INSTALL_HINT), file=sys.stderr)
        return 2
    if args.screenshot is not None:
        args.screenshot = args.screenshot.resolve()
        args.screenshot.parent.mkdir(parents=True, exist_ok=True)

    become_subreaper()
    start = time.monotonic()
    deadline = start + args.timeout
    results, stderr, error, attempt = [], "", None, 0
    while attempt < args.attempts:
        attempt += 1
        if args.screenshot is not None and args.screenshot.exists():
            args.screenshot.unlink()
        dom, stderr, error = run_chromium(
            args.chromium, args.url, args.budget, max(deadline - time.monotonic(), 1.0), args.screenshot,
            args.ca_cert, tuple(resolve),
        )
        reason = load_failure(stderr)
        if error is None and reason is not None:
            error = ("the page did not load: %s" % reason, HINT_NO_LOAD)
        if error is None:
            page = parse_dom(dom)
            results = [(e, *check(page, e)) for e in expectations]
            if all(ok for _, ok, _, _ in results):
                break
        # Network timing varies: try again while attempts and time are left.
        if attempt < args.attempts and deadline - time.monotonic() > 2.0:
            time.sleep(1.0)
            continue
        break
    elapsed = time.monotonic() - start
    tries = "%d attempt%s" % (attempt, "" if attempt == 1 else "s")

    if error is not None:
        print("FAIL: %s\n  url:      %s\n  hint:     %s" % (error[0], args.url, error[1]))
        show_stderr(stderr)
        print("browser_check: %s after %s (%.1f s)" % (args.url, tries, elapsed))
        return 1
    failed = 0
    for expectation, ok, found, hint in results:
        if ok:
            print("ok: %s" % expectation.describe())
        else:
            failed += 1
            print(failure_message(expectation, found, hint, args.url))
    if args.screenshot is not None:
        size = png_size(args.screenshot)
        if size is None:
            failed += 1
            print("FAIL: no PNG screenshot was written to %s" % args.screenshot)
        else:
            print("ok: screenshot %s (%dx%d PNG, %d bytes)" % (args.screenshot, *size, args.screenshot.stat().st_size))
    if failed:
        show_stderr(stderr)
        print(
            "browser_check: %d of %d expectations not met at %s after %s (%.1f s)"
            % (failed, len(results) + (args.screenshot is not None), args.url, tries, elapsed)
        )
        return 1
    print("browser_check: all expectations met at %s, %s, %.1f s" % (args.url, tries, elapsed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
