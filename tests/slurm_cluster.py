"""A throwaway single-node SLURM cluster, with or without accounting, brought up by hand for the tests.

For machines without systemd (CI containers): munged, MariaDB, slurmdbd, slurmctld and slurmd run in the
foreground as children of the test, from configuration files written into a fresh temporary directory, on
free ports of 127.0.0.1, and are stopped by their PIDs. Needs root and Debian's `slurm-wlm`, `munge`,
`mariadb-server` and `slurmdbd` packages.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

BINARIES = [
    "mariadb-install-db", "mariadbd", "mariadb", "munged", "slurmdbd", "slurmctld", "slurmd",
    "sbatch", "srun", "squeue", "sacct", "sacctmgr", "scontrol", "sinfo", "scancel",
]  # fmt: skip
APT_PACKAGES = "slurm-wlm munge mariadb-server slurmdbd"
# srun inside a job finds no SLURM_CONF (snakemake's jobstep executor drops the SLURM_* variables it
# inherits), so it reads the default configuration file: the cluster links its own there while it runs.
DEFAULT_SLURM_CONF = Path("/etc/slurm/slurm.conf")
NAME = "binlatent"  # cluster, partition and account
DB_USER = "slurm"
MIN_JOB_AGE = 300  # seconds squeue shows a finished job (SLURM's default), stated for the no-accounting variant


def why_unavailable() -> str:
    """Why this machine cannot host the test cluster, or "" when it can."""
    missing = [name for name in BINARIES if shutil.which(name) is None]
    if missing:
        return f"no {', '.join(missing)} on PATH: install the Debian packages {APT_PACKAGES} (CI does)"
    if os.geteuid() != 0:
        return "the test cluster's daemons start as root"
    if DEFAULT_SLURM_CONF.exists() or DEFAULT_SLURM_CONF.is_symlink():
        return f"{DEFAULT_SLURM_CONF} exists: a SLURM configuration of this machine's (or a killed test run's link)"
    return ""


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Cluster:
    """A cluster's files, ports and daemons; `env` points SLURM's commands at it."""

    root: Path  # configuration, sockets, state
    log_dir: Path  # the daemons' logs
    accounting: bool  # slurmdbd and MariaDB behind sacct, or no accounting at all
    env: dict[str, str] = field(init=False)
    host: str = field(default_factory=lambda: socket.gethostname().split(".")[0])
    ports: dict[str, int] = field(default_factory=lambda: {d: free_port() for d in ("slurmctld", "slurmd", "slurmdbd")})
    partition: str = NAME
    account: str | None = None  # registered with sacctmgr when there is accounting
    daemons: dict[str, subprocess.Popen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = {**os.environ, "SLURM_CONF": str(self.root / "slurm.conf")}

    @property
    def munge_socket(self) -> Path:
        return self.root / "munge" / "munge.socket"

    def run(self, *cmd: str, timeout: float = 30) -> str:
        """Run a command against the cluster; its stdout. A failure raises with its output and the daemons' logs."""
        result = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {result.stdout}{result.stderr}\n{self.logs()}")
        return result.stdout

    def query(self, *cmd: str) -> str | None:
        """A command's stdout, or None when it fails or takes over 10 s (while a daemon comes up)."""
        try:
            result = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=10)
        except subprocess.TimeoutExpired:
            return None
        return result.stdout if result.returncode == 0 else None

    def start(self, name: str, cmd: list[str], ready: Callable[[], bool], timeout: float, **popen) -> None:
        """Start a daemon in the foreground and wait until `ready()`; it fails with the daemons' logs."""
        with open(self.log_dir / f"{name}.out", "w") as out:
            self.daemons[name] = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT, **popen)
        deadline = time.monotonic() + timeout
        while not ready():
            if self.daemons[name].poll() is not None:
                raise RuntimeError(f"{name} exited with {self.daemons[name].returncode}\n{self.logs()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready after {timeout:.0f} s\n{self.logs()}")
            time.sleep(0.2)

    def logs(self, lines: int = 15) -> str:
        """The last lines of every daemon's log, for error messages."""
        parts = []
        for path in sorted(self.log_dir.glob("*")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel what still runs, then stop every daemon this cluster started, newest first, by PID."""
        if "slurmctld" in self.daemons and self.daemons["slurmctld"].poll() is None:
            self.query("scancel", "--full", f"--partition={self.partition}")
        for process in reversed(self.daemons.values()):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


def slurm_conf(c: Cluster) -> str:
    """One node with this machine's CPUs and 80 % of its memory, one partition; accounting through slurmdbd or none."""
    cpus = os.cpu_count() or 1
    memory_mb = int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20 * 0.8)
    accounting = f"""\
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort={c.ports["slurmdbd"]}
AccountingStoragePass={c.munge_socket}
AccountingStoreFlags=job_comment
"""
    return f"""\
ClusterName={NAME}
SlurmctldHost={c.host}(127.0.0.1)
SlurmctldPort={c.ports["slurmctld"]}
SlurmdPort={c.ports["slurmd"]}
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket={c.munge_socket}
StateSaveLocation={c.root}/state
SlurmdSpoolDir={c.root}/spool
SlurmctldPidFile={c.root}/slurmctld.pid
SlurmdPidFile={c.root}/slurmd.pid
SlurmctldLogFile={c.log_dir}/slurmctld.log
SlurmdLogFile={c.log_dir}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
# Without a default, a job that asks for no memory is given the whole node, and jobs run one at a time.
DefMemPerCPU=1000
ReturnToService=2
MinJobAge={MIN_JOB_AGE}
{accounting if c.accounting else "AccountingStorageType=accounting_storage/none"}
NodeName={c.host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName={NAME} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def start_munge(c: Cluster, timeout: float) -> None:
    """munged as the munge user, with a fresh key, on a socket of its own."""
    munge = c.munge_socket.parent
    munge.mkdir()
    munge.chmod(0o755)  # munged wants its socket's folder open to every user
    key = munge / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    for path in (munge, key):
        shutil.chown(path, "munge", "munge")
    cmd = ["munged", "--foreground", f"--socket={c.munge_socket}", f"--key-file={key}"]
    cmd += [f"--pid-file={munge}/munged.pid", f"--log-file={munge}/munged.log", f"--seed-file={munge}/munged.seed"]
    c.start("munged", cmd, c.munge_socket.exists, timeout, user="munge", group="munge")


def start_accounting(c: Cluster, timeout: float) -> None:
    """MariaDB with a data directory of its own, slurmdbd on it, and the cluster's account registered."""
    data, sock, port, password = c.root / "mysql", c.root / "mysql.sock", free_port(), secrets.token_hex(8)
    c.run("mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root", "--skip-test-db", timeout=timeout)
    cmd = ["mariadbd", "--no-defaults", f"--datadir={data}", f"--socket={sock}", f"--port={port}"]
    cmd += ["--bind-address=127.0.0.1", "--skip-name-resolve", "--user=root", f"--log-error={c.log_dir}/mariadb.log"]
    c.start("mariadbd", cmd, lambda: port_open(port), timeout)
    sql = f"CREATE USER '{DB_USER}'@'127.0.0.1' IDENTIFIED BY '{password}'; "
    sql += f"GRANT ALL ON slurm_acct_db.* TO '{DB_USER}'@'127.0.0.1';"
    c.run("mariadb", "--no-defaults", f"--socket={sock}", "--user=root", "-e", sql)

    dbd_conf = c.root / "slurmdbd.conf"  # slurmdbd reads it beside slurm.conf; it must be private
    dbd_conf.touch(mode=0o600)
    dbd_conf.write_text(f"""\
AuthType=auth/munge
AuthInfo=socket={c.munge_socket}
DbdHost={c.host}
DbdAddr=127.0.0.1
DbdPort={c.ports["slurmdbd"]}
SlurmUser=root
PidFile={c.root}/slurmdbd.pid
LogFile={c.log_dir}/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={port}
StorageUser={DB_USER}
StoragePass={password}
StorageLoc=slurm_acct_db
""")
    c.start("slurmdbd", ["slurmdbd", "-D"], lambda: port_open(c.ports["slurmdbd"]), timeout)
    c.run("sacctmgr", "--immediate", "add", "cluster", NAME)
    c.run("sacctmgr", "--immediate", "add", "account", NAME, f"cluster={NAME}")
    c.run("sacctmgr", "--immediate", "add", "user", "root", f"account={NAME}", f"cluster={NAME}")
    c.account = NAME


