"""frl.collectors: batches of transitions from envs and a policy, as TorchRL's collectors give them.

`SyncCollector` runs in the caller's process (one compiled step for stateless envs, a host loop for
adapters); `AsyncCollector` runs one collector per worker process and delivers batches as they are
ready, with the policy weights broadcast to the workers through shared memory.
"""

from frl.collectors.async_ import AsyncCollector, WorkerError
from frl.collectors.sync import SyncCollector, is_host_env

__all__ = ["SyncCollector", "AsyncCollector", "WorkerError", "is_host_env"]
