#!/usr/bin/env python3
"""Checks deploy/ with the tools at hand, offline and in a few seconds
(`make rules` runs it):

- the generated Kubernetes objects are up to date (scripts/gen-k8s.py --check);
- every YAML and JSON file under deploy/ parses;
- the PrometheusRule holds exactly the groups of deploy/prometheus/, and
  `promtool check rules` passes on the groups taken out of it;
- the ConfigMap holds deploy/frontline.toml unchanged;
- the Deployment keeps what operations rely on: probes on /healthz and
  /readyz, a grace period above the 9 s shutdown bound, non-root with a
  read-only root filesystem, the config mounted where FRONTLINE_CONFIG points;
- the Dockerfile runs `frontline run` as a non-root user with port 9464 exposed,
  and .dockerignore lets in every file Cargo builds from;
- `promtool check config` on the compose stack's prometheus.yml and
  `amtool check-config` on deploy/alertmanager.yml;
- `kubectl kustomize deploy/kubernetes` renders every object, and
  `docker compose config` (or docker-compose) accepts deploy/compose.yaml,
  where those clients are installed (they are skipped with a line saying so
  otherwise; neither needs a cluster or a daemon for this).
"""

import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    sys.exit("check-deploy: needs PyYAML (pip install pyyaml, or Debian's python3-yaml)")

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
RULE_FILES = ["prometheus/frontline.rules.yaml", "prometheus/frontline.alerts.yaml"]
failures = []


def fail(msg):
    failures.append(msg)
    print(f"check-deploy: FAIL {msg}", file=sys.stderr)


def run(what, cmd, **kw):
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60, **kw)
    if r.returncode != 0:
        fail(f"{what}: {' '.join(map(str, cmd))}\n{r.stdout}{r.stderr}")
    else:
        print(f"check-deploy: ok   {what}")
    return r


LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_all(path):
    return [d for d in yaml.load_all(path.read_text(), Loader=LOADER) if d is not None]


