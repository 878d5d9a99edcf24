"""Changing the root password of a running server: the rotation Job and its protocol.

MySQL reads ``MYSQL_ROOT_PASSWORD`` only when it initialises its data
directory, so a new password must be set with ``ALTER USER`` on the live
server.  The steps, each safe to repeat after a crash:

1. the new password goes into the key ``pending`` of the credentials Secret
   (``password`` still holds the one the server has);
2. Job ``rotate-<name>-job`` gets both through ``secretKeyRef``, finds out
   which one the server accepts (the current one, or already the new one if
   an earlier run got that far), and sets the new one for ``root@'%'`` and
   ``root@'localhost'``;
3. the operator promotes ``pending`` to ``password`` and deletes the Job.

``pending`` never changes while a rotation Job exists, so the Job always
sets exactly the password the operator promotes.  The Job carries a salted
digest of its target password, never the password.  If the server accepts
neither password, the failed Job is kept as the record of that outcome (and
nothing else changes) until the password changes again.

The Deployment is not touched: its pod keeps running, and its
``MYSQL_ROOT_PASSWORD`` (read only at initialisation) does not matter any more.
"""

from __future__ import annotations

import enum

import attrs

from ._errors import NotReady
from ._jobs import (
    REPORTED_ANNOTATION,
    WAIT_FOR_SERVER,
    JobPhase,
    job_phase,
    parse_summary,
    termination_message,
)
from ._kube import Kube, Manifest, ObjectRef
from ._model import MYSQL_PORT, MySQL
from ._secret import PASSWORD_KEY, PENDING_KEY, CredentialsSecret, password_digest

DIGEST_ANNOTATION = "otus.homework/password-digest"
TERMINATION_LOG = "/dev/termination-log"
# The script's exit code when the server accepts neither password: fail the Job at once.
UNAUTHENTICATED_EXIT = 3

# The passwords come only from the environment.  `MYSQL_PWD=... mysql` hands a
# password to the client through its environment, never its arguments.  The
# new password reaches SQL as hexadecimal digits (od), turned back into a
# string and quoted by the server itself (QUOTE), inside a prepared
# statement: no character of it is ever interpreted by the shell or by SQL.
# printf is a shell builtin, so the SQL text (with the hex) is on no command line.
ROTATE_SCRIPT = "set -eu\n" + WAIT_FOR_SERVER + """\
report() {
  printf '{"result": "%s", "authenticated": "%s"}\\n' "$1" "$2" | tee "$TERMINATION_LOG"
}
accepts() {
  if out="$(MYSQL_PWD="$1" mysql --host="$MYSQL_HOST" --port="$MYSQL_PORT" --protocol=TCP \\
      --user=root --batch --skip-column-names --execute='SELECT 1' 2>&1)"; then
    return 0
  fi
  case "$out" in
    *"ERROR 1045"*) return 1 ;;
  esac
  echo "cannot reach the server: $out" >&2
  exit 2
}
if accepts "$CURRENT_PASSWORD"; then
  auth="$CURRENT_PASSWORD"; with=current
elif accepts "$NEW_PASSWORD"; then
  auth="$NEW_PASSWORD"; with=new
else
  echo "the server accepts neither the current nor the new root password: nothing changed"
  report unauthenticated none
  exit 3
fi
hex="$(printf '%s' "$NEW_PASSWORD" | od -An -v -tx1 | tr -d ' \\n')"
printf '%s\\n' \\
  "SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '');" \\
  "SET @p = QUOTE(X'$hex');" \\
  "SET @s = CONCAT('ALTER USER IF EXISTS ''root''@''%'' IDENTIFIED BY ', @p, \\
', ''root''@''localhost'' IDENTIFIED BY ', @p);" \\
  "PREPARE s FROM @s;" "EXECUTE s;" "DEALLOCATE PREPARE s;" "FLUSH PRIVILEGES;" \\
  | MYSQL_PWD="$auth" mysql --host="$MYSQL_HOST" --port="$MYSQL_PORT" --protocol=TCP \\
      --user=root --batch
if ! accepts "$NEW_PASSWORD"; then
  echo "the server does not accept the new password after ALTER USER" >&2
  exit 2
fi
echo "root password changed (authenticated with the $with password)"
report rotated "$with"
"""


class RotationPhase(enum.Enum):
    IN_SYNC = "in-sync"  # the Secret holds the wanted password: nothing to do
    RUNNING = "running"
    ROTATED = "rotated"  # this step finished a rotation
    REFUSED = "refused"  # the server accepts neither password; nothing changed


@attrs.frozen
class RotationProgress:
    phase: RotationPhase
    message: str = ""
    # True the first time a REFUSED outcome is seen (to post its Event once).
    new: bool = False