@contextmanager
def slurm_cluster(log_dir: Path, accounting: bool = True, timeout: float = 60) -> Iterator[Cluster]:
    """Bring the cluster up (each daemon within `timeout` s), yield it, and stop every daemon it started."""
    reason = why_unavailable()  # also: one cluster at a time, since the default configuration file links to it
    if reason:
        raise RuntimeError(f"cannot bring up a SLURM cluster: {reason}")
    root = Path(tempfile.mkdtemp(prefix="slurm-"))  # short: a socket's path has at most 107 bytes
    root.chmod(0o755)  # the munge user enters it
    log_dir.mkdir(parents=True, exist_ok=True)
    c = Cluster(root, log_dir, accounting)
    linked = False
    try:
        start_munge(c, timeout)
        (root / "slurm.conf").write_text(slurm_conf(c))
        DEFAULT_SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
        DEFAULT_SLURM_CONF.symlink_to(root / "slurm.conf")
        linked = True
        if accounting:
            start_accounting(c, timeout)
        for folder in ("state", "spool"):
            (root / folder).mkdir()
        c.start("slurmctld", ["slurmctld", "-D"], lambda: c.query("scontrol", "ping") is not None, timeout)
        idle = lambda: (c.query("sinfo", "--noheader", "--format=%t") or "").strip() == "idle"  # noqa: E731
        c.start("slurmd", ["slurmd", "-D", "-N", c.host], idle, timeout)
        yield c
    finally:
        c.stop()
        if linked:
            DEFAULT_SLURM_CONF.unlink()
        shutil.rmtree(root, ignore_errors=True)
