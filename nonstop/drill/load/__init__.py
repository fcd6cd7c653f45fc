"""The drill's load: Locust in its own processes, every request streamed back live.

Locust is never imported here (it monkey-patches sockets and threads): `LoadRunner` (runner.py)
starts ``python -m locust --headless`` with this interpreter — one process, or a master and N
workers in Locust's own master/worker mode — and listens on a loopback socket that the
``nonstop_stream`` plugin of every request-sending Locust process connects to
(locustfiles/nonstop_stream.py has the protocol; stream.py decodes it). Records arrive in batches
every 50 ms and reach the drill as `RequestSample` objects through the ``on_samples`` callback,
called from the runner's own thread.

**External workers** (`ExternalWorkers` in workers.py, the Argo workflow's worker pods): with
``load.workers > 0`` and ``external_workers`` given, the runner starts only the master, bound on
``ExternalWorkers.bind_host:master_port`` with ``--expect-workers N``, and listens for records on
``bind_host:sink_port``. Workers need nothing but ``locust --worker --master-host H --master-port P -f
<locustfile>,nonstop_stream.py``: the master's environment holds the sink as ``:<sink_port>`` (empty
host) and the token, the plugins turn them and the load settings into Locust options, and Locust's
master sends its options to every worker with the first spawn message; a worker then connects to the
sink port on the host of its master. The sink still drops any connection whose first line lacks the
run's token. Anyone who can reach the master port can join as a worker and so receive that token:
the token keeps strays and port scans out, and a NetworkPolicy is what keeps other pods out
(docs/gitops.md).

No child outlives the runner (processes.py): each Locust process runs in its own process group with
PR_SET_PDEATHSIG = SIGKILL set before it execs Locust (so it dies with the thread that started it, which
lives until every child is reaped); `stop()` sends SIGTERM (Locust stops its users and flushes its
last records), then SIGKILLs each process group after the grace period.
"""

from nonstop.drill.load.runner import BUNDLED_LOCUSTFILE, STREAM_PLUGIN, LoadRunner
from nonstop.drill.load.stream import LoadStats
from nonstop.drill.load.workers import ExternalWorkers, external_workers_from_env

__all__ = [
    "BUNDLED_LOCUSTFILE",
    "STREAM_PLUGIN",
    "ExternalWorkers",
    "LoadRunner",
    "LoadStats",
    "external_workers_from_env",
]
