"""Import services (writes), one module per concern; import from the module you need.

    uploads        store a file (UTF-16/32 converted to UTF-8), create and queue a job
    planning       split the stored file into chunk byte ranges and start the chord
    chunks         validate and write one chunk; deliveries, failures, cross-chunk keys
    finishing      the chord callback: totals from the chunk rows, the final status
    control        cancel a job, retry its failed chunks
    sweeps         re-drive stalled imports, delete abandoned uploads
    inbox          import each new file of the inbox folder once
    preview        check the header and first rows before the import runs
    transitions    every change of `ImportJob.status`, one function per transition
    notifications  the uploader's email and the ops alerts
    sending        enqueue the pipeline's tasks by name (no import of batches.tasks)

The import graph is one-way: tasks, admin and commands import these modules; these
modules never import `batches.tasks` (they send tasks by their registered names).
"""
