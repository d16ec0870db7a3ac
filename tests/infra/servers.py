"""Real servers on 127.0.0.1 for the infra tests: an S3-compatible store (moto), PostgreSQL (Debian's server
binaries, when installed) and an MLflow tracking server.  Each runs as its own process group on a free port and
is stopped by killing exactly the processes it started (never a global `ray stop` / `pkill`)."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
BUCKETS = ("medfuse-dvc", "medfuse-mlflow", "medfuse-ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_tree(pid: int, timeout: float = 5.0) -> None:
    """SIGTERM ``pid`` and all its descendants (and its process group), SIGKILL what is left after ``timeout``."""
    import psutil
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        procs = []
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
    for p in procs:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)


def wait_http(url: str, proc: subprocess.Popen, timeout: float, log: Path | None = None) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: server exited with {proc.returncode}: "
                               f"{log.read_text()[-3000:] if log and log.exists() else ''}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url}: not up after {timeout:.0f} s: {log.read_text()[-3000:] if log else ''}")


@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    env: dict[str, str] = field(default_factory=dict)    # what a client needs to reach it

    def stop(self) -> None:
        kill_tree(self.proc.pid)


def start(cmd: list[str], url: str, ready_path: str, log: Path, env: dict | None = None,
          timeout: float = 60) -> Server:
    """Run ``cmd`` in its own session; returns once ``url + ready_path`` answers 200."""
    fh = open(log, "wb")
    proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    fh.close()
    try:
        wait_http(url + ready_path, proc, timeout, log)
    except BaseException:
        kill_tree(proc.pid)
        raise
    return Server(proc, url)


def start_s3(workdir: Path) -> Server:
    """moto's S3 server with the project's buckets; ``.env`` holds the AWS_* variables for every S3 client."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    srv = start([str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], url, "/moto-api/",
                workdir / "moto.log")
    srv.env = {"AWS_ENDPOINT_URL": url, "MLFLOW_S3_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    import boto3
    s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id="testing", aws_secret_access_key="testing",
                      region_name="us-east-1")
    for b in BUCKETS:
        s3.create_bucket(Bucket=b)
    return srv


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    cands = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(cands[-1]) if cands else None


@dataclass
class Postgres:
    uri: str
    datadir: Path
    as_user: list[str]

    def stop(self) -> None:
        subprocess.run([*self.as_user, _pg_bin("pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


def start_postgres() -> tuple[Postgres | None, str]:
    """A throw-away PostgreSQL cluster on 127.0.0.1 (None + the reason when the server binaries are missing)."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        return None, "PostgreSQL server binaries (initdb, pg_ctl) not installed"
    as_user: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="medfuse-pg-"))
    if os.geteuid() == 0:                                   # postgres refuses to run as root
        import pwd
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(base, ignore_errors=True)
            return None, "running as root and there is no 'postgres' user to run the server"
        os.chown(base, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = base / "data", free_port()
    steps = [[*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "medfuse", "--no-sync"],
             [*as_user, pg_ctl, "-D", str(data), "-w", "-t", "60", "-l", str(base / "pg.log"), "-o",
              f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off", "start"]]
    for cmd in steps:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            shutil.rmtree(base, ignore_errors=True)
            return None, f"{Path(cmd[len(as_user)]).name} failed: {(res.stderr or res.stdout).strip()[-300:]}"
    import psycopg
    with psycopg.connect(f"postgresql://medfuse@127.0.0.1:{port}/postgres", autocommit=True) as conn:
        conn.execute("CREATE DATABASE mlflow")
    return Postgres(f"postgresql+psycopg://medfuse@127.0.0.1:{port}/mlflow", data, as_user), "started"


def start_mlflow(workdir: Path, backend_uri: str, extra_args: list[str], env: dict[str, str]) -> Server:
    """``mlflow server`` on 127.0.0.1 with proxied artifacts in the S3 store (``s3://medfuse-mlflow/artifacts``)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    full_env = {**os.environ, **env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
                "MLFLOW_DISABLE_TELEMETRY": "true"}
    full_env.pop("MLFLOW_TRACKING_URI", None)
    cmd = [str(VENV_BIN / "mlflow"), "server", "--backend-store-uri", backend_uri,
           "--artifacts-destination", "s3://medfuse-mlflow/artifacts", "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1", *extra_args]
    srv = start(cmd, url, "/health", workdir / "mlflow.log", env=full_env, timeout=120)
    srv.env = {"MLFLOW_TRACKING_URI": url}
    return srv
