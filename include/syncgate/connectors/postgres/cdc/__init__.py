"""Log-based change capture for PostgreSQL sources (``source.capture: wal``).

A flow's publication (``FOR TABLE`` its source table) and logical replication slot (``pgoutput``)
carry its changes in commit order. ``changes`` reads them with the SQL slot functions and
reduces them to the net effect per key; the source then reads those keys' rows with the same
typed COPY path cursor flows use. The slot moves only after promote committed the batch and
its watermark (the log position). See docs/wal-capture.md.
"""
