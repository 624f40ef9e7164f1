"""Every file in deploy/ against a validator from the package registries (`make deploy-check`).

Each check runs its tool; `make deploy-check` installs them all, so a missing tool fails. Only
a tool that cannot run on this machine (no Docker daemon, systemd-analyze without a manager)
skips, with the reason. The proxy
examples are also run for real: nginx and HAProxy in front of the gateway on 127.0.0.1, each
answering a PROPFIND over TLS; every process started here is stopped by its PID.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
GATEWAY_BIN = Path(os.environ.get("CALDAV_GATEWAY_BIN", REPO / "target" / "debug" / "caldav-gateway"))
VENV_BIN = Path(sys.executable).parent


def run(*args: str | Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, **kwargs)


def tool(name: str) -> str:
    """The tool's path (this virtualenv first, then PATH)."""
    found = shutil.which(name, path=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        pytest.fail(f"{name} is not installed: run `make deploy-check`, which installs it")
    return found


def gateway_bin() -> Path:
    if not GATEWAY_BIN.exists():
        pytest.fail(f"no gateway binary at {GATEWAY_BIN}: run `make deploy-check`, which builds it")
    return GATEWAY_BIN


# --- container image -------------------------------------------------------------------------


def test_dockerfile_passes_hadolint():
    result = run(tool("hadolint"), "--no-color", DEPLOY / "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_as_numeric_non_root_user_and_exposes_both_listeners():
    text = (DEPLOY / "Dockerfile").read_text()
    runtime = text[text.rindex("\nFROM ") :]
    assert re.search(r"^USER 65532:65532$", runtime, re.M)
    assert re.search(r"^EXPOSE 8443 9090$", runtime, re.M)
    assert "ENV GATEWAY_CONFIG=/etc/caldav-gateway/gateway.toml" in runtime
    # The distroless runtime has no shell and no curl: the health check is the binary, exec form.
    assert re.search(r'^    CMD \["/usr/local/bin/caldav-gateway", "health"\]$', runtime, re.M)
    assert "/usr/local/bin/caldav-gateway" in runtime.split("COPY --from=build ")[1]


def test_docker_build_check_lints_the_dockerfile_when_a_daemon_runs():
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no Docker on this machine: BuildKit's --check cannot run")
    if run(docker, "info").returncode != 0:
        pytest.skip("no Docker daemon on this machine (`docker info` fails): BuildKit's --check cannot run")
    if run(docker, "buildx", "version").returncode != 0:
        pytest.skip("Docker has no buildx plugin here: `docker build --check` needs it")
    result = run(docker, "build", "--check", "-f", DEPLOY / "Dockerfile", REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    excluded = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        glob = pattern.replace("**/", "*")  # fnmatch's * crosses slashes: close enough here
        if any(fnmatch.fnmatchcase(prefix, glob) for prefix in prefixes):
            excluded = not negated
    return excluded


def test_dockerignore_keeps_what_the_dockerfile_copies_and_leaves_out_the_rest():
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = []
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            copied += line.split()[1:-1]
    assert copied, "the Dockerfile copies nothing from the context?"
    for source in copied:
        assert (REPO / source).exists(), source
        assert not dockerignore_excludes(patterns, source), f"{source} is copied but .dockerignore leaves it out"
    for path in ["target/debug/caldav-gateway", "crates/gateway/target/x", ".git/HEAD", "data/gateway.sqlite3",
                 ".venv/bin/python", "integration-tests/python/conftest.py", "fuzz/Cargo.toml"]:
        assert dockerignore_excludes(patterns, path), f"{path} would be sent to the Docker daemon"


def test_build_context_holds_a_complete_workspace(tmp_path):
    """The files .dockerignore lets through, copied as the Dockerfile's build stage has them,
    make a workspace cargo resolves with the lock file as it is (the build's --locked)."""
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    tracked = run("git", "-C", REPO, "ls-files").stdout.split()
    assert tracked, "not a git checkout?"
    sent = [path for path in tracked if not dockerignore_excludes(patterns, path)]
    for path in sent:
        if path.startswith(("crates/", "Cargo.")):
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO / path, tmp_path / path)
    cargo = tool("cargo")
    host = re.search(r"^host: (\S+)$", run(tool("rustc"), "-vV").stdout, re.M)
    assert host, "rustc -vV names no host"
    # Offline: `make deploy-check` built the gateway first, so every crate of this platform is here.
    result = run(cargo, "metadata", "--locked", "--offline", "--format-version", "1", "--filter-platform",
                 host.group(1), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"name":"gateway"' in result.stdout.replace(" ", "")


# --- compose ---------------------------------------------------------------------------------


def test_compose_file_is_valid():
    docker = shutil.which("docker")
    if docker and run(docker, "compose", "version").returncode == 0:
        command = [docker, "compose"]
    else:
        command = [tool("docker-compose")]
    result = run(*command, "-f", DEPLOY / "compose.yaml", "config", "-q")
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_the_gateway_read_only_and_non_root_on_the_jmap_backend():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    gateway = compose["services"]["caldav-gateway"]
    assert gateway["read_only"] is True
    assert gateway["user"] == "65532:65532"
    assert all(port.startswith("127.0.0.1:") for service in compose["services"].values()
               for port in service.get("ports", []))
    mounted = {v.split(":")[1]: v.split(":")[0] for v in gateway["volumes"]}
    config = tomllib.loads((DEPLOY / mounted["/etc/caldav-gateway/gateway.toml"]).read_text())
    assert config["backend"]["kind"] == "jmap"
    assert config["backend"]["jmap"]["url"].startswith("http://stalwart:")
    assert "/var/lib/caldav-gateway" in mounted


# --- configuration files the deployment ships ------------------------------------------------


def configmap_gateway_toml() -> str:
    configmap = yaml.safe_load((DEPLOY / "kubernetes" / "configmap.yaml").read_text())
    return configmap["data"]["gateway.toml"]


def deployment_secret_environment() -> dict[str, str]:
    """The variables the Deployment sets from the example Secret, with its values."""
    documents = kubernetes_documents()
    secrets = {d["metadata"]["name"]: d.get("stringData", {}) for d in documents if d["kind"] == "Secret"}
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: secrets[e["valueFrom"]["secretKeyRef"]["name"]][e["valueFrom"]["secretKeyRef"]["key"]]
            for e in container["env"] if "valueFrom" in e}


@pytest.mark.parametrize("name", ["container/gateway.toml", "compose/gateway.toml", "behind-proxy/gateway.toml",
                                  "kubernetes ConfigMap"])
def test_shipped_gateway_configuration_loads(name, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY")}
    if name == "kubernetes ConfigMap":
        path = tmp_path / "gateway.toml"
        path.write_text(configmap_gateway_toml())
        env.update(deployment_secret_environment())
    else:
        path = DEPLOY / name
    result = run(gateway_bin(), "--config", path, "check-config", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


# --- kubernetes ------------------------------------------------------------------------------


def kubernetes_documents() -> list[dict]:
    documents = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        documents += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return documents


# 1.30: the oldest release with the preStop sleep action on by default; 1.37: the newest schemas.
@pytest.mark.parametrize("version", ["1.30.0", "1.37.0"])
def test_kubernetes_manifests_validate_strictly_against_the_api_schemas(version):
    files = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
    result = run(tool("kubernetes-validate"), "--kubernetes-version", version, "--strict", "--quiet", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_deployment_is_replicated_probed_and_locked_down():
    by_kind = {}
    for document in kubernetes_documents():
        by_kind.setdefault(document["kind"], []).append(document)
    assert {"Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget",
            "HorizontalPodAutoscaler"} <= by_kind.keys()
    deployment = by_kind["Deployment"][0]
    assert deployment["spec"]["replicas"] >= 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["resources"]["requests"] and container["resources"]["limits"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    config = tomllib.loads(configmap_gateway_toml())
    assert config["admin"]["listen"].endswith(f":{ports['admin']}")
    assert config["server"]["listen"].endswith(f":{ports['caldavs']}")
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    assert config["backend"]["kind"] == "jmap"
    # The TLS secret is mounted where the configuration looks for the pair.
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert config["tls"]["cert"] == f"{mounts['tls']}/tls.crt"
    assert config["tls"]["key"] == f"{mounts['tls']}/tls.key"
    assert f"{mounts['config']}/gateway.toml" == next(
        e["value"] for e in container["env"] if e["name"] == "GATEWAY_CONFIG")
    # Secrets reach the gateway as GATEWAY__SECTION__KEY overrides of real settings.
    secret_keys = {d["metadata"]["name"]: set(d.get("stringData", d.get("data", {})))
                   for d in by_kind["Secret"]}
    for env in container["env"]:
        if "valueFrom" in env:
            ref = env["valueFrom"]["secretKeyRef"]
            assert ref["key"] in secret_keys[ref["name"]], env
            section, key = env["name"].removeprefix("GATEWAY__").lower().rsplit("__", 1)
            table = tomllib.loads((REPO / "config" / "gateway.toml").read_text())
            for part in section.split("__"):
                table = table[part]
            assert key in table, f"{env['name']} overrides no setting of config/gateway.toml"
    assert by_kind["HorizontalPodAutoscaler"][0]["spec"]["minReplicas"] >= 2
    assert by_kind["PodDisruptionBudget"][0]["spec"]["minAvailable"] >= 1


# --- systemd ---------------------------------------------------------------------------------


def test_systemd_unit_verifies(tmp_path):
    analyze = tool("systemd-analyze")
    unit = (DEPLOY / "systemd" / "caldav-gateway.service").read_text()
    # verify wants ExecStart's binary to exist: the one just built stands in for the installed one.
    (tmp_path / "caldav-gateway.service").write_text(
        unit.replace("/usr/local/bin/caldav-gateway", str(gateway_bin())))
    result = run(analyze, "verify", tmp_path / "caldav-gateway.service")
    if result.returncode != 0 and "Failed to initialize manager" in result.stderr:
        pytest.skip(f"systemd-analyze cannot run in this container: {result.stderr.strip()}")
    # Unknown settings and bad values are only warnings ("..., ignoring"): none are allowed.
    assert result.returncode == 0 and not result.stderr.strip(), result.stdout + result.stderr


# --- DNS records -----------------------------------------------------------------------------


def test_dns_subcommand_prints_a_zone_that_named_checkzone_accepts(tmp_path):
    records = run(gateway_bin(), "dns", "example.com")
    assert records.returncode == 0, records.stderr
    assert "_caldavs._tcp.example.com.  3600 IN SRV  0 1 443 caldav.example.com." in records.stdout
    checkzone = tool("named-checkzone")
    zone = tmp_path / "example.com.zone"
    zone.write_text(
        "$ORIGIN example.com.\n$TTL 3600\n"
        "@ IN SOA ns.example.com. hostmaster.example.com. 1 7200 900 1209600 300\n"
        "@ IN NS ns.example.com.\nns IN A 192.0.2.1\ncaldav IN A 192.0.2.10\n" + records.stdout)
    result = run(checkzone, "example.com", zone)
    assert result.returncode == 0, result.stdout + result.stderr


# --- reverse proxies -------------------------------------------------------------------------

PROPFIND = b'<?xml version="1.0"?><propfind xmlns="DAV:"><prop><current-user-principal/></prop></propfind>'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args[0]} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> dict[str, Path]:
    """A private CA and a certificate for localhost and 127.0.0.1 signed by it (openssl)."""
    openssl = tool("openssl")
    d = tmp_path_factory.mktemp("pki")
    d.chmod(0o755)  # nginx's workers run as another user
    steps = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=deploy-check CA",
         "-keyout", d / "ca.key", "-out", d / "ca.pem"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", d / "key.pem",
         "-out", d / "req.csr"],
        ["x509", "-req", "-in", d / "req.csr", "-CA", d / "ca.pem", "-CAkey", d / "ca.key", "-CAcreateserial",
         "-days", "1", "-out", d / "cert.pem", "-extfile", d / "ext.cnf"],
    ]
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    for step in steps:
        result = run(openssl, *step)
        assert result.returncode == 0, result.stderr
    (d / "combined.pem").write_text((d / "cert.pem").read_text() + (d / "key.pem").read_text())
    return {"ca": d / "ca.pem", "cert": d / "cert.pem", "key": d / "key.pem", "combined": d / "combined.pem"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """deploy/behind-proxy/gateway.toml, on free ports and a temporary data directory."""
    binary = gateway_bin()
    data = tmp_path_factory.mktemp("gateway-data")
    port, admin = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY")}
    env.update({
        "GATEWAY_CONFIG": str(DEPLOY / "behind-proxy" / "gateway.toml"),
        "GATEWAY__SERVER__LISTEN": f"127.0.0.1:{port}",
        "GATEWAY__ADMIN__LISTEN": f"127.0.0.1:{admin}",
        "GATEWAY__BACKEND__EMBEDDED__DATA_DIR": str(data),
        "GATEWAY__MAIL__DOMAIN": "example.com",
        # Low, so that the X-Forwarded-For check below reaches it in a few requests.
        "GATEWAY__AUTH__MAX_FAILURES_PER_ADDRESS": "3",
    })
    added = run(binary, "user", "add", "alice", "--password", "deploy-check secret", env=env, cwd=data)
    assert added.returncode == 0, added.stderr
    log = open(data / "gateway.log", "w")
    process = subprocess.Popen([binary, "serve"], env=env, cwd=data, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process)
        yield {"port": port, "admin": admin}
    finally:
        stop(process)
        log.close()


def test_health_subcommand_is_the_container_healthcheck(gateway, tmp_path):
    """What the image's HEALTHCHECK runs: 0 while the admin listener answers, 1 otherwise."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY")}
    config = tmp_path / "gateway.toml"
    config.write_text(f'[admin]\nlisten = "0.0.0.0:{gateway["admin"]}"\n')
    for extra, expected in [([], "/healthz ok"), (["--ready"], "/readyz ok")]:
        result = run(gateway_bin(), "--config", config, "health", *extra, env=env)
        assert result.returncode == 0 and result.stdout.strip() == expected, result.stdout + result.stderr
    config.write_text(f'[admin]\nlisten = "127.0.0.1:{free_port()}"\n')
    down = run(gateway_bin(), "--config", config, "health", env=env)
    assert down.returncode == 1 and "caldav-gateway health:" in down.stderr, down.stderr
    config.write_text("")
    unset = run(gateway_bin(), "--config", config, "health", env=env)
    assert unset.returncode == 1 and "no admin listener" in unset.stderr, unset.stderr


def nginx_site(certificates, upstream: int, https: int, http: int) -> str:
    """The shipped site with this machine's ports and the test certificate put in."""
    site = (DEPLOY / "nginx" / "caldav-gateway.conf").read_text()
    replacements = [
        ("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https} ssl http2;"),
        ("listen [::]:443 ssl http2;", ""),
        ("listen 80;", f"listen 127.0.0.1:{http};"),
        ("listen [::]:80;", ""),
        ("/etc/letsencrypt/live/caldav.example.com/fullchain.pem", str(certificates["cert"])),
        ("/etc/letsencrypt/live/caldav.example.com/privkey.pem", str(certificates["key"])),
    ]
    for old, new in replacements:
        assert old in site, f"deploy/nginx/caldav-gateway.conf no longer has {old!r}"
        site = site.replace(old, new)
    return site


def nginx_main_config(directory: Path, site: Path) -> Path:
    directory.chmod(0o755)
    main = directory / "nginx.conf"
    temp = "\n".join(f"    {kind}_temp_path {directory / kind};" for kind in
                     ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"])
    main.write_text(
        f"daemon off;\npid {directory / 'nginx.pid'};\nerror_log {directory / 'error.log'};\n"
        f"events {{}}\nhttp {{\n    access_log {directory / 'access.log'};\n{temp}\n    include {site};\n}}\n")
    return main


def test_nginx_example_passes_nginx_t(certificates, tmp_path):
    nginx = tool("nginx")
    site = tmp_path / "caldav-gateway.conf"
    site.write_text(nginx_site(certificates, 8080, 443, 80))
    result = run(nginx, "-t", "-p", tmp_path, "-c", nginx_main_config(tmp_path, site))
    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr and "[emerg]" not in result.stderr, result.stderr


def haproxy_config(certificates, upstream: int, admin: int, https: int, http: int) -> str:
    config = (DEPLOY / "haproxy" / "haproxy.cfg").read_text()
    replacements = [
        ("log /dev/log local0", "log stderr format raw local0"),
        ("bind :80", f"bind 127.0.0.1:{http}"),
        ("bind :443 ssl crt /etc/haproxy/certs/caldav.example.com.pem",
         f"bind 127.0.0.1:{https} ssl crt {certificates['combined']}"),
        ("server gateway1 127.0.0.1:8080 check port 9090", f"server gateway1 127.0.0.1:{upstream} check port {admin}"),
    ]
    for old, new in replacements:
        assert old in config, f"deploy/haproxy/haproxy.cfg no longer has {old!r}"
        config = config.replace(old, new)
    return config


def test_haproxy_example_passes_haproxy_c(certificates, tmp_path):
    haproxy = tool("haproxy")
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy_config(certificates, 8080, 9090, 443, 80))
    result = run(haproxy, "-c", "-f", config)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "[WARNING]" not in output and "[ALERT]" not in output, output


def assert_serves_caldav_through(proxy: str, https: int, http: int, certificates) -> None:
    with httpx.Client(http2=True, verify=ssl.create_default_context(cafile=certificates["ca"]), timeout=10) as client:
        base = f"https://localhost:{https}"
        for path in ["/", "/dav/"]:
            response = client.request("PROPFIND", base + path, content=PROPFIND, auth=("alice", "deploy-check secret"),
                                      headers={"Depth": "0", "Content-Type": "application/xml"})
            assert response.status_code == 207, (proxy, path, response.status_code, response.text)
            assert response.http_version == "HTTP/2", (proxy, response.http_version)
            assert "/dav/principals/alice/" in response.text, (proxy, response.text)
            assert response.headers["strict-transport-security"] == "max-age=31536000", proxy
        well_known = client.request("PROPFIND", base + "/.well-known/caldav", headers={"Depth": "0"})
        assert well_known.status_code == 301 and well_known.headers["location"].endswith("/dav/"), proxy
        unauthenticated = client.request("PROPFIND", base + "/dav/", headers={"Depth": "0"})
        assert unauthenticated.status_code == 401, proxy
    # curl over HTTP/1.1 with Expect: 100-continue, which reads the early 413 before sending the
    # body (httpx waits for the HTTP/2 window; curl 7.88 takes HAProxy's RST_STREAM after an
    # early answer for an error).
    curl = shutil.which("curl")
    if curl:
        body = certificates["ca"].parent / "too-large.ics"
        body.write_bytes(b"x" * (10 * 1024 * 1024 + 1))
        too_large = run(curl, "-sS", "--http1.1", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", certificates["ca"],
                        "-u", "alice:deploy-check secret", "-T", body,
                        f"https://localhost:{https}/dav/calendars/alice/calendar/too-large.ics")
        assert too_large.stdout == "413", (proxy, too_large.stdout, too_large.stderr)
    redirect = httpx.request("PROPFIND", f"http://127.0.0.1:{http}/dav/", timeout=10)
    assert redirect.status_code == 308, (proxy, redirect.status_code)
    assert redirect.headers["location"].startswith("https://") and redirect.headers["location"].endswith("/dav/")


def assert_counts_refused_logins_per_client(https: int, certificates, guesser: str, bystander: str) -> None:
    """Clients on two loopback addresses behind the one proxy address: the gateway limits the
    guesser by the X-Forwarded-For the proxy added, and the other client is not affected."""

    def client(address: str) -> httpx.Client:
        context = ssl.create_default_context(cafile=certificates["ca"])
        return httpx.Client(transport=httpx.HTTPTransport(http2=True, verify=context, local_address=address),
                            timeout=10)

    url = f"https://localhost:{https}/dav/"
    with client(guesser) as guessing, client(bystander) as other:
        for attempt in range(3):
            refused = guessing.request("PROPFIND", url, auth=(f"guess{attempt}", "wrong"), headers={"Depth": "0"})
            assert refused.status_code == 401, (attempt, refused.status_code)
        limited = guessing.request("PROPFIND", url, auth=("guess3", "wrong"), headers={"Depth": "0"})
        assert limited.status_code == 429 and "retry-after" in limited.headers, limited.status_code
        unaffected = other.request("PROPFIND", url, auth=("someone", "wrong"), headers={"Depth": "0"})
        assert unaffected.status_code == 401, "the proxy's address was counted, not the client's"


def test_propfind_through_nginx(gateway, certificates, tmp_path):
    nginx = tool("nginx")
    https, http = free_port(), free_port()
    site = tmp_path / "caldav-gateway.conf"
    site.write_text(nginx_site(certificates, gateway["port"], https, http))
    process = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(nginx_main_config(tmp_path, site))],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(https, process)
        assert_serves_caldav_through("nginx", https, http, certificates)
        assert_counts_refused_logins_per_client(https, certificates, "127.0.0.2", "127.0.0.3")
    finally:
        stop(process)


def test_propfind_through_haproxy(gateway, certificates, tmp_path):
    haproxy = tool("haproxy")
    https, http = free_port(), free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy_config(certificates, gateway["port"], gateway["admin"], https, http))
    process = subprocess.Popen([haproxy, "-db", "-f", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        wait_for_port(https, process)
        # The health check (/readyz on the admin listener) marks the server up first.
        deadline = time.monotonic() + 15
        while True:
            probe = httpx.get(f"https://localhost:{https}/", verify=ssl.create_default_context(cafile=certificates["ca"]), timeout=5)
            if probe.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert_serves_caldav_through("haproxy", https, http, certificates)
        assert_counts_refused_logins_per_client(https, certificates, "127.0.0.4", "127.0.0.5")
    finally:
        stop(process)
