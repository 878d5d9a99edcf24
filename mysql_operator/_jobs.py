"""The backup and restore Jobs, their shell scripts, and reading their results.

Both Jobs run the instance's own image (it has mysql, mysqldump and sh) and
reach the server through its Service.  The password comes only from the
environment variable ``MYSQL_PWD`` (a ``secretKeyRef``), which the MySQL
clients read by themselves: the scripts never mention it, so no quoting
problem and no leak is possible whatever characters it holds.  The scripts
are constants; the database name reaches them as ``$MYSQL_DATABASE``, always
double-quoted (and backtick-quoted in SQL; the name's pattern forbids backticks).

Each Job reports its result as one line of JSON in its termination message
(``/dev/termination-log``), which the operator reads from the pod status.
On failure, ``FallbackToLogsOnError`` puts the tail of the log there instead.
"""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from ._errors import NotReady, RestoreFailed
from ._kube import Kube, Manifest, ObjectRef
from ._model import MYSQL_PORT, OWNER_UID_ANNOTATION, MySQL
from ._secret import PASSWORD_KEY, PENDING_KEY

BACKUP_DIR = "/backup"
TERMINATION_LOG = "/dev/termination-log"
BACKOFF_LIMIT = 2
DUMP_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
# A failed backup Job is retried after a delay that doubles with each attempt.
FIRST_BACKUP_RETRY_DELAY = 10.0
MAX_BACKUP_RETRY_DELAY = 600.0
# The backup attempt a Job is (1, 2, ...), and, on a failed Job, that its
# failure was reported (so a Warning is posted once per attempt).
ATTEMPT_ANNOTATION = "otus.homework/attempt"
REPORTED_ANNOTATION = "otus.homework/reported"
# Log lines read when a pod has no termination message.
LOG_TAIL = 20
# How long a finished Job's pod may take to show the termination message.
RESULT_GRACE_SECONDS = 120

# The scripts read everything from the environment the Job sets (see
# _job_manifest); a unit test runs them with stand-in mysql clients.
#
# A Service routes to a new pod a moment after the pod is Ready (kube-proxy
# syncs its rules in the background), and a server may be restarting: a Job
# waits for the server to answer instead of failing on the first refused
# connection.  `mysqladmin ping` succeeds whenever the server answers, even
# when it refuses the password, so this step needs no password.  The wait is
# short: a server that is down fails the Job's pod, and the Job retries.
SERVER_WAIT_ATTEMPTS = 10
SERVER_WAIT_SECONDS = 2
WAIT_FOR_SERVER = f"""\
attempt=1
until out="$(mysqladmin --host="$MYSQL_HOST" --port="$MYSQL_PORT" --protocol=TCP \\
    --connect-timeout=5 ping 2>&1)"; do
  if [ "$attempt" -ge {SERVER_WAIT_ATTEMPTS} ]; then
    echo "no answer from $MYSQL_HOST:$MYSQL_PORT after {SERVER_WAIT_ATTEMPTS} attempts:" \\
      "$(printf "%s" "$out" | tr "\\n" " ")" >&2
    exit 2
  fi
  attempt=$((attempt + 1))
  sleep {SERVER_WAIT_SECONDS}
done
"""

# During a password rotation the server may already have the pending password.
PASSWORD_FALLBACK = """\
if [ -n "${PENDING_PASSWORD:-}" ] && ! mysql --host="$MYSQL_HOST" --port="$MYSQL_PORT" \\
    --protocol=TCP --user=root --execute='SELECT 1' >/dev/null 2>&1; then
  MYSQL_PWD="$PENDING_PASSWORD"; export MYSQL_PWD
fi
"""

# Dump to a temporary file, then rename: a failed dump never replaces a good one.
# `--` ends the options, so a database name that starts with '-' stays a name.
BACKUP_SCRIPT = "set -eu\n" + WAIT_FOR_SERVER + PASSWORD_FALLBACK + """\
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
file="dump-$stamp.sql"
tmp="$BACKUP_DIR/$file.tmp"
trap 'rm -f "$tmp"' EXIT
echo "dumping database $MYSQL_DATABASE from $MYSQL_HOST into $BACKUP_DIR/$file"
mysqldump --host="$MYSQL_HOST" --port="$MYSQL_PORT" --protocol=TCP --user=root \\
  --single-transaction --routines --triggers -- "$MYSQL_DATABASE" > "$tmp"
mv "$tmp" "$BACKUP_DIR/$file"
size="$(wc -c < "$BACKUP_DIR/$file" | tr -d ' ')"
finished="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "backup complete: $BACKUP_DIR/$file, $size bytes"
printf '{"file": "%s", "size": %s, "time": "%s"}\\n' "$file" "$size" "$finished" \\
  | tee "$TERMINATION_LOG"
"""

