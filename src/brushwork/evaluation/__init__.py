"""``brushwork evaluate``: run methods on (photo, painting) pairs and measure every result the same way.

One module per step, each importing only the ones before it:

* ``inputs``  — photos and paintings (files or folders) read into ``Input`` records;
* ``methods`` — method specs (``gatys[:k=v,...]``, ``arbitrary[:k=v,...]``, ``model:MODEL``,
  ``magenta``) parsed into painters;
* ``report``  — the tables (results.csv, summary.csv), plots and the self-contained report.html;
* ``run``     — jobs, the result cache, measuring, and ``evaluate(config)`` itself.

The Python API is ``brushwork.evaluate`` (= ``brushwork.evaluation.run.evaluate``); the command line
is ``brushwork.cli.evaluate``. Nothing here prints: progress goes to a callback.
"""