def main():
    run("generated Kubernetes objects up to date", [sys.executable, "scripts/gen-k8s.py", "--check"])

    docs = {}
    for p in sorted(DEPLOY.rglob("*")):
        rel = p.relative_to(ROOT)
        try:
            if p.suffix in (".yaml", ".yml"):
                docs[p.relative_to(DEPLOY).as_posix()] = load_all(p)
            elif p.suffix == ".json":
                json.loads(p.read_text())
        except (yaml.YAMLError, json.JSONDecodeError) as e:
            fail(f"{rel} does not parse: {e}")
    print(f"check-deploy: ok   {len(docs)} YAML files under deploy/ parse")

    rule = docs["kubernetes/prometheusrule.yaml"][0]
    groups = [g for rel in RULE_FILES for g in docs[rel][0]["groups"]]
    if rule.get("kind") != "PrometheusRule" or rule["spec"]["groups"] != groups:
        fail("kubernetes/prometheusrule.yaml does not hold the groups of " + ", ".join(RULE_FILES))
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="prometheusrule-") as f:
        yaml.safe_dump({"groups": rule["spec"]["groups"]}, f, sort_keys=False)
        f.flush()
        run("promtool check rules on the PrometheusRule's groups", ["promtool", "check", "rules", f.name])

    cm = docs["kubernetes/configmap.yaml"][0]
    if cm["data"]["frontline.toml"] != (DEPLOY / "frontline.toml").read_text():
        fail("kubernetes/configmap.yaml does not hold deploy/frontline.toml")

    dep = docs["kubernetes/deployment.yaml"][0]
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
    expect = {
        "liveness probe on /healthz": c["livenessProbe"]["httpGet"]["path"] == "/healthz",
        "readiness probe on /readyz": c["readinessProbe"]["httpGet"]["path"] == "/readyz",
        "grace period above the 9 s shutdown bound": pod["terminationGracePeriodSeconds"] > 9,
        "non-root pod": pod["securityContext"].get("runAsNonRoot") is True,
        "read-only root filesystem": c["securityContext"].get("readOnlyRootFilesystem") is True,
        "no privilege escalation": c["securityContext"].get("allowPrivilegeEscalation") is False,
        "resources set": bool(c["resources"].get("requests")) and bool(c["resources"].get("limits")),
        "config mounted where FRONTLINE_CONFIG points": str(pathlib.PurePosixPath(env.get("FRONTLINE_CONFIG", "")).parent)
        in mounts,
        "port 9464 named metrics": {"name": "metrics", "containerPort": 9464, "protocol": "TCP"} in c["ports"],
    }
    svc = docs["kubernetes/service.yaml"][0]
    sm = docs["kubernetes/servicemonitor.yaml"][0]
    expect["Service named frontline (the job label the rules select)"] = svc["metadata"]["name"] == "frontline"
    expect["ServiceMonitor scrapes the Service's metrics port"] = sm["spec"]["endpoints"][0]["port"] == "metrics" and (
        sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    )
    expect["Service selects the pods"] = (
        svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    )
    listed = set(docs["kubernetes/kustomization.yaml"][0]["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    expect["kustomization lists every manifest"] = listed == on_disk
    dockerfile = (ROOT / "Dockerfile").read_text().splitlines()
    expect["Dockerfile: non-root USER, EXPOSE 9464, ENTRYPOINT frontline run"] = (
        any(l.startswith("USER ") and not l.split()[1].startswith(("0", "root")) for l in dockerfile)
        and "EXPOSE 9464" in dockerfile
        and 'ENTRYPOINT ["frontline", "run"]' in dockerfile
    )
    # The image builds from what .dockerignore lets into the context (`*`,
    # then `!path` for each path let in): every file Cargo builds from must
    # be there, build.rs too (without it the build silently drops the
    # link flags it adds).
    ignore = [l.strip() for l in (ROOT / ".dockerignore").read_text().splitlines()]
    ignore = [l for l in ignore if l and not l.startswith("#")]
    let_in = {l[1:].rstrip("/") for l in ignore if l.startswith("!")}
    cargo_needs = {"Cargo.toml", "Cargo.lock", "src"} | {
        p for p in ("build.rs", "benches", "examples", "tests") if (ROOT / p).exists()
    }
    expect[f".dockerignore lets in what Cargo builds from ({', '.join(sorted(cargo_needs))})"] = (
        ignore[:1] == ["*"] and cargo_needs <= let_in
    )
    bad = [k for k, ok in expect.items() if not ok]
    for k in bad:
        fail(f"manifests: {k}")
    if not bad:
        print(f"check-deploy: ok   manifests: {len(expect)} properties hold")

    run("promtool check config deploy/prometheus/prometheus.yml",
        ["promtool", "check", "config", "deploy/prometheus/prometheus.yml"])
    if shutil.which("amtool"):
        run("amtool check-config deploy/alertmanager.yml", ["amtool", "check-config", "deploy/alertmanager.yml"])
    else:
        print("check-deploy: skip amtool is not installed")

    if shutil.which("kubectl"):
        r = run("kubectl kustomize deploy/kubernetes", ["kubectl", "kustomize", "deploy/kubernetes"])
        if r.returncode == 0:
            kinds = sorted(d["kind"] for d in yaml.load_all(r.stdout, Loader=LOADER) if d)
            want = sorted(d["kind"] for rel in listed for d in docs[f"kubernetes/{rel}"])
            if kinds != want:
                fail(f"kubectl kustomize rendered {kinds}, expected {want}")
    else:
        print("check-deploy: skip kubectl is not installed")

    compose = None
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        compose = ["docker", "compose"]
    elif shutil.which("docker-compose"):
        compose = ["docker-compose"]
    if compose:
        run(f"{' '.join(compose)} config", compose + ["-f", "deploy/compose.yaml", "config", "-q"])
    else:
        print("check-deploy: skip neither `docker compose` nor docker-compose is installed")

    if failures:
        sys.exit(f"check-deploy: {len(failures)} failed")


if __name__ == "__main__":
    main()
