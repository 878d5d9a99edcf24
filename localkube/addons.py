"""Objects the cluster needs before anyone uses it: DNS and default storage.

CoreDNS runs on the node as a host process; the ``kube-dns`` Service points
at it through a hand-made EndpointSlice, so pods resolve through the usual
``10.96.0.10`` as on kind or minikube.  Dynamic storage is rancher's
local-path provisioner, running as a pod as upstream ships it, behind a
default StorageClass named ``standard`` (the name minikube uses, and the one
the seed's ``kubectl get pvc`` output shows).
"""

from __future__ import annotations

import json
from typing import Any

from localkube import versions
from localkube.config import DNS_SERVICE_IP, LOCAL_PATH_DIR, NODE_IP

Manifest = dict[str, Any]

PROVISIONER_NAMESPACE = "local-path-storage"
PROVISIONER_IMAGE = f"docker.io/rancher/local-path-provisioner:{versions.LOCAL_PATH_PROVISIONER}"


def coredns_rbac() -> list[Manifest]:
    rules = [
        {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"],
         "verbs": ["list", "watch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
         "verbs": ["list", "watch"]},
    ]
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": "system:coredns"}, "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "system:coredns"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": "system:coredns"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                       "name": "system:coredns"}]},
    ]


def kube_dns() -> list[Manifest]:
    ports = [{"name": "dns", "port": 53, "protocol": "UDP"},
             {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]
    return [
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "kube-dns", "namespace": "kube-system",
                      "labels": {"k8s-app": "kube-dns"}},
         "spec": {"clusterIP": DNS_SERVICE_IP, "ports": [dict(p, targetPort=53) for p in ports]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "kube-dns-node", "namespace": "kube-system",
                      "labels": {"kubernetes.io/service-name": "kube-dns",
                                 "endpointslice.kubernetes.io/managed-by": "localkube"}},
         "addressType": "IPv4",
         "endpoints": [{"addresses": [NODE_IP], "conditions": {"ready": True}}],
         "ports": ports},
    ]


def local_path_provisioner() -> list[Manifest]:
    ns = PROVISIONER_NAMESPACE
    sa = "local-path-provisioner-service-account"
    helper_pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "helper-pod"},
        "spec": {"priorityClassName": "system-node-critical",
                 "tolerations": [{"key": "node.kubernetes.io/disk-pressure",
                                  "operator": "Exists", "effect": "NoSchedule"}],
                 "containers": [{"name": "helper-pod", "image": versions.HELPER_IMAGE,
                                 "imagePullPolicy": "IfNotPresent"}]},
    }
    config = {"nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES",
                               "paths": [str(LOCAL_PATH_DIR)]}]}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": ns}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "local-path-provisioner-role", "namespace": ns},
         "rules": [{"apiGroups": [""], "resources": ["pods"],
                    "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "local-path-provisioner-bind", "namespace": ns},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                     "name": "local-path-provisioner-role"},
         "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": "local-path-provisioner-role"},
         "rules": [
             {"apiGroups": [""],
              "resources": ["nodes", "persistentvolumeclaims", "configmaps", "pods", "pods/log"],
              "verbs": ["get", "list", "watch"]},
             {"apiGroups": [""], "resources": ["persistentvolumes"],
              "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"]},
             {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
             {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"],
              "verbs": ["get", "list", "watch"]},
         ]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "local-path-provisioner-bind"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": "local-path-provisioner-role"},
         "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]},
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "local-path-config", "namespace": ns},
         "data": {
             "config.json": json.dumps(config),
             "setup": '#!/bin/sh\nset -eu\nmkdir -m 0777 -p "$VOL_DIR"\n',
             "teardown": '#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"\n',
             "helperPod.yaml": json.dumps(helper_pod),
         }},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "local-path-provisioner", "namespace": ns},
         "spec": {
             "replicas": 1,
             "selector": {"matchLabels": {"app": "local-path-provisioner"}},
             "template": {
                 "metadata": {"labels": {"app": "local-path-provisioner"}},
                 "spec": {
                     "serviceAccountName": sa,
                     "priorityClassName": "system-node-critical",
                     "containers": [{
                         "name": "local-path-provisioner",
                         "image": PROVISIONER_IMAGE,
                         "imagePullPolicy": "IfNotPresent",
                         "command": ["local-path-provisioner", "--debug", "start",
                                     "--config", "/etc/config/config.json"],
                         "volumeMounts": [{"name": "config-volume",
                                           "mountPath": "/etc/config/"}],
                         "env": [
                             {"name": "POD_NAMESPACE",
                              "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                             {"name": "CONFIG_MOUNT_PATH", "value": "/etc/config/"},
                         ],
                     }],
                     "volumes": [{"name": "config-volume",
                                  "configMap": {"name": "local-path-config"}}],
                 },
             },
         }},
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
         "metadata": {"name": "standard",
                      "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
         "provisioner": "rancher.io/local-path",
         "reclaimPolicy": "Delete",
         "volumeBindingMode": "WaitForFirstConsumer"},
    ]


def all_addons() -> list[Manifest]:
    return [*coredns_rbac(), *kube_dns(), *local_path_provisioner()]
