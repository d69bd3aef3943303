#!/usr/bin/env python3
"""Build the TEST STAND-IN `datadog-agent` .deb and a GPG-signed apt repository.

Datadog's apt repository cannot be reached from the test environment, so the
Molecule scenarios and the sandbox install a stand-in package (sources:
molecule/resources/datadog-agent-standin/, see its README) from a local
repository laid out like apt.datadoghq.com (suite `stable`, component `7`):

    <out>/repo/dists/stable/{Release,InRelease,Release.gpg}
    <out>/repo/dists/stable/7/binary-{amd64,arm64}/Packages{,.gz}
    <out>/repo/pool/7/d/datadog-agent/datadog-agent_<version>_all.deb
    <out>/repo/berth-standin-archive-key.asc      (throwaway public key)
    <out>/gnupg/                                  (throwaway secret key, never shipped)

No network. Rebuilt only when the sources or this script change (stamp = sha256
of both); the throwaway key is generated once per <out> and kept. Prints one JSON
line: {"changed": bool, "repo": path, "archive": path, "key": path, "version": str}.
The archive (<out>/repo.tar, the repository's files owned by root) is what the
mirror playbook ships: one transfer per host instead of one per file.
Needs dpkg-deb, dpkg-scanpackages (dpkg-dev) and gpg (gnupg); installs the missing
Debian packages with apt-get when run as root.
"""

from __future__ import annotations

import argparse
import datetime
import fcntl
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SRC = ROOT / "molecule" / "resources" / "datadog-agent-standin"
DEFAULT_OUT = ROOT / ".cache" / "datadog-standin"
VERSION = "1:7.99.0-1~berthstandin"
SUITE = "stable"
COMPONENT = "7"
ARCHES = ("amd64", "arm64")
KEY_UID = "berth datadog-agent TEST STAND-IN throwaway repo key <standin@berth.invalid>"
KEY_NAME = "berth-standin-archive-key.asc"
NEEDED = {"dpkg-deb": "dpkg", "dpkg-scanpackages": "dpkg-dev", "gpg": "gnupg"}


def log(msg):
    print(msg, file=sys.stderr)


def ensure_tools():
    missing = sorted({pkg for tool, pkg in NEEDED.items() if shutil.which(tool) is None})
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit("missing %s; install them: apt-get install %s" % (missing, " ".join(missing)))
    log("installing %s" % " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)


def sources_digest(src: Path) -> str:
    digest = hashlib.sha256()
    digest.update(Path(__file__).read_bytes())
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(src)).encode() + b"\0")
        digest.update(oct(path.stat().st_mode & 0o777).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def gpg(home: Path, *args, **kwargs):
    return subprocess.run(["gpg", "--homedir", str(home), "--batch", "--quiet", *args],
                          check=True, **kwargs)


def ensure_key(home: Path):
    if home.is_dir() and (home / "fingerprint").is_file():
        return (home / "fingerprint").read_text().strip()
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True, mode=0o700)
    gpg(home, "--passphrase", "", "--quick-gen-key", KEY_UID, "ed25519", "sign", "never")
    out = gpg(home, "--with-colons", "--list-secret-keys", capture_output=True, text=True).stdout
    fpr = next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))
    (home / "fingerprint").write_text(fpr + "\n")
    return fpr


def build_deb(src: Path, pool: Path) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / "pkg"
        shutil.copytree(src, stage, symlinks=False,
                        ignore=shutil.ignore_patterns("README.md", "control.in", "__pycache__"))
        shutil.copy(src / "README.md", stage / "opt/datadog-agent/standin/README.md")
        control = (src / "DEBIAN" / "control.in").read_text().replace("@VERSION@", VERSION)
        (stage / "DEBIAN" / "control").write_text(control)
        conffiles = [str("/" / p.relative_to(stage)) for p in sorted((stage / "etc").rglob("*")) if p.is_file()]
        (stage / "DEBIAN" / "conffiles").write_text("".join(c + "\n" for c in conffiles))
        for path in stage.rglob("*"):
            if path.is_dir():
                path.chmod(0o755)
            elif path.parent.name == "DEBIAN" and path.name in ("postinst", "prerm", "postrm"):
                path.chmod(0o755)
            else:
                path.chmod(0o644)
        for program in ("opt/datadog-agent/standin/datadog_agent_standin.py",
                        "opt/datadog-agent/standin/datadog_agent_standin_checks.py", "usr/bin/datadog-agent"):
            (stage / program).chmod(0o755)
        pool.mkdir(parents=True, exist_ok=True)
        deb = pool / ("datadog-agent_%s_all.deb" % VERSION.split(":", 1)[1])
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(stage), str(deb)],
                       check=True, stdout=subprocess.DEVNULL)
    return deb


