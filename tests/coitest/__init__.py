"""Test helpers for dovecot-coi: the private server harness and protocol
clients that speak raw IMAP, so tests control every byte they send."""
