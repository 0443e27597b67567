"""Redaction: rules that scrub secrets and personal data from every event before it is stored.

Owned by the redaction work. `service.RedactionRules` is the domain object: the AdminService RPCs
for rules and the compiled redactor of each project that `server.ingest.Ingest` applies.
"""
