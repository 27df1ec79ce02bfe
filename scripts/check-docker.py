#!/usr/bin/env python3
"""Static checks of docker/ (no Docker engine needed; `make check-config` runs them):

* every compose file parses; services name an image or a build; depends_on, networks and named
  volumes point at what the file defines; fixed addresses lie in their network's subnet;
* every environment variable a gateway service sets is one the gateway reads (core/src/config.rs)
  or a known extra (TZ), so a typo cannot hide in a compose file;
* the Dockerfile's COPY sources exist in the repository, COPY --from names an earlier stage, and
  every binary or script a compose entrypoint runs is one the image copies.
"""
import ipaddress
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
EXTRA_ENV = {"TZ"}
GATEWAY_IMAGE = "gateway:latest"

errors = []


def fail(msg):
    errors.append(msg)


def known_env():
    text = (ROOT / "core/src/config.rs").read_text()
    return set(re.findall(r'field\(\s*"[^"]+",\s*"([A-Z0-9_]+)"', text))


def dockerfile_facts():
    stages, copied = [], set()
    for raw in (DOCKER / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        m = re.match(r"FROM\s+\S+(?:\s+AS\s+(\S+))?", line, re.I)
        if m:
            stages.append(m.group(1))
            continue
        m = re.match(r"COPY\s+(.*)", line, re.I)
        if not m:
            continue
        parts = [p for p in m.group(1).split() if not p.startswith("--chown")]
        source = None
        if parts[0].startswith("--from="):
            source = parts.pop(0).split("=", 1)[1]
            if source not in stages[:-1]:
                fail(f"Dockerfile: COPY --from={source} names no earlier stage")
        *sources, dest = parts
        for s in sources:
            if source is None and s != "." and not (ROOT / s).exists():
                fail(f"Dockerfile: COPY source {s} does not exist")
            name = pathlib.PurePosixPath(s).name
            copied.add(dest.rstrip("/") + "/" + name if dest.endswith("/") else dest)
    return copied


def check_compose(path, env_names, copied):
    doc = yaml.safe_load(path.read_text())
    services = doc.get("services") or {}
    networks = doc.get("networks") or {}
    volumes = doc.get("volumes") or {}
    for name, svc in services.items():
        where = f"{path.name}: service {name}"
        if "image" not in svc and "build" not in svc:
            fail(f"{where}: neither image nor build")
        for dep in svc.get("depends_on") or {}:
            if dep not in services:
                fail(f"{where}: depends on unknown service {dep}")
        svc_nets = svc.get("networks") or []
        for net in svc_nets if isinstance(svc_nets, list) else svc_nets.keys():
            if net not in networks:
                fail(f"{where}: unknown network {net}")
        if isinstance(svc_nets, dict):
            for net, conf in svc_nets.items():
                addr = (conf or {}).get("ipv4_address")
                subnets = [c["subnet"] for c in (networks.get(net) or {}).get("ipam", {}).get("config", [])]
                if addr and not any(ipaddress.ip_address(addr) in ipaddress.ip_network(s) for s in subnets):
                    fail(f"{where}: {addr} is outside the subnets of {net}")
        for vol in svc.get("volumes") or []:
            src = vol.split(":", 1)[0]
            if not src.startswith((".", "/")) and src not in volumes:
                fail(f"{where}: unknown volume {src}")
        if svc.get("image") != GATEWAY_IMAGE:
            continue
        for var in svc.get("environment") or {}:
            if var not in env_names and var not in EXTRA_ENV:
                fail(f"{where}: the gateway reads no variable {var}")
        for arg in svc.get("entrypoint") or []:
            if arg.startswith("/app/") and arg not in copied:
                fail(f"{where}: entrypoint runs {arg}, which the image does not contain")


def main():
    env_names = known_env()
    if len(env_names) < 20:
        fail("could not read the variable names from core/src/config.rs")
    copied = dockerfile_facts()
    files = sorted(DOCKER.glob("compose*.yml"))
    if not files:
        fail("no docker/compose*.yml")
    for path in files:
        check_compose(path, env_names, copied)
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    if not errors:
        print(f"docker/: Dockerfile and {', '.join(p.name for p in files)} pass the static checks")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
