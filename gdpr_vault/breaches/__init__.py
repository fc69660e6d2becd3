"""Personal-data breaches (GDPR Art. 33, 34): the log, the per-client clocks and the notices.

One incident is recorded once (``Breach`` with versioned facts), fanned out to the clients it
affects (one ``BreachObligation`` each, on that client's contract clock), and notified to each in
phases (``BreachNotice``: an initial notice, then follow-ups). See docs/breaches.md.
"""