class PasswordRotation:
    """Job ``rotate-<name>-job`` and the ``pending`` key of the credentials Secret."""

    def __init__(self, cr: MySQL, kube: Kube, secret: CredentialsSecret) -> None:
        self._cr = cr
        self._kube = kube
        self._secret = secret

    def _ref(self) -> ObjectRef:
        return ObjectRef("batch/v1", "Job", self._cr.names.rotate_job, self._cr.namespace)

    def digest(self, password: bytes) -> str:
        return password_digest(self._cr.uid, password)

    def manifest(self, target: bytes) -> Manifest:
        cr = self._cr

        def secret_env(name: str, key: str) -> dict[str, object]:
            return {"name": name,
                    "valueFrom": {"secretKeyRef": {"name": cr.names.secret, "key": key}}}

        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": cr.names.rotate_job,
                "namespace": cr.namespace,
                "labels": cr.labels("rotate"),
                "annotations": {DIGEST_ANNOTATION: self.digest(target)},
                "ownerReferences": [cr.owner_reference()],
            },
            "spec": {
                "backoffLimit": 2,
                "podFailurePolicy": {"rules": [{
                    "action": "FailJob",
                    "onExitCodes": {"containerName": "rotate", "operator": "In",
                                    "values": [UNAUTHENTICATED_EXIT]},
                }]},
                "template": {
                    "metadata": {"labels": cr.labels("rotate")},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{
                            "name": "rotate",
                            "image": cr.spec.image,
                            "command": ["sh", "-c", ROTATE_SCRIPT],
                            "env": [
                                {"name": "MYSQL_HOST", "value": cr.names.service},
                                {"name": "MYSQL_PORT", "value": str(MYSQL_PORT)},
                                {"name": "TERMINATION_LOG", "value": TERMINATION_LOG},
                                secret_env("CURRENT_PASSWORD", PASSWORD_KEY),
                                secret_env("NEW_PASSWORD", PENDING_KEY),
                            ],
                            "terminationMessagePath": TERMINATION_LOG,
                            "terminationMessagePolicy": "FallbackToLogsOnError",
                        }],
                    },
                },
            },
        }

    async def run(self, wanted: bytes) -> RotationProgress:
        """Advance the rotation towards ``wanted`` by one step; repeat until not RUNNING."""
        current, pending = await self._secret.read()
        job = await self._kube.get(self._ref())
        if job is not None and job["metadata"].get("deletionTimestamp"):
            raise NotReady(f"waiting for the deletion of Job {self._cr.names.rotate_job}",
                           delay=3)
        if job is not None:
            return await self._follow(job, wanted, current, pending)
        if current == wanted:
            if pending is not None:
                await self._secret.drop_pending()
            return RotationProgress(RotationPhase.IN_SYNC)
        if pending != wanted:
            await self._secret.set_pending(wanted)
        await self._kube.create(self.manifest(wanted))
        return RotationProgress(RotationPhase.RUNNING,
                                f"Job {self._cr.names.rotate_job} is changing the password")

    async def _follow(self, job: Manifest, wanted: bytes, current: bytes | None,
                      pending: bytes | None) -> RotationProgress:
        name = self._cr.names.rotate_job
        target = job["metadata"].get("annotations", {}).get(DIGEST_ANNOTATION)
        phase = job_phase(job)
        if phase is JobPhase.RUNNING:
            return RotationProgress(RotationPhase.RUNNING, f"Job {name} is changing the password")
        if phase is JobPhase.SUCCEEDED:
            if pending is not None and self.digest(pending) == target:
                await self._secret.promote(pending)
                summary = parse_summary(await termination_message(self._kube, job))
                await self._kube.delete(self._ref())
                done = current != pending
                with_ = summary.get("authenticated", "current")
                return RotationProgress(
                    RotationPhase.ROTATED if done else RotationPhase.IN_SYNC,
                    f"root password changed by Job {name} (the server accepted the "
                    f"{with_} password)",
                )
            # Promoted already (a crash before the Job's deletion), or stale.
            await self._kube.delete(self._ref())
            raise NotReady(f"removed the finished Job {name}", delay=1)
        # Failed.
        summary = parse_summary(await termination_message(self._kube, job))
        if summary.get("result") == "unauthenticated" and pending is not None \
                and self.digest(pending) == target and pending == wanted:
            new = not job["metadata"].get("annotations", {}).get(REPORTED_ANNOTATION)
            if new:
                await self._kube.patch(self._ref(), {"metadata": {"annotations": {
                    REPORTED_ANNOTATION: "true"}}})
            return RotationProgress(
                RotationPhase.REFUSED,
                f"the server accepts neither the current nor the new root password; "
                f"nothing was changed (Job {name} is kept as the record)",
                new=new,
            )
        # Unreachable server, or the wanted password changed since: try afresh.
        await self._kube.delete(self._ref())
        if summary.get("result") == "unauthenticated":
            raise NotReady(f"the password changed again: retrying with Job {name}", delay=3)
        raise NotReady(f"Job {name} failed (the server was not reachable?); retrying",
                       delay=30)

    async def teardown(self) -> None:
        await self._kube.delete(self._ref())
