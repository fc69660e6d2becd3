"""Notices to client controllers: a transactional outbox, delivery by e-mail and signed
webhooks, receipts that start other capabilities' clocks, and alerts to the processor's DPO."""
