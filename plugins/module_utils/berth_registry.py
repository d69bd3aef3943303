# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""The berth port registry core: every meaning of the registry, implemented once.

Pure Python, stdlib only: it runs in controller plugins, inside modules on the
hosts (AnsiballZ ships it), in ``tools/diff_envs.py`` and in the Datadog agent
check. Nothing here talks to a host or imports Ansible.

The registry's concepts, each defined here and nowhere else:

* :func:`effective` -- the merge of ``berth_ports_overrides`` into ``berth_ports``
  (every entry normalised: ``enabled`` and ``groups`` filled in);
  :func:`effective_or_raise` is the same for callers that stop at the first problem;
* :func:`applies` / :func:`for_host` -- "this entry applies to a host in these groups";
* :func:`client_groups` -- the groups whose hosts connect to an entry from other hosts;
* :func:`is_loopback`, :func:`is_wildcard`, :func:`connect_host` -- what an
  address means and which address a local client uses to reach a listener;
* :func:`host_port`, :func:`url` -- ``address:port`` (IPv6 in brackets) and URLs;
* :func:`registry_file` / ``REGISTRY_HINT`` -- the file to edit, named in messages.

Validation (used by the ``berth.stack.berth_ports_validate`` action, one call for every
play host, and by the unit tests); each broken rule is one :class:`Problem`, all
of them are collected:

* every entry is a mapping with ``port``, ``proto``, ``bind``, ``service``, ``user`` and no other
  keys than ``groups``, ``enabled`` and ``clients`` (a misspelt key is refused with the key it
  resembles: ``group`` would otherwise leave the entry on every host);
* ``service`` is a systemd unit name without ``.service`` (no ``/``, no spaces); ``user`` an
  account name (lower-case letters, digits, ``_``, ``-``);
* ``port`` is an integer 1-65535 (not a bool, not a string such as ``"50O1"``);
* ``proto`` is ``tcp`` or ``udp``; ``bind`` is an IPv4/IPv6 address;
* a port below 1024 is only for ``user: root``;
* ``groups`` is a list of existing inventory groups, ``enabled`` a bool;
* ``clients`` (optional) is a non-empty list of existing inventory groups: the hosts that
  connect to the listener from other hosts (the firewall role admits only their addresses);
* two entries that apply to the same host, with the same port and proto, must
  not bind overlapping addresses. ``0.0.0.0`` overlaps every IPv4 address,
  ``::`` overlaps every address (dual-stack), 127.0.0.1 and 127.0.0.2 do not.
  Disabled entries (``enabled: false``) are *reserved*: they take part in the
  conflict check, so enabling one later can never collide.

From the inventory's files (:func:`inventory_var_files`, read by the actions on the controller):

* a ``port:`` written with a leading 0 or with colons (``010000``, ``134:20``) is refused: the
  YAML 1.1 loader reads it as another number (octal 4096, base-60 8060) and the value alone
  cannot show it (:func:`yaml11_ports`);
* :func:`replaced_overrides` warns when a host's ``berth_ports_overrides`` (host_vars, a group of
  higher precedence, -e) lacks entries one of its groups' group_vars set: Ansible replaces the
  variable whole, so those changes do not apply to the host.

Warnings (never fail): an enabled entry of a service other than Nginx
(``PUBLIC_SERVICES``) that binds a non-loopback address on a host is exposed to
the network; the inventory may mean it, so it is reported, not refused. An entry
with ``clients`` is still reported (the core cannot know whether the firewall role
is on for the host), but the warning says that it is reachable from the network
unless the firewall role admits only those clients.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
from collections.abc import Mapping

REQUIRED_KEYS = ("port", "proto", "bind", "service", "user")
# Every key an entry (or an override of it) may have.
ENTRY_KEYS = REQUIRED_KEYS + ("groups", "enabled", "clients")
# A systemd unit name (without .service): what berth writes as /etc/systemd/system/<service>.service
# and what the port guard compares a listener's unit with.
UNIT_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9:_.@-]{0,200}$")
# An account name as useradd takes it on Debian (the entry's user runs the listener).
ACCOUNT_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
PROTOS = ("tcp", "udp")
# The file named in messages when the inventory directory is not known.
REGISTRY_HINT = "inventories/<env>/group_vars/all/ports.yml"
DEFAULT_REGISTRY_FILE = REGISTRY_HINT
# Services meant to face the network; any other non-loopback listener is warned about.
PUBLIC_SERVICES = ("nginx",)
# Bind values that mean "every address" (the agent's and gunicorn's spellings included).
WILDCARD_TEXT = ("0.0.0.0", "::", "*", "")


