"""The test world's shared state: one World that both ports and the control plane read and change."""

import time

from .faults import Consistency, FaultBook, Freeze, Holds
from .github import GitHubStandIn
from .log import RequestLog, SecretBook


class World:
    def __init__(self, latency_ms=0.0):
        self.log = RequestLog()
        self.github = GitHubStandIn()
        self.github_faults = FaultBook("github")
        self.aws_faults = FaultBook("aws")
        self.consistency = Consistency()
        self.freeze = Freeze()
        self.holds = Holds()
        self.paging = {}  # action -> most items per page (like_aws)
        self.secrets = SecretBook()
        self.github.secret_book = self.secrets
        self.latency = max(float(latency_ms), 0.0) / 1000.0

    def add_latency(self):
        """The fixed --latency-ms of every logged request (inside its start..end)."""
        if self.latency:
            time.sleep(self.latency)