# Dump names sort by time, and sh expands a glob in sorted order: the last is the newest.
# With nothing to restore, the server is not needed.
RESTORE_SCRIPT = """\
set -eu
latest=""
for f in "$BACKUP_DIR"/dump-*.sql; do
  if [ -f "$f" ]; then latest="$f"; fi
done
if [ -z "$latest" ]; then
  echo "no backup in $BACKUP_DIR: nothing to restore"
  printf '{"file": null, "time": "%s"}\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \\
    | tee "$TERMINATION_LOG"
  exit 0
fi
""" + WAIT_FOR_SERVER + PASSWORD_FALLBACK + """\
echo "restoring $latest into database $MYSQL_DATABASE"
mysql --host="$MYSQL_HOST" --port="$MYSQL_PORT" --protocol=TCP --user=root \\
  --execute="CREATE DATABASE IF NOT EXISTS \\`$MYSQL_DATABASE\\`"
mysql --host="$MYSQL_HOST" --port="$MYSQL_PORT" --protocol=TCP --user=root \\
  --database="$MYSQL_DATABASE" < "$latest"
echo "restore complete"
printf '{"file": "%s", "time": "%s"}\\n' "${latest##*/}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \\
  | tee "$TERMINATION_LOG"
"""


class JobPhase(enum.Enum):
    ABSENT = "absent"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def job_phase(job: Manifest | None) -> JobPhase:
    """The phase of a Job from its terminal conditions (Complete / Failed)."""
    if job is None:
        return JobPhase.ABSENT
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return JobPhase.SUCCEEDED
        if condition.get("type") == "Failed":
            return JobPhase.FAILED
    return JobPhase.RUNNING


def dump_time(file: str) -> str | None:
    """When a dump was taken, from its name ``dump-YYYYmmddTHHMMSSZ.sql``."""
    stamp = file.removeprefix("dump-").removesuffix(".sql")
    try:
        taken = datetime.strptime(stamp, DUMP_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
    return taken.strftime("%Y-%m-%dT%H:%M:%SZ")


async def termination_message(kube: Kube, job: Manifest) -> str:
    """The termination message of the Job's last pod (the succeeded one if any)."""
    uid = job["metadata"]["uid"]
    pods = await kube.list("v1", "Pod", job["metadata"]["namespace"],
                           f"batch.kubernetes.io/controller-uid={uid}")
    pods.sort(key=lambda p: (p.get("status", {}).get("phase") == "Succeeded",
                             p["metadata"].get("creationTimestamp", "")))
    for pod in reversed(pods):
        for status in pod.get("status", {}).get("containerStatuses") or []:
            terminated = (status.get("state") or {}).get("terminated") or {}
            if terminated.get("message"):
                return str(terminated["message"]).strip()
    # The kubelet does not always pick the message up (seen with very short
    # containers): the scripts print their summary as the last log line too.
    for pod in reversed(pods):
        if (pod.get("status") or {}).get("containerStatuses"):
            metadata = pod["metadata"]
            return (await kube.logs(metadata["namespace"], metadata["name"], LOG_TAIL)).strip()
    return ""


def _job_failure(job: Manifest, message: str) -> str:
    reason = next(
        (f"{c.get('reason')}: {c.get('message')}"
         for c in (job.get("status") or {}).get("conditions") or []
         if c.get("type") == "Failed"),
        "failed",
    )
    tail = f"; last output: {message[-500:]}" if message else ""
    return f"Job {job['metadata']['name']} {reason}{tail}"


def _failed_at(job: Manifest, default: datetime) -> datetime:
    """When the Job failed (its Failed condition's transition), else ``default``."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Failed" and condition.get("lastTransitionTime"):
            try:
                return datetime.fromisoformat(condition["lastTransitionTime"])
            except ValueError:
                break
    return default


def _attempt(value: Any) -> int:
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return 1


def parse_summary(message: str) -> dict[str, Any]:
    """The last line of ``message`` that is a JSON object ({} if none)."""
    for line in reversed(message.strip().splitlines()):
        if not line.startswith("{"):
            continue
        try:
            summary = json.loads(line)
        except ValueError:
            continue
        if isinstance(summary, dict):
            return summary
    return {}


# The earlier private name, still imported by mysql_operator.client.
_parse_summary = parse_summary


def _size(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _completed_within(job: Manifest, seconds: float) -> bool:
    """Whether the Job completed less than ``seconds`` ago (or has no completion time)."""
    completion = (job.get("status") or {}).get("completionTime")
    try:
        done = datetime.strptime(str(completion), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return True
    return (datetime.now(UTC) - done).total_seconds() < seconds


def _finished(job: Manifest, summary: dict[str, Any]) -> str:
    """When the Job's script finished; the Job's completion time if it did not say."""
    reported = summary.get("time")
    if isinstance(reported, str) and reported:
        return reported
    completion = (job.get("status") or {}).get("completionTime")
    return str(completion) if completion else datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _job_manifest(
    cr: MySQL, *, name: str, component: str, script: str, metadata: dict[str, Any]
) -> Manifest:
    """A Job that runs ``script`` in the instance's image with the backup volume."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": cr.namespace,
            "labels": {**cr.labels(component), "app": cr.name},
            **metadata,
        },
        "spec": {
            "backoffLimit": BACKOFF_LIMIT,
            "template": {
                # No app=<name> here: the Service and the seed's `kubectl get pods
                # -l app=<name>` must find the server's pod only.
                "metadata": {"labels": cr.labels(component)},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": component,
                            "image": cr.spec.image,
                            "command": ["sh", "-c", script],
                            "env": [
                                {"name": "MYSQL_HOST", "value": cr.names.service},
                                {"name": "MYSQL_PORT", "value": str(MYSQL_PORT)},
                                {"name": "BACKUP_DIR", "value": BACKUP_DIR},
                                {"name": "TERMINATION_LOG", "value": TERMINATION_LOG},
                                {"name": "MYSQL_DATABASE", "value": cr.spec.database},
                                {
                                    "name": "MYSQL_PWD",
                                    "valueFrom": {
                                        "secretKeyRef": {
                                            "name": cr.names.secret,
                                            "key": PASSWORD_KEY,
                                        }
                                    },
                                },
                                {
                                    "name": "PENDING_PASSWORD",
                                    "valueFrom": {
                                        "secretKeyRef": {
                                            "name": cr.names.secret,
                                            "key": PENDING_KEY,
                                            "optional": True,
                                        }
                                    },
                                },
                            ],
                            "volumeMounts": [{"name": "backup", "mountPath": BACKUP_DIR}],
                            "terminationMessagePath": TERMINATION_LOG,
                            "terminationMessagePolicy": "FallbackToLogsOnError",
                        }
                    ],
                    "volumes": [
                        {
                            "name": "backup",
                            "persistentVolumeClaim": {"claimName": cr.names.backup_claim},
                        }
                    ],
                },
            },
        },
    }


