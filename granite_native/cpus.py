"""How many CPUs this process may use: its affinity mask, further limited by a cgroup CPU
quota (containers often grant fewer CPUs than the machine shows)."""
import math
import os


def _cgroup2_limit(proc_cgroup, root):
    """Smallest quota/period over the process's cgroup v2 and its ancestors, or None."""
    rel = next((line[3:] for line in proc_cgroup.splitlines() if line.startswith("0::")), None)
    if rel is None:
        return None
    root = os.path.normpath(root)
    path = os.path.normpath(os.path.join(root, rel.strip().lstrip("/")))
    if path != root and not path.startswith(root + os.sep):
        return None
    limit = None
    while True:
        try:
            with open(os.path.join(path, "cpu.max")) as f:
                quota, period = f.read().split()[:2]
            if quota != "max":
                cpus = int(quota) / int(period)
                limit = cpus if limit is None else min(limit, cpus)
        except (OSError, ValueError):
            pass
        if path == root:
            return limit
        path = os.path.dirname(path)


def _cgroup1_limit(root):
    try:
        with open(os.path.join(root, "cpu", "cpu.cfs_quota_us")) as f:
            quota = int(f.read())
        with open(os.path.join(root, "cpu", "cpu.cfs_period_us")) as f:
            period = int(f.read())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def cgroup_cpu_limit(root="/sys/fs/cgroup"):
    """CPUs granted by a cgroup quota (fractional), or None when there is none or it is
    unreadable."""
    try:
        with open("/proc/self/cgroup") as f:
            proc_cgroup = f.read()
    except OSError:
        proc_cgroup = ""
    limit = _cgroup2_limit(proc_cgroup, root)
    return limit if limit is not None else _cgroup1_limit(root)


def usable_cpus():
    """At least 1. A fractional quota rounds down: threads beyond it only get throttled."""
    if hasattr(os, "sched_getaffinity"):
        n = len(os.sched_getaffinity(0))
    else:
        n = os.cpu_count() or 1
    quota = cgroup_cpu_limit()
    if quota is not None:
        n = min(n, math.floor(quota))
    return max(1, n)