class RegistryError(ValueError):
    """A registry that cannot be used; the text names the variable and the fix."""


class Problem(object):
    """One broken rule on one effective registry (hosts are added by the caller)."""

    __slots__ = ("kind", "names", "where", "text", "fix")

    def __init__(self, kind, names, where, text, fix):
        self.kind = kind
        self.names = tuple(names)
        self.where = where
        self.text = text
        self.fix = fix

    def key(self):
        return (self.kind, self.names, self.where, self.text, self.fix)

    def __repr__(self):
        return "Problem(%r, %r, %r)" % (self.kind, self.names, self.text)


def did_you_mean(word, known):
    """`` (did you mean X?)`` when ``word`` resembles one of ``known`` (a misspelt key), else ""."""
    close = difflib.get_close_matches(str(word), sorted(str(k) for k in known), n=1, cutoff=0.6)
    return " (did you mean %s?)" % close[0] if close else ""


def unit_name_error(name):
    """Why ``name`` cannot be a systemd service name berth writes and guards, or None."""
    if not isinstance(name, str) or not UNIT_RE.match(name) or ".." in name:
        return "%r is not a systemd unit name (letters, digits, ':', '_', '.', '-', '@'; no '/', spaces or '..')" % (
            name,)
    if name.endswith(".service"):
        return "%r ends with .service (the registry names the unit without it)" % (name,)
    return None


def account_name_error(name):
    """Why ``name`` is not an account name (user or group) berth may create or run as, or None."""
    if not isinstance(name, str) or not ACCOUNT_RE.match(name):
        return "%r is not an account name (1-32 lower-case letters, digits, '_' or '-', starting with a letter or '_')" % (
            name,)
    return None


