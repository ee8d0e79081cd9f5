"""Lifecycle operations, one module each (create, start, run, kill, delete, query).

Kept free of imports: each command imports only the operation it runs.
"""
