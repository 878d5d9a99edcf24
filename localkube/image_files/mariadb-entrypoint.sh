#!/bin/bash
# Entrypoint of localkube's MariaDB image, which also answers to mysql:5.7.
#
# It honours the contract of the official mysql / mariadb images, so that pod
# specs written for them work unchanged: on a datadir without a `mysql` system
# schema it initialises the datadir, sets the root password (root@localhost and
# root@'%', so other pods can reach it), creates the database and the user,
# runs /docker-entrypoint-initdb.d, and then execs the server in the
# foreground, as the mysql user, listening on 0.0.0.0:3306.
#
# Secrets are never interpolated into a shell command line, and go into SQL
# only through sql_string / sql_ident, which escape every special character.
set -Eeuo pipefail

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock

log() { printf '%s [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$*"; }
warn() { log "Warning: $*" >&2; }
die() { log "ERROR: $*" >&2; exit 1; }

# sql_string VALUE: VALUE as the body of a single-quoted SQL string literal.
# Backslash, quote, NUL-free control characters are escaped for MariaDB's
# default sql_mode (the init session clears NO_BACKSLASH_ESCAPES).
sql_string() {
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\'/\\\'}
	s=${s//$'\n'/\\n}
	s=${s//$'\r'/\\r}
	s=${s//$'\032'/\\Z}
	printf '%s' "$s"
}

# sql_ident NAME: NAME as the body of a backtick-quoted SQL identifier.
sql_ident() {
	local s=$1
	printf '%s' "${s//\`/\`\`}"
}

# file_env VAR [DEFAULT]: VAR from the environment or from the file named by
# VAR_FILE (Docker / Kubernetes secrets), never both.
file_env() {
	local var=$1 def=${2:-}
	local fvar="${var}_FILE"
	local val=$def
	if [ -n "${!var:-}" ] && [ -n "${!fvar:-}" ]; then
		die "both $var and $fvar are set (but are exclusive)"
	fi
	if [ -n "${!var:-}" ]; then
		val=${!var}
	elif [ -n "${!fvar:-}" ]; then
		val=$(< "${!fvar}")
	fi
	export "$var"="$val"
	unset "$fvar"
}

# mariadb_env NAME: MARIADB_NAME, falling back to MYSQL_NAME (each with its
# _FILE form), exported as MARIADB_NAME.
mariadb_env() {
	local mysql_var="MYSQL_$1"
	file_env "$mysql_var"
	file_env "MARIADB_$1" "${!mysql_var}"
}

load_env() {
	local name
	for name in ROOT_PASSWORD ROOT_HOST DATABASE USER PASSWORD \
		ALLOW_EMPTY_ROOT_PASSWORD RANDOM_ROOT_PASSWORD; do
		mariadb_env "$name"
	done
	# The mysql image spells it MYSQL_ALLOW_EMPTY_PASSWORD.
	file_env MYSQL_ALLOW_EMPTY_PASSWORD
	: "${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:=${MYSQL_ALLOW_EMPTY_PASSWORD}}"
	: "${MARIADB_ROOT_HOST:=%}"
}

check_env() {
	if [ -z "$MARIADB_ROOT_PASSWORD" ] && [ -z "$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" ] \
		&& [ -z "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
		die "Database is uninitialized and password option is not specified
	You need to specify one of MARIADB_ROOT_PASSWORD, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and MARIADB_RANDOM_ROOT_PASSWORD
	(or MYSQL_ROOT_PASSWORD, MYSQL_ALLOW_EMPTY_PASSWORD, MYSQL_RANDOM_ROOT_PASSWORD)"
	fi
	if [ "$MARIADB_USER" = root ]; then
		die "MARIADB_USER / MYSQL_USER=root: the root user is already created; use the ROOT_PASSWORD variables"
	fi
	if [ -n "$MARIADB_USER" ] && [ -z "$MARIADB_PASSWORD" ]; then
		warn "user $MARIADB_USER gets an empty password"
	fi
}

# Run the statements on stdin against the temporary server, as root.  The
# password, once set, travels in MYSQL_PWD (the environment is private to the
# process), never in argv.
run_sql() {
	MYSQL_PWD=${ROOT_PW:-} mariadb --no-defaults --protocol=socket --socket="$SOCKET" -uroot \
		--default-character-set=utf8mb4 --binary-mode --batch "$@"
}

start_temp_server() {
	"$@" --skip-networking --socket="$SOCKET" --wsrep_on=OFF --skip-log-bin \
		--expire-logs-days=0 --loose-innodb_buffer_pool_load_at_startup=0 &
	TEMP_PID=$!
	for _ in $(seq 60); do
		if run_sql --database=mysql <<< 'SELECT 1' > /dev/null 2>&1; then
			return
		fi
		kill -0 "$TEMP_PID" 2> /dev/null || die "the temporary server exited during initialisation"
		sleep 1
	done
	die "the temporary server did not start within 60 seconds"
}

stop_temp_server() {
	kill "$TEMP_PID"
	wait "$TEMP_PID" || die "the temporary server did not stop cleanly"
}

init_datadir() {
	log "Initializing database files in $DATADIR"
	mariadb-install-db --datadir="$DATADIR" --rpm --auth-root-authentication-method=normal \
		--cross-bootstrap --skip-test-db --skip-log-bin --expire-logs-days=0 \
		--default-time-zone=SYSTEM --loose-innodb_buffer_pool_load_at_startup=0 \
		--loose-innodb_buffer_pool_dump_at_shutdown=0 > /dev/null
	log "Database files initialized"
}

setup_db() {
	local root_pw=$MARIADB_ROOT_PASSWORD
	if [ -n "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
		root_pw=$(tr -dc 'A-Za-z0-9' < /dev/urandom | head -c 32 || true)
		log "GENERATED ROOT PASSWORD: $root_pw"
	fi
	local pw host sql
	pw=$(sql_string "$root_pw")
	host=$(sql_string "$MARIADB_ROOT_HOST")
	sql="SET @@SESSION.SQL_LOG_BIN=0;
SET @@SESSION.SQL_MODE=REPLACE(@@SESSION.SQL_MODE, 'NO_BACKSLASH_ESCAPES', '');
DROP USER IF EXISTS root@'127.0.0.1', root@'::1';
EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@\\'', @@hostname, '\\'');
DROP USER IF EXISTS ''@'localhost';
EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS \\'\\'@\\'', @@hostname, '\\'');
SET PASSWORD FOR 'root'@'localhost' = PASSWORD('$pw');
DROP DATABASE IF EXISTS test;
"
	if [ "$MARIADB_ROOT_HOST" != localhost ]; then
		sql+="CREATE USER 'root'@'$host' IDENTIFIED BY '$pw';
GRANT ALL ON *.* TO 'root'@'$host' WITH GRANT OPTION;
GRANT PROXY ON ''@'%' TO 'root'@'$host' WITH GRANT OPTION;
"
	fi
	if [ -n "$MARIADB_DATABASE" ]; then
		log "Creating database $MARIADB_DATABASE"
		sql+="CREATE DATABASE IF NOT EXISTS \`$(sql_ident "$MARIADB_DATABASE")\`;
"
	fi
	if [ -n "$MARIADB_USER" ]; then
		log "Creating user $MARIADB_USER"
		local user
		user=$(sql_string "$MARIADB_USER")
		sql+="CREATE USER '$user'@'%' IDENTIFIED BY '$(sql_string "$MARIADB_PASSWORD")';
"
		if [ -n "$MARIADB_DATABASE" ]; then
			sql+="GRANT ALL ON \`$(sql_ident "$MARIADB_DATABASE")\`.* TO '$user'@'%';
"
		fi
	fi
	# Through stdin, never argv: the SQL holds the passwords.
	run_sql --database=mysql <<< "$sql"
	ROOT_PW=$root_pw
}

run_initdb_d() {
	local f
	for f in /docker-entrypoint-initdb.d/*; do
		[ -e "$f" ] || continue
		case "$f" in
			*.sh)
				log "running $f"
				# shellcheck source=/dev/null
				. "$f"
				;;
			*.sql) log "running $f"; run_sql ${MARIADB_DATABASE:+"--database=$MARIADB_DATABASE"} < "$f" ;;
			*.sql.gz) log "running $f"; gzip -dc "$f" | run_sql ${MARIADB_DATABASE:+"--database=$MARIADB_DATABASE"} ;;
			*) log "ignoring $f" ;;
		esac
	done
}

main() {
	# Arguments only (`--foo`): they go to the server.
	if [ $# = 0 ] || [ "${1:0:1}" = '-' ]; then
		set -- mariadbd "$@"
	fi
	case "$1" in
		mariadbd|mysqld) ;;
		*) exec "$@" ;;
	esac

	if [ "$(id -u)" = 0 ]; then
		# A fresh volume may be owned by root or hold lost+found: hand it to
		# mysql, then run this script again as mysql.
		mkdir -p "$DATADIR" /run/mysqld
		find "$DATADIR" /run/mysqld \! -user mysql -exec chown mysql:mysql '{}' +
		exec setpriv --reuid=mysql --regid=mysql --init-groups -- "${BASH_SOURCE[0]}" "$@"
	fi

	if [ ! -d "$DATADIR/mysql" ]; then
		load_env
		check_env
		init_datadir
		start_temp_server "$@"
		setup_db
		run_initdb_d
		stop_temp_server
		log "MariaDB init process done. Ready for start up."
	else
		log "Database already initialized in $DATADIR; skipping initialisation"
	fi
	exec "$@"
}

# Sourcing the script (the unit tests do) defines the functions only.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	main "$@"
fi