def parse_address(value):
    """Return an ip_address for ``value`` or None when it is not an address.

    IPv4-mapped IPv6 addresses (``::ffff:127.0.0.1``) are returned as IPv4.
    """
    if isinstance(value, bool) or not isinstance(value, (str, ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return None
    try:
        addr = ipaddress.ip_address(str(value).strip("[]"))
    except ValueError:
        return None
    if addr.version == 6 and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def binds_overlap(a, b):
    """True when listeners bound to addresses ``a`` and ``b`` (same port) collide.

    ``::`` is treated as dual-stack (the Linux default, bindv6only=0), so it
    overlaps every IPv4 and IPv6 address; ``0.0.0.0`` overlaps every IPv4 address.
    """
    a = parse_address(a) if not isinstance(a, (ipaddress.IPv4Address, ipaddress.IPv6Address)) else a
    b = parse_address(b) if not isinstance(b, (ipaddress.IPv4Address, ipaddress.IPv6Address)) else b
    if a is None or b is None:
        return False
    if a.version == 6 and a.is_unspecified or b.version == 6 and b.is_unspecified:
        return True
    if a.version != b.version:
        return False
    return a == b or a.is_unspecified or b.is_unspecified


def is_wildcard(address):
    """True for a bind address that means every address (``0.0.0.0``, ``::``, ``*``, empty)."""
    if address is None:
        return True
    if str(address).strip("[]") in WILDCARD_TEXT:
        return True
    addr = parse_address(address)
    return addr is not None and addr.is_unspecified


def is_loopback(address):
    """True when ``address`` is reachable only from the host itself.

    Every address of 127.0.0.0/8, ``::1``, their IPv4-mapped forms and the name
    ``localhost``; wildcards and anything that is not an address are not loopback.
    """
    if str(address).strip("[]").lower() == "localhost":
        return True
    addr = parse_address(address)
    return addr is not None and addr.is_loopback


def connect_host(bind):
    """The address a client on the same host uses to reach a listener bound to ``bind``.

    A wildcard bind is reached on loopback of its family (``0.0.0.0`` -> 127.0.0.1,
    ``::`` -> ::1); ``localhost`` -> 127.0.0.1; any other address is itself (no brackets).
    """
    text = "" if bind is None else str(bind).strip("[]")
    if text in ("0.0.0.0", "*", "", "localhost"):
        return "127.0.0.1"
    addr = parse_address(text)
    if addr is not None and addr.is_unspecified:
        return "::1" if addr.version == 6 else "127.0.0.1"
    return str(addr) if addr is not None else text


def format_host(address):
    """``address`` as written before ``:port`` or in a URL: IPv6 in brackets."""
    text = str(address).strip("[]")
    return "[%s]" % text if ":" in text else text


def host_port(address, port):
    """``address:port`` with IPv6 addresses in brackets (``[::1]:8000``)."""
    return "%s:%d" % (format_host(address), int(port))


def url(entry, path="/", scheme="http", local=True):
    """URL of a registry entry's listener: ``http://127.0.0.1:8000/health``.

    ``local`` (default): the address a client on the same host uses (:func:`connect_host`);
    otherwise the entry's bind address as it is.
    """
    address = connect_host(entry.get("bind")) if local else entry.get("bind")
    path = path or ""
    if path and not path.startswith("/"):
        path = "/" + path
    return "%s://%s%s" % (scheme, host_port(address, entry.get("port")), path)


def registry_file(inventory_dir):
    """The registry file to name in messages, from ``inventories/`` on when possible.

    Symlinks are resolved, so a Molecule inventory that links the sandbox's
    group_vars names the sandbox file; without an inventory directory: ``REGISTRY_HINT``.
    """
    if not inventory_dir:
        return REGISTRY_HINT
    return display_path(os.path.join(str(inventory_dir), "group_vars", "all", "ports.yml"))


def display_path(path):
    """An inventory file as messages name it: from ``inventories/`` on when its real path has
    one (symlinks resolved), else the path as given."""
    parts = os.path.realpath(str(path)).split(os.sep)
    if "inventories" in parts:
        return "/".join(parts[len(parts) - 1 - parts[::-1].index("inventories"):])
    return str(path)


# --- The inventory's files ------------------------------------------------------------------------

VAR_FILE_EXTS = ("", ".yml", ".yaml", ".json")
VAULT_HEADER = "$ANSIBLE_VAULT"
# `port: 010000` (YAML 1.1 octal) and `port: 134:20` (YAML 1.1 base 60), block or flow style.
YAML11_PORT_RE = re.compile(r"(?:^|[\s{,])port\s*:\s*([-+]?(?:0[0-7_]+|[0-9][0-9_]*(?::[0-5]?[0-9])+))\s*(?=$|[,}\]#])")


def inventory_var_files(dirs):
    """Every variables file of the inventories (and playbook directories) ``dirs``, as Ansible's
    host_group_vars plugin finds them: ``[(path, scope, name)]`` with scope ``group`` or ``host``
    and the group or host it applies to (``group_vars/<name>[.yml]`` or ``group_vars/<name>/...``)."""
    out = []
    seen = set()
    for base in dirs or ():
        for scope in ("group", "host"):
            top = os.path.join(str(base), scope + "_vars")
            if not os.path.isdir(top):
                continue
            for entry in sorted(os.listdir(top)):
                path = os.path.join(top, entry)
                stem, ext = os.path.splitext(entry)
                if entry.startswith("."):
                    continue
                if os.path.isdir(path):
                    for root, subdirs, files in os.walk(path, followlinks=True):
                        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
                        found = [os.path.join(root, f) for f in sorted(files)
                                 if not f.startswith(".") and os.path.splitext(f)[1] in VAR_FILE_EXTS]
                        out.extend((f, scope, entry) for f in found if os.path.realpath(f) not in seen)
                        seen.update(os.path.realpath(f) for f in found)
                elif ext in VAR_FILE_EXTS and os.path.realpath(path) not in seen:
                    seen.add(os.path.realpath(path))
                    out.append((path, scope, stem if ext else entry))
    return out


def inventory_files(sources, playbook_dir=None, host=None, host_groups=()):
    """The inventory's files as the registry checks read them: every variables file of the
    inventory sources' directories and of the playbook directory, and the YAML inventory files
    themselves (scope ``inventory``). Dicts with ``path``, ``file`` (:func:`display_path`),
    ``scope``, ``name`` and ``text`` (None when unreadable).

    With ``host``: only the variables files that give that host variables (group ``all``, its
    groups', its own), and not the inventory files, so that a plan reads a handful of small files
    whatever the size of the inventory."""
    dirs, sources_files = [], []
    for source in sources or ():
        source = os.path.abspath(str(source))
        if os.path.isdir(source):
            dirs.append(source)
            sources_files.extend(os.path.join(source, f) for f in sorted(os.listdir(source))
                                 if os.path.splitext(f)[1] in (".yml", ".yaml") and not f.startswith("."))
        elif os.path.isfile(source):
            dirs.append(os.path.dirname(source))
            if os.path.splitext(source)[1] in (".yml", ".yaml"):
                sources_files.append(source)
    if playbook_dir and os.path.abspath(str(playbook_dir)) not in dirs:
        dirs.append(os.path.abspath(str(playbook_dir)))
    found = [(path, "inventory", "") for path in sources_files] + inventory_var_files(dirs)
    if host is not None:
        groups = frozenset(host_groups or ())
        found = [f for f in found if f[1] != "inventory" and file_applies(f[1], f[2], host, groups)]
    out = []
    for path, scope, name in found:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        except OSError:
            text = None
        out.append({"path": path, "file": display_path(path), "scope": scope, "name": name, "text": text})
    return out


def file_applies(scope, name, host, host_groups):
    """True when a variables file of ``scope``/``name`` gives variables to ``host``."""
    if scope == "host":
        return name == host
    if scope == "group":
        return name == "all" or name in host_groups
    return True  # an inventory source: its inline variables may reach any host


def yaml11_ports(text):
    """``[(line, written, read)]``: every ``port:`` of ``text`` that the YAML 1.1 loader reads as a
    different number than the digits show (a leading 0: octal; colons: base 60). A vault-encrypted
    file is skipped (its text is not YAML)."""
    if str(text).lstrip().startswith(VAULT_HEADER):
        return []
    found = []
    for number, line in enumerate(str(text).splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", line)  # a comment, not a value
        for match in YAML11_PORT_RE.finditer(line):
            written = match.group(1)
            digits = written.lstrip("+-").replace("_", "")
            if ":" in digits:
                read = 0
                for part in digits.split(":"):
                    read = read * 60 + int(part)
            else:
                read = int(digits, 8)
            found.append((number, written, -read if written.startswith("-") else read))
    return found


def yaml11_problems(file_name, text):
    """Problems (kind ``yaml``) for :func:`yaml11_ports` of one file, named by ``file_name``."""
    problems = []
    for number, written, read in yaml11_ports(text):
        if ":" in written:
            why, fix = "base 60", "write the port you mean as a plain number, without colons"
        else:
            why, fix = "a leading 0 is octal", "write port: %s (no leading 0)" % (
                written.lstrip("+-").replace("_", "").lstrip("0") or "0")
        problems.append(Problem(
            "yaml", (), "%s:%d" % (file_name, number),
            "%s:%d: port: %s is read as %d by YAML 1.1 (%s), not as the port it looks like"
            % (file_name, number, written, read, why), "%s in %s line %d" % (fix, file_name, number)))
    return problems


def replaced_overrides(overrides, group_overrides):
    """Warnings (kind ``replaced``): entries that one of the host's groups sets in its
    ``berth_ports_overrides`` and that the host's own (effective) ``berth_ports_overrides`` lacks.

    ``group_overrides``: group -> (file it is set in, entry names). Ansible replaces a variable
    whole: the most specific definition (host_vars, a child group, -e) wins and the group's
    changes do not apply to the host.
    """
    have = {str(k) for k in overrides} if isinstance(overrides, Mapping) else set()
    out = []
    for group, (file_name, names) in sorted(group_overrides.items()):
        lost = sorted(set(str(n) for n in names) - have)
        if lost:
            out.append(Problem(
                "replaced", tuple(lost), "",
                "berth_ports_overrides of group %s (%s) sets %s, but this host's berth_ports_overrides, defined "
                "again in host_vars, a group of higher precedence or -e, replaces it whole and lacks %s"
                % (group, file_name, ", ".join(lost), "it" if len(lost) == 1 else "them"),
                "restate %s in the berth_ports_overrides that applies to these hosts, or compose both with "
                "combine (docs/errors.md, \"Override precedence\"); write %s: {} there to keep berth_ports' own "
                "values on purpose" % (", ".join(lost), lost[0])))
    return out


def port_error(port):
    """Return why ``port`` is not a valid port number, or None."""
    if isinstance(port, bool):
        return "port %r is a boolean, not a port number" % (port,)
    if isinstance(port, int):
        if 1 <= port <= 65535:
            return None
        return "port %d is outside 1-65535" % port
    if port is None or port == "":
        return "port is empty"
    if isinstance(port, str):
        return "port %r is a string, not an integer (write a bare number such as 8000)" % (port,)
    return "port %r (%s) is not an integer 1-65535" % (port, type(port).__name__)


def effective(registry, overrides):
    """Merge ``overrides`` into ``registry``: the one definition of the effective registry.

    Returns ``(entries, overridden_names, problems)``; never raises. An override
    changes only the keys it names; ``enabled`` defaults to true, ``groups`` to [].
    """
    problems = []
    if not isinstance(registry, Mapping):
        problems.append(Problem(
            "registry", ("berth_ports",), "",
            "berth_ports is %s, not a mapping of entry name to {port, proto, bind, service, user}"
            % ("undefined" if registry is None else type(registry).__name__),
            "define berth_ports in {registry_file}"))
        registry = {}
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, Mapping):
        problems.append(Problem(
            "overrides", ("berth_ports_overrides",), "",
            "berth_ports_overrides is %s, not a mapping of entry name to the keys to change"
            % type(overrides).__name__,
            "fix berth_ports_overrides in the group_vars/host_vars that set it"))
        overrides = {}
    entries = {}
    for name, entry in registry.items():
        # Registry entries are flat: copy key by key (lists copied) instead of deep-copying
        # Ansible's lazy containers, whose deepcopy drags the whole templating context along
        # (measured: ~2-3 s of controller CPU per call on ansible-core 2.19, 0.06 s with this).
        entries[str(name)] = (
            {str(k): (list(v) if isinstance(v, (list, tuple)) else v) for k, v in entry.items()}
            if isinstance(entry, Mapping) else entry)
    overridden = set()
    for name, change in overrides.items():
        name = str(name)
        if name not in entries:
            problems.append(Problem(
                "overrides", (name,), "",
                "berth_ports_overrides names '%s', which is not in berth_ports%s" % (name, did_you_mean(name, entries)),
                "fix the entry name in berth_ports_overrides (entries: %s)" % ", ".join(sorted(entries))))
            continue
        if not isinstance(change, Mapping):
            problems.append(Problem(
                "overrides", (name,), "",
                "berth_ports_overrides.%s is %s, not a mapping such as {port: 8001}" % (name, type(change).__name__),
                "fix berth_ports_overrides.%s in the group_vars/host_vars that set it" % name))
            continue
        overridden.add(name)
        unknown = sorted(str(k) for k in change if str(k) not in ENTRY_KEYS)
        for key in unknown:
            # Refused, and left out of the merge: "enable: false" must not leave the entry enabled
            # unnoticed, "group: [db]" must not open it on every host.
            problems.append(Problem(
                "overrides", (name,), "",
                "berth_ports_overrides.%s has unknown key '%s'%s" % (name, key, did_you_mean(key, ENTRY_KEYS)),
                "rename it in berth_ports_overrides.%s in the group_vars/host_vars that set it (keys: %s)"
                % (name, ", ".join(ENTRY_KEYS))))
        if isinstance(entries[name], Mapping):
            entries[name] = dict(entries[name], **{str(k): v for k, v in change.items() if str(k) not in unknown})
    for entry in entries.values():
        if isinstance(entry, dict):
            entry.setdefault("enabled", True)
            entry.setdefault("groups", [])
    return entries, frozenset(overridden), problems


def applies(entry, host_groups):
    """True when ``entry`` applies to a host in ``host_groups`` (empty groups: every host)."""
    groups = entry.get("groups") or []
    if not isinstance(groups, (list, tuple)):
        return True
    return not groups or any(g in host_groups for g in groups)


def client_groups(entry):
    """The inventory groups of ``entry``'s ``clients`` (hosts that connect from other hosts); [] when none."""
    clients = entry.get("clients") if isinstance(entry, Mapping) else None
    if not isinstance(clients, (list, tuple)):
        return []
    return [g for g in clients if isinstance(g, str) and g]


def effective_or_raise(registry, overrides, registry_file_name=REGISTRY_HINT):
    """:func:`effective` for callers that cannot go on: the entries, or :class:`RegistryError`."""
    entries, _, problems = effective(registry, overrides)
    if problems:
        first = problems[0]
        raise RegistryError("%s; %s" % (first.text, first.fix.replace("{registry_file}", registry_file_name)))
    return entries


def for_host(entries, host_groups, enabled_only=False):
    """The entries of an effective registry that apply to a host in ``host_groups``."""
    host_groups = frozenset(host_groups or ())
    return {name: entry for name, entry in entries.items()
            if isinstance(entry, Mapping) and applies(entry, host_groups)
            and (not enabled_only or entry.get("enabled", True) is not False)}


def _fix_for(name, overridden):
    if name in overridden:
        return "berth_ports_overrides.%s (set for these hosts in group_vars, host_vars or -e)" % name
    return "berth_ports.%s in {registry_file}" % name


def check_entries(entries, overridden=frozenset(), host_groups=None, known_groups=None):
    """Check one effective registry; return a list of Problems.

    ``host_groups``: the host's groups (None: every entry applies).
    ``known_groups``: every inventory group (None: group names are not checked).
    """
    problems = []
    valid = []
    for name in sorted(entries):
        entry = entries[name]
        fix = _fix_for(name, overridden)
        if not isinstance(entry, Mapping):
            problems.append(Problem("entry", (name,), "", "entry %s is %s, not a mapping of %s"
                                    % (name, type(entry).__name__, ", ".join(REQUIRED_KEYS)), "rewrite " + fix))
            continue
        missing = [k for k in REQUIRED_KEYS if k not in entry or entry[k] is None and k != "port"]
        if missing:
            problems.append(Problem("missing", (name,), "", "entry %s is missing %s" % (name, ", ".join(missing)),
                                    "add %s to %s" % (", ".join(missing), fix)))
        ok = not missing
        port = entry.get("port")
        proto = entry.get("proto")
        where = "%s/%s" % (port, proto)
        if "port" in entry:
            err = port_error(port)
            if err:
                ok = False
                problems.append(Problem("port", (name,), where, "%s: %s" % (name, err),
                                        "set an integer 1-65535 in " + fix))
        if "proto" in entry and proto not in PROTOS:
            ok = False
            problems.append(Problem("proto", (name,), where, "%s: unknown proto %r (tcp or udp)" % (name, proto),
                                    "set proto tcp or udp in " + fix))
        if "bind" in entry and parse_address(entry.get("bind")) is None:
            ok = False
            problems.append(Problem("bind", (name,), where, "%s: bind %r is not an IPv4/IPv6 address"
                                    % (name, entry.get("bind")), "set an address such as 127.0.0.1 or 0.0.0.0 in " + fix))
        for key in sorted(str(k) for k in entry if str(k) not in ENTRY_KEYS):
            problems.append(Problem("entry", (name,), where, "%s: unknown key '%s'%s"
                                    % (name, key, did_you_mean(key, ENTRY_KEYS)),
                                    "rename or remove it in berth_ports.%s in {registry_file} (keys: %s)"
                                    % (name, ", ".join(ENTRY_KEYS))))
        for key in ("service", "user"):
            if key in entry and entry[key] is not None and (not isinstance(entry[key], str) or not entry[key].strip()):
                ok = False
                problems.append(Problem("entry", (name,), where, "%s: %s %r is not a non-empty string"
                                        % (name, key, entry[key]), "set %s in %s" % (key, fix)))
                continue
            if entry.get(key) is None:
                continue  # reported as missing
            err = (unit_name_error if key == "service" else account_name_error)(entry[key])
            if err:
                ok = False
                problems.append(Problem("entry", (name,), where, "%s: %s %s" % (name, key, err),
                                        ("set service to the unit's name (e.g. flask-app) in " if key == "service"
                                         else "set user to the account the listener runs as in ") + fix))
        if not isinstance(entry.get("enabled", True), bool):
            problems.append(Problem("entry", (name,), where, "%s: enabled %r is not true/false"
                                    % (name, entry.get("enabled")), "set enabled: true or false in " + fix))
        groups = entry.get("groups") or []
        if not isinstance(groups, (list, tuple)) or not all(isinstance(g, str) for g in groups):
            problems.append(Problem("entry", (name,), where, "%s: groups %r is not a list of group names"
                                    % (name, groups), "set groups: [web] (or leave it out) in " + fix))
        elif known_groups is not None:
            # An entry may name a group this inventory lacks (nginx_http: [web, lb] where no
            # load balancer exists); naming only such groups opens it on no host: a misspelling.
            unknown = [g for g in groups if g not in known_groups]
            if groups and len(unknown) == len(groups):
                problems.append(Problem("entry", (name,), where, "%s: groups names %s, not an inventory group"
                                        " (the entry would open on no host)"
                                        % (name, ", ".join(unknown)), "fix groups in " + fix))
        clients = entry.get("clients")
        if clients is not None:  # absent or null (an override may clear it): no clients
            if (not isinstance(clients, (list, tuple)) or not clients
                    or not all(isinstance(g, str) and g for g in clients)):
                problems.append(Problem("entry", (name,), where, "%s: clients %r is not a non-empty list of group names"
                                        % (name, clients),
                                        "set clients: [web] (the groups whose hosts connect) or leave it out in "
                                        + fix))
            elif known_groups is not None:
                unknown = [g for g in clients if g not in known_groups]
                if unknown:
                    problems.append(Problem("entry", (name,), where, "%s: clients names %s, not an inventory group"
                                            % (name, ", ".join(unknown)), "fix clients in " + fix))
        if ok and isinstance(port, int) and not isinstance(port, bool) and 1 <= port < 1024 and entry.get("user") != "root":
            problems.append(Problem("privileged", (name,), where,
                                    "%s: port %d is privileged (<1024) but user is %r, not root"
                                    % (name, port, entry.get("user")),
                                    "use a port >= 1024 or user root in " + fix))
        if ok and (host_groups is None or applies(entry, host_groups)):
            valid.append((name, entry, parse_address(entry["bind"])))
    # Conflicts: bucket by (port, proto), then compare binds pairwise inside a bucket.
    buckets = {}
    for item in valid:
        buckets.setdefault((item[1]["port"], item[1]["proto"]), []).append(item)
    for (port, proto), items in sorted(buckets.items()):
        for i in range(len(items)):
            for j in range(i + 1, len(items)):
                (na, ea, aa), (nb, eb, ab) = items[i], items[j]
                if binds_overlap(aa, ab):
                    problems.append(Problem(
                        "conflict", (na, nb), "%d/%s" % (port, proto),
                        "%s and %s both claim %d/%s (bind %s and %s overlap)"
                        % (na, nb, port, proto, ea["bind"], eb["bind"]),
                        "move %s or %s to a free port: %s, or %s"
                        % (na, nb, _fix_for(na, overridden), _fix_for(nb, overridden))))
    return problems


def exposure_warnings(entries, overridden=frozenset(), host_groups=None):
    """Problems (kind ``exposed``) for enabled non-Nginx entries bound to a non-loopback address."""
    warnings = []
    for name in sorted(entries):
        entry = entries[name]
        if not isinstance(entry, Mapping) or entry.get("enabled", True) is False:
            continue
        if host_groups is not None and not applies(entry, host_groups):
            continue
        addr = parse_address(entry.get("bind"))
        if addr is None or is_loopback(addr) or entry.get("service") in PUBLIC_SERVICES:
            continue
        clients = client_groups(entry)
        if clients:
            warnings.append(Problem(
                "exposed", (name,), "%s/%s" % (entry.get("port"), entry.get("proto")),
                "%s (service %s) listens on %s, reachable from the network unless the firewall role "
                "(firewall_enabled) admits only its clients (%s)"
                % (name, entry.get("service"), entry.get("bind"), ", ".join(clients)),
                "set firewall_enabled: true for these hosts (the firewall role then admits only the hosts "
                "of %s), or, if no other host connects, set bind: 127.0.0.1 in %s"
                % (", ".join(clients), _fix_for(name, overridden))))
            continue
        warnings.append(Problem(
            "exposed", (name,), "%s/%s" % (entry.get("port"), entry.get("proto")),
            "%s (service %s) listens on %s, reachable from the network; only Nginx should be"
            % (name, entry.get("service"), entry.get("bind")),
            "if not intended, set bind: 127.0.0.1 in " + _fix_for(name, overridden)))
    return warnings


def canonical_key(entries, overridden, applicable, file_name):
    """A hashable key: hosts with the same key get the same validation result."""
    return json.dumps([entries, sorted(overridden), sorted(applicable), file_name],
                      sort_keys=True, default=repr)


def validate_hosts(hosts, known_groups=None, max_hosts_shown=5, files=()):
    """Validate many hosts, each validated registry once.

    ``hosts``: iterable of dicts with keys ``host``, ``registry``, ``overrides``,
    ``groups`` (the host's group names), ``registry_file`` and optionally ``group_overrides``
    (:func:`replaced_overrides`). ``files``: the inventory's variables files, dicts with ``file``
    (the name messages give), ``scope``, ``name`` (:func:`inventory_var_files`) and ``text``.
    Returns a dict: ``failed``, ``problems`` (list of dicts), ``messages``
    (one line per problem), ``warnings`` (one line per exposed entry or replaced override, never
    failing), ``hosts`` (count) and ``unique`` (registries validated).
    """
    cache = {}
    found = {}  # problem key -> (Problem, [hosts])
    warned = {}  # same, for warnings
    count = 0
    files = [dict(f, problems=yaml11_problems(f["file"], f.get("text") or "")) for f in files or ()]
    files = [f for f in files if f["problems"]]
    for item in hosts:
        count += 1
        for f in files:
            if file_applies(f.get("scope"), f.get("name"), item["host"], frozenset(item.get("groups") or ())):
                for p in f["problems"]:
                    found.setdefault(p.key(), (p, []))[1].append(item["host"])
        for p in replaced_overrides(item.get("overrides"), item.get("group_overrides") or {}):
            warned.setdefault(p.key(), (p, []))[1].append(item["host"])
        file_name = item.get("registry_file") or REGISTRY_HINT
        host_groups = frozenset(item.get("groups") or ())
        entries, overridden, merge_problems = effective(item.get("registry"), item.get("overrides"))
        applicable = sorted(n for n, e in entries.items() if isinstance(e, Mapping) and applies(e, host_groups))
        key = canonical_key(entries, overridden, applicable, file_name) + repr(
            [p.key() for p in merge_problems])
        result = cache.get(key)
        if result is None:
            result = (merge_problems + check_entries(entries, overridden, host_groups, known_groups),
                      exposure_warnings(entries, overridden, host_groups))
            for p in result[0] + result[1]:
                p.fix = p.fix.replace("{registry_file}", file_name)
            cache[key] = result
        for p in result[0]:
            found.setdefault(p.key(), (p, []))[1].append(item["host"])
        for p in result[1]:
            warned.setdefault(p.key(), (p, []))[1].append(item["host"])

    def lines(table):
        out, rows = [], []
        for p, phosts in sorted(table.values(), key=lambda v: (v[0].where == "", v[0].where, v[0].names, v[0].kind)):
            shown = ", ".join(phosts[:max_hosts_shown])
            if len(phosts) > max_hosts_shown:
                shown += " (+%d more)" % (len(phosts) - max_hosts_shown)
            label = "host" if len(phosts) == 1 else "hosts"
            out.append("[%s] %s on %s %s; fix: %s" % (p.kind, p.text, label, shown, p.fix))
            rows.append({"kind": p.kind, "entries": list(p.names), "where": p.where, "text": p.text,
                         "fix": p.fix, "hosts": phosts})
        return out, rows

    messages, problems = lines(found)
    warnings, _ = lines(warned)
    return {"failed": bool(problems), "problems": problems, "messages": messages,
            "warnings": warnings, "hosts": count, "unique": len(cache)}
