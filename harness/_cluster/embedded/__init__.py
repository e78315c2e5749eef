"""The embedded cluster.

Etcd, the Kubernetes control plane, KWOK and Argo CD as local processes on 127.0.0.1.

Internal: the public API is what ``harness/__init__.py`` exports.
"""
