"""The test kit: what a plugin's tests use besides the fixtures of the `commerce` pytest
plugin (`commerce_kernel.testing.fixtures`, loaded automatically once the kernel is
installed). Each concept has its module; the names are re-exported here."""

from __future__ import annotations

from commerce_kernel.testing.backends import (
    Backend,
    TestDatabase,
    backend_urls,
    create_test_database,
    deployment_env,
    free_port,
)
from commerce_kernel.testing.browser import WatchedPage, launched_browser, open_page
from commerce_kernel.testing.clients import SignedIn, client_of, sign_in
from commerce_kernel.testing.deployments import CapturingMailer, Deployment
from commerce_kernel.testing.faults import cut_pubsub
from commerce_kernel.testing.processes import ServerProcess, start_process
from commerce_kernel.testing.servers import serve_app
from commerce_kernel.testing.smtp import SMTPSink
from commerce_kernel.testing.statements import record_statements

__all__ = [
    "Backend",
    "CapturingMailer",
    "Deployment",
    "SMTPSink",
    "ServerProcess",
    "SignedIn",
    "TestDatabase",
    "WatchedPage",
    "backend_urls",
    "client_of",
    "create_test_database",
    "cut_pubsub",
    "deployment_env",
    "free_port",
    "launched_browser",
    "open_page",
    "record_statements",
    "serve_app",
    "sign_in",
    "start_process",
]
