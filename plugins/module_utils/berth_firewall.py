# -*- coding: utf-8 -*-
# Copyright: berth contributors
# Simplified BSD License (see LICENSE or https://opensource.org/licenses/BSD-2-Clause)
"""Which sources may reach each registry entry a host opens (the firewall role's data).

An entry the host opens to the network (enabled, applies to the host, non-loopback bind) is
admitted from anywhere, unless it has ``clients`` (inventory groups, see the registry core):
then only from the addresses of those groups' hosts.

``clients(allow, groups, address_of, host)``
    On the controller (the planner's firewall section), before the host is asked anything.
    For each entry of ``allow`` with ``clients``: client host -> address (``ansible_host``,
    else the inventory name). Returns ``{entries: {entry: {client host: address}}, names:
    [...]}``; ``names`` are the addresses that are not IP literals, to be resolved on the
    firewall host (the firewall compares source addresses, and container or DNS names resolve
    only there).
``rules(allow, clients, resolved, host)``
    The ruleset's accept rules, one per open entry and, for an entry with clients, one per
    address family (``ip saddr`` / ``ip6 saddr``). ``resolved`` is the output of the role's
    resolution task: ``@ <name>`` lines, each followed by ``getent ahosts <name>``'s lines.

Both raise :class:`FirewallError` naming the firewall host, the entry and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping

try:  # inside Ansible
    from ansible_collections.berth.stack.plugins.module_utils import berth_registry as core
except ImportError:  # outside Ansible: the file beside this one
    import berth_registry as core  # type: ignore


class FirewallError(ValueError):
    """Firewall input berth cannot turn into rules; the text names the host, the entry and the fix."""


# nftables refuses longer rule comments.
COMMENT_MAX = 128


def _items(allow):
    """``allow`` as (name, entry) pairs: a mapping or a dict2items list."""
    if isinstance(allow, Mapping):
        return sorted(allow.items())
    pairs = []
    for item in allow or []:
        if not isinstance(item, Mapping) or "key" not in item or not isinstance(item.get("value"), Mapping):
            raise FirewallError("berth firewall filters expect registry entries (a mapping or dict2items), "
                                     "got %r" % (item,))
        pairs.append((str(item["key"]), item["value"]))
    return sorted(pairs)


def _fix(name):
    return "berth_ports.%s (or berth_ports_overrides.%s)" % (name, name)


def clients(allow, groups, address_of, host):
    """Client host -> address for each entry of ``allow`` with ``clients``, and the names to resolve.

    ``address_of(member)``: the member host's ``ansible_host`` (None when unset)."""
    if not isinstance(groups, Mapping):
        raise FirewallError("firewall clients need the `groups` magic variable")
    entries = {}
    names = set()
    for name, entry in _items(allow):
        clients = core.client_groups(entry)
        if not clients:
            continue
        addresses = {}
        for group in clients:
            members = groups.get(group)
            if not members:
                raise FirewallError(
                    "firewall on %s: registry entry %s admits only the hosts of its clients group '%s', which %s "
                    "in this inventory; add the client hosts to group %s or fix clients in %s"
                    % (host, name, group, "has no hosts" if members is not None else "does not exist",
                       group, _fix(name)))
            for member in members:
                address = address_of(member)
                address = str(address) if address not in (None, "") else str(member)
                addresses[str(member)] = address
                if core.parse_address(address) is None:
                    names.add(address)
        entries[name] = addresses
    return {"entries": entries, "names": sorted(names)}


def parse_resolved(text):
    """``@ <name>`` lines each followed by ``getent ahosts <name>`` output -> name -> sorted addresses."""
    resolved = {}
    current = None
    for line in (text or "").splitlines():
        if line.startswith("@ "):
            current = line[2:].strip()
            resolved[current] = set()
        elif current is not None and line.strip():
            address = core.parse_address(line.split()[0])
            if address is not None:
                resolved[current].add(address)
    return {name: sorted(found, key=lambda a: (a.version, int(a))) for name, found in resolved.items()}


def _comment(text):
    return text if len(text.encode("utf-8")) < COMMENT_MAX else text.encode("utf-8")[:COMMENT_MAX - 1].decode(
        "utf-8", "ignore")


def rules(allow, clients, resolved, host):
    """Accept rules: ``{name, service, proto, port, family, addresses, comment}``, sorted by entry.

    ``family`` is empty for an entry open to every source, else ``ip`` or ``ip6`` with the
    client addresses of that family.
    """
    client_map = (clients.get("entries") or {}) if isinstance(clients, Mapping) else {}
    names = parse_resolved(resolved)
    rules = []
    for name, entry in _items(allow):
        base = {"name": name, "service": str(entry.get("service", "")), "proto": str(entry.get("proto")),
                "port": int(entry.get("port"))}
        groups = core.client_groups(entry)
        if not groups:
            rules.append(dict(base, family="", addresses=[],
                              comment=_comment("%s (%s)" % (name, base["service"]))))
            continue
        if name not in client_map:
            raise FirewallError("firewall on %s: registry entry %s has clients but no client addresses; "
                                     "plan the firewall (berth_plan role=firewall) for the same entries" % (host, name))
        found = set()
        for member, address in sorted(client_map[name].items()):
            literal = core.parse_address(address)
            if literal is not None:
                found.add(literal)
                continue
            if not names.get(address):
                raise FirewallError(
                    "firewall on %s: registry entry %s admits the hosts of %s, but the address of client host %s, "
                    "'%s' (its ansible_host, else its inventory name), does not resolve on %s (getent ahosts); "
                    "set ansible_host to the IP address %s connects from, for %s in the inventory"
                    % (host, name, ", ".join(groups), member, address, host, member, member))
            found.update(names[address])
        comment = _comment("%s (%s) from %s" % (name, base["service"], ", ".join(groups)))
        for family, version in (("ip", 4), ("ip6", 6)):
            addresses = sorted((a for a in found if a.version == version), key=int)
            if addresses:
                rules.append(dict(base, family=family, addresses=[str(a) for a in addresses], comment=comment))
    return rules
