"""The data and backup volumes, dynamic and static (host_path)."""

from __future__ import annotations

import pytest
from mysqlfakes import FakeKube, seed_cr

from mysql_operator import BackupVolume, DataVolume, KubeError, NotReady, StorageNotResized
from mysql_operator._model import NAMESPACE_LABEL, UID_LABEL

UID = "11111111-2222-3333-4444-555555555555"


def test_dynamic_data_claim(fake_kube: FakeKube) -> None:
    cr = seed_cr()
    volume = DataVolume(cr, fake_kube)
    assert volume.volume_manifest() is None
    claim = volume.claim_manifest()
    assert claim["metadata"]["name"] == "mysql-instance-pvc"
    assert claim["metadata"]["ownerReferences"] == [cr.owner_reference()]
    assert claim["spec"] == {"accessModes": ["ReadWriteOnce"],
                             "resources": {"requests": {"storage": "1Gi"}}}
    assert volume.manifests() == [claim]


def test_storage_class_is_passed_on(fake_kube: FakeKube) -> None:
    claim = DataVolume(seed_cr(storage_class="fast"), fake_kube).claim_manifest()
    assert claim["spec"]["storageClassName"] == "fast"


def test_static_data_volume_under_host_path(fake_kube: FakeKube) -> None:
    volume = DataVolume(seed_cr(host_path="/data/"), fake_kube)
    pv = volume.volume_manifest()
    assert pv is not None
    assert pv["metadata"]["name"] == "mysql-instance-pv"
    assert "ownerReferences" not in pv["metadata"]
    assert pv["metadata"]["labels"][NAMESPACE_LABEL] == "default"
    assert pv["metadata"]["labels"][UID_LABEL] == UID
    assert pv["spec"]["hostPath"] == {"path": f"/data/default/mysql-instance-{UID}",
                                      "type": "DirectoryOrCreate"}
    assert pv["spec"]["claimRef"] == {"namespace": "default", "name": "mysql-instance-pvc"}
    assert pv["spec"]["capacity"] == {"storage": "1Gi"}
    claim = volume.claim_manifest()
    assert claim["spec"]["volumeName"] == "mysql-instance-pv"
    assert claim["spec"]["storageClassName"] == pv["spec"]["storageClassName"] == ""
    assert volume.manifests() == [pv, claim]


def test_backup_volume_is_never_owned(fake_kube: FakeKube) -> None:
    volume = BackupVolume(seed_cr(host_path="/data", backup_storage_size="5Gi"), fake_kube)
    pv, claim = volume.manifests()
    assert "ownerReferences" not in claim["metadata"]
    assert "ownerReferences" not in pv["metadata"]
    assert claim["metadata"]["name"] == "backup-mysql-instance-pvc"
    assert pv["metadata"]["name"] == "backup-mysql-instance-pv"
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert pv["spec"]["capacity"]["storage"] == "5Gi"
    # Stable across incarnations: the next object of the same name finds its backups.
    assert pv["spec"]["hostPath"]["path"] == "/data/default/backup-mysql-instance"
    assert UID_LABEL not in pv["metadata"]["labels"]


def test_backup_size_defaults_to_storage_size(fake_kube: FakeKube) -> None:
    claim = BackupVolume(seed_cr(storage_size="3Gi"), fake_kube).claim_manifest()
    assert claim["spec"]["resources"]["requests"]["storage"] == "3Gi"


async def test_data_volume_lifecycle(fake_kube: FakeKube) -> None:
    volume = DataVolume(seed_cr(host_path="/data"), fake_kube)
    assert not await volume.exists()
    await volume.ensure()
    await volume.ensure()
    assert fake_kube.kinds() == [("PersistentVolume", "mysql-instance-pv"),
                                 ("PersistentVolumeClaim", "mysql-instance-pvc")]
    assert await volume.exists()
    await volume.teardown()
    assert fake_kube.objects == {}
    await volume.teardown()


async def test_a_namesakes_volume_is_not_taken(fake_kube: FakeKube) -> None:
    other = DataVolume(seed_cr(host_path="/data"), fake_kube).volume_manifest()
    assert other is not None
    other["metadata"]["labels"][NAMESPACE_LABEL] = "elsewhere"
    other["metadata"]["labels"][UID_LABEL] = "another-uid"
    fake_kube.put(other)
    volume = DataVolume(seed_cr(host_path="/data"), fake_kube)
    with pytest.raises(NotReady, match="belongs to elsewhere/mysql-instance"):
        await volume.ensure()
    await volume.teardown()  # and not deleted either
    assert ("PersistentVolume", "mysql-instance-pv") in fake_kube.kinds()