def write_release(dists: Path, files: list[Path]):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S UTC")
    lines = [
        "Origin: berth-standin", "Label: berth datadog-agent TEST STAND-IN",
        "Suite: %s" % SUITE, "Codename: %s" % SUITE, "Date: %s" % now,
        "Architectures: %s" % " ".join(ARCHES), "Components: %s" % COMPONENT,
        "Description: TEST STAND-IN repository (not apt.datadoghq.com)",
    ]
    for field, algo in (("MD5Sum", hashlib.md5), ("SHA256", hashlib.sha256)):
        lines.append("%s:" % field)
        for path in files:
            data = path.read_bytes()
            lines.append(" %s %16d %s" % (algo(data).hexdigest(), len(data), path.relative_to(dists)))
    (dists / "Release").write_text("\n".join(lines) + "\n")


def stop_agent(home: Path) -> None:
    """Stop the gpg-agent that signing started for this homedir (it would outlive the build)."""
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def build(src: Path, out: Path):
    home = out / "gnupg"
    try:
        _build(src, out, home, ensure_key(home))
    finally:
        stop_agent(home)


def _build(src: Path, out: Path, home: Path, fpr: str):
    stage = out / "repo.new"
    shutil.rmtree(stage, ignore_errors=True)
    build_deb(src, stage / "pool" / COMPONENT / "d" / "datadog-agent")
    packages = subprocess.run(["dpkg-scanpackages", "--multiversion", "pool", "/dev/null"], cwd=stage,
                              check=True, capture_output=True).stdout
    dists = stage / "dists" / SUITE
    index_files = []
    for arch in ARCHES:
        bdir = dists / COMPONENT / ("binary-%s" % arch)
        bdir.mkdir(parents=True)
        (bdir / "Packages").write_bytes(packages)
        with gzip.GzipFile(bdir / "Packages.gz", "wb", mtime=0) as handle:
            handle.write(packages)
        index_files += [bdir / "Packages", bdir / "Packages.gz"]
    write_release(dists, index_files)
    gpg(home, "--local-user", fpr, "--clearsign", "-o", str(dists / "InRelease"), str(dists / "Release"))
    gpg(home, "--local-user", fpr, "-abs", "-o", str(dists / "Release.gpg"), str(dists / "Release"))
    gpg(home, "--armor", "--export", "-o", str(stage / KEY_NAME), fpr)
    for path in stage.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    shutil.rmtree(out / "repo", ignore_errors=True)
    stage.rename(out / "repo")


def write_archive(repo: Path, archive: Path) -> None:
    """repo.tar: every file and directory under repo, relative to it, owned by root."""

    def as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    partial = archive.with_name(archive.name + ".partial")
    with tarfile.open(partial, "w") as tar:
        for path in sorted(repo.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(repo)), recursive=False, filter=as_root)
    partial.rename(archive)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--force", action="store_true", help="rebuild even when the stamp matches")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    stamp = out / "stamp"
    digest = sources_digest(args.src)
    changed = False
    # One builder at a time: scenarios that run side by side (make test) prepare their hosts at
    # the same moment, and two builds in one staging directory break each other. The second waits,
    # then finds the first one's repository current.
    with open(out / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if args.force or not stamp.is_file() or stamp.read_text().strip() != digest \
                or not (out / "repo" / "dists" / SUITE / "InRelease").is_file():
            ensure_tools()
            build(args.src.resolve(), out)
            write_archive(out / "repo", out / "repo.tar")
            stamp.write_text(digest + "\n")
            changed = True
        elif not (out / "repo.tar").is_file():
            write_archive(out / "repo", out / "repo.tar")
    print(json.dumps({"changed": changed, "repo": str(out / "repo"), "archive": str(out / "repo.tar"),
                      "key": str(out / "repo" / KEY_NAME), "version": VERSION}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
