"""The running gateway: build and run (``process``), workers (``supervisor``, ``roles``), the
control plane (``control``, ``admin_api``, ``pac``, ``portal_tls``), metrics, logs, the chain of
stages (``stages``), each domain's runtime (``wiring/``) and the state database (``state/``)."""
