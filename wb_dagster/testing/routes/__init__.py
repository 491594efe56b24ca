"""The server's starlette route groups, one module per group (GraphQL, files, file_stream,
artifacts, test controls, OTel); :mod:`wb_dagster.testing.app` mounts them.
"""