@attrs.frozen
class BackupResult:
    job: str
    file: str
    size: int
    time: str


def backup_retry_delay(attempt: int) -> float:
    """Seconds from the failure of backup attempt ``attempt`` (1, 2, ...) to the next one."""
    return min(FIRST_BACKUP_RETRY_DELAY * 2.0 ** min(attempt - 1, 32), MAX_BACKUP_RETRY_DELAY)


@attrs.frozen
class BackupProgress:
    """Where a backup stands: still running, done (with its result), or failed (why)."""

    phase: JobPhase
    result: BackupResult | None = None
    failure: str = ""
    # True when this step created the Job (the backup just started).
    started: bool = False
    # Which attempt the Job is; after a failure, the seconds until the next one
    # and whether this step is the first to see the failure.
    attempt: int = 1
    retry_in: float = 0.0
    new_failure: bool = False


class BackupJob:
    """Job ``backup-<name>-job``: NOT owned, so it outlives the MySQL object (as in the seed).

    The annotation ``otus.homework/owner-uid`` tells this object's run from a
    previous namesake's, which is removed before a new run.

    A failed Job stays, as the record of why (``kubectl describe job``), until
    the next attempt is due: ``backup_retry_delay`` after its failure, growing
    with the attempt number the Job carries.  Then the same step replaces it.
    """

    def __init__(self, cr: MySQL, kube: Kube) -> None:
        self._cr = cr
        self._kube = kube

    def manifest(self, attempt: int = 1) -> Manifest:
        cr = self._cr
        return _job_manifest(
            cr,
            name=cr.names.backup_job,
            component="backup",
            script=BACKUP_SCRIPT,
            metadata={"annotations": {OWNER_UID_ANNOTATION: cr.uid,
                                      ATTEMPT_ANNOTATION: str(attempt)}},
        )

    def _ref(self) -> ObjectRef:
        return ObjectRef("batch/v1", "Job", self._cr.names.backup_job, self._cr.namespace)

    async def run(self, now: datetime | None = None) -> BackupProgress:
        """Advance the backup by one step; call again until it is SUCCEEDED.

        FAILED says why, and when the next attempt is due; the call that
        finds it due starts it.
        """
        job = await self._kube.get(self._ref())
        phase = job_phase(job)
        if job is not None and job["metadata"].get("deletionTimestamp"):
            raise NotReady(f"waiting for the deletion of Job {self._cr.names.backup_job}", delay=3)
        if job is not None and job["metadata"].get("annotations", {}).get(
            OWNER_UID_ANNOTATION
        ) != self._cr.uid:
            if phase is JobPhase.RUNNING:
                raise NotReady(f"an earlier Job {self._cr.names.backup_job} is still running")
            await self._kube.delete(self._ref())
            raise NotReady(f"removed the earlier Job {self._cr.names.backup_job}", delay=3)
        if job is None:
            created = await self._kube.create(self.manifest())
            return BackupProgress(JobPhase.RUNNING, started=created is not None)
        if phase is JobPhase.SUCCEEDED:
            summary = parse_summary(await termination_message(self._kube, job))
            return BackupProgress(
                phase,
                BackupResult(
                    job=self._cr.names.backup_job,
                    file=str(summary.get("file", "")),
                    size=_size(summary.get("size")),
                    time=_finished(job, summary),
                ),
            )
        annotations = job["metadata"].get("annotations", {})
        attempt = _attempt(annotations.get(ATTEMPT_ANNOTATION))
        if phase is JobPhase.FAILED:
            now = now or datetime.now(UTC)
            due = _failed_at(job, now) + timedelta(seconds=backup_retry_delay(attempt))
            if now >= due:
                await self._kube.delete(self._ref())
                created = await self._kube.create(self.manifest(attempt + 1))
                return BackupProgress(JobPhase.RUNNING, started=created is not None,
                                      attempt=attempt + 1)
            failure = _job_failure(job, await termination_message(self._kube, job))
            new = not annotations.get(REPORTED_ANNOTATION)
            if new:
                await self._kube.patch(self._ref(), {"metadata": {"annotations": {
                    REPORTED_ANNOTATION: "true"}}})
            return BackupProgress(phase, failure=failure, attempt=attempt,
                                  retry_in=(due - now).total_seconds(), new_failure=new)
        return BackupProgress(phase, attempt=attempt)

    async def abandon(self) -> bool:
        """Delete this object's unfinished backup Job (when the backup is skipped).

        A completed Job, or one of an earlier namesake, stays: it documents a
        good backup.  True if a Job was deleted.
        """
        job = await self._kube.get(self._ref())
        if job is None or job_phase(job) is JobPhase.SUCCEEDED:
            return False
        if job["metadata"].get("annotations", {}).get(OWNER_UID_ANNOTATION) != self._cr.uid:
            return False
        return await self._kube.delete(self._ref())


