"""Stylise whole photo collections on Ray Data: on this machine (a local Ray instance) or a cluster.

``plan`` turns a folder or a manifest into items with deterministic output paths, ``worker`` is the
actor that paints them (model loaded once per actor, outputs written atomically by the actor),
``cluster`` starts or joins Ray, ``run`` drives the pipeline and writes ``batch_report.csv``.
Importing this package is cheap: ray and torch load inside the functions that need them.
"""
