"""The server's GraphQL API: the schema (``*.graphql``), its executor, and the resolvers.

:mod:`.executor` runs a request; :mod:`.query_root` and :mod:`.mutation_root` are the two roots;
:mod:`.nodes` and :mod:`.artifact_nodes` shape store rows into GraphQL objects; the
``*_mutations`` modules write through the store layer. Imports only go downwards, into
:mod:`wb_dagster.testing.store`.
"""