async def test_waits_for_the_previous_incarnations_volume(fake_kube: FakeKube) -> None:
    old = DataVolume(seed_cr(host_path="/data"), fake_kube).volume_manifest()
    assert old is not None
    old["metadata"]["labels"][UID_LABEL] = "previous-uid"
    old["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    fake_kube.put(old)
    with pytest.raises(NotReady, match="still being deleted"):
        await DataVolume(seed_cr(host_path="/data"), fake_kube).ensure()


async def test_a_refused_resize_is_reported_not_fatal(fake_kube: FakeKube) -> None:
    await DataVolume(seed_cr(), fake_kube).ensure()
    fake_kube.fail[("apply", "PersistentVolumeClaim")] = KubeError(
        "forbidden: only dynamically provisioned pvc can be resized", code=403)
    with pytest.raises(StorageNotResized, match="not resized to 2Gi"):
        await DataVolume(seed_cr(storage_size="2Gi"), fake_kube).ensure()


async def test_a_failed_claim_creation_is_an_error(fake_kube: FakeKube) -> None:
    fake_kube.fail[("apply", "PersistentVolumeClaim")] = KubeError("forbidden", code=403)
    with pytest.raises(KubeError):
        await DataVolume(seed_cr(), fake_kube).ensure()


async def test_backup_volume_is_created_only_if_absent(fake_kube: FakeKube) -> None:
    await BackupVolume(seed_cr(host_path="/data"), fake_kube).ensure()
    claim = fake_kube.stored("PersistentVolumeClaim", "backup-mysql-instance-pvc")
    claim["status"] = {"phase": "Bound"}
    await BackupVolume(seed_cr(host_path="/data", backup_storage_size="9Gi"), fake_kube).ensure()
    claim = fake_kube.stored("PersistentVolumeClaim", "backup-mysql-instance-pvc")
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert claim["status"] == {"phase": "Bound"}
    assert not any(verb in ("apply", "delete") for verb, _ in fake_kube.calls)


async def test_backup_volume_of_another_namespace_is_not_taken(fake_kube: FakeKube) -> None:
    pv = BackupVolume(seed_cr(host_path="/data"), fake_kube).volume_manifest()
    assert pv is not None
    pv["metadata"]["labels"][NAMESPACE_LABEL] = "elsewhere"
    fake_kube.put(pv)
    with pytest.raises(NotReady, match="belongs to elsewhere"):
        await BackupVolume(seed_cr(host_path="/data"), fake_kube).ensure()


def _claim_status(fake_kube: FakeKube, capacity: str, *conditions: dict[str, str]) -> None:
    claim = fake_kube.stored("PersistentVolumeClaim", "mysql-instance-pvc")
    claim["status"] = {"phase": "Bound", "capacity": {"storage": capacity},
                       "conditions": list(conditions)}


async def test_an_expansion_in_progress_is_reported(fake_kube: FakeKube) -> None:
    assert await DataVolume(seed_cr(), fake_kube).ensure() is None  # not bound yet
    _claim_status(fake_kube, "1Gi")
    assert await DataVolume(seed_cr(), fake_kube).ensure() is None
    assert await DataVolume(seed_cr(storage_size="1024Mi"), fake_kube).ensure() is None

    _claim_status(fake_kube, "1Gi", {
        "type": "FileSystemResizePending", "status": "True",
        "message": "Waiting for user to (re-)start a pod to finish file system resize"})
    waiting = await DataVolume(seed_cr(storage_size="2Gi"), fake_kube).ensure()
    assert waiting == (
        "PersistentVolumeClaim mysql-instance-pvc has 1Gi and requests 2Gi: waiting for the "
        "volume to be expanded (FileSystemResizePending: Waiting for user to (re-)start a pod "
        "to finish file system resize)")

    _claim_status(fake_kube, "2Gi")
    assert await DataVolume(seed_cr(storage_size="2Gi"), fake_kube).ensure() is None