@attrs.frozen
class RestoreResult:
    """What the restore Job did: loaded ``file`` (a dump taken at ``backup_time``), or nothing."""

    file: str | None
    time: str
    backup_time: str | None = None


class RestoreJob:
    """Job ``restore-<name>-job``: owned, it belongs to this MySQL object's creation."""

    def __init__(self, cr: MySQL, kube: Kube) -> None:
        self._cr = cr
        self._kube = kube

    def manifest(self) -> Manifest:
        cr = self._cr
        return _job_manifest(
            cr,
            name=cr.names.restore_job,
            component="restore",
            script=RESTORE_SCRIPT,
            metadata={"ownerReferences": [cr.owner_reference()]},
        )

    def _ref(self) -> ObjectRef:
        return ObjectRef("batch/v1", "Job", self._cr.names.restore_job, self._cr.namespace)

    async def run(self) -> RestoreResult | None:
        """Start the restore or read its result; None while it runs.

        Raises RestoreFailed when the Job gave up; it is kept for its logs.
        """
        job = await self._kube.get(self._ref())
        if job is not None:
            owners = [o.get("uid") for o in job["metadata"].get("ownerReferences") or []]
            if self._cr.uid not in owners:
                # A previous namesake's Job that the garbage collector has not removed yet.
                if not job["metadata"].get("deletionTimestamp"):
                    await self._kube.delete(self._ref())
                raise NotReady(f"waiting for the deletion of an earlier Job "
                               f"{self._cr.names.restore_job}", delay=3)
        phase = job_phase(job)
        if job is None:
            await self._kube.create(self.manifest())
            return None
        if phase is JobPhase.RUNNING:
            return None
        message = await termination_message(self._kube, job)
        if phase is JobPhase.FAILED:
            raise RestoreFailed(
                _job_failure(job, message) + f"; delete Job {self._cr.names.restore_job} "
                "to try again"
            )
        summary = parse_summary(message)
        if "file" not in summary and _completed_within(job, RESULT_GRACE_SECONDS):
            # The script always reports; its pod's status may lag behind the Job's.
            raise NotReady(f"waiting for the result of Job {self._cr.names.restore_job}",
                           delay=3)
        file = summary.get("file")
        file = str(file) if file else None
        return RestoreResult(
            file=file,
            time=_finished(job, summary),
            backup_time=dump_time(file) if file else None,
        )

    async def teardown(self) -> None:
        await self._kube.delete(self._ref())

