"""Ray for tests and benchmarks: a local cluster with Serve's proxy, or a separate Ray head with
its job API, on free loopback ports."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from support.ports import HOST, free_port
from support.secrets import development_secrets

START_TIMEOUT_S = 90.0
METRICS_REPORT_MS = 2000


def metrics_url() -> str:
    """The Prometheus endpoint of the connected local cluster's metrics agent."""
    import ray

    node = next(n for n in ray.nodes() if n["Alive"])
    return f"http://{HOST}:{node['MetricsExportPort']}/metrics"


@contextmanager
def serve_cluster() -> Iterator[int]:
    """A local Ray cluster (with the dashboard: clone requests submit jobs to it) and Serve's
    HTTP proxy on a free loopback port, which it yields; torn down after. Its metrics agent
    exports every process's metrics on a free port too (`metrics_url()`)."""
    import ray
    from ray import serve

    from support.leak_scan import scrape, watch_ray_logs

    development_secrets()  # benchmarks too: every replica must share the keys
    metrics_port = free_port()
    workdir = tempfile.mkdtemp(prefix="aivo-ray-")  # short: Ray's socket paths have a length limit
    ray.init(
        num_cpus=2,
        include_dashboard=True,
        dashboard_host=HOST,
        dashboard_port=free_port(),
        log_to_driver=False,
        _temp_dir=workdir,
        _metrics_export_port=metrics_port,
        # processes report their metrics to the agent every 2 s instead of 10 s
        _system_config={"metrics_report_interval_ms": METRICS_REPORT_MS},
    )
    try:
        yield _start_serve()
    finally:
        scrape(f"http://{HOST}:{metrics_port}/metrics")  # Ray's own series and their labels
        serve.shutdown()
        ray.shutdown()
        watch_ray_logs(Path(workdir))
        shutil.rmtree(workdir, ignore_errors=True)


def _start_serve(attempts: int = 3) -> int:
    """Serve's HTTP proxy on a free loopback port, picked once the cluster's processes hold
    theirs; on another if one of Ray's own processes took it in the meantime (seen once in a
    full test run: every test on the cluster failed)."""
    from ray import serve

    attempt = 1
    while True:
        port = free_port()
        try:
            serve.start(http_options={"host": HOST, "port": port})
            return port
        except Exception as error:
            if "Failed to bind" not in str(error) or attempt == attempts:
                raise
        serve.shutdown()
        attempt += 1


@contextmanager
def ray_head(num_cpus: int = 2, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """A Ray head with its dashboard (the job API) on free loopback ports; yields its address.

    Every port is chosen here, since other clusters on the machine hold Ray's defaults. The
    head's environment has no AWS credentials of this process's: `env` is the cluster's own
    (credentials, as an instance role gives a real cluster's nodes), never a job's.
    (A real cluster keeps Ray's token auth; its job clients need RAY_AUTH_MODE=token set before
    `ray` is imported.)
    """
    from support.leak_scan import scrape, watch_ray_logs

    development_secrets()
    workdir = tempfile.mkdtemp(prefix="aivo-ray-")  # short: Ray's socket paths have a length limit
    ports = {
        option: free_port()
        for option in (
            "--port",
            "--dashboard-port",
            "--ray-client-server-port",
            "--node-manager-port",
            "--object-manager-port",
            "--dashboard-agent-listen-port",
            "--dashboard-agent-grpc-port",
            "--runtime-env-agent-port",
            "--metrics-export-port",
        )
    }
    command = [
        str(Path(sys.executable).with_name("ray")),
        "start",
        "--head",
        "--block",
        "--node-ip-address",
        HOST,
        "--dashboard-host",
        HOST,
        "--num-cpus",
        str(num_cpus),
        "--temp-dir",
        workdir,
        "--disable-usage-stats",
        *(str(part) for option in ports.items() for part in option),
    ]
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RAY_ADDRESS"))}
    # no credentials anywhere boto3 would look but `env`: not in files, not from instance metadata
    environment |= {
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        **(env or {}),
    }
    # the job's `python`
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment['PATH']}"
    # Loopback only, so no token: Ray fixes a process's auth mode when it is first imported, and
    # a token-protected head would refuse this process's job client if Ray came in before us.
    environment["RAY_AUTH_MODE"] = "disabled"
    process = subprocess.Popen(
        command,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    address = f"http://{HOST}:{ports['--dashboard-port']}"
    try:
        _wait_for_job_api(address, process)
        yield address
    finally:
        scrape(f"http://{HOST}:{ports['--metrics-export-port']}/metrics")
        process.send_signal(signal.SIGTERM)  # `ray start --block` drains and stops its processes
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        watch_ray_logs(Path(workdir))
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_for_job_api(address: str, process: subprocess.Popen[bytes]) -> None:
    """Until a job is accepted: the dashboard answers before its job agent is up."""
    from ray.job_submission import JobSubmissionClient

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"ray start exited with {process.returncode}")
        try:
            JobSubmissionClient(address).submit_job(entrypoint="true")
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
