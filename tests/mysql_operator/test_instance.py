"""MySQLInstance: the order of things, what is kept, and password safety."""

from __future__ import annotations

import base64
import json

from mysqlfakes import NASTY_PASSWORD, FakeKube, seed_cr

from mysql_operator import KubeError, MySQLInstance

EXPECTED = [
    ("Deployment", "mysql-instance"),
    ("PersistentVolume", "backup-mysql-instance-pv"),
    ("PersistentVolume", "mysql-instance-pv"),
    ("PersistentVolumeClaim", "backup-mysql-instance-pvc"),
    ("PersistentVolumeClaim", "mysql-instance-pvc"),
    ("Secret", "mysql-instance-credentials"),
    ("Service", "mysql-instance"),
]


async def test_ensure_creates_everything_in_order(fake_kube: FakeKube) -> None:
    instance = MySQLInstance(seed_cr(host_path="/data"), fake_kube)
    # A new Service is reported (as drift, if the instance was up before).
    assert [n.reason for n in await instance.ensure()] == ["ServiceCreated"]
    assert fake_kube.kinds() == EXPECTED
    writes = [ref for verb, ref in fake_kube.calls if verb in ("apply", "create")]
    assert writes.index("Secret default/mysql-instance-credentials") < writes.index(
        "Deployment default/mysql-instance")
    assert writes.index("PersistentVolumeClaim default/mysql-instance-pvc") < writes.index(
        "Deployment default/mysql-instance")
    assert await instance.ensure() == []  # idempotent, nothing to report
    assert fake_kube.kinds() == EXPECTED


async def test_teardown_keeps_the_backups(fake_kube: FakeKube) -> None:
    instance = MySQLInstance(seed_cr(host_path="/data"), fake_kube)
    await instance.ensure()
    await instance.restore()
    fake_kube.put(instance.backup_job.manifest())
    await instance.teardown()
    assert fake_kube.kinds() == [
        ("Job", "backup-mysql-instance-job"),
        ("PersistentVolume", "backup-mysql-instance-pv"),
        ("PersistentVolumeClaim", "backup-mysql-instance-pvc"),
    ]
    deletes = [ref for verb, ref in fake_kube.calls if verb == "delete"]
    assert deletes.index("Deployment default/mysql-instance") < deletes.index(
        "PersistentVolumeClaim default/mysql-instance-pvc")
    await instance.teardown()  # everything already absent


async def test_a_refused_resize_is_a_warning(fake_kube: FakeKube) -> None:
    await MySQLInstance(seed_cr(), fake_kube).ensure()
    fake_kube.fail[("apply", "PersistentVolumeClaim")] = KubeError("forbidden", code=403)
    (notice,) = await MySQLInstance(seed_cr(storage_size="2Gi"), fake_kube).ensure()
    assert notice.reason == "StorageNotResized"
    assert "not resized" in notice.message
    assert ("Deployment", "mysql-instance") in fake_kube.kinds()


async def test_a_changed_password_is_left_to_the_rotation(fake_kube: FakeKube) -> None:
    await MySQLInstance(seed_cr(), fake_kube).ensure()
    changed = MySQLInstance(seed_cr(password="new one"), fake_kube)
    assert await changed.ensure() == []
    stored = fake_kube.stored("Secret", "mysql-instance-credentials")
    assert base64.b64decode(stored["data"]["password"]) == b"otuspassword"
    progress = await changed.sync_password()
    assert progress.phase.value == "running"
    assert ("Job", "rotate-mysql-instance-job") in fake_kube.kinds()


async def test_drift_is_reported(fake_kube: FakeKube) -> None:
    instance = MySQLInstance(seed_cr(), fake_kube)
    await instance.ensure()
    del fake_kube.objects[("Service", "default", "mysql-instance")]
    fake_kube.stored("Deployment", "mysql-instance")["spec"]["replicas"] = 0
    notices = await instance.ensure()
    assert {n.reason for n in notices} == {"ServiceCreated", "DeploymentChanged"}
    assert all(n.drift for n in notices)


async def test_has_data(fake_kube: FakeKube) -> None:
    instance = MySQLInstance(seed_cr(), fake_kube)
    assert not await instance.has_data()
    await instance.ensure()
    assert await instance.has_data()


async def test_no_plaintext_password_in_any_object(fake_kube: FakeKube) -> None:
    cr = seed_cr(password=NASTY_PASSWORD, host_path="/data")
    instance = MySQLInstance(cr, fake_kube)
    await instance.ensure()
    await instance.restore()
    await instance.backup()
    encoded = base64.b64encode(NASTY_PASSWORD.encode()).decode()
    for (kind, _, name), manifest in fake_kube.objects.items():
        text = json.dumps(manifest, ensure_ascii=False)
        assert NASTY_PASSWORD not in text, (kind, name)
        assert json.dumps(NASTY_PASSWORD)[1:-1] not in text, (kind, name)
        if kind != "Secret":
            assert encoded not in text, (kind, name)
    secret = fake_kube.stored("Secret", "mysql-instance-credentials")
    assert secret["data"] == {"password": encoded}


def test_manifests_for_review_are_the_ensured_ones(fake_kube: FakeKube) -> None:
    manifests = MySQLInstance(seed_cr(host_path="/data"), fake_kube).manifests(b"x")
    kinds = sorted((m["kind"], m["metadata"]["name"]) for m in manifests)
    assert kinds == sorted([*EXPECTED, ("Job", "restore-mysql-instance-job"),
                            ("Job", "backup-mysql-instance-job")])
    assert fake_kube.calls == []
